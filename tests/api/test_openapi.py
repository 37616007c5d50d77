"""/openapi.json describes what the routes really accept and answer: request and response
bodies from the wire models, the error statuses the service returns, and no 422."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient
from openapi_spec_validator import validate

from cds.app import create_app
from cds.settings import Settings
from cds.store.interfaces import MemoryStore
from tests.api_support import OneCardPack, PackSource, patient_view_request

INVOKE = "/cds-services/{service_id}"
FEEDBACK = "/cds-services/{service_id}/feedback"


@pytest.fixture
def client() -> Iterator[TestClient]:
    app = create_app(Settings(auth="off"), packs=PackSource(OneCardPack()), store=MemoryStore())
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def document(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def body_schema(document: dict[str, Any], path: str, status: str) -> dict[str, Any]:
    """A validator-ready schema for the documented answer `status` of POST `path`."""
    answer = document["paths"][path]["post"]["responses"][status]
    return {**answer["content"]["application/json"]["schema"],
            "components": document["components"]}


def test_the_document_is_valid_openapi_and_every_reference_resolves(
    document: dict[str, Any],
) -> None:
    validate(document)
    schemas = document["components"]["schemas"]
    unresolved = {ref for ref in refs(document)
                  if ref.removeprefix("#/components/schemas/") not in schemas}
    assert unresolved == set()


def test_invoke_and_feedback_declare_their_request_bodies(document: dict[str, Any]) -> None:
    for path, model in ((INVOKE, "HookRequest"), (FEEDBACK, "FeedbackRequest")):
        body = document["paths"][path]["post"]["requestBody"]
        assert body["required"] is True
        for media_type in ("application/json", "application/fhir+json"):
            assert body["content"][media_type]["schema"] == {
                "$ref": f"#/components/schemas/{model}"}
    hook_request = document["components"]["schemas"]["HookRequest"]
    assert set(hook_request["required"]) == {"hook", "hookInstance", "context"}
    assert document["components"]["schemas"]["FeedbackRequest"]["required"] == ["feedback"]


def test_answers_reference_the_wire_models(document: dict[str, Any]) -> None:
    def ok(path: str, method: str) -> str:
        answer = document["paths"][path][method]["responses"]["200"]
        return str(answer["content"]["application/json"]["schema"]["$ref"])

    assert ok(INVOKE, "post") == "#/components/schemas/HookResponse"
    assert ok(FEEDBACK, "post") == "#/components/schemas/FeedbackReceipt"
    assert ok("/cds-services", "get") == "#/components/schemas/Services"
    card = document["components"]["schemas"]["Card"]
    assert {"summary", "indicator", "source"} <= set(card["required"])


def test_only_the_statuses_the_service_answers_are_listed(document: dict[str, Any]) -> None:
    def statuses(path: str) -> set[str]:
        return set(document["paths"][path]["post"]["responses"])

    assert statuses(INVOKE) == {"200", "400", "401", "404", "408", "412", "413", "414", "415",
                                "431", "500", "default"}
    assert statuses(FEEDBACK) == {"200", "400", "401", "404", "408", "413", "414", "415", "431",
                                  "500", "503", "default"}
    for path in (INVOKE, FEEDBACK):
        for status, answer in document["paths"][path]["post"]["responses"].items():
            if status != "200":
                schema = answer["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}
    text = json.dumps(document)
    assert '"422"' not in text and "HTTPValidationError" not in text


def test_real_answers_match_their_documented_schemas(
    client: TestClient, document: dict[str, Any]
) -> None:
    headers = {"Content-Type": "application/json"}
    cards = client.post("/cds-services/pv", content=json.dumps(patient_view_request()),
                        headers=headers)
    assert cards.status_code == 200 and cards.json()["cards"]
    jsonschema.validate(cards.json(), body_schema(document, INVOKE, "200"))

    invalid = client.post("/cds-services/pv", content=b"{}", headers=headers)
    assert invalid.status_code == 400 and invalid.json()["details"]
    jsonschema.validate(invalid.json(), body_schema(document, INVOKE, "400"))
