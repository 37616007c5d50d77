"""rules/card-policy.yaml: one indicator policy every rule follows, bundles that hide no
finding, and a budget that always shows safety cards and audits what it held back."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cds.authoring.synth import build_patient_data
from cds.fhir.collect import collect
from cds.pipeline import Evaluator
from cds.rules.packfiles import CardPolicyFile
from cds.store.audit import rows_of, spool_line
from cds.store.interfaces import AuditRecord
from tests.packs import SHIPPED_RULES as RULES

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
EXT = "org.stresspain.cds"
SEVERITY = {"critical": 0, "warning": 1, "info": 2}
OXY = {"rxnorm": "1049621", "display": "oxycodone hydrochloride 5 MG Oral Tablet",
       "dose_mg": 5, "times_per_day": 4}
ALPRAZOLAM = {"rxnorm": "308048", "display": "alprazolam 0.5 MG Oral Tablet", "dose_mg": 0.5,
              "times_per_day": 2}
GABAPENTIN = {"rxnorm": "310431", "display": "gabapentin 300 MG Oral Capsule", "dose_mg": 300,
              "times_per_day": 3}


def test_every_rule_declares_only_indicators_the_policy_allows(shipped_evaluator: Evaluator):
    policy = shipped_evaluator.pack.card_policy.indicators
    assert policy is not None
    for loaded in shipped_evaluator.pack.rules:
        rule = loaded.rule
        declared = {rule.card.indicator} | {v.indicator for v in rule.card.variants
                                            if v.indicator}
        allowed = min((policy.highest(rule.problem, hook) for hook in rule.hooks),
                      key=SEVERITY.__getitem__)
        worst = min(declared, key=SEVERITY.__getitem__)
        assert SEVERITY[worst] >= SEVERITY[allowed], f"{rule.id}: {worst} > {allowed}"


def _indicators(evaluator: Evaluator, given: dict[str, Any], hook: str) -> dict[str, str]:
    """Indicator per rule of the cards each rule would give alone (no bundles, no budget)."""
    policy = CardPolicyFile(budget=1000, indicators=evaluator.pack.card_policy.indicators)
    cards = evaluator.evaluate(build_patient_data(given, NOW, hook), NOW, policy).cards
    return {c.extension[EXT]["rule"]: c.indicator for c in cards}


def test_the_same_opioid_benzodiazepine_finding_gets_the_same_indicator(shipped_evaluator):
    patient = {"age": 50, "sex": "female"}
    existing = {"patient": patient, "medications": [
        {**OXY, "days_ago": 60}, {**ALPRAZOLAM, "days_ago": 60}, {**GABAPENTIN, "days_ago": 60}]}
    on_review = _indicators(shipped_evaluator, existing, "patient-view")
    assert on_review["R10"] == on_review["R11"] == "warning"
    signing = {"patient": patient, "medications": [
        {**OXY, "draft": True}, {**ALPRAZOLAM, "days_ago": 60}, {**GABAPENTIN, "days_ago": 60}]}
    at_signature = _indicators(shipped_evaluator, signing, "order-sign")
    assert at_signature["R10"] == at_signature["R11"] == "critical"


def test_the_indicator_policy_holds_back_a_card_above_it(shipped_evaluator: Evaluator):
    from cds.cards.policy import apply_policy
    from cds.hooks.card_meta import CardMeta
    from cds.hooks.models import Card, Source

    card = Card(summary="s", indicator="critical", source=Source(label="x"),
                ).with_meta(CardMeta(rule="R04", problem="pain-psychology"))
    out = apply_policy([card], shipped_evaluator.rules, shipped_evaluator.texts, [],
                       shipped_evaluator.pack.card_policy).cards
    assert out[0].indicator == "info"


def test_the_budget_shows_safety_cards_and_audits_the_others_held_back(shipped_evaluator):
    request = json.loads((Path(RULES).parent / "fhir_examples/complex-patient.json").read_text())
    data = collect(request["prefetch"], request["context"], request["hook"],
                   "stress-pain-patient-view")
    now = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    pack_policy = shipped_evaluator.pack.card_policy
    tight = pack_policy.model_copy(update={"budget": 1})
    evaluation = shipped_evaluator.evaluate(data, now, tight)
    shown = [c.extension[EXT]["rule"] for c in evaluation.cards]
    assert shown == ["R11", "R08", "R02"]  # two safety cards, then one other
    assert evaluation.left_out == ["R14"]
    record = AuditRecord(time=now, service_id="s", hook="patient-view", hook_instance="h",
                         patient_id="p", pack_version="2.0.0", status=200, latency_ms=1.0,
                         left_out=evaluation.left_out)
    rows = rows_of(spool_line(record, lambda pid: pid or ""))
    assert [r["rule_id"] for r in rows.left_out] == ["R14"]


@pytest.mark.parametrize("budget", [0, 3])
def test_safety_cards_are_never_held_back(shipped_evaluator: Evaluator, budget: int):
    given = {"patient": {"age": 40, "sex": "female"},
             "observations": [{"code": "44260-8", "value": 2, "days_ago": 1}],
             "medications": [{**OXY, "days_ago": 60}, {**ALPRAZOLAM, "days_ago": 60}]}
    policy = shipped_evaluator.pack.card_policy.model_copy(update={"budget": budget})
    cards = shipped_evaluator.evaluate(build_patient_data(given, NOW), NOW, policy).cards
    assert {"R01", "R11"} <= {c.extension[EXT]["rule"] for c in cards}


def _complex_patient_cards(evaluator: Evaluator) -> list[Any]:
    request = json.loads((Path(RULES).parent / "fhir_examples/complex-patient.json").read_text())
    data = collect(request["prefetch"], request["context"], request["hook"],
                   "stress-pain-patient-view")
    return evaluator.evaluate(data, datetime(2026, 11, 20, 9, 0, tzinfo=UTC)).cards


def _sections(card: Any) -> list[str]:
    return [line[4:] for line in (card.detail or "").splitlines() if line.startswith("### ")]


def test_the_multimodal_plan_bundle_lists_each_merged_rule_with_its_data(shipped_evaluator):
    cards = _complex_patient_cards(shipped_evaluator)
    (plan,) = [c for c in cards if c.extension[EXT].get("bundle") == "multimodal-plan"]
    meta = plan.extension[EXT]
    assert meta["rule"] == "R02"  # PHQ-9 and GAD-7 lead: a mood finding is never buried
    assert sorted(meta["alsoFrom"]) == ["R04", "R05", "R06A", "R06B", "R06C"]
    titles = {r.rule.id: r.rule.title for r in shipped_evaluator.pack.rules}
    sections = _sections(plan)
    assert sections == [titles[meta["rule"]], *[titles[r] for r in meta["alsoFrom"]]]
    for data in ("PHQ-9: **16**", "GAD-7: **11**", "**29**", "**34.2 kg/m2**", "**12**"):
        assert data in plan.detail, data  # R02's scores, PSS-10, BMI, PSQI


def test_the_opioid_safety_bundle_lists_each_merged_rule(shipped_evaluator):
    cards = _complex_patient_cards(shipped_evaluator)
    (opioid,) = [c for c in cards if c.extension[EXT].get("bundle") == "opioid-safety"]
    meta = opioid.extension[EXT]
    titles = {r.rule.id: r.rule.title for r in shipped_evaluator.pack.rules}
    assert _sections(opioid) == [titles[meta["rule"]], *[titles[r] for r in meta["alsoFrom"]]]
    assert opioid.indicator == "warning"  # an existing regimen on review, not a new signature


def test_a_proposal_is_offered_once_per_response(shipped_evaluator):
    cards = _complex_patient_cards(shipped_evaluator)
    proposed = []
    for card in cards:
        for suggestion in card.suggestions or []:
            for action in suggestion.actions or []:
                resource = action.resource or {}
                codes = (resource.get("code") or resource.get("medicationCodeableConcept")
                         or {}).get("coding") or [{}]
                proposed.append((resource.get("resourceType"), codes[0].get("code")))
    assert len(proposed) == len(set(proposed)), proposed


def test_a_held_back_bundle_counts_every_rule_it_merged(shipped_evaluator):
    request = json.loads((Path(RULES).parent / "fhir_examples/complex-patient.json").read_text())
    data = collect(request["prefetch"], request["context"], request["hook"],
                   "stress-pain-patient-view")
    none_but_safety = shipped_evaluator.pack.card_policy.model_copy(update={"budget": 0})
    evaluation = shipped_evaluator.evaluate(data, datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
                                            none_but_safety)
    assert [c.extension[EXT]["rule"] for c in evaluation.cards] == ["R11", "R08"]
    assert sorted(evaluation.left_out) == ["R02", "R04", "R05", "R06A", "R06B", "R06C", "R14"]
