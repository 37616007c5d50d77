"""The CDS Hooks wire models enforce what the spec says MUST hold."""

from __future__ import annotations

import json

import orjson
import pytest
from pydantic import ValidationError

from cds.hooks.card_meta import CardMeta
from cds.hooks.models import Card, FhirAuthorization, HookRequest, Link, Source, Suggestion
from tests.api_support import SPEC_DIR, spec_validator


def card(**kw: object) -> Card:
    base: dict = {"summary": "Refer to psychology", "indicator": "info",
                  "source": Source(label="NICE NG193")}
    base.update(kw)
    return Card(**base)


def test_summary_of_140_characters_or_more_is_rejected() -> None:
    card(summary="x" * 139)
    with pytest.raises(ValidationError):
        card(summary="x" * 140)


def test_suggestions_require_a_selection_behavior() -> None:
    suggestion = Suggestion(label="Refer", actions=[
        {"type": "create", "description": "Create referral",
         "resource": {"resourceType": "ServiceRequest"}}])
    with pytest.raises(ValidationError):
        card(suggestions=[suggestion])
    assert card(suggestions=[suggestion], selectionBehavior="at-most-one").suggestions


def test_create_action_needs_a_resource_and_delete_needs_an_id() -> None:
    with pytest.raises(ValidationError):
        Suggestion(label="x", actions=[{"type": "create", "description": "d"}])
    with pytest.raises(ValidationError):
        Suggestion(label="x", actions=[{"type": "delete", "description": "d"}])
    Suggestion(label="x", actions=[{"type": "delete", "description": "d",
                                    "resourceId": "MedicationRequest/1"}])


def test_app_context_is_only_for_smart_links() -> None:
    with pytest.raises(ValidationError):
        Link(label="x", url="https://a", type="absolute", appContext="{}")
    Link(label="x", url="https://a", type="smart", appContext="{}")


def test_cards_leave_out_empty_optional_fields() -> None:
    dumped = card().model_dump(mode="json")
    assert set(dumped) == {"uuid", "summary", "indicator", "source"}
    spec_validator("Card").validate(dumped)


def test_indicator_outside_the_value_set_is_rejected() -> None:
    with pytest.raises(ValidationError):
        card(indicator="urgent")


def test_the_spec_example_request_parses() -> None:
    raw = json.loads((SPEC_DIR / "spec-example-request-patient-view.json").read_text())
    request = HookRequest.model_validate(raw)
    assert request.hook == "patient-view"
    assert request.typed_context().patientId == "1288992"  # type: ignore[attr-defined]


def test_the_spec_example_response_is_valid_for_our_card_model() -> None:
    raw = json.loads((SPEC_DIR / "spec-example-response.json").read_text())
    for item in raw["cards"]:
        Card.model_validate(item)


def test_access_tokens_never_appear_in_reprs() -> None:
    auth = FhirAuthorization(access_token="SECRET-TOKEN", token_type="Bearer", expires_in=30,
                             scope="patient/*.read", subject="svc")
    assert "SECRET-TOKEN" not in repr(auth) and "SECRET-TOKEN" not in str(auth)


def test_response_json_is_exactly_what_pydantic_serialises() -> None:
    from datetime import UTC, datetime

    from cds.hooks.models import Coding, HookResponse

    rich = card(
        detail="**PHQ-9 12**",
        source=Source(label="NICE", url="https://nice.org.uk", topic=Coding(code="t1")),
        suggestions=[Suggestion(label="Refer", uuid="s1", isRecommended=False, actions=[
            {"type": "create", "description": "Create referral",
             "resource": {"resourceType": "ServiceRequest", "note": [], "code": {},
                          "quantity": 2.0, "when": datetime(2026, 6, 1, tzinfo=UTC),
                          "pair": (1, 2)}},
            {"type": "delete", "description": "Stop", "resourceId": "MedicationRequest/1"},
        ])],
        selectionBehavior="at-most-one",
        overrideReasons=[Coding(code="r1", system="https://x", userSelected=True)],
        links=[Link(label="App", url="https://app", type="smart", appContext="{}")],
    ).with_meta(CardMeta(rule="R02", matches=(("pain", {"value": 1.5, "empty": None}),)))
    response = HookResponse(cards=[rich, card()])
    expected = {"cards": [c.model_dump(mode="json") for c in response.cards],
                "systemActions": []}
    assert response.to_bytes() == orjson.dumps(expected)
