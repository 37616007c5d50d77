"""Where the time of one hook call goes, measured in-process on the same request.

Each stage of the invocation route is timed on its own, with the same inputs the route
gives it, then the whole call through the ASGI app. The difference is the web layer
(routing, middleware, body streaming) that no stage owns.

Stages are timed with the calling thread's CPU clock by default (`clock="cpu"`): the
in-process path never waits on I/O, so CPU time is its service time, and unlike wall time
it does not count the moments another process held the core. The whole call is also
reported in wall time.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from statistics import median
from typing import Any, Literal

import orjson

from bench.inprocess import InProcessService
from bench.stats import CLOCKS, Clock, Summary, time_calls

Kind = Literal["path", "detail", "reference", "total", "rest"]


@dataclass(frozen=True)
class Stage:
    name: str
    p50_ms: float
    p95_ms: float
    kind: Kind = "path"  # path: on the request path and summed; detail: inside another stage
    note: str = ""


@dataclass
class StageReport:
    label: str
    resources: int
    body_bytes: int
    facts: int = 0
    cards: int = 0
    notes: int = 0
    stages: list[Stage] = field(default_factory=list)
    floor: Summary | None = None
    server: Summary | None = None
    server_wall: Summary | None = None
    clock: str = "cpu"
    pipeline_timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        if self.floor is None or self.server is None or self.floor.p50 <= 0:
            return float("nan")
        return self.server.p50 / self.floor.p50


def _stage(name: str, samples: list[float], kind: Kind = "path", note: str = "") -> Stage:
    summary = Summary.of(samples)
    return Stage(name, summary.p50, summary.p95, kind, note)


def strict_validation_ms(resources: list[dict[str, Any]], repeat: int, clock: Clock
                         ) -> list[float]:
    """Full fhir.resources R4B validation of every resource (reference cost, not on path)."""
    from fhir.resources.R4B import get_fhir_model_class

    classes = [(get_fhir_model_class(r["resourceType"]), r) for r in resources]

    def validate() -> None:
        for cls, resource in classes:
            cls.model_validate(resource)

    return time_calls(validate, repeat, warmup=1, clock=clock)


Step = Callable[[], Awaitable[float]]


def _sync(fn: Callable[[], Any], clock: Clock) -> Step:
    async def step() -> float:
        start = clock()
        fn()
        return (clock() - start) / 1e6
    return step


def _async(fn: Callable[[], Awaitable[Any]], clock: Clock) -> Step:
    async def step() -> float:
        start = clock()
        await fn()
        return (clock() - start) / 1e6
    return step


async def _rounds(steps: dict[str, Step], repeat: int, warm: int) -> dict[str, list[float]]:
    """Run every step once per round, `warm + repeat` rounds; keep the last `repeat`.

    Interleaving spreads any background load on the machine evenly over the stages, so
    their sum stays comparable with the whole call timed in the same rounds.
    """
    samples: dict[str, list[float]] = {name: [] for name in steps}
    for round_no in range(warm + repeat):
        for name, step in steps.items():
            elapsed = await step()
            if round_no >= warm:
                samples[name].append(elapsed)
    return samples


async def measure(svc: InProcessService, body: bytes, label: str, repeat: int,
                  resources: int, strict_repeat: int = 3, clock: str = "cpu") -> StageReport:
    """Time every stage of one call of `body` against the in-process service."""
    from cds.api.invocation import parse_hook_request
    from cds.facts.config import load_fact_config
    from cds.facts.extract import extract
    from cds.fhir.collect import collect
    from cds.hooks.models import HookResponse
    from cds.hooks.prefetch import resolve_prefetch

    report = StageReport(label, resources, len(body), clock=clock)
    tick = CLOCKS[clock]
    status, response = await svc.call(body)  # sanity check before timing anything
    if status != 200:
        raise RuntimeError(f"in-process call returned {status}: {response[:300]!r}")
    service, pack, settings, runtime = svc.service, svc.pack, svc.settings, svc.runtime
    parsed = orjson.loads(body)
    hook_request = parse_hook_request(parsed, service)

    async def resolve() -> Any:
        return await resolve_prefetch(hook_request, service.prefetch, service.required_prefetch,
                                      settings, runtime.fhir.client)

    resolved = await resolve()

    def collected() -> Any:
        return collect(resolved.prefetch, hook_request.context, hook_request.hook, service.id)

    data = collected()
    now = datetime.now(UTC)
    config = load_fact_config(settings.rules_dir)
    timings: list[dict[str, float]] = []
    last: list[Any] = [pack.evaluate(collected(), now)]

    async def evaluate() -> float:
        fresh = collected()
        start = tick()
        evaluation = pack.evaluate(fresh, now)
        elapsed = (tick() - start) / 1e6
        # The pipeline times itself on the wall clock; scale its split to this clock.
        wall = evaluation.timings_ms.get("total") or sum(evaluation.timings_ms.values())
        scale = elapsed / wall if wall else 1.0
        timings.append({k: v * scale for k, v in evaluation.timings_ms.items()})
        last[0] = evaluation
        return elapsed

    def audit() -> None:
        _audit(svc, hook_request, last[0])

    walls: list[float] = []

    async def server() -> float:
        start, wall = tick(), time.perf_counter_ns()
        await svc.call(body)
        walls.append((time.perf_counter_ns() - wall) / 1e6)
        return (tick() - start) / 1e6

    steps: dict[str, Step] = {
        "floor": _sync(lambda: orjson.loads(body), tick),
        "model": _sync(lambda: parse_hook_request(parsed, service), tick),
        "prefetch": _async(resolve, tick),
        "collect": _sync(collected, tick),
        "evaluate": evaluate,
        "extract": _sync(lambda: extract(collected(), config, now), tick),
        "suppress": _sync(lambda: runtime.suppressor.filter(data.patient_id, last[0].cards,
                                                            now), tick),
        "audit": _sync(audit, tick),
        "response": _sync(lambda: HookResponse(cards=last[0].cards).to_bytes(),
                          tick),
        "server": server,
    }
    warm = max(3, repeat // 10)
    samples = await _rounds(steps, repeat, warm)
    report.server, report.floor = Summary.of(samples["server"]), Summary.of(samples["floor"])
    report.server_wall = Summary.of(walls[warm:])
    final = last[0]
    report.facts, report.cards, report.notes = len(final.facts), len(final.cards), \
        len(final.notes)
    keys = sorted({k for t in timings for k in t})
    report.pipeline_timings_ms = {k: median(t.get(k, 0.0) for t in timings) for k in keys}

    stages = [
        _stage("JSON parse (orjson): the floor", samples["floor"]),
        _stage("Request model (HookRequest + context)", samples["model"]),
        _stage("Prefetch resolution (all keys sent)", samples["prefetch"]),
        _stage("Collect (prefetch to resources)", samples["collect"]),
        _stage("Evaluator.evaluate (extract, rules, cards, policy)", samples["evaluate"]),
    ]
    stages += [Stage(f"  Evaluator: {key}", value, float("nan"), "detail",
                     "the pipeline's own timings_ms, median, scaled to this clock")
               for key, value in report.pipeline_timings_ms.items() if key != "total"]
    stages += [
        _stage("  Fact extraction, timed directly", samples["extract"], "detail",
               "includes one collect"),
        _stage("Suppression filter", samples["suppress"]),
        _stage("Audit record (built and queued)", samples["audit"]),
        _stage("Response serialisation", samples["response"]),
        _stage("Strict FHIR validation, R4B (reference)",
               strict_validation_ms(data.resources, strict_repeat, tick), "reference",
               "not on the default path (CDS_FHIR_VALIDATION=strict)"),
    ]
    on_path = sum(s.p50_ms for s in stages if s.kind == "path")
    stages.append(Stage("Web layer, unattributed (routing, middleware, body read)",
                        report.server.p50 - on_path, float("nan"), "rest",
                        "server-side total minus the stages above"))
    stages.append(Stage("Server-side total (in-process ASGI call)", report.server.p50,
                        report.server.p95, "total"))
    stages.append(Stage("Server-side total, wall clock", report.server_wall.p50,
                        report.server_wall.p95, "reference",
                        "includes time other processes held the core"))
    report.stages = stages
    return report


def _audit(svc: InProcessService, hook_request: Any, evaluation: Any) -> None:
    """The route's own audit step (record built and queued); the write is off the path."""
    from cds.api import invocation

    invocation._audit(svc.runtime, svc.pack, svc.service, hook_request, time.perf_counter(),
                      200, evaluation=evaluation, cards=evaluation.cards)
