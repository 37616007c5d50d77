"""No value anywhere in a resource makes the evaluation fail: whatever an EHR sends inside a
well-formed request, the call answers (bad data becomes a note, never an error)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds.fhir.collect import collect
from cds.hooks.models import HookRequest
from cds.pipeline import Evaluator
from fhir_examples.generate import NOW

ROOT = Path(__file__).resolve().parents[2]
REQUESTS = {name: json.loads((ROOT / "fhir_examples" / name).read_text()) for name in (
    "complex-patient.json", "r08-gabapentin-renal-order.json",
    "r09-amitriptyline-order-item9.json")}

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats() | st.text(max_size=12)
    | st.sampled_from(["", "Patient/p1", "2026-13-45", "mg", "http://loinc.org", "72514-3"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=6)


@pytest.fixture(scope="module")
def evaluator(shipped_evaluator: Evaluator) -> Evaluator:
    return shipped_evaluator


def _resources(body: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    drafts = body["context"].get("draftOrders")
    for value in [*body["prefetch"].values(), *([drafts] if drafts else [])]:
        if isinstance(value, dict) and value.get("resourceType") == "Bundle":
            found += [e["resource"] for e in value.get("entry", []) if "resource" in e]
        elif isinstance(value, dict):
            found.append(value)
    return found


def _replace_somewhere(draw: st.DrawFn, node: Any) -> None:
    """Walk into `node` along existing keys/indexes and replace one value at random depth."""
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            return
        key = draw(st.sampled_from(keys))
        child = node[key]
        if isinstance(child, dict | list) and child and draw(st.booleans()):
            node = child
            continue
        node[key] = draw(JSON_VALUES)
        return


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_value_in_any_resource_still_gets_an_answer(evaluator: Evaluator,
                                                        data: st.DataObject) -> None:
    body = copy.deepcopy(REQUESTS[data.draw(st.sampled_from(sorted(REQUESTS)))])
    resources = _resources(body)
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        _replace_somewhere(data.draw, data.draw(st.sampled_from(resources)))
    hook_request = HookRequest.model_validate(body)
    service = next(s.id for s in evaluator.services.services if s.hook == hook_request.hook)
    patient_data = collect(hook_request.prefetch, hook_request.context, hook_request.hook,
                           service)
    evaluation = evaluator.evaluate(patient_data, NOW)
    assert isinstance(evaluation.cards, list)
