"""Parameter references: "@group.name" in conditions and suppression is replaced by its value
from parameters.yaml before validation, so an unknown reference is reported where it was
written and validation sees the real value (a number stays a number)."""

from __future__ import annotations

from typing import Any

from cds.packsource import PathItem, Problem, SourceDoc
from cds.rules.schema import PARAM_REF
from cds.suggest import unknown


def resolve_params(node: Any, params: dict[str, Any], doc: SourceDoc,
                   path: tuple[PathItem, ...], problems: list[Problem]) -> Any:
    """`node` with every "@group.name" string replaced by its parameter value."""
    if isinstance(node, dict):
        return {k: resolve_params(v, params, doc, (*path, k), problems) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve_params(v, params, doc, (*path, i), problems) for i, v in enumerate(node)]
    if not (isinstance(node, str) and node.startswith("@")):
        return node
    if not PARAM_REF.match(node):
        problems.append(doc.problem(path, f"'{node}' is not a parameter reference "
                                          "(write @group.name)"))
        return node
    value: Any = params
    walked = "@"  # the groups found so far: "@", "@pain.", ...
    for part in node[1:].split("."):
        if not isinstance(value, dict) or part not in value:
            valid = [f"{walked}{k}" for k in value] if isinstance(value, dict) else []
            problem = doc.problem(path, unknown("parameter", walked + part, valid))
            problems.append(problem.needing("parameters.yaml"))
            return node
        value = value[part]
        walked += f"{part}."
    if isinstance(value, dict):
        problems.append(doc.problem(path, f"parameter {node} is a group, not a value"))
        return node
    return value
