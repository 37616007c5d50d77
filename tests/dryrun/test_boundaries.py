"""The dry-run reaches the pipeline the way the HTTP route does, never through the web layer
or the store: no FastAPI, no audit trail, no suppression of a live service."""

from __future__ import annotations

from pathlib import Path

from tests.test_layering import imports_of

PACKAGE = Path(__file__).resolve().parents[2] / "cds"
FORBIDDEN = ("fastapi", "starlette", "sqlalchemy", "cds.api", "cds.store", "cds.app")


def test_dryrun_and_population_import_nothing_of_the_web_layer_or_the_store() -> None:
    offenders = [f"{path.relative_to(PACKAGE.parent)} imports {name}"
                 for folder in ("dryrun", "population")
                 for path in sorted((PACKAGE / folder).rglob("*.py"))
                 for name in imports_of(path)
                 if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN)]
    assert offenders == []
