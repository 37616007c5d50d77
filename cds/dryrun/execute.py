"""Running a dry-run: pass 1 (split) and pass 2 (evaluate) on local worker processes or on a
Dask distributed cluster, with a progress bar and resumable partial results.

`--out DIR/work` holds the run: `manifest.json` (input files, packs, --now, hooks, partition
count), the split files and each finished partition's results. A rerun with the same --out
and the same settings skips finished work; a rerun with other settings is refused rather
than mixing two runs. Both executors call the same task functions (split.split_file and
partition.run_partition); on a cluster, the input and --out must be on a filesystem every
worker sees, and every worker needs this package installed.
"""

from __future__ import annotations

import hashlib
import math
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cds.dryrun import DryRunError
from cds.dryrun.bulk import export_files
from cds.dryrun.partition import PackSpec, PartitionJob, run_partition
from cds.dryrun.split import split_file

FORMAT = 1
TARGET_PARTITION_BYTES = 24 << 20  # NDJSON per partition: about 800 patients in memory
MIN_PARTITIONS = 8
GZIP_RATIO = 8  # a rough guess of how much a gzip export file grows when read


@dataclass(frozen=True)
class RunPlan:
    input_dir: Path
    out: Path
    now: datetime
    hooks: tuple[str, ...]
    packs: tuple[PackSpec, ...]
    workers: int
    scheduler: str | None = None
    partitions: int | None = None
    progress: bool = True


@dataclass
class RunOutcome:
    files: list[dict[str, Any]] = field(default_factory=list)
    partitions: list[dict[str, Any]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # wall time of each pass

    @property
    def patients(self) -> int:
        return sum(p.get("patients", 0) for p in self.partitions)


class Executor(Protocol):
    def map(self, fn: Callable[..., Any], calls: Sequence[tuple[Any, ...]]
            ) -> Iterator[tuple[int, Any]]: ...


class LocalExecutor:
    """Worker processes on this machine (spawned: no state is shared by forking)."""

    def __init__(self, workers: int) -> None:
        self.pool = ProcessPoolExecutor(max_workers=workers,
                                        mp_context=multiprocessing.get_context("spawn"))

    def map(self, fn: Callable[..., Any], calls: Sequence[tuple[Any, ...]]
            ) -> Iterator[tuple[int, Any]]:
        futures = {self.pool.submit(fn, *args): i for i, args in enumerate(calls)}
        for future in as_completed(futures):
            yield futures[future], future.result()

    def close(self) -> None:
        self.pool.shutdown(cancel_futures=True)


class DaskExecutor:
    """The same task functions on a Dask distributed cluster."""

    def __init__(self, address: str) -> None:
        try:
            from distributed import Client
        except ImportError as exc:
            raise DryRunError("--scheduler needs Dask: pip install 'stress-pain-cds[dryrun]'"
                              ) from exc
        try:
            self.client = Client(address, timeout="10s")
        except OSError as exc:
            raise DryRunError(f"cannot reach the Dask scheduler at {address}: {exc}") from exc

    def map(self, fn: Callable[..., Any], calls: Sequence[tuple[Any, ...]]
            ) -> Iterator[tuple[int, Any]]:
        from distributed import as_completed as dask_completed

        futures = [self.client.submit(fn, *args, pure=False) for args in calls]
        index = {future.key: i for i, future in enumerate(futures)}
        for future in dask_completed(futures):
            yield index[future.key], future.result()

    def close(self) -> None:
        self.client.close()


@contextmanager
def executor_for(plan: RunPlan) -> Iterator[Executor]:
    executor: LocalExecutor | DaskExecutor = (
        DaskExecutor(plan.scheduler) if plan.scheduler else LocalExecutor(plan.workers))
    try:
        yield executor
    finally:
        executor.close()


def pack_fingerprint(rules_dir: Path) -> str:
    """A hash of every file of a pack: a rerun with an edited pack is a different run."""
    digest = hashlib.sha256()
    for path in sorted(p for p in rules_dir.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(rules_dir)).encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def auto_partitions(files: Sequence[Path]) -> int:
    """About TARGET_PARTITION_BYTES of NDJSON each, at least MIN_PARTITIONS (so a few workers
    share the work evenly); never a function of the worker count, so that a rerun with
    other --workers resumes the same partitions."""
    size = sum(p.stat().st_size * (GZIP_RATIO if p.name.endswith(".gz") else 1) for p in files)
    return max(MIN_PARTITIONS, math.ceil(size / TARGET_PARTITION_BYTES))


def _manifest(plan: RunPlan, files: Sequence[Path], partitions: int) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "input": [[p.name, p.stat().st_size] for p in files],
        "packs": [[s.label, pack_fingerprint(Path(s.rules_dir))] for s in plan.packs],
        "now": plan.now.isoformat(), "hooks": list(plan.hooks), "partitions": partitions,
    }


def _claim(work: Path, manifest: dict[str, Any]) -> None:
    """Start a run in `work`, or resume the same run; refuse to mix two runs."""
    path = work / "manifest.json"
    if path.exists():
        before = orjson.loads(path.read_bytes())
        changed = [k for k in manifest if before.get(k) != manifest[k]]
        if changed:
            raise DryRunError(
                f"{work.parent} holds a dry-run with other {', '.join(changed)}; use another "
                "--out (or delete that directory) to start a new run")
        return
    work.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))


def _progress(enabled: bool) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[note]}"), TimeElapsedColumn(),
                    console=Console(stderr=True), disable=not enabled, transient=False)


def run(plan: RunPlan) -> RunOutcome:
    """Both passes; returns what each file and partition reported."""
    files = export_files(plan.input_dir)
    work = plan.out / "work"
    existing = work / "manifest.json"
    partitions = plan.partitions or (
        int(orjson.loads(existing.read_bytes())["partitions"]) if existing.exists()
        else auto_partitions(files))
    _claim(work, _manifest(plan, files, partitions))
    outcome = RunOutcome(files=[{}] * len(files), partitions=[{}] * partitions)
    started = time.perf_counter()
    with executor_for(plan) as executor, _progress(plan.progress) as bar:
        split = bar.add_task("reading export files", total=len(files), note="")
        # The largest files first, so that no worker is left with a big one at the end.
        calls = sorted(((path, work, i, partitions) for i, path in enumerate(files)),
                       key=lambda call: -call[0].stat().st_size)
        for i, summary in executor.map(split_file, calls):
            outcome.files[calls[i][2]] = summary
            bar.advance(split)
        outcome.seconds["split"] = time.perf_counter() - started
        evaluate = bar.add_task("evaluating partitions", total=partitions, note="")
        jobs = [(PartitionJob(str(work), p, len(files), plan.packs, plan.now, plan.hooks),)
                for p in range(partitions)]
        for p, summary in executor.map(run_partition, jobs):
            outcome.partitions[p] = summary
            bar.update(evaluate, advance=1, note=f"{outcome.patients:,} patients")
        outcome.seconds["evaluate"] = time.perf_counter() - started - outcome.seconds["split"]
    return outcome


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)))
