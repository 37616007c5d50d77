"""The benchmark's building blocks: synthetic patients, generated rules, statistics."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import yaml
from fhir.resources.R4B import get_fhir_model_class

from bench.patients import SIZES, all_resources, build_request, resource_count
from bench.rulegen import generate_pack
from bench.stats import Summary, percentile
from cds.rules.schema import RuleFile
from cds.settings import BUNDLED_RULES_DIR

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(("size", "expected"), [("S", 20), ("M", 100), ("L", 1000)])
def test_synthetic_patient_has_the_size_it_is_named_for(size: str, expected: int) -> None:
    request = build_request(size, seed=3, now=NOW)
    assert resource_count(request) == SIZES[size].total == expected
    assert request["hook"] == "patient-view"
    assert request["context"]["patientId"] == request["prefetch"]["patient"]["id"]


def test_same_seed_and_day_give_the_same_request_bytes() -> None:
    first = orjson.dumps(build_request("M", seed=5, now=NOW))
    assert orjson.dumps(build_request("M", seed=5, now=NOW)) == first
    assert orjson.dumps(build_request("M", seed=6, now=NOW)) != first


def test_every_synthetic_resource_and_bundle_validates_as_fhir_r4() -> None:
    request = build_request("M", seed=1, now=NOW)
    for resource in all_resources(request) + list(request["prefetch"].values()):
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def test_synthetic_data_is_dated_before_now() -> None:
    request = build_request("L", seed=1, now=NOW)
    stamps = [r.get("effectiveDateTime") or r.get("authored") or r.get("authoredOn")
              for r in all_resources(request)]
    assert all(s < "2026-06-01T12:00:00Z" for s in stamps if s)


def test_generated_rules_follow_the_rule_file_schema(tmp_path: Path) -> None:
    pack = generate_pack(BUNDLED_RULES_DIR, tmp_path / "pack", 24)
    files = sorted((pack / "rules").glob("SYN*.yaml"))
    assert len(files) == 24
    for path in files:
        RuleFile.model_validate(yaml.safe_load(path.read_text()))
    assert (pack / "services.yaml").read_text() == \
        (BUNDLED_RULES_DIR / "services.yaml").read_text()


def test_rule_generation_is_repeatable(tmp_path: Path) -> None:
    one = generate_pack(BUNDLED_RULES_DIR, tmp_path / "a", 10)
    two = generate_pack(BUNDLED_RULES_DIR, tmp_path / "b", 10)
    for path in (one / "rules").glob("SYN*.yaml"):
        assert path.read_text() == (two / "rules" / path.name).read_text()


def test_percentiles_use_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    summary = Summary.of(list(reversed(values)))
    assert (summary.p50, summary.p95, summary.max, summary.n) == (50.0, 95.0, 100.0, 100)
