"""Everything one benchmark run measured, and the targets judged against it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from bench.httpload import LoadResult, ServerRun
from bench.memory import RssCheck
from bench.scaling import RuleScale
from bench.stages import StageReport

Verdict = Literal["met", "missed", "not measured"]


@dataclass
class Results:
    command: str
    machine: dict[str, str]
    smoke: bool
    stages: StageReport | None = None
    sizes: list[StageReport] = field(default_factory=list)
    rules: list[RuleScale] = field(default_factory=list)
    servers: list[ServerRun] = field(default_factory=list)
    rss: RssCheck | None = None
    rss_target_calls: int = 100_000
    profile: str | None = None
    failures: list[str] = field(default_factory=list)

    def load(self, workers: int, concurrency: int) -> LoadResult | None:
        for run in self.servers:
            if run.workers == workers:
                for result in run.loads:
                    if result.concurrency == concurrency:
                        return result
        return None


@dataclass(frozen=True)
class Target:
    name: str
    goal: str
    measured: str
    verdict: Verdict


def _fmt(value: float, unit: str = " ms") -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}{unit}"


def _latency_target(results: Results) -> Target:
    goal = "p50 <= 3 ms and p99 <= 15 ms"
    load = results.load(1, 1)
    if load is None or load.completed == 0:
        return Target("Latency, concurrency 1 (1 worker)", goal, "not run", "not measured")
    ok = load.latency.p50 <= 3.0 and load.latency.p99 <= 15.0 and load.errors == 0
    return Target("Latency, concurrency 1 (1 worker)", goal,
                  f"p50 {_fmt(load.latency.p50)}, p99 {_fmt(load.latency.p99)}",
                  "met" if ok else "missed")


def _throughput_target(results: Results) -> Target:
    goal = ">= 600 requests/s, 0 errors"
    load = results.load(2, 16)
    if load is None or load.completed == 0:
        return Target("Throughput, concurrency 16 (2 workers)", goal, "not run", "not measured")
    ok = load.rps >= 600 and load.errors == 0
    return Target("Throughput, concurrency 16 (2 workers)", goal,
                  f"{load.rps:.0f} requests/s, {load.errors} errors", "met" if ok else "missed")


def _floor_target(results: Results) -> Target:
    goal = "server-side time <= 10x JSON parse"
    report = results.stages
    if report is None or report.server is None or report.floor is None:
        return Target("Server-side time vs parse floor", goal, "not run", "not measured")
    return Target("Server-side time vs parse floor", goal,
                  f"{report.ratio:.1f}x ({_fmt(report.server.p50)} vs "
                  f"{_fmt(report.floor.p50)})", "met" if report.ratio <= 10 else "missed")


def _rules_target(results: Results) -> Target:
    goal = "pack + 1,000 rules < 2x the shipped pack"
    base = next((r for r in results.rules if r.extra_rules == 0 and r.report), None)
    big = next((r for r in results.rules if r.extra_rules >= 1000), None)
    if base is None or big is None or base.report is None or base.report.server is None:
        return Target("1,000 rules", goal, "not run", "not measured")
    if big.report is None or big.report.server is None:
        return Target("1,000 rules", goal, f"failed: {big.failure}", "missed")
    ratio = big.report.server.p50 / base.report.server.p50
    return Target("1,000 rules", goal,
                  f"{ratio:.2f}x ({_fmt(big.report.server.p50)} vs "
                  f"{_fmt(base.report.server.p50)})", "met" if ratio < 2 else "missed")


def _rss_target(results: Results) -> Target:
    goal = f"RSS within 5% over {results.rss_target_calls:,} calls"
    rss = results.rss
    if rss is None or not rss.samples:
        return Target("Memory flat", goal, "not run", "not measured")
    measured = (f"{rss.max_deviation_pct:+.1f}% max deviation, {rss.growth_pct:+.1f}% end "
                f"({rss.start_mib:.0f} to {rss.end_mib:.0f} MiB) over {rss.calls:,} calls, "
                f"{rss.audit_dropped:,} audit records dropped")
    if rss.calls < results.rss_target_calls:
        return Target("Memory flat", goal, measured + " (short run)", "not measured")
    ok = rss.max_deviation_pct <= 5.0 and rss.errors == 0 and rss.audit_dropped == 0
    return Target("Memory flat", goal, measured, "met" if ok else "missed")


def targets(results: Results) -> list[Target]:
    return [_latency_target(results), _throughput_target(results), _floor_target(results),
            _rules_target(results), _rss_target(results)]
