"""Names in card templates: what is an error, where it points, and what is not an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from cds.authoring.templatecheck import TemplateNames
from cds.packsource import load_yaml
from cds.rules.dnf import Origin

PARAMS = {"pain": {"moderate": 4, "severe": 7}, "statuses": ["active"]}
BINDINGS = {"pain": {"measure"}, "drug": {"medication"}}


def _problems(tmp_path: Path, template: str) -> list[str]:
    path = tmp_path / "r.yaml"
    path.write_text(f"card:\n  detail: |\n    {template}\n", encoding="utf-8")
    names = TemplateNames(Origin(load_yaml(path)), BINDINGS, PARAMS)
    return [f"{p.line}:{p.col}: {p.message}"
            for p in names.problems(("card", "detail"), template, False)]


@pytest.mark.parametrize("template", [
    "{{ pain.value | num }} {{ drug.daily_dose }} {{ params.pain.severe }}",
    "{{ params['pain']['moderate'] }} {{ params.statuses[0] }} {{ params.pain.items() }}",
    "{% set params = {'x': 1} %}{{ params.x }}",  # the template's own name
    "{% for m in matches %}{{ m.pain.value }}{% endfor %}{{ rule.title }} {{ now }}",
    "{{ drug.get('daily_dose') }} {{ pain.value if pain is defined }}",
])
def test_names_the_rule_and_pack_define_are_accepted(tmp_path, template):
    assert _problems(tmp_path, template) == []


@pytest.mark.parametrize(("template", "problem"), [
    ("Pain {{ params.pain.sever }}",
     "3:13: unknown parameter 'params.pain.sever' (did you mean 'params.pain.severe'? valid: "
     "params.pain.moderate, params.pain.severe)"),
    ("{{ params[\"pain\"][\"sever\"] }}",
     "3:8: unknown parameter 'params.pain.sever' (did you mean 'params.pain.severe'? valid: "
     "params.pain.moderate, params.pain.severe)"),
    ("{{ params.pian.severe }}",
     "3:8: unknown parameter 'params.pian' (did you mean 'params.pain'? valid: params.pain, "
     "params.statuses)"),
    ("{{ params.pain.severe.high }}",
     "3:8: 'params.pain.severe' is a value, not a group of parameters"),
    ("{% if drug.dose_dyas > 28 %}long{% endif %}",
     "3:11: drug (medication fact) has no field 'dose_dyas' (did you mean 'dose_days'? fields: "
     "id, type, source, ingredient, rxcui, code, system, display, valuesets, status, is_new, "
     "named, name_suggests, daily_dose, dose_unit, dose_days, … (17 in all))"),
    ("{{ rule.titel }}",
     "3:8: unknown key 'rule.titel' (did you mean 'rule.title'? valid: rule.id, rule.title, "
     "rule.version)"),
    ("{{ pian.value }}",
     "3:8: 'pian' is not bound by this rule (did you mean 'pain'? names: drug, pain, params, "
     "rule, hook, now, patient_id, patient_ref, matches)"),
])
def test_a_misspelt_name_is_reported_at_the_typo(tmp_path, template, problem):
    assert _problems(tmp_path, template) == [problem]


def test_a_group_of_parameters_that_did_not_load_is_not_reported(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("card:\n  detail: x\n", encoding="utf-8")
    names = TemplateNames(Origin(load_yaml(path)), BINDINGS, None)
    assert list(names.problems(("card", "detail"), "{{ params.pain.sever }}", False)) == []
