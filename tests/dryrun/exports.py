"""Bulk Data exports for the dry-run tests, built from the example requests of fhir_examples/
whose cards fhir_examples/README.md lists (the hand count the tables are checked against)."""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

EXAMPLES = Path(__file__).resolve().parents[2] / "fhir_examples"
NOW = "2026-11-20T09:00:00Z"  # the examples are dated relative to this moment

# Chart openings: every patient-view example.
PATIENT_VIEW = ["r01-phq9-item9-positive", "r02-depression-with-pain", "r03-insomnia-on-zolpidem",
                "r04-pain-sleep-stress", "r05-low-activity-chronic-pain", "r06-lifestyle-support",
                "r07-duloxetine-titration", "r14-stale-data-on-duloxetine", "r15-screening-due",
                "well-patient", "complex-patient"]
# Order-sign examples whose only active or draft MedicationRequest is the order being signed,
# so the dry-run makes exactly the README's call for them.
ORDER_SIGN = ["r08-gabapentin-renal-order", "r09-amitriptyline-order-item9",
              "r01-duloxetine-order-after-item9", "r13b-opioid-for-fibromyalgia",
              "r13b-opioid-for-acute-fracture", "r13c-opioid-order-with-sleep-apnoea",
              "r16-oxycodone-order-in-pregnancy", "ehr-unknown-lisinopril-order"]


def _resources(bundle_or_resource: Any) -> Iterable[dict[str, Any]]:
    if not isinstance(bundle_or_resource, dict):
        return []
    if bundle_or_resource.get("resourceType") == "Bundle":
        return [e["resource"] for e in bundle_or_resource.get("entry") or []]
    return [bundle_or_resource]


def example_resources(name: str) -> list[dict[str, Any]]:
    """An example's patient record, with its draft orders as draft MedicationRequests; ids
    are prefixed with the patient's id, as ids are unique in one server's export."""
    request = json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))
    pid = request["context"]["patientId"]
    found = [r for v in request["prefetch"].values() for r in _resources(v)]
    found += list(_resources(request["context"].get("draftOrders")))
    text = orjson.dumps(found).decode()
    out = orjson.loads(text)
    for resource in out:
        if resource["resourceType"] != "Patient":
            old = f"{resource['resourceType']}/{resource['id']}"
            resource["id"] = f"{pid}-{resource['id']}"
            text_refs(out, old, f"{resource['resourceType']}/{resource['id']}")
    return out


def text_refs(resources: list[dict[str, Any]], old: str, new: str) -> None:
    """Point references to a renamed resource at its new id."""
    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if value.get("reference") == old:
                value["reference"] = new
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
    walk(resources)


def write_export(directory: Path, names: Iterable[str], *, gz: bool = False,
                 split_type: str | None = None) -> Path:
    """One NDJSON file per resource type (`split_type`'s resources in two files)."""
    by_type: dict[str, list[dict[str, Any]]] = {}
    for name in names:
        for resource in example_resources(name):
            by_type.setdefault(resource["resourceType"], []).append(resource)
    directory.mkdir(parents=True, exist_ok=True)
    for rtype, resources in by_type.items():
        parts = ([resources[::2], resources[1::2]] if rtype == split_type else [resources])
        for i, part in enumerate(parts):
            name = f"{rtype}.{i:03d}.ndjson" if len(parts) > 1 else f"{rtype}.ndjson"
            data = b"".join(orjson.dumps(r) + b"\n" for r in part)
            if gz:
                (directory / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (directory / name).write_bytes(data)
    return directory


def copy_pack(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target
