"""`cds explain` (near misses, vetoes) and the `cds rules` commands."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import typer
from typer.testing import CliRunner

from cds.authoring.cli import explain_command, rules_app
from cds.authoring.explain import explain_facts
from cds.authoring.synth import build_request

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
runner = CliRunner()


def _explain(evaluator, facts):
    evaluation = evaluator.evaluate_facts(facts, "patient-view", NOW)
    return explain_facts(evaluator, evaluation, "patient-view", "svc", NOW)


def test_a_gad7_of_8_is_shown_as_the_one_test_the_mood_rule_missed(evaluator):
    expl = _explain(evaluator, [
        {"id": "p", "type": "measure", "measure": "pain", "value": 5.0},
        {"id": "g", "type": "measure", "measure": "gad7", "value": 8.0}])
    assert expl.fired == []
    misses = {(m.rule, m.branch): m.reason for m in expl.near_misses}
    assert misses[("R02", 1)] == "gad7 (g): value >= 10 does not hold (value is 8)"
    assert misses[("R02", 0)] == "phq9: no measure with measure = phq9, value >= 10"


def test_a_match_silenced_by_unless_is_shown_as_vetoed(evaluator):
    expl = _explain(evaluator, [
        {"id": "p", "type": "measure", "measure": "pain", "value": 5.0},
        {"id": "q", "type": "measure", "measure": "phq9", "value": 12.0},
        {"id": "r", "type": "referral", "valuesets": ["psychology"], "status": "active"}])
    assert [(m.rule, m.reason) for m in expl.vetoed] == [
        ("R02", "vetoed by unless (therapy = r)")]


def test_check_passes_a_good_pack_and_names_the_pack(real_facts_dir):
    result = runner.invoke(rules_app, ["check", str(real_facts_dir)])
    assert result.exit_code == 0, result.output
    assert "OK engine-fixture 0.3.0: 6 rules" in result.output


def test_check_fails_with_file_line_col_on_a_broken_pack(real_facts_dir, tmp_path):
    broken = tmp_path / "pack"
    import shutil

    shutil.copytree(real_facts_dir, broken)
    rule = broken / "rules" / "R02-mood.yaml"
    rule.write_text(rule.read_text().replace("measure: pain,", "measure: pian,"))
    result = runner.invoke(rules_app, ["check", str(broken)])
    assert result.exit_code == 1
    assert "R02-mood.yaml:17:15: unknown measure 'pian'" in result.output


def test_the_test_command_runs_every_case(real_facts_dir):
    result = runner.invoke(rules_app, ["test", str(real_facts_dir), "-v"])
    assert result.exit_code == 0, result.output
    assert "PASS" in result.output and "6 passed, 0 failed" in result.output


def test_the_schema_command_prints_the_rule_json_schema():
    result = runner.invoke(rules_app, ["schema"])
    schema = json.loads(result.output)
    assert schema["title"] == "CDS rule file"
    assert "when" in schema["properties"]


def test_explain_prints_facts_rules_cards_and_near_misses(real_facts_dir, tmp_path: Path):
    given = {"observations": [{"code": "72514-3", "value": 6, "days_ago": 3}],
             "questionnaires": [{"instrument": "gad7", "answers": [1, 1, 1, 1, 1, 1, 2],
                                 "days_ago": 2}]}
    request = tmp_path / "request.json"
    request.write_text(json.dumps(build_request(given, NOW, rules_dir=real_facts_dir)))
    app = typer.Typer()
    app.command()(explain_command)
    result = runner.invoke(app, [str(request), "--now", "2026-06-01T12:00:00Z", "--rules",
                                 str(real_facts_dir)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    for text in ("measure:pain", "Near misses", "gad7 (measure:gad7): value >= 10 does not "
                 "hold (value is 8)"):
        assert text in result.output


def test_explain_says_why_an_order_call_with_nothing_chosen_gets_no_cards():
    root = Path(__file__).resolve().parents[2]
    app = typer.Typer()
    app.command()(explain_command)
    result = runner.invoke(app, [
        str(root / "fhir_examples" / "ehr-order-select-nothing-chosen.json"),
        "--now", "2026-11-20T09:00:00Z", "--rules", str(root / "rules")],
        env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "Rules not run: nothing to check, so no cards" in result.output
    assert "Near misses" not in result.output
