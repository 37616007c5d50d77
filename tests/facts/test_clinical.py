"""Patient, conditions and referrals."""

from __future__ import annotations

from datetime import datetime

from cds.facts.config import FactConfig

from .helpers import PATIENT, SNOMED, fact, has_fact, run, run_raw


def test_patient_age_is_whole_years_at_now(config: FactConfig, now: datetime) -> None:
    ex = run_raw([{"resourceType": "Patient", "id": "p1", "birthDate": "1956-06-02",
                   "gender": "male"}], config, now)
    assert fact(ex, "patient") == {"id": "patient", "type": "patient", "source": "Patient/p1",
                                   "age": 69.0, "sex": "male", "pregnant": "no"}


def test_the_context_fact_names_hook_and_service(config: FactConfig, now: datetime) -> None:
    ex = run({}, config, now, "order-select")
    context = fact(ex, "context")
    assert context["hook"] == "order-select" and context["service"].endswith("order-select")


def test_active_conditions_carry_their_value_sets(config: FactConfig, now: datetime) -> None:
    ex = run({"conditions": [
        {"code": "82423001", "days_ago": 400},
        {"code": "M79.7", "system": "icd10cm", "days_ago": 30},
        {"code": "193462001", "days_ago": 10, "clinical_status": "resolved"},
        {"code": "193462001", "days_ago": 10, "verification_status": "refuted"},
    ]}, config, now)
    chronic = fact(ex, "cond:Condition/cond-1")
    assert chronic["valuesets"] == ["chronic-pain"] and chronic["age_days"] == 400.0
    assert fact(ex, "cond:Condition/cond-2")["code"] == "M79.7"
    assert not has_fact(ex, "cond:Condition/cond-3") and not has_fact(ex, "cond:Condition/cond-4")


def test_the_code_shown_is_the_one_in_a_value_set(config: FactConfig, now: datetime) -> None:
    cond = {"resourceType": "Condition", "id": "c1", "subject": PATIENT,
            "code": {"coding": [{"system": "http://example.org/local", "code": "FM"},
                                {"system": SNOMED, "code": "203082005",
                                 "display": "Fibromyalgia"}]}}
    c = fact(run_raw([cond], config, now), "cond:Condition/c1")
    assert (c["code"], c["display"], c["valuesets"]) == ("203082005", "Fibromyalgia",
                                                          ["chronic-pain"])


def test_referrals_keep_status_and_reason_value_sets(config: FactConfig, now: datetime) -> None:
    ex = run({"referrals": [
        {"code": "308459004", "status": "completed", "days_ago": 30, "reason": ["193462001"]},
        {"code": "229065009", "resource": "procedure", "days_ago": 200},
        {"code": "308447003", "status": "revoked", "days_ago": 5},
        {"code": "308447003", "status": "entered-in-error", "days_ago": 5},
    ]}, config, now)
    sr = fact(ex, "ref:ServiceRequest/sr-1")
    assert (sr["status"], sr["resource"], sr["valuesets"]) == ("completed", "servicerequest",
                                                               ["psychology"])
    assert sr["reason_valuesets"] == ["insomnia"] and sr["age_days"] == 30.0
    proc = fact(ex, "ref:Procedure/proc-2")
    assert proc["resource"] == "procedure" and proc["valuesets"] == ["physio-exercise"]
    assert not has_fact(ex, "ref:ServiceRequest/sr-3")
    assert not has_fact(ex, "ref:ServiceRequest/sr-4")


def test_draft_referrals_in_draft_orders_are_referral_facts(config: FactConfig,
                                                            now: datetime) -> None:
    ex = run({"referrals": [{"code": "308459004", "draft": True}]}, config, now, "order-sign")
    draft = fact(ex, "ref:draft:ServiceRequest/sr-1")
    assert draft["status"] == "draft"
