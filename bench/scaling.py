"""Cost against patient size (S, M, L) and against rule count (the pack, +100, +1,000)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import orjson

from bench.inprocess import InProcessService
from bench.patients import build_request, resource_count
from bench.rulegen import generate_pack
from bench.stages import StageReport, measure


@dataclass
class RuleScale:
    label: str
    extra_rules: int
    rule_files: int
    load_s: float
    report: StageReport | None = None
    failure: str | None = None


def request_body(size: str, seed: int, now: datetime) -> tuple[bytes, int]:
    request = build_request(size, seed, now)
    return orjson.dumps(request), resource_count(request)


async def by_size(svc: InProcessService, sizes: list[str], seed: int, now: datetime,
                  repeat: int, clock: str = "cpu") -> list[StageReport]:
    reports = []
    for size in sizes:
        body, count = request_body(size, seed, now)
        # Keep the wall time of each size similar: fewer repeats for bigger patients.
        scaled = max(5, repeat // {"S": 1, "M": 1, "L": 8}.get(size, 1))
        reports.append(await measure(svc, body, size, scaled, count,
                                     strict_repeat=1 if size == "L" else 3, clock=clock))
    return reports


async def by_rule_count(workdir: Path, source: Path, counts: list[int], body: bytes,
                        resources: int, repeat: int, clock: str = "cpu",
                        shipped: InProcessService | None = None) -> list[RuleScale]:
    """Measure the M request against the shipped pack and against bigger generated packs.

    `shipped`, when given, is an already running service on the shipped pack (saves a load).
    """
    results = []
    for extra in counts:
        rules_dir = source if not extra else generate_pack(source, workdir / f"pack-{extra}",
                                                           extra)
        files = len(list((rules_dir / "rules").glob("*.yaml")))
        label = "shipped pack" if extra == 0 else f"pack + {extra} generated"
        started = time.perf_counter()
        try:
            if extra == 0 and shipped is not None:
                report = await measure(shipped, body, label, repeat, resources, 1, clock)
                results.append(RuleScale(label, extra, files, math.nan, report))
                continue
            svc = InProcessService(workdir, rules_dir=rules_dir)
            async with svc:
                load_s = time.perf_counter() - started
                svc.pack  # noqa: B018 - a pack that failed to load raises here
                report = await measure(svc, body, label, repeat, resources, 1, clock)
            results.append(RuleScale(label, extra, files, load_s, report))
        except Exception as exc:  # a pack the engine cannot take is a result, not a crash
            results.append(RuleScale(label, extra, files, time.perf_counter() - started,
                                     failure=f"{type(exc).__name__}: {exc}"))
    return results
