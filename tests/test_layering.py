"""The import graph of `cds` runs one way: every module belongs to a layer of `LAYERS`, and
imports only modules of earlier layers or of its own package. A new top-level package or
module fails here until it is given its place in `LAYERS`.

Imports inside functions are forbidden for `cds` modules: a function-local import can hide a
cycle that a module-level import would reveal.
"""

from __future__ import annotations

import ast
import graphlib
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "cds"

# Bottom to top. Each entry is a top-level module or package of `cds`; a module may import
# only from the entries before its own, and from its own package.
LAYERS: tuple[str, ...] = (
    "packyaml",       # the one YAML reader of pack files, with positions
    "version",        # the service's version string
    "errors",         # the one error tree
    "suggest",        # "did you mean" hints
    "notes",          # DataNote: what a call could not use, and why
    "modelpath",      # which pydantic model validates the value at a path of a pack file
    "packsource",     # pack files with positions: problems at file:line:col, pydantic errors
    "hookdefs",       # the hook registry: each CDS Hook, its context model, its orders
    "settings",       # CDS_* settings
    "logs",           # log set-up and per-call context
    "http_protocol",  # uvicorn's HTTP protocol with request-head limits
    "metrics",        # Prometheus metrics
    "fhir",           # collecting resources, the FHIR client, strict validation
    "facts",          # FHIR resources -> facts
    "hooks",          # CDS Hooks wire models, service definitions, prefetch
    "rules",          # the rule runtime: pack files, schema, compiler, engine
    "cards",          # card rendering, templating, policy
    "pipeline",       # one call: facts -> engine -> cards
    "authoring",      # pack checks, rule tests, explain, the test shorthand synthesiser
    "auth",           # CDS Hooks JWT verification
    "store",          # audit, feedback, suppression, replay store
    "api",            # the FastAPI routes
    "serving",        # the pack holder with hot reload, worker processes, the app factory
    "app",            # the ASGI app wiring
    "terminology",    # terminology coverage tools
    "population",     # synthetic populations as Bulk Data exports
    "dryrun",         # the population dry-run
    "examples",       # example patients and `cds example`
    "cli",            # the `cds` command line
    "__main__",       # python -m cds
)

# Imports the layer order allows although they point up: (importer, imported), each with its
# reason. The app builds the serving pack holder and the serving app factory builds the app,
# so `app` and `serving` import each other's modules (the module graph stays acyclic).
ALLOWED_UPWARD: dict[tuple[str, str], str] = {
    ("serving.factory", "app"): "the factory each `cds serve` worker runs builds the app",
}

# cds modules a function may import lazily: each pulls in a heavy dependency that only some
# calls need.
LAZY_IMPORTS: dict[str, str] = {
    "cds.dryrun.run": "pyarrow and matplotlib (the dryrun extra), only for `cds dryrun`",
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["cds", *parts])


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imports(module: str, path: Path) -> Iterator[tuple[ast.stmt, str, bool]]:
    """Each `cds` module imported by `module`: (node, imported module, inside a function)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    in_function = {id(node) for func in ast.walk(tree)
                   if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef)
                   for node in ast.walk(func)}
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            # `from cds.x import y` imports cds.x.y when y is a module, else cds.x
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                     for alias in node.names]
        else:
            continue
        for name in names:
            if name == "cds" or name.startswith("cds."):
                yield node, name, id(node) in in_function


def _top(module: str) -> str:
    return module.split(".")[1] if module != "cds" else ""


def _layer(module: str) -> int:
    return LAYERS.index(_top(module))


def test_every_module_has_a_layer() -> None:
    unplaced = sorted({_top(m) for m in MODULES if m != "cds"} - set(LAYERS))
    assert unplaced == [], (
        f"{', '.join('cds.' + name for name in unplaced)} has no layer: add it to LAYERS in "
        "tests/test_layering.py after every package it imports and before every package that "
        "imports it"
    )


def test_no_layer_is_listed_that_does_not_exist() -> None:
    assert sorted(set(LAYERS) - {_top(m) for m in MODULES}) == []


def test_imports_point_only_to_earlier_layers_or_the_own_package() -> None:
    offenders = []
    for module, path in MODULES.items():
        if module == "cds":
            continue
        for node, name, _local in _imports(module, path):
            if name == "cds" or _top(name) == _top(module):
                continue
            if _layer(name) < _layer(module):
                continue
            if (module.removeprefix("cds."), _top(name)) in ALLOWED_UPWARD:
                continue
            offenders.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} imports {name} "
                             f"(layer {_top(name)!r} comes after {_top(module)!r})")
    assert offenders == []


def test_no_function_imports_a_cds_module() -> None:
    offenders = [f"{path.relative_to(PACKAGE.parent)}:{node.lineno} imports {name}"
                 for module, path in MODULES.items()
                 for node, name, local in _imports(module, path)
                 if local and name not in LAZY_IMPORTS]
    assert offenders == []


def test_the_module_import_graph_has_no_cycle() -> None:
    graph = {module: {name for _node, name, _local in _imports(module, path) if name in MODULES}
             for module, path in MODULES.items()}
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        cycle = " -> ".join(reversed(exc.args[1]))
        pytest.fail(f"import cycle (each module imports the next): {cycle}")


# Libraries some layers never import: the engine never sees HTTP, FHIR clients or the
# database, and the facts layer never sees the rule engine.
BANNED_LIBRARIES = {
    "facts": ("fastapi", "starlette", "httpx", "sqlalchemy", "durable", "durable_rules_engine"),
    "rules": ("fastapi", "starlette", "httpx", "sqlalchemy"),
    "cards": ("fastapi", "starlette", "httpx", "sqlalchemy", "durable", "durable_rules_engine"),
    "pipeline": ("fastapi", "starlette", "httpx", "sqlalchemy"),
    "terminology": ("fastapi", "starlette", "sqlalchemy", "durable", "durable_rules_engine"),
    "store": ("fastapi", "durable", "durable_rules_engine"),
    "auth": ("sqlalchemy", "durable", "durable_rules_engine"),
}


@pytest.mark.parametrize("layer", sorted(BANNED_LIBRARIES))
def test_a_layer_imports_none_of_its_banned_libraries(layer: str) -> None:
    offenders = []
    for module, path in MODULES.items():
        if _top(module) != layer:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{module} imports {name}" for name in names
                          if name.split(".")[0] in BANNED_LIBRARIES[layer]]
    assert offenders == []
