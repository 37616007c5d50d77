"""Render a run's results as markdown (bench/RESULTS.md)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from bench.results import Results, targets
from bench.stages import StageReport

HEADINGS = ("Targets", "HTTP load", "Stage breakdown", "Floor", "Scaling: patient size",
            "Scaling: rule count", "Memory", "Method")


def _ms(value: float) -> str:
    if math.isnan(value):
        return ""
    return f"{value * 1000:.0f} µs" if value < 1 else f"{value:.2f} ms"


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _machine(results: Results) -> str:
    return table(("Machine", ""), results.machine.items())


def _targets(results: Results) -> str:
    rows = [(t.name, t.goal, t.measured, f"**{t.verdict}**") for t in targets(results)]
    return table(("Target", "Goal", "Measured", "Verdict"), rows)


def _http(results: Results) -> str:
    if not results.servers:
        return "Not run."
    rows: list[tuple[object, ...]] = []
    for run in results.servers:
        if run.failure:
            rows.append((run.workers, "-", "-", "-", "-", "-", "-", "-", "failed"))
        for load in run.loads:
            lat = load.latency
            rows.append((run.workers, load.concurrency, load.completed, f"{load.rps:.0f}",
                         _ms(lat.p50), _ms(lat.p95), _ms(lat.p99), _ms(lat.max),
                         load.errors))
    out = [table(("Workers", "Concurrency", "Requests", "Req/s", "p50", "p95", "p99", "Max",
                  "Errors"), rows), ""]
    rss_rows = [(run.workers, run.probe_cards, f"{run.rss_before_total:.0f} MiB",
                 f"{run.rss_after_total:.0f} MiB",
                 ", ".join(f"{v:.0f}" for v in run.rss_after_mib.values()),
                 f"{run.audit_rows:,} of {run.requests_served:,}"
                 if run.audit_rows is not None else "-")
                for run in results.servers if not run.failure]
    out.append(table(("Workers", "Cards per response", "Server RSS before",
                      "Server RSS after", "Per process after (MiB)",
                      "Calls audited (of answered)"), rss_rows))
    for run in results.servers:
        if run.failure:
            out += ["", f"Server with {run.workers} worker(s) failed:", "", "```",
                    run.failure.strip(), "```"]
        for load in run.loads:
            if load.first_error:
                out += ["", f"{run.workers} worker(s), concurrency {load.concurrency}: first "
                        f"error `{load.first_error}`; statuses {load.statuses}"]
    return "\n".join(out)


def _stages(report: StageReport | None) -> str:
    if report is None or report.server is None:
        return "Not run."
    total = report.server.p50
    rows = []
    for stage in report.stages:
        share = "" if stage.kind in ("detail", "reference") or math.isnan(stage.p50_ms) \
            else f"{stage.p50_ms / total * 100:.0f}%"
        rows.append((stage.name, _ms(stage.p50_ms), _ms(stage.p95_ms), share, stage.note))
    intro = (f"M patient: {report.resources} resources, {report.body_bytes / 1024:.0f} KiB "
             f"request, {report.facts} facts, {report.cards} cards, {report.notes} data notes. "
             f"Clock: {_CLOCK_TEXT[report.clock]}.")
    return intro + "\n\n" + table(("Stage", "p50", "p95", "Share", "Note"), rows)


_CLOCK_TEXT = {"cpu": "CPU time of the calling thread", "wall": "wall time"}


def _floor(report: StageReport | None) -> str:
    if report is None or report.server is None or report.floor is None:
        return "Not run."
    return f"Clock: {_CLOCK_TEXT[report.clock]}.\n\n" + table(
        ("Request", "orjson parse p50", "Server-side p50 (in-process)", "Ratio"),
        [(report.label, _ms(report.floor.p50), _ms(report.server.p50), f"{report.ratio:.1f}x")])


def _sizes(reports: list[StageReport]) -> str:
    if not reports:
        return "Not run."
    rows = []
    for r in reports:
        if r.server is None or r.floor is None:
            continue
        evaluate = next((s.p50_ms for s in r.stages if s.name.startswith("Evaluator.")),
                        math.nan)
        rows.append((r.label, r.resources, f"{r.body_bytes / 1024:.0f} KiB", r.facts, r.cards,
                     _ms(r.floor.p50), _ms(evaluate), _ms(r.server.p50), _ms(r.server.p95),
                     f"{r.ratio:.1f}x"))
    return table(("Patient", "Resources", "Request", "Facts", "Cards", "JSON parse",
                  "Evaluator", "Server p50", "Server p95", "vs parse"), rows)


def _rules(results: Results) -> str:
    if not results.rules:
        return "Not run."
    base = next((r.report.server.p50 for r in results.rules
                 if r.extra_rules == 0 and r.report and r.report.server), math.nan)
    rows: list[tuple[object, ...]] = []
    for scale in results.rules:
        r = scale.report
        if r is None or r.server is None:
            rows.append((scale.label, scale.rule_files, f"{scale.load_s:.1f} s", "", "", "", "",
                         "", f"failed: {scale.failure}"))
            continue
        timings = r.pipeline_timings_ms
        load = "(already loaded)" if math.isnan(scale.load_s) else f"{scale.load_s:.1f} s"
        rows.append((scale.label, scale.rule_files, load, r.cards,
                     _ms(timings.get("evaluate", math.nan)), _ms(timings.get("render", math.nan)),
                     _ms(r.server.p50), _ms(r.server.p95), f"{r.server.p50 / base:.2f}x"))
    return table(("Pack", "Rule files", "Load", "Cards", "Rules (evaluate)", "Render",
                  "Server p50", "Server p95", "vs shipped"), rows)


def _memory(results: Results) -> str:
    rss = results.rss
    if rss is None or not rss.samples:
        return "Not run."
    head = (f"{rss.calls:,} in-process calls of the M request after {rss.warmup:,} warm-up "
            f"calls, {rss.errors} errors. RSS {rss.start_mib:.1f} MiB after warm-up, "
            f"{rss.end_mib:.1f} MiB at the end ({rss.growth_pct:+.2f}%), largest deviation "
            f"{rss.max_deviation_pct:.2f}%; {rss.audit_dropped:,} audit records dropped "
            "(queue full).")
    samples = ", ".join(f"{done:,}: {mib:.1f}" for done, mib in rss.samples)
    return head + "\n\nSamples (calls: MiB): " + samples


METHOD = """\
- Requests are synthetic patient-view calls built by `bench/patients.py` (seeded, valid
  FHIR R4: Observations, QuestionnaireResponses, MedicationRequests/Statements, Conditions,
  ServiceRequests, Procedures as searchset Bundles in prefetch). The same request is sent
  throughout a level.
