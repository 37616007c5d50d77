"""--compare: the effect of a changed rule parameter, patient by patient; and a rerun with the
same --out resuming instead of starting over."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.dryrun.conftest import dryrun, table
from tests.dryrun.exports import EXAMPLES, NOW, PATIENT_VIEW, copy_pack, write_export

pytestmark = pytest.mark.slow
RULES = EXAMPLES.parent / "rules"


def test_lowering_the_activity_guideline_removes_the_graded_exercise_card_of_one_patient(
        tmp_path: Path) -> None:
    other = copy_pack(RULES, tmp_path / "rules-60")
    params = other / "parameters.yaml"
    text = params.read_text()
    assert "  guideline_min_week: 150" in text
    params.write_text(text.replace("  guideline_min_week: 150", "  guideline_min_week: 60"))
    export = write_export(tmp_path / "export", PATIENT_VIEW)
    out = tmp_path / "out"
    result = dryrun(str(export), "--now", NOW, "--out", str(out), "--hooks", "patient-view",
                    "--workers", "1", "--compare", str(other))
    assert result.exit_code == 0, result.output
    # r05 records 60 min/week: below 150, not below 60; no other patient changes.
    assert table(out, "compare_patients") == [
        {"patient": "r05-low-activity-chronic-pain", "hook": "patient-view", "opening": "",
         "rule": "R05", "change": "lost"}]
    changed = [r for r in table(out, "compare_rules")
               if r["patients_gaining"] or r["patients_losing"]]
    assert changed == [{"hook": "patient-view", "rule": "R05", "patients_with_card": 2,
                        "patients_with_card_compared": 1, "patients_gaining": 0,
                        "patients_losing": 1, "change_per_1000": -90.9}]
    compared = pq.read_table(out / "tables" / "compare" / "rules.parquet").to_pylist()
    r05 = {r["rule"]: r for r in compared}["R05"]
    assert (r05["patients_with_card"], r05["lead_cards"]) == (1, 0)  # merged: complex-patient
    html = (out / "report.html").read_text()
    assert "What changes with stress-pain" in html
    assert "r05-low-activity-chronic-pain" not in html  # patient ids stay in the files


def test_a_rerun_skips_finished_partitions_and_gives_the_same_tables(tmp_path: Path) -> None:
    export = write_export(tmp_path / "export", PATIENT_VIEW)
    out = tmp_path / "out"
    args = [str(export), "--now", NOW, "--out", str(out), "--hooks", "patient-view",
            "--workers", "1", "--partitions", "4"]
    assert dryrun(*args).exit_code == 0
    first = table(out, "rules")
    # An interrupted run: partition 2 never finished.
    (out / "work" / "results" / "part-00002.json").unlink()
    shutil.rmtree(out / "tables")
    result = dryrun(*args)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["partitions_reused"] == 3
    assert table(out, "rules") == first


def test_a_rerun_with_another_now_in_the_same_out_is_refused(tmp_path: Path) -> None:
    export = write_export(tmp_path / "export", PATIENT_VIEW[:2])
    out = tmp_path / "out"
    base = [str(export), "--out", str(out), "--hooks", "patient-view", "--workers", "1"]
    assert dryrun(*base, "--now", NOW).exit_code == 0
    result = dryrun(*base, "--now", "2026-12-01")
    assert result.exit_code == 2
    assert "holds a dry-run with other now; use another --out" in result.output
