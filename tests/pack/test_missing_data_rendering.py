"""Cards render whole when data a template mentions is missing (no birth date, no gender):
no template fails, so no card loses its detail or summary to an error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cds.cards import templating
from cds.fhir.collect import collect
from cds.hooks.models import HookRequest
from cds.pipeline import Evaluator
from fhir_examples.generate import NOW

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "fhir_examples").glob("*.json"))


@pytest.fixture(scope="module")
def evaluator(shipped_evaluator: Evaluator) -> Evaluator:
    return shipped_evaluator


@pytest.mark.parametrize("drop", [(), ("birthDate",), ("birthDate", "gender")])
@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_card_renders_without_template_errors(evaluator: Evaluator, example: Path,
                                                    drop: tuple[str, ...]) -> None:
    body = json.loads(example.read_text())
    patient = body["prefetch"].get("patient") or {}
    for field in drop:
        patient.pop(field, None)
    hook_request = HookRequest.model_validate(body)
    service = next(s.id for s in evaluator.services.services if s.hook == hook_request.hook)
    data = collect(hook_request.prefetch, hook_request.context, hook_request.hook, service)
    with templating.collect_errors() as errors:
        cards = evaluator.evaluate(data, NOW).cards
    assert [str(e) for e in errors] == []
    for card in cards:
        assert card.detail, card.summary
