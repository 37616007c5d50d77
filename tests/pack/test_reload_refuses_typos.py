"""A running service with hot reload never swaps in a pack whose card templates have a typo:
the previous pack keeps answering and the refusal is logged with the typo's position."""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds.app import create_app
from cds.fhir.collect import collect
from cds.pipeline import Evaluator
from cds.rules.pack import read_pack
from cds.settings import Settings
from tests.pack.examples import EXAMPLES
from tests.packs import SHIPPED_RULES as RULES

EXAMPLE = "r05-low-activity-chronic-pain.json"  # pain 5/10: the moderate-pain variant
MODERATE = "    - when: pain.value >= params.pain.moderate\n"
TYPO = "    - when: pain.value >= params.pain.moderat\n"


def _referrals(reply: dict[str, Any]) -> list[tuple[str, list[str]]]:
    return [(c["summary"], [s["label"] for s in c.get("suggestions", [])])
            for c in reply["cards"]]


def _wait_for(predicate: Any, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_a_variant_condition_typo_is_refused_and_the_old_pack_keeps_answering(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from fhir_examples.generate import NOW

    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    request = (EXAMPLES / EXAMPLE).read_text(encoding="utf-8")
    settings = Settings(auth="off", rules_dir=rules, reload=True,
                        database_url=f"sqlite:///{tmp_path / 'cds.sqlite3'}")
    app = create_app(settings, clock=lambda: NOW)
    with TestClient(app) as client:
        def ask() -> list[tuple[str, list[str]]]:
            reply = client.post("/cds-services/stress-pain-patient-view", content=request,
                                headers={"Content-Type": "application/json"})
            assert reply.status_code == 200, reply.text
            return _referrals(reply.json())

        before = ask()
        assert before[0][1][0] == "Exercise therapy (graded aerobic and strengthening)"
        rule = rules / "rules" / "R05-graded-exercise.yaml"
        text = rule.read_text(encoding="utf-8")
        assert text.count(MODERATE) == 1
        line = text[:text.index(MODERATE)].count("\n") + 1
        with caplog.at_level(logging.ERROR, logger="cds.rules.reload"):
            time.sleep(0.5)  # the watcher is running
            rule.write_text(text.replace(MODERATE, TYPO), encoding="utf-8")
            holder = app.state.runtime.packs
            assert _wait_for(lambda: holder.last_result is not None)
        assert not holder.last_result.swapped
        assert ask() == before
    refusals = [r.getMessage() for r in caplog.records if "NOT reloaded" in r.getMessage()]
    assert len(refusals) == 1
    assert (f"R05-graded-exercise.yaml:{line}:27: unknown parameter 'params.pain.moderat' "
            "(did you mean 'params.pain.moderate'?") in refusals[0]

    # What the refusal prevented: the unchecked pack gives this patient another referral.
    broken, _problems = read_pack(rules)
    assert broken is not None
    body = json.loads(request)
    data = collect(body["prefetch"], body["context"], body["hook"], "stress-pain-patient-view")
    cards = Evaluator(broken).evaluate(data, NOW).cards
    assert [s.label for s in cards[0].suggestions][0] == "Refer to a physical activity programme"
