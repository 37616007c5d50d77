"""A hook is one entry of the registry (cds.hookdefs): registering a toy hook here is all it
takes for a pack to use it in services.yaml and rule files, for discovery to list its service,
for calls to be validated against its context model, and for its rules to answer."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cds.app import create_app
from cds.authoring.check import load_pack
from cds.hookdefs import DraftOrdersBundle, HookDef, PatientViewContext, register, unregister
from cds.pipeline import Evaluator
from cds.settings import BUNDLED_RULES_DIR, Settings
from fhir_examples.generate import NOW
from tests.pack.examples import EXAMPLES

HOOK = "appointment-book"
SERVICE = "stress-pain-appointment-book"


class AppointmentBookContext(PatientViewContext):
    appointments: DraftOrdersBundle


@pytest.fixture
def toy_hook() -> Iterator[None]:
    register(HookDef(HOOK, AppointmentBookContext))
    yield
    unregister(HOOK)


@pytest.fixture
def pack_with_toy_hook(tmp_path: Path, toy_hook: None) -> Path:
    """The shipped pack with a service for the toy hook and R01 (suicide risk) shown on it."""
    rules = shutil.copytree(BUNDLED_RULES_DIR, tmp_path / "rules")
    services = rules / "services.yaml"
    services.write_text(services.read_text() + f"""
  - id: {SERVICE}
    hook: {HOOK}
    title: Stress-pain check at booking
    description: Safety findings when an appointment is booked.
    prefetch: *prefetch
""")
    r01 = rules / "rules" / "R01-phq9-item9-safety.yaml"
    text = re.sub(r"^hooks: \[", f"hooks: [{HOOK}, ", r01.read_text(), flags=re.M)
    # shown on the toy hook as on patient-view (the context fact's `hook` takes its name)
    text = text.replace("where: {hook: patient-view}",
                        f"where: {{hook: {{in: [patient-view, {HOOK}]}}}}")
    r01.write_text(text)
    return rules


def _booking(body: dict, with_appointments: bool = True) -> dict:
    context = {k: v for k, v in body["context"].items() if k in ("userId", "patientId")}
    if with_appointments:
        context["appointments"] = {"resourceType": "Bundle", "type": "collection", "entry": []}
    return {**body, "hook": HOOK, "context": context}


def test_a_registered_hook_works_end_to_end(pack_with_toy_hook: Path, tmp_path: Path) -> None:
    assert HOOK in Evaluator(load_pack(pack_with_toy_hook)).engine.programs
    settings = Settings(auth="off", rules_dir=pack_with_toy_hook,
                        database_url=f"sqlite:///{tmp_path / 'cds.sqlite3'}")
    example = json.loads((EXAMPLES / "r01-phq9-item9-positive.json").read_text())
    with TestClient(create_app(settings, clock=lambda: NOW)) as client:
        services = client.get("/cds-services").json()["services"]
        assert [s["hook"] for s in services if s["id"] == SERVICE] == [HOOK]
        missing = client.post(f"/cds-services/{SERVICE}", json=_booking(example, False))
        assert missing.status_code == 400
        assert "appointments" in missing.text
        answered = client.post(f"/cds-services/{SERVICE}", json=_booking(example))
    assert answered.status_code == 200, answered.text
    rules = [c["extension"]["org.stresspain.cds"]["rule"] for c in answered.json()["cards"]]
    assert rules == ["R01"]


def test_without_the_registration_the_pack_names_the_unknown_hook(tmp_path: Path) -> None:
    services = shutil.copytree(BUNDLED_RULES_DIR, tmp_path / "rules") / "services.yaml"
    services.write_text(services.read_text() + f"""
  - id: {SERVICE}
    hook: {HOOK}
    title: Booking
    description: Booking.
""")
    with pytest.raises(Exception, match=f"unknown hook '{HOOK}'"):
        load_pack(tmp_path / "rules")
