"""The dry-run reaches the pipeline the way the HTTP route does, never through the web layer
or the store: no FastAPI, no audit trail, no suppression of a live service."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "cds"
FORBIDDEN = ("fastapi", "starlette", "sqlalchemy", "cds.api", "cds.store", "cds.app",
             "cds.serving")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_dryrun_and_population_import_nothing_of_the_web_layer_or_the_store() -> None:
    offenders = [f"{path.relative_to(PACKAGE.parent)} imports {name}"
                 for folder in ("dryrun", "population")
                 for path in sorted((PACKAGE / folder).rglob("*.py"))
                 for name in _imports(path)
                 if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN)]
    assert offenders == []
