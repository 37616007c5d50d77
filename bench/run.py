"""Run the benchmark and write the report.

    .venv/bin/python -m bench.run                  # full run, writes bench/RESULTS.md
    .venv/bin/python -m bench.run --smoke          # seconds; figures meaningless

Sections: in-process stage breakdown and floor (M patient), scaling by patient size and by
rule count, a cProfile of the hot path, the RSS-flat check, then HTTP load against
`cds serve` with 1 and 2 workers at each concurrency.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import orjson

from bench import machine
from bench.httpload import LoadPlan, run_server
from bench.inprocess import InProcessService
from bench.memory import rss_check
from bench.patients import SERVICE_ID
from bench.profile import profile_calls
from bench.report import render
from bench.results import Results
from bench.scaling import by_rule_count, by_size, request_body
from bench.stages import measure

T = TypeVar("T")
SECTIONS = ("stages", "sizes", "rules", "profile", "rss", "http")
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Plan:
    smoke: bool
    seed: int
    sizes: list[str]
    rule_counts: list[int]
    workers: list[int]
    load: LoadPlan
    repeat: int
    rss_calls: int
    profile_calls: int
    sections: frozenset[str]
    clock: str
    rules_dir: Path | None
    out: Path
    json_out: Path | None


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def parse_plan(argv: list[str]) -> Plan:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    p.add_argument("--smoke", action="store_true", help="tiny counts: checks the harness only")
    p.add_argument("--out", type=Path, help="markdown report (default bench/RESULTS.md, "
                   "or bench/out/RESULTS-smoke.md with --smoke)")
    p.add_argument("--json", type=Path, dest="json_out", help="also write raw figures as JSON")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--sizes", default="S,M,L")
    p.add_argument("--rule-counts", default="0,100,1000",
                   help="generated rules added to the pack (0 = the shipped pack)")
    p.add_argument("--workers", default="1,2")
    p.add_argument("--concurrency", default="1,4,16")
    p.add_argument("--requests", type=int, help="timed HTTP requests per level, at most")
    p.add_argument("--duration", type=float, help="seconds per HTTP level, at most")
    p.add_argument("--warmup", type=int, help="untimed HTTP requests per level")
    p.add_argument("--repeat", type=int, help="in-process repeats per stage")
    p.add_argument("--rss-calls", type=int, help="calls of the RSS-flat check (full: 100000)")
    p.add_argument("--profile-calls", type=int)
    p.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                   help="clock of the in-process timings (cpu: this thread's CPU time)")
    p.add_argument("--only", default=",".join(SECTIONS),
                   help=f"comma-separated sections to run: {', '.join(SECTIONS)}")
    p.add_argument("--rules", type=Path, help="rule pack directory (default: the bundled one)")
    a = p.parse_args(argv)
    smoke = bool(a.smoke)
    unknown = set(a.only.split(",")) - set(SECTIONS)
    if unknown:
        p.error(f"unknown sections: {', '.join(sorted(unknown))}")

    def pick(value: int | float | None, full: int | float, tiny: int | float) -> int | float:
        return value if value is not None else (tiny if smoke else full)

    return Plan(
        smoke=smoke,
        seed=a.seed,
        sizes=[s.strip().upper() for s in a.sizes.split(",") if s.strip()],
        rule_counts=_ints(a.rule_counts),
        workers=_ints(a.workers),
        load=LoadPlan(concurrency=tuple(_ints(a.concurrency)),
                      count=int(pick(a.requests, 6000, 20)),
                      duration_s=float(pick(a.duration, 20.0, 5.0)),
                      warmup=int(pick(a.warmup, 300, 4))),
        repeat=int(pick(a.repeat, 300, 5)),
        rss_calls=int(pick(a.rss_calls, 100_000, 200)),
        profile_calls=int(pick(a.profile_calls, 300, 5)),
        sections=frozenset(a.only.split(",")),
        clock=a.clock,
        rules_dir=a.rules.resolve() if a.rules else None,
        out=a.out or (ROOT / "bench" / ("out/RESULTS-smoke.md" if smoke else "RESULTS.md")),
        json_out=a.json_out,
    )


_STARTED = time.monotonic()


def _say(message: str) -> None:
    print(f"[bench {time.monotonic() - _STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


async def _guard(results: Results, what: str, step: Callable[[], Awaitable[T]]) -> T | None:
    """Run one section; a failure is recorded in the report instead of ending the run."""
    _say(what)
    try:
        return await step()
    except Exception as exc:
        results.failures.append(f"{what}: {type(exc).__name__}: {exc}")
        _say(traceback.format_exc())
        return None


async def _in_process(plan: Plan, results: Results, workdir: Path, now: datetime) -> None:
    body, count = request_body("M", plan.seed, now)
    source = plan.rules_dir or _default_rules_dir()
    async with InProcessService(workdir, rules_dir=plan.rules_dir) as svc:
        if "stages" in plan.sections:
            results.stages = await _guard(results, "stage breakdown, M patient", lambda: measure(
                svc, body, "M", plan.repeat, count, clock=plan.clock))
        if "sizes" in plan.sections:
            results.sizes = await _guard(results, "scaling by patient size", lambda: by_size(
                svc, plan.sizes, plan.seed, now, plan.repeat, plan.clock)) or []
        if "profile" in plan.sections:
            results.profile = await _guard(results, "profile of the hot path", lambda:
                                           profile_calls(svc, body, plan.profile_calls))

        async def one_call() -> int:
            return (await svc.call(body))[0]

        if "rss" in plan.sections:
            results.rss = await _guard(results, f"RSS-flat check, {plan.rss_calls:,} calls",
                                       lambda: rss_check(one_call, plan.rss_calls, progress=_say,
                                                         audit_dropped=svc.audit_dropped))
        if "rules" in plan.sections:
            results.rules = await _guard(results, "scaling by rule count", lambda:
                                         by_rule_count(workdir, source, plan.rule_counts, body,
                                                       count, max(5, plan.repeat // 2),
                                                       plan.clock, shipped=svc)) or []


def _default_rules_dir() -> Path:
    from cds.settings import Settings

    return Settings().rules_dir


def _http(plan: Plan, results: Results, workdir: Path, now: datetime) -> None:
    body, _count = request_body("M", plan.seed, now)
    for workers in plan.workers:
        _say(f"HTTP load, {workers} worker(s), concurrency {plan.load.concurrency}")
        run = run_server(workers, workdir, f"/cds-services/{SERVICE_ID}", body, plan.load,
                         plan.rules_dir)
        if run.failure:
            results.failures.append(f"HTTP load with {workers} worker(s): "
                                    f"{run.failure.splitlines()[0]}")
        results.servers.append(run)


def run(plan: Plan, argv: list[str]) -> Results:
    command = " ".join(["python -m bench.run", *map(shlex.quote, argv)])
    results = Results(command=command.strip(), machine=machine.details(), smoke=plan.smoke)
    # Fixed "now" per day: the same request bytes all day, recent data whenever it runs.
    now = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    with tempfile.TemporaryDirectory(prefix="cds-bench-") as tmp:
        workdir = Path(tmp)
        if plan.sections & {"stages", "sizes", "rules", "profile", "rss"}:
            asyncio.run(_in_process(plan, results, workdir, now))
        if "http" in plan.sections:
            _http(plan, results, workdir, now)
    results.machine["Python reference workload at end"] = machine.python_reference_ms()
    return results


def write(plan: Plan, results: Results) -> str:
    text = render(results)
    plan.out.parent.mkdir(parents=True, exist_ok=True)
    plan.out.write_text(text)
    if plan.json_out is not None:
        plan.json_out.parent.mkdir(parents=True, exist_ok=True)
        options = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS
        plan.json_out.write_bytes(orjson.dumps(results, default=_plain, option=options))
    return text


def _plain(value: object) -> object:
    if isinstance(value, Path):
        return str(value)
    raise TypeError


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    plan = parse_plan(args)
    results = run(plan, args)
    print(write(plan, results))
    _say(f"report written to {plan.out}")
    return 1 if results.failures else 0


if __name__ == "__main__":
    sys.exit(main())
