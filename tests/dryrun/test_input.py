"""Reading the export: gzip and split files, and unreadable lines reported and skipped
without losing anything else."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

from tests.dryrun.conftest import dryrun, table
from tests.dryrun.exports import NOW, PATIENT_VIEW, write_export

TABLES = ("rules", "cards_per_opening", "overlaps", "data_notes", "unresolved_codes",
          "suggestions", "openings")


def _tables(out: Path) -> dict[str, list[dict]]:
    return {name: table(out, name) for name in TABLES}


def test_gzip_files_split_per_type_give_the_same_tables(tmp_path: Path,
                                                        patient_view_run: Path) -> None:
    export = write_export(tmp_path / "export", PATIENT_VIEW, gz=True, split_type="Observation")
    assert (export / "Observation.001.ndjson.gz").exists()
    out = tmp_path / "out"
    result = dryrun(str(export), "--now", NOW, "--out", str(out), "--hooks", "patient-view",
                    "--workers", "1")
    assert result.exit_code == 0, result.output
    assert _tables(out) == _tables(patient_view_run)


def test_malformed_lines_are_reported_by_file_and_line_and_nothing_else_is_lost(
        tmp_path: Path, patient_view_run: Path) -> None:
    export = write_export(tmp_path / "export", PATIENT_VIEW)
    observations = (export / "Observation.ndjson").read_text().splitlines(keepends=True)
    observations.insert(3, '{"resourceType": "Observation", "id": \n')  # cut short
    observations.insert(6, "[1, 2, 3]\n")
    (export / "Observation.ndjson").write_text("".join(observations))
    out = tmp_path / "out"
    result = dryrun(str(export), "--now", NOW, "--out", str(out), "--hooks", "patient-view",
                    "--workers", "1")
    assert result.exit_code == 0, result.output
    assert "Observation.ndjson:4: not valid JSON" in result.output
    assert "Observation.ndjson:7: not a JSON object; line skipped" in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["bad_line_count"] == 2
    assert [(b["file"], b["line"]) for b in summary["bad_lines"]] == [
        ("Observation.ndjson", 4), ("Observation.ndjson", 7)]
    before = json.loads((patient_view_run / "summary.json").read_text())
    assert summary["resources"] == before["resources"]
    assert _tables(out) == _tables(patient_view_run)
    assert "2 unreadable line(s) skipped" in (out / "report.html").read_text()


def test_tables_are_written_as_parquet_and_csv(patient_view_run: Path) -> None:
    for name in TABLES:
        rows = pq.read_table(patient_view_run / "tables" / f"{name}.parquet").num_rows
        csv_lines = (patient_view_run / "tables" / f"{name}.csv").read_text().splitlines()
        assert len(csv_lines) == rows + 1  # a header, then one line per row


def test_a_directory_without_ndjson_files_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "export").mkdir()
    result = dryrun(str(tmp_path / "export"), "--now", NOW, "--out", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert "no *.ndjson or *.ndjson.gz files" in result.output


def test_a_hook_without_a_service_is_a_clear_error(tmp_path: Path) -> None:
    export = write_export(tmp_path / "export", PATIENT_VIEW[:1])
    result = dryrun(str(export), "--now", NOW, "--out", str(tmp_path / "out"),
                    "--hooks", "encounter-start")
    assert result.exit_code == 2
    assert "--hooks: the pack has no service for encounter-start" in result.output


def test_a_bad_now_is_a_clear_error(tmp_path: Path) -> None:
    export = write_export(tmp_path / "export", PATIENT_VIEW[:1])
    result = dryrun(str(export), "--now", "yesterday", "--out", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert "--now 'yesterday' is not an ISO 8601 date or date-time" in result.output
