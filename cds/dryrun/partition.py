"""Pass 2, the unit of work: one partition's patients evaluated into result files.

A partition's resources are read from the split files (pass 1), grouped by patient and each
patient's calls evaluated with every pack of the run (the pack, and the other pack of
`--compare`). Results go to `results/<pack>/part-<p>.openings.parquet` (one row per call)
and `.cards.parquet` (one row per card); `results/part-<p>.json`, written last, marks the
partition done, so a rerun with the same --out skips it. Patients are evaluated in id order,
so a partition's files are the same whichever process or machine made them.

The function runs in worker processes (local or Dask): each process loads a pack once.
"""

from __future__ import annotations

import gc
import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from cds.authoring.testing import build_evaluator
from cds.dryrun.bulk import patient_of
from cds.dryrun.openings import card_rows, evaluate_patient, opening_row, services_for
from cds.dryrun.split import part_name, partition_sources
from cds.pipeline import Evaluator


def _schema(*fields: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema(list(fields))


OPENINGS = _schema(
    ("patient", pa.string()), ("hook", pa.string()), ("service", pa.string()),
    ("opening", pa.string()), ("cards", pa.int32()), ("fired", pa.list_(pa.string())),
    ("shown", pa.list_(pa.string())), ("held_back", pa.list_(pa.string())),
    ("note_kinds", pa.list_(pa.string())), ("unresolved", pa.list_(pa.string())),
    ("cut_keys", pa.list_(pa.string())),
)
CARDS = _schema(
    ("patient", pa.string()), ("hook", pa.string()), ("opening", pa.string()),
    ("position", pa.int32()), ("rule", pa.string()), ("also_from", pa.list_(pa.string())),
    ("indicator", pa.string()), ("suggestions", pa.list_(pa.string())),
    ("data_notes", pa.bool_()),
)
_EVALUATORS: dict[str, Evaluator] = {}


@dataclass(frozen=True)
class PackSpec:
    """A pack of the run: `label` names its result folder (`pack` or `compare`)."""

    label: str
    rules_dir: str


@dataclass(frozen=True)
class PartitionJob:
    work: str
    partition: int
    files: int
    packs: tuple[PackSpec, ...]
    now: datetime
    hooks: tuple[str, ...]


def evaluator_for(rules_dir: str) -> Evaluator:
    """The process's evaluator of a pack, loaded on first use (compiling takes seconds)."""
    evaluator = _EVALUATORS.get(rules_dir)
    if evaluator is None:
        evaluator = _EVALUATORS[rules_dir] = build_evaluator(Path(rules_dir),
                                                             run_pack_tests=False)
    return evaluator


def _tune_collector() -> None:
    """As a serving process does (cds/app.py): what is loaded - the packs and this
    partition's resources, none of it cyclic garbage - is frozen out of the cyclic
    collector's reach and young collections run less often; a third less time per patient."""
    gc.collect()
    gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(10_000, middle, old)


def done_path(work: Path, partition: int) -> Path:
    return work / "results" / f"{part_name(partition)}.json"


def read_patients(sources: list[Path]) -> dict[str, list[dict[str, Any]]]:
    """The partition's resources by patient id, in export order."""
    patients: dict[str, list[dict[str, Any]]] = {}
    for source in sources:
        with source.open("rb") as lines:
            for line in lines:
                resource = orjson.loads(line)
                patient = patient_of(resource)
                if patient is not None:
                    patients.setdefault(patient, []).append(resource)
    return patients


def _write(table: pa.Table, path: Path) -> None:
    staging = path.with_name(path.name + ".partial")
    pq.write_table(table, staging)
    os.replace(staging, path)


def run_partition(job: PartitionJob) -> dict[str, Any]:
    """Evaluate one partition (or read back its summary when it is done already)."""
    work = Path(job.work)
    marker = done_path(work, job.partition)
    if marker.exists():
        done: dict[str, Any] = orjson.loads(marker.read_bytes())
        return {**done, "reused": True}
    started, cpu = time.perf_counter(), time.process_time()
    for spec in job.packs:
        evaluator_for(spec.rules_dir)
    patients = read_patients(partition_sources(work, job.files, job.partition))
    order = sorted(patients)
    _tune_collector()
    for spec in job.packs:
        evaluator = evaluator_for(spec.rules_dir)
        services = services_for(evaluator, job.hooks)
        openings: list[dict[str, Any]] = []
        cards: list[dict[str, Any]] = []
        for pid in order:
            by_type: dict[str, list[dict[str, Any]]] = {}
            for resource in patients[pid]:
                by_type.setdefault(resource["resourceType"], []).append(resource)
            for service, opening, evaluation, cut in evaluate_patient(pid, by_type, services,
                                                                      evaluator, job.now):
                openings.append(opening_row(pid, service, opening, evaluation, cut))
                cards.extend(card_rows(pid, service, opening, evaluation))
        folder = work / "results" / spec.label
        folder.mkdir(parents=True, exist_ok=True)
        name = part_name(job.partition)
        _write(pa.Table.from_pylist(openings, OPENINGS), folder / f"{name}.openings.parquet")
        _write(pa.Table.from_pylist(cards, CARDS), folder / f"{name}.cards.parquet")
    without_patient = sum(1 for pid in order
                          if not any(r["resourceType"] == "Patient" for r in patients[pid]))
    summary = {"partition": job.partition, "patients": len(order),
               "without_patient_resource": without_patient,
               "resources": sum(len(v) for v in patients.values()),
               "seconds": round(time.perf_counter() - started, 3),
               "cpu_seconds": round(time.process_time() - cpu, 3)}
    staging = marker.with_name(marker.name + ".partial")
    staging.write_bytes(orjson.dumps(summary))
    os.replace(staging, marker)
    return {**summary, "reused": False}
