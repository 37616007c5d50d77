"""Writing a synthetic population as a FHIR Bulk Data export: `<Type>.<block>.ndjson[.gz]`
files of at most BLOCK patients each (files split as servers split large exports), and an
`export.json` in the shape of a Bulk Data complete-status response listing them."""

from __future__ import annotations

import gzip
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from io import BufferedWriter
from pathlib import Path
from typing import Any

import orjson

from cds.population.patient import make_patient
from cds.population.profile import Profile

BLOCK = 5000
GZIP_LEVEL = 3


ByteSink = gzip.GzipFile | BufferedWriter


def _open(path: Path, gz: bool) -> ByteSink:
    return gzip.GzipFile(path, "wb", compresslevel=GZIP_LEVEL) if gz else path.open("wb")


def write_block(rules_dir: Path, out: Path, seed: int, block: int, first: int, last: int,
                now: datetime, gz: bool) -> dict[str, int]:
    """Patients `first` .. `last - 1` into this block's files; resource counts by type."""
    profile = Profile.load(rules_dir)
    suffix = ".ndjson.gz" if gz else ".ndjson"
    files: dict[str, ByteSink] = {}
    counts: dict[str, int] = {}
    try:
        for index in range(first, last):
            for resource in make_patient(profile, seed, index, now):
                rtype = resource["resourceType"]
                handle = files.get(rtype)
                if handle is None:
                    handle = files[rtype] = _open(out / f"{rtype}.{block:03d}{suffix}", gz)
                handle.write(orjson.dumps(resource))
                handle.write(b"\n")
                counts[rtype] = counts.get(rtype, 0) + 1
    finally:
        for handle in files.values():
            handle.close()
    return counts


def generate(rules_dir: Path, out: Path, patients: int, seed: int, now: datetime, *,
             gz: bool = False, workers: int = 1) -> dict[str, Any]:
    """The whole population; returns (and writes as export.json) the export manifest."""
    out.mkdir(parents=True, exist_ok=True)
    blocks = [(rules_dir, out, seed, b, start, min(start + BLOCK, patients), now, gz)
              for b, start in enumerate(range(0, patients, BLOCK))]
    if workers > 1 and len(blocks) > 1:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")
                                 ) as pool:
            results = list(pool.map(write_block, *zip(*blocks, strict=True)))
    else:
        results = [write_block(*args) for args in blocks]
    suffix = ".ndjson.gz" if gz else ".ndjson"
    output: list[dict[str, Any]] = [
        {"type": rtype, "url": f"{rtype}.{b:03d}{suffix}", "count": n}
        for b, counts in enumerate(results) for rtype, n in sorted(counts.items())]
    manifest = {"transactionTime": now.isoformat(), "request": "cds population generate",
                "requiresAccessToken": False, "output": output, "error": [],
                "extension": {"generator": {"patients": patients, "seed": seed,
                                            "resources": sum(o["count"] for o in output)}}}
    (out / "export.json").write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    return manifest
