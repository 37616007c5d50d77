"""The JSON Schemas of pack files (`cds rules schema --out`): every shipped file validates
against its schema and names it on its first line, the committed schemas are the ones the pack
generates, every property an informaticist edits is described, and the schema-level mistakes
among the invalid fixtures are rejected by the schema as `cds rules check` rejects them."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError
from typer.testing import CliRunner

from cds.authoring.cli import rules_app
from cds.authoring.packschema import (
    FILE_KINDS,
    SCHEMA_DIR,
    FileKind,
    modeline,
    pack_files,
    pack_schemas,
    render,
)
from cds.packsource import load_yaml
from tests.rules.standin import FIXTURES, PACK, standin_fact_config

RULES = Path(__file__).resolve().parents[2] / "rules"
REGENERATE = "cds rules schema --rules rules --out rules/schemas"

# Invalid fixtures whose mistake a schema can see (an unknown key, a wrong type, an unknown
# fact type, field, operator, value, id ...), and those only the checks that run the pack see
# (bindings, DNF size, rendering, FHIR validity, duplicates across files, YAML syntax).
SCHEMA_MISTAKES = {
    "boolean-value", "card-policy-unknown-problem", "list-compared-as-value",
    "misspelt-required-key", "missing-citation-url", "number-for-text", "schema-unknown-key",
    "services-unknown-hook", "test-unknown-rule", "tests-unknown-key", "text-for-number",
    "unknown-choice", "unknown-definition", "unknown-fact-type", "unknown-field",
    "unknown-measure", "unknown-operator", "unknown-operator-no-cascade",
    "unknown-override-reason", "unknown-parameter", "unknown-template", "unknown-valueset",
    "unused-with-value", "valueset-for-other-facts", "wrong-type",
}
CHECK_ONLY = {
    "condition-fails", "data-quality-unknown-filter", "detail-fails-in-a-branch",
    "duplicate-key", "duplicate-rule-id", "field-typo", "invalid-fhir", "join-to-unbound",
    "parameters-yaml-syntax", "params-typo-in-detail", "rule-yaml-syntax", "summary-too-long",
    "template-syntax", "test-rule-not-on-hook", "too-many-alternatives", "unbound-template-name",
    "unknown-filter", "unknown-filter-in-condition", "unless-unbound", "variant-condition-typo",
    "yaml-syntax",
}
# Where the schema points elsewhere than `cds rules check`: also at the top of the file (a
# misspelt required key is missing too; check reports it once, as the unknown key it was
# meant as).
MORE_PRECISE = {"misspelt-required-key": {"rules/R02-mood.yaml:1", "rules/R02-mood.yaml:4"}}
YAML_SYNTAX = {"duplicate-key", "parameters-yaml-syntax", "rule-yaml-syntax",
               "yaml-syntax"}  # no document for a schema to look at
INVALID = sorted(p for p in (FIXTURES / "invalid").iterdir() if p.is_dir())
CLASSIFIED = [p for p in INVALID if p.name in (SCHEMA_MISTAKES | CHECK_ONLY) - YAML_SYNTAX]


@pytest.fixture(scope="module")
def shipped() -> dict[str, dict[str, Any]]:
    return pack_schemas(RULES)


def _errors(schema: dict[str, Any], path: Path) -> list[str]:
    """Each error as `file:line: path: message`, where an editor shows it: in a union, the
    alternative that fits best; an unknown key at the key."""
    doc = load_yaml(path)
    out = []
    for error in (leaf for top in Draft7Validator(schema).iter_errors(doc.data)
                  for leaf in _fitting(top)):
        at = list(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = error.schema.get("properties", {})
            at += sorted(k for k in error.instance if k not in known)[:1]
        out.append(f"{path}:{doc.position(at)[0]}: {'/'.join(map(str, at))}: {error.message}")
    return out


def _fitting(error: ValidationError) -> list[ValidationError]:
    """A union's errors in the alternative that fits best (as an editor picks it: the one
    whose errors lie deepest, then the fewest), else the error itself."""
    if not error.context:
        return [error]
    branches: dict[Any, list[ValidationError]] = {}
    for e in error.context:
        branches.setdefault(e.relative_schema_path[0], []).append(e)
    best = max(branches.values(),
               key=lambda errs: (min(len(e.absolute_path) for e in errs), -len(errs)))
    return [leaf for e in best for leaf in _fitting(e)]


def _expected_lines(folder: Path) -> set[str]:
    """`file:line` of each problem `cds rules check` reports (expected.txt)."""
    lines = (folder / "expected.txt").read_text(encoding="utf-8").splitlines()
    return {":".join(line.split(":")[:2]) for line in lines
            if line.strip() and not line.startswith("#")}


def test_every_kind_of_pack_file_has_a_schema_and_a_file_in_the_pack():
    kinds = {kind.name for kind, _ in pack_files(RULES)}
    assert kinds == {kind.name for kind in FILE_KINDS}


def test_every_schema_is_valid_draft_07(shipped):
    for schema in shipped.values():
        Draft7Validator.check_schema(schema)
        assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"


def test_every_shipped_pack_file_validates_against_its_schema(shipped):
    errors = [error for kind, path in pack_files(RULES)
              for error in _errors(shipped[kind.schema_file], path)]
    assert errors == []


def test_the_committed_schemas_are_the_ones_the_pack_generates(shipped):
    committed = {p.name: p.read_text(encoding="utf-8")
                 for p in (RULES / SCHEMA_DIR).glob("*.schema.json")}
    stale = sorted(name for name in shipped | committed
                   if committed.get(name) != render(shipped.get(name, {})))
    assert stale == [], (f"rules/{SCHEMA_DIR} is out of date ({', '.join(stale)}): "
                         f"run `{REGENERATE}`")


def test_every_shipped_pack_file_names_its_schema_on_its_first_line():
    wrong = [f"{path.relative_to(RULES)}: first line should be `{line}`"
             for kind, path in pack_files(RULES)
             if (line := modeline(kind, path, RULES / SCHEMA_DIR))
             != path.read_text(encoding="utf-8").partition("\n")[0]]
    assert wrong == []


def test_the_editor_settings_map_every_kind_of_file_to_its_schema():
    settings = json.loads((RULES.parent / ".vscode" / "settings.json").read_text())
    mapping = settings["yaml.schemas"]
    assert mapping == {f"./rules/{SCHEMA_DIR}/{kind.schema_file}": f"rules/{kind.pattern}"
                       for kind in FILE_KINDS}


def _properties(node: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, schema) of every property of every object schema, except in `if`, `contains`
    and `not` (constraints on properties described where they are written)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("if", "contains", "not"):
                continue
            if key == "properties" and isinstance(value, dict):
                for name, prop in value.items():
                    yield f"{where}/{name}", prop
                    yield from _properties(prop, f"{where}/{name}")
            else:
                yield from _properties(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _properties(value, f"{where}/{i}")


@pytest.mark.parametrize("kind", FILE_KINDS, ids=[k.name for k in FILE_KINDS])
def test_every_property_an_informaticist_edits_is_described(shipped, kind: FileKind):
    props = list(_properties(shipped[kind.schema_file]))
    assert props or kind.name == "parameters"  # groups and values only: no fixed keys
    assert [path for path, prop in props if not prop.get("description")] == []


def test_the_rule_schema_lists_the_pack_s_ids(shipped):
    defs = shipped["rule.schema.json"]["definitions"]
    assert "pain" in defs["measure"]["enum"]
    assert "@pain.moderate" in defs["parameter.number"]["enum"]
    assert defs["ids.template"]["enum"] == ["goal-activity", "medicationrequest-draft",
                                            "servicerequest-referral", "task-followup"]
    assert "patient-declined" in defs["ids.override_reason"]["enum"]
    assert "chronic_pain_patient" in defs["Use"]["properties"]["use"]["enum"]
    assert "opioids" in defs["list-test.medication"]["properties"]["contains"]["enum"]
    assert "opioids" not in defs["list-test.condition"]["properties"]["contains"]["enum"]
    assert set(defs["ops.number"]["properties"]) == {"eq", "ne", "lt", "lte", "gt", "gte", "in",
                                                     "exists", "ref"}


def _patched(folder: Path, tmp_path: Path) -> Path:
    root = tmp_path / "pack"
    shutil.copytree(PACK, root)
    shutil.copytree(folder, root, dirs_exist_ok=True)
    return root


def test_every_invalid_fixture_is_classified():
    names = {p.name for p in INVALID}
    assert names - SCHEMA_MISTAKES - CHECK_ONLY == set(), "add it to SCHEMA_MISTAKES or CHECK_ONLY"


@pytest.mark.parametrize("folder", CLASSIFIED, ids=[p.name for p in CLASSIFIED])
def test_the_schema_rejects_the_fixtures_with_schema_level_mistakes(folder: Path, tmp_path):
    root = _patched(folder, tmp_path)
    schemas = pack_schemas(root, standin_fact_config)
    changed = {p.relative_to(folder) for p in folder.rglob("*.yaml")}
    errors = [error for kind, path in pack_files(root) if path.relative_to(root) in changed
              for error in _errors(schemas[kind.schema_file], path)]
    if folder.name in SCHEMA_MISTAKES:
        at = {str(Path(e.split(": ")[0]).relative_to(root)) for e in errors}
        assert at == MORE_PRECISE.get(folder.name, _expected_lines(folder)), errors
    else:
        assert errors == []


def test_the_fixture_pack_validates_against_its_own_schemas(tmp_path):
    schemas = pack_schemas(PACK, standin_fact_config)
    errors = [error for kind, path in pack_files(PACK)
              for error in _errors(schemas[kind.schema_file], path)]
    assert errors == []


def test_a_new_measure_enters_the_schemas_when_they_are_regenerated(tmp_path):
    root = _patched(FIXTURES / "invalid" / "unknown-measure", tmp_path)
    standin = root / "facts-standin.yaml"
    standin.write_text(standin.read_text().replace("measures: [", "measures: [pian, "))
    schemas = pack_schemas(root, standin_fact_config)
    assert _errors(schemas["rule.schema.json"], root / "rules" / "R90-bad.yaml") == []


def test_the_schema_command_writes_one_schema_per_kind(tmp_path):
    result = CliRunner().invoke(rules_app, ["schema", "--rules", str(RULES),
                                            "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(k.schema_file
                                                                for k in FILE_KINDS)
    assert (tmp_path / "rule.schema.json").read_text() == (
        RULES / SCHEMA_DIR / "rule.schema.json").read_text()


def test_the_schema_command_refuses_a_directory_without_a_pack(tmp_path):
    result = CliRunner().invoke(rules_app, ["schema", "--rules", str(tmp_path)])
    assert result.exit_code == 1
    assert f"no rule pack in {tmp_path} (no pack.yaml)" in result.output
    assert "Traceback" not in result.output
