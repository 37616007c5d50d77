"""Rules, programs and facts built in memory for engine tests."""

from __future__ import annotations

from typing import Any

from cds.rules.compiler import Program, compile_program
from cds.rules.dnf import Origin
from cds.rules.engine import Engine
from cds.rules.schema import Definitions, RuleFile

HOOK = "patient-view"


def rule(rule_id: str, when: dict[str, Any], unless: list[dict[str, Any]] | None = None,
         **extra: Any) -> RuleFile:
    data: dict[str, Any] = {
        "id": rule_id, "slug": "test", "version": "1.0.0", "title": f"Rule {rule_id}",
        "hooks": [HOOK], "evidence": {"statement": "Test rule."},
        "citations": [{"id": "T", "label": "Test", "url": "https://example.org/t"}],
        "source": {"label": "Test"}, "when": when, "unless": unless or [],
        "card": {"indicator": "info", "summary": "s", "detail": "d"},
    }
    data.update(extra)
    return RuleFile.model_validate(data)


def program(*rules: RuleFile, definitions: dict[str, Any] | None = None,
            hook: str = HOOK) -> Program:
    defs = Definitions.model_validate({"definitions": definitions or {}}).definitions
    compiled, problems = compile_program(
        hook, [(r, Origin(None)) for r in rules],
        {name: (cond, Origin(None)) for name, cond in defs.items()})
    assert not problems, [str(p) for p in problems]
    assert compiled is not None
    return compiled


def engine(*rules: RuleFile, definitions: dict[str, Any] | None = None) -> Engine:
    return Engine({HOOK: program(*rules, definitions=definitions)}, name="test")


def measure(fid: str, name: str, value: float, **extra: Any) -> dict[str, Any]:
    return {"id": fid, "type": "measure", "measure": name, "value": value, **extra}


def med(fid: str, *valuesets: str, **extra: Any) -> dict[str, Any]:
    return {"id": fid, "type": "medication", "valuesets": list(valuesets), **extra}


def pattern(bind: str, fact: str, **where: Any) -> dict[str, Any]:
    return {"bind": bind, "fact": fact, "where": where}


def ids(matches: list[Any]) -> list[tuple[str, list[str]]]:
    return [(m.rule, m.fact_ids()) for m in matches]
