"""Dry-runs shared by the tests of this folder (each run starts worker processes that
compile the pack, so the runs are made once per module where tests only read them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cds.cli import app
from tests.dryrun.exports import NOW, PATIENT_VIEW, write_export


def dryrun(*args: str) -> Any:
    """`cds dryrun ...` in process; returns the CliRunner result."""
    return CliRunner().invoke(app, ["dryrun", *args, "--no-progress"], catch_exceptions=False)


def table(out: Path, name: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = pq.read_table(out / "tables" / f"{name}.parquet").to_pylist()
    return rows


@pytest.fixture(scope="session")
def patient_view_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The patient-view examples, dry-run on two local workers."""
    root = tmp_path_factory.mktemp("pv")
    export = write_export(root / "export", PATIENT_VIEW)
    out = root / "out"
    result = dryrun(str(export), "--now", NOW, "--out", str(out), "--hooks", "patient-view",
                    "--workers", "2", "--partitions", "3")
    assert result.exit_code == 0, result.output
    return out
