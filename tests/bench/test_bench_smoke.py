"""The benchmark runs end to end in a tiny form and writes every part of its report.

Nothing here asserts a timing: on a shared test machine figures mean nothing. What is
checked is that the harness starts the server, drives it, measures every stage, and
reports each target with a verdict.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from bench.report import HEADINGS
from bench.run import main

pytestmark = pytest.mark.slow


def test_smoke_run_measures_every_section_and_writes_the_report(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    raw = tmp_path / "results.json"
    status = main([
        "--smoke", "--out", str(out), "--json", str(raw),
        "--sizes", "S,M", "--rule-counts", "0,6", "--workers", "1,2",
        "--concurrency", "1,2", "--requests", "6", "--warmup", "2", "--duration", "5",
        "--repeat", "3", "--rss-calls", "30", "--profile-calls", "2",
    ])

    report = out.read_text()
    results = orjson.loads(raw.read_bytes())
    assert results["failures"] == []
    assert status == 0
    for heading in HEADINGS:
        assert f"## {heading}" in report
    for verdict_row in ("Latency, concurrency 1", "Throughput, concurrency 16",
                        "Server-side time vs parse floor", "1,000 rules", "Memory flat"):
        assert verdict_row in report
    assert [run["workers"] for run in results["servers"]] == [1, 2]
    for run in results["servers"]:
        assert run["failure"] is None
        assert [load["concurrency"] for load in run["loads"]] == [1, 2]
        assert all(load["completed"] > 0 and load["errors"] == 0 for load in run["loads"])
        assert run["rss_before_mib"] and run["rss_after_mib"]
    stage_names = [stage["name"] for stage in results["stages"]["stages"]]
    assert stage_names[0].startswith("JSON parse")
    assert any(name.startswith("Evaluator.evaluate") for name in stage_names)
    assert stage_names[-1].startswith("Server-side total")
    assert [size["label"] for size in results["sizes"]] == ["S", "M"]
    assert [scale["extra_rules"] for scale in results["rules"]] == [0, 6]
    assert all(scale["failure"] is None for scale in results["rules"])
    assert len(results["rss"]["samples"]) >= 2
