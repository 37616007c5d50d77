"""Shared pieces for the protocol tests: a spec-schema validator and a one-card pack double.

The double stands in for the rule pack so that the HTTP layer is tested on its own; the
clinical pack is exercised end to end in tests/pack/.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from cds.hooks.card_meta import CardMeta
from cds.hooks.models import Card, Source
from cds.hooks.services import ServiceCatalogue

SPEC_DIR = Path(__file__).parent / "spec"


def spec_validator(schema_name: str) -> jsonschema.Draft202012Validator:
    """A validator for one schema of the CDS Hooks OpenAPI document (local $refs resolved)."""
    openapi = yaml.safe_load((SPEC_DIR / "cds-hooks-openapi.yaml").read_text())
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": openapi["components"]}
    return jsonschema.Draft202012Validator(schema)


SERVICES = ServiceCatalogue.model_validate({
    "services": [
        {
            "id": "pv", "hook": "patient-view", "title": "Patient view",
            "description": "Test service for patient-view",
            "prefetch": {"patient": "Patient/{{context.patientId}}"},
            "required_prefetch": ["patient"],
        },
        {
            "id": "os", "hook": "order-sign", "title": "Order sign",
            "description": "Test service for order-sign",
            "prefetch": {"patient": "Patient/{{context.patientId}}"},
        },
    ]
})


@dataclass
class _Match:
    rule: str

    def audit_entry(self) -> dict[str, Any]:
        return {"rule": self.rule, "facts": []}


@dataclass
class _Evaluation:
    cards: list[Card]
    matches: list[_Match]
    notes: list[Any] = field(default_factory=list)
    facts: list[dict[str, Any]] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    unresolved: list[tuple[str, str, str]] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)
    template_errors: list[str] = field(default_factory=list)


class OneCardPack:
    """Answers every call with one info card naming the hook and how many resources came."""

    version = "test-1"
    services = SERVICES

    def __init__(self) -> None:
        self.calls: list[Any] = []

    def evaluate(self, data: Any, now: datetime, card_policy: None = None,
                 keep: Any = None) -> _Evaluation:
        self.calls.append(data)
        card = Card(
            uuid=str(uuid.uuid4()),
            summary=f"{data.hook}: {len(data.resources)} resources",
            indicator="info",
            source=Source(label="Test"),
        ).with_meta(CardMeta(rule="T1"))
        return _Evaluation(cards=keep([card])[0] if keep else [card], matches=[_Match("T1")])


class PackSource:
    def __init__(self, pack: Any) -> None:
        self.pack = pack

    def current(self) -> Any:
        return self.pack


def patient_view_request(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/1", "patientId": "p1"},
        "prefetch": {"patient": {"resourceType": "Patient", "id": "p1", "gender": "female",
                                 "birthDate": "1970-01-01"}},
    }
    body.update(overrides)
    return body
