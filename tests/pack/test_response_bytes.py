"""The response bytes the service sends equal the JSON of the wire models, for every example."""

from __future__ import annotations

import json
from pathlib import Path

import orjson

from bench.patients import build_request
from cds.fhir.collect import collect
from cds.hooks.models import HookRequest, HookResponse
from cds.pipeline import Evaluator
from fhir_examples.generate import NOW

ROOT = Path(__file__).resolve().parents[2]


def test_response_bytes_match_the_wire_models_json_of_every_example(
        shipped_evaluator: Evaluator) -> None:
    evaluator = shipped_evaluator
    bodies = [json.loads(p.read_text()) for p in sorted((ROOT / "fhir_examples").glob("*.json"))]
    bodies += [build_request(size, seed=3) for size in ("S", "M")]
    cards_seen = 0
    for body in bodies:
        hook_request = HookRequest.model_validate(body)
        service = next(s.id for s in evaluator.services.services if s.hook == hook_request.hook)
        data = collect(hook_request.prefetch, hook_request.context, hook_request.hook, service)
        response = HookResponse(cards=evaluator.evaluate(data, NOW).cards)
        cards_seen += len(response.cards)
        wire = {"cards": [c.model_dump(mode="json") for c in response.cards],
                "systemActions": []}
        assert response.to_bytes() == orjson.dumps(wire)
    assert cards_seen > 35
