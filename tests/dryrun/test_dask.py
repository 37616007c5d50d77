"""--scheduler: the same partition function on a Dask distributed cluster (here a local
cluster of worker processes) gives the same tables as local worker processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from distributed import LocalCluster

from tests.dryrun.conftest import dryrun
from tests.dryrun.exports import NOW, PATIENT_VIEW, write_export

pytestmark = pytest.mark.slow


@pytest.fixture
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, host="127.0.0.1") as local:
        yield local


def test_a_dask_cluster_gives_the_same_tables_as_local_workers(
        tmp_path: Path, patient_view_run: Path, cluster: LocalCluster) -> None:
    export = write_export(tmp_path / "export", PATIENT_VIEW)
    out = tmp_path / "out"
    result = dryrun(str(export), "--now", NOW, "--out", str(out), "--hooks", "patient-view",
                    "--scheduler", cluster.scheduler_address, "--partitions", "3")
    assert result.exit_code == 0, result.output
    local = sorted(p.name for p in (patient_view_run / "tables").glob("*.parquet"))
    assert sorted(p.name for p in (out / "tables").glob("*.parquet")) == local
    for name in local:
        assert pq.read_table(out / "tables" / name).equals(
            pq.read_table(patient_view_run / "tables" / name)), name
    assert "Dask cluster at tcp://127.0.0.1:" in (out / "report.html").read_text()


def test_an_unreachable_scheduler_is_a_clear_error(tmp_path: Path) -> None:
    export = write_export(tmp_path / "export", PATIENT_VIEW[:1])
    result = dryrun(str(export), "--now", NOW, "--out", str(tmp_path / "out"),
                    "--scheduler", "tcp://127.0.0.1:9")
    assert result.exit_code == 2
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in result.output
