"""Pass 1: each export file's resources into partition files, by a hash of their patient.

One task per export file writes `split/<n>/part-<p>.ndjson` (the lines as they were) and,
last, `split/<n>.json` with what it read: a task whose summary exists is done, so a rerun
skips it. Every resource of one patient lands in the same partition whichever file it came
from, so pass 2 evaluates partitions independently. Resources that belong to no patient
(Practitioner, Organization, Medication ...) are counted by type, not partitioned: no
prefetch query of a patient's chart returns them.
"""

from __future__ import annotations

import shutil
import time
import zlib
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

import orjson

from cds.dryrun.bulk import BadLine, patient_of, read_resources


def partition_of(patient_id: str, partitions: int) -> int:
    """A stable partition number for a patient (the same on every machine and run)."""
    return zlib.crc32(patient_id.encode("utf-8")) % partitions


def part_name(partition: int) -> str:
    return f"part-{partition:05d}"


def split_file(source: Path, work: Path, index: int, partitions: int) -> dict[str, Any]:
    """Split one export file; returns (and stores) the summary of what it read."""
    summary_path = work / "split" / f"{index}.json"
    if summary_path.exists():
        loaded: dict[str, Any] = orjson.loads(summary_path.read_bytes())
        return loaded
    cpu = time.process_time()
    final = work / "split" / str(index)
    staging = work / "split" / f"{index}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.rmtree(final, ignore_errors=True)
    staging.mkdir(parents=True)
    bad: list[BadLine] = []
    outputs: dict[int, IO[bytes]] = {}
    kept = 0
    patients = 0
    unlinked: Counter[str] = Counter()
    numbers: dict[str, int] = {}  # a patient's partition, computed once
    try:
        for line, resource in read_resources(source, bad):
            patient = patient_of(resource)
            if patient is None:
                unlinked[resource["resourceType"]] += 1
                continue
            number = numbers.get(patient)
            if number is None:
                number = numbers[patient] = partition_of(patient, partitions)
            out = outputs.get(number)
            if out is None:
                out = outputs[number] = (staging / f"{part_name(number)}.ndjson").open("wb")
            out.write(line)
            kept += 1
            patients += resource["resourceType"] == "Patient"
    finally:
        for out in outputs.values():
            out.close()
    staging.rename(final)
    summary = {"file": source.name, "resources": kept, "patient_resources": patients,
               "unlinked": dict(sorted(unlinked.items())),
               "bad_lines": [asdict(b) for b in bad],
               "cpu_seconds": round(time.process_time() - cpu, 3)}
    summary_path.write_bytes(orjson.dumps(summary))
    return summary


def partition_sources(work: Path, files: int, partition: int) -> list[Path]:
    """The split files holding one partition's resources, in export-file order."""
    name = f"{part_name(partition)}.ndjson"
    return [p for p in (work / "split" / str(i) / name for i in range(files)) if p.exists()]
