"""Reading a FHIR Bulk Data export: NDJSON files, one resource per line, plain or gzip.

The Bulk Data Access IG writes one or more files per resource type (`Observation.ndjson`,
`Observation.000.ndjson`, `2.Observation.ndjson` ...); the reader takes every `*.ndjson`
and `*.ndjson.gz` file of the directory, in name order, and reads each resource's type
from the resource itself. A line that is not a JSON object with a `resourceType` is
reported by file and line number and skipped; the other lines of the file are read as usual.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from io import BufferedReader
from pathlib import Path
from typing import Any

import orjson

from cds.dryrun import DryRunError

SUFFIXES = (".ndjson", ".ndjson.gz")
_MAX_REASON = 120


@dataclass(frozen=True)
class BadLine:
    """A line of the export that could not be read (reported, never a patient's data)."""

    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}; line skipped"


def export_files(directory: Path) -> list[Path]:
    """The export's NDJSON files in name order; a clear error when there are none."""
    if not directory.is_dir():
        raise DryRunError(f"{directory}: not a directory (a FHIR Bulk Data export holds one "
                          "NDJSON file per resource type)")
    files = sorted(p for p in directory.iterdir()
                   if p.is_file() and p.name.endswith(SUFFIXES))
    if not files:
        raise DryRunError(f"{directory}: no *.ndjson or *.ndjson.gz files")
    return files


def open_lines(path: Path) -> gzip.GzipFile | BufferedReader:
    if path.name.endswith(".gz"):
        return gzip.GzipFile(path, "rb")
    return path.open("rb")


def read_resources(path: Path, bad: list[BadLine]) -> Iterator[tuple[bytes, dict[str, Any]]]:
    """(line, resource) for every readable line, the line ending in one newline;
    unreadable ones go to `bad`."""
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    try:
        with open_lines(path) as lines:
            for number, raw in enumerate(lines, 1):
                try:
                    resource = loads(raw)
                except decode_error:
                    if raw.strip():
                        bad.append(BadLine(path.name, number, str(parse_line(raw.strip()))))
                    continue
                if type(resource) is not dict or type(resource.get("resourceType")) is not str:
                    bad.append(BadLine(path.name, number, str(parse_line(raw.strip()))))
                    continue
                yield (raw if raw.endswith(b"\n") else raw + b"\n"), resource
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DryRunError(f"{path.name}: cannot be read ({type(exc).__name__}: {exc})") from exc


def parse_line(line: bytes) -> dict[str, Any] | str:
    """The resource on one NDJSON line, or why it is not one."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return f"not valid JSON ({str(exc)[:_MAX_REASON]})"
    if not isinstance(value, dict):
        return "not a JSON object"
    if not isinstance(value.get("resourceType"), str):
        return "a JSON object without resourceType"
    return value


def patient_of(resource: dict[str, Any]) -> str | None:
    """The id of the patient a resource belongs to: the Patient's own id, else the Patient its
    `subject` or `patient` reference names (relative, absolute or `Patient/x/_history/n`)."""
    if resource["resourceType"] == "Patient":
        rid = resource.get("id")
        return rid if isinstance(rid, str) and rid else None
    for key in ("subject", "patient"):
        ref = resource.get(key)
        if isinstance(ref, dict):
            target = ref.get("reference")
            if isinstance(target, str):
                found = _patient_id(target)
                if found is not None:
                    return found
    return None


def _patient_id(reference: str) -> str | None:
    if reference.startswith("Patient/"):
        found = reference[8:].partition("/")[0]
    else:
        _, marker, rest = reference.partition("/Patient/")
        found = rest.partition("/")[0] if marker else ""
    return found or None