- HTTP: `cds serve --no-auth` on a free loopback port with a throwaway SQLite database,
  driven by `bench/load.py` in a separate process: closed-loop keep-alive connections (one
  per concurrency slot), warm-up requests first, then a bounded count or time. Client and
  server share the machine's cores, so the client's CPU is part of the cost.
- Stage and scaling figures are in-process: the app built with `create_app(Settings(...))`
  and called through ASGI without sockets (server-side time), each stage timed on its own
  with the same inputs, all stages interleaved round by round. They use the thread's CPU
  clock unless `--clock wall` is given: the path does no I/O, so CPU time is its service
  time without the moments other processes held the core. p50/p95 over the repeats;
  "Evaluator" rows are the pipeline's own `timings_ms` split (it times itself on the wall
  clock), scaled call by call to the clock of the table.
- The floor is `orjson.loads` of the request body; the ratio is server-side p50 over it.
- Speed of the machine: a virtual machine's core runs faster or slower by tens of percent
  from hour to hour. The "Python reference workload" in the header (a fixed pure-Python
  job, start and end of the run) tells whether two reports ran on an equally fast core.
- Memory: RSS of the benchmark process sampled (after `gc.collect()`) across in-process
  calls of the full ASGI path.
"""


def render(results: Results) -> str:
    title = "# Benchmark results" + (" (smoke run: tiny counts, figures meaningless)"
                                     if results.smoke else "")
    parts = [title, "", f"Command: `{results.command}`", "", _machine(results), ""]
    sections = {
        "Targets": _targets(results),
        "HTTP load": "M patient, patient-view, loopback.\n\n" + _http(results),
        "Stage breakdown": _stages(results.stages),
        "Floor": _floor(results.stages),
        "Scaling: patient size": _sizes(results.sizes),
        "Scaling: rule count": "M patient.\n\n" + _rules(results),
        "Memory": _memory(results),
        "Method": METHOD,
    }
    for heading in HEADINGS:
        parts += [f"## {heading}", "", sections[heading].rstrip(), ""]
    if results.profile and any(t.verdict == "missed" for t in targets(results)):
        parts += ["## Profile of the hot path", "",
                  "cProfile, in-process, M patient (cProfile inflates Python-level call "
                  "overhead; read it for proportions).", "", "```", results.profile.rstrip(),
                  "```", ""]
    if results.failures:
        parts += ["## Failures", ""] + [f"- {f}" for f in results.failures] + [""]
    return "\n".join(parts)
