"""A card template that fails on one patient's data (and passed `cds rules check`, whose
sample facts do not trip it) is a counted, logged event naming the rule: the card is sent
with its rule's title only and the call still answers with the other cards (and with the
parts of a bundled card that come from other rules)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cds.app import create_app
from cds.settings import Settings
from tests.pack.examples import EXAMPLES
from tests.packs import SHIPPED_RULES as RULES

PAIN_LINE = "    - Pain: **{{ pain.value | num }}/10** ("
# 10 / 0 for this patient's pain of 8/10; the check's sample pain (4, the gate) divides fine
FAILING = "    - Pain: **{{ pain.value | num }}/10** ({{ (10 / (pain.value - 8)) | num }}, "


def test_a_failing_template_sends_the_title_counts_and_logs_the_rule_only(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from fhir_examples.generate import NOW

    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    rule = rules / "rules" / "R02-mood-anxiety-with-pain.yaml"
    text = rule.read_text(encoding="utf-8")
    assert text.count(PAIN_LINE) == 1
    rule.write_text(text.replace(PAIN_LINE, FAILING), encoding="utf-8")
    settings = Settings(auth="off", rules_dir=rules,
                        database_url=f"sqlite:///{tmp_path / 'cds.sqlite3'}")
    request = (EXAMPLES / "complex-patient.json").read_text(encoding="utf-8")
    with caplog.at_level(logging.INFO), TestClient(create_app(settings, clock=lambda: NOW)
                                                   ) as client:
        reply = client.post("/cds-services/stress-pain-patient-view", content=request,
                            headers={"Content-Type": "application/json"})
        metrics = client.get("/metrics").text

    assert reply.status_code == 200, reply.text
    cards = {c["extension"]["org.stresspain.cds"]["rule"]: c for c in reply.json()["cards"]}
    assert sorted(cards) == ["R02", "R08", "R11", "R14"]
    title = "Depression or anxiety with moderate pain - integrated pain psychology (CBT/ACT)"
    plan = cards["R02"]  # R02 leads the multimodal plan, which bundles R04, R05, R06A-C
    assert plan["summary"] == title
    assert f"### {title}\n\n{title}\n\n### " in plan["detail"]  # no R02 text but its title
    assert "PHQ-9" not in plan["detail"]
    labels = [s["label"] for s in plan["suggestions"]]
    assert "Refer to psychologist for CBT/ACT-based pain psychology" not in labels
    assert "Refer to pain management service (multidisciplinary programme)" in labels  # R04
    assert cards["R11"]["summary"].startswith("Opioid + benzodiazepine: oxycodone with")
    assert cards["R11"]["suggestions"]

    assert 'cds_template_errors_total{rule="R02"} 1.0' in metrics
    failures = [r.getMessage() for r in caplog.records if "card template failed" in r.getMessage()]
    assert failures == ["rule R02: a card template failed (ZeroDivisionError); the card is "
                        "sent with its title only"]
    assert not any("complex-patient" in r.getMessage() for r in caplog.records)
