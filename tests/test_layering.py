"""Each layer imports only what lies before it: the engine never sees HTTP, FHIR clients or
the database, and the facts layer never sees rules or cards."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "cds"

FORBIDDEN = {
    "facts": ("fastapi", "starlette", "httpx", "sqlalchemy", "durable", "cds.rules", "cds.cards",
              "cds.api", "cds.store", "cds.pipeline", "cds.terminology"),
    # An authoring tool: it reads the facts tables to measure coverage; the service never
    # imports it.
    "terminology": ("fastapi", "starlette", "sqlalchemy", "durable", "cds.api", "cds.store",
                    "cds.cards", "cds.pipeline"),
    "rules": ("fastapi", "starlette", "httpx", "sqlalchemy", "cds.api", "cds.store"),
    "cards": ("fastapi", "starlette", "httpx", "sqlalchemy", "durable", "cds.api", "cds.store"),
    "store": ("fastapi", "durable", "cds.facts", "cds.pipeline", "cds.rules.engine"),
    "auth": ("sqlalchemy", "durable", "cds.rules", "cds.facts", "cds.cards", "cds.store"),
}


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_nothing_from_the_layers_after_it(layer: str) -> None:
    offenders = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        for name in imports_of(path):
            if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN[layer]):
                offenders.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    assert offenders == []
