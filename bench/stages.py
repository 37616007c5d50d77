"""Where the time of one hook call goes, measured in-process on the same request.

Each stage of the invocation route is timed on its own, with the same inputs the route
gives it, then the whole call through the ASGI app. The difference is the web layer
(routing, middleware, body streaming) that no stage owns.
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
from bench.stats import Summary, time_calls

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
    pipeline_timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        if self.floor is None or self.server is None or self.floor.p50 <= 0:
            return float("nan")
        return self.server.p50 / self.floor.p50


def _stage(name: str, samples: list[float], kind: Kind = "path", note: str = "") -> Stage:
    summary = Summary.of(samples)
    return Stage(name, summary.p50, summary.p95, kind, note)


async def _time_async(fn: Callable[[], Awaitable[Any]], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        await fn()
        samples.append((time.perf_counter_ns() - start) / 1e6)
    return samples


def strict_validation_ms(resources: list[dict[str, Any]], repeat: int) -> list[float]:
    """Full fhir.resources R4B validation of every resource (reference cost, not on path)."""
    from fhir.resources.R4B import get_fhir_model_class

    classes = [(get_fhir_model_class(r["resourceType"]), r) for r in resources]

    def validate() -> None:
        for cls, resource in classes:
            cls.model_validate(resource)

    return time_calls(validate, repeat, warmup=1)


async def measure(svc: InProcessService, body: bytes, label: str, repeat: int,
                  resources: int, strict_repeat: int = 3) -> StageReport:
    """Time every stage of one call of `body` against the in-process service."""
    from cds.api.errors import json_response
    from cds.api.invocation import parse_hook_request
    from cds.facts.config import load_fact_config
    from cds.facts.extract import extract
    from cds.fhir.collect import collect
    from cds.hooks.models import HookResponse
    from cds.hooks.prefetch import resolve_prefetch

    report = StageReport(label, resources, len(body))
    warm = max(3, repeat // 10)
    status, response = await svc.call(body)  # warm-up and sanity check
    if status != 200:
        raise RuntimeError(f"in-process call returned {status}: {response[:300]!r}")
    server = await _time_async(lambda: svc.call(body), repeat + warm)
    report.server = Summary.of(server[warm:])

    floor = time_calls(lambda: orjson.loads(body), repeat * 3, warmup=warm)
    report.floor = Summary.of(floor)
    parsed = orjson.loads(body)
    service, pack, settings = svc.service, svc.pack, svc.settings
    stages = [_stage("JSON parse (orjson): the floor", floor)]

    hook_request = parse_hook_request(parsed, service)
    stages.append(_stage("Request model (HookRequest + context)",
                         time_calls(lambda: parse_hook_request(parsed, service), repeat, warm)))

    async def resolve() -> Any:
        return await resolve_prefetch(hook_request, service.prefetch, service.required_prefetch,
                                      settings)

    resolved = await resolve()
    stages.append(_stage("Prefetch resolution (all keys sent)",
                         await _time_async(resolve, repeat)))

    def collected() -> Any:
        return collect(resolved.prefetch, hook_request.context, hook_request.hook, service.id)

    data = collected()
    stages.append(_stage("Collect (prefetch to resources)", time_calls(collected, repeat, warm)))

    now = datetime.now(UTC)
    evaluations: list[Any] = []
    eval_samples: list[float] = []
    for i in range(repeat + warm):
        fresh = collected()
        start = time.perf_counter_ns()
        evaluation = pack.evaluate(fresh, now)
        if i >= warm:
            eval_samples.append((time.perf_counter_ns() - start) / 1e6)
            evaluations.append(evaluation)
    stages.append(_stage("Evaluator.evaluate (extract, rules, cards, policy)", eval_samples))
    last = evaluations[-1]
    report.facts, report.cards, report.notes = len(last.facts), len(last.cards), len(last.notes)
    keys = sorted({k for e in evaluations for k in e.timings_ms})
    report.pipeline_timings_ms = {
        k: median(e.timings_ms.get(k, 0.0) for e in evaluations) for k in keys
    }
    for key, value in report.pipeline_timings_ms.items():
        stages.append(Stage(f"  Evaluator: {key}", value, float("nan"), "detail",
                            "median of the pipeline's own timings_ms"))

    config = load_fact_config(settings.rules_dir)
    stages.append(_stage("  Fact extraction, timed directly", time_calls(
        lambda: extract(collected(), config, now), repeat, warm), "detail",
        "includes one collect"))

    runtime = svc.runtime
    cards = last.cards
    stages.append(_stage("Suppression filter", time_calls(
        lambda: runtime.suppressor.filter(data.patient_id, cards, now), repeat, warm)))
    stages.append(_audit_stage(svc, hook_request, last, repeat, warm))
    stages.append(_stage("Response serialisation", time_calls(
        lambda: json_response(HookResponse(cards=cards).to_json()), repeat, warm)))

    stages.append(_stage("Strict FHIR validation, R4B (reference)",
                         strict_validation_ms(data.resources, strict_repeat), "reference",
                         "not on the default path (CDS_FHIR_VALIDATION=strict)"))
    on_path = sum(s.p50_ms for s in stages if s.kind == "path")
    stages.append(Stage("Web layer, unattributed (routing, middleware, body read)",
                        report.server.p50 - on_path, float("nan"), "rest",
                        "server-side total minus the stages above"))
    stages.append(Stage("Server-side total (in-process ASGI call)", report.server.p50,
                        report.server.p95, "total"))
    report.stages = stages
    return report


def _audit_stage(svc: InProcessService, hook_request: Any, evaluation: Any, repeat: int,
                 warm: int) -> Stage:
    """The route's own audit step (record built and queued); the write is off the path."""
    from cds.api import invocation

    pack, service, runtime = svc.pack, svc.service, svc.runtime

    def audit() -> None:
        invocation._audit(runtime, pack, service, hook_request, time.perf_counter(), 200,
                          evaluation=evaluation, cards=evaluation.cards)

    return _stage("Audit record (built and queued)", time_calls(audit, repeat, warm))
