"""Load a rule pack directory into a `Pack`: every file parsed once, validated, positioned.

    pack.yaml  parameters.yaml  definitions.yaml  override-reasons.yaml  services.yaml
    data-quality.yaml  card-policy.yaml  templates/*.yaml  rules/*.yaml  tests/*.yaml
    (+ facts files)

`read_pack` collects every problem it can find instead of stopping at the first;
`cds.authoring.check.load_pack` also runs the semantic checks and raises `PackProblems` unless
the pack is clean, so a pack that loads is a pack that `cds rules check` accepts.
A file that does not load is one problem, not a cascade: problems that only follow from it
(every "@pain.moderate" unknown after a slip in parameters.yaml, every test naming a rule
whose file failed) are left out (`Pack.unloaded`, `Problem.requires`).
Parameter references ("@group.name") in conditions and suppression are replaced by their
values here, before validation, so an unknown one is reported where it was written.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from cds.errors import RulePackError
from cds.facts.config import FactConfig, load_fact_config
from cds.hooks.services import ServiceCatalogue
from cds.packsource import (
    PackProblems,
    PathItem,
    Problem,
    SourceDoc,
    display_path,
    load_yaml,
    problem_from_error,
    validation_problems,
)
from cds.rules.dnf import Origin
from cds.rules.packfiles import (
    CardPolicyFile,
    EngineTexts,
    OverrideReasonDef,
    OverrideReasonsFile,
    PackMeta,
)
from cds.rules.params import resolve_params
from cds.rules.schema import Condition, Definitions, RuleFile
from cds.rules.testspec import RuleTests

FactConfigLoader = Callable[[Path], "FactConfig"]
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class LoadedRule:
    rule: RuleFile
    origin: Origin


@dataclass(frozen=True)
class ResourceTemplate:
    """templates/<name>.yaml: a FHIR resource whose string leaves are Jinja templates,
    filled from the action's `with:` values and the rule's bindings."""

    name: str
    body: dict[str, Any]
    origin: Origin


@dataclass(frozen=True)
class LoadedTests:
    tests: RuleTests
    origin: Origin

    @property
    def path(self) -> Path:
        assert self.origin.doc is not None
        return self.origin.doc.path


@dataclass
class Pack:
    root: Path
    meta: PackMeta
    parameters: dict[str, Any] = field(default_factory=dict)
    definitions: dict[str, tuple[Condition, Origin]] = field(default_factory=dict)
    override_reasons: dict[str, OverrideReasonDef] = field(default_factory=dict)
    services: ServiceCatalogue | None = None
    templates: dict[str, ResourceTemplate] = field(default_factory=dict)
    rules: list[LoadedRule] = field(default_factory=list)
    tests: list[LoadedTests] = field(default_factory=list)
    texts: EngineTexts = field(default_factory=EngineTexts)
    card_policy: CardPolicyFile = field(default_factory=CardPolicyFile)
    fact_config: FactConfig | None = None
    texts_origin: Origin = field(default_factory=lambda: Origin(None))
    card_policy_origin: Origin = field(default_factory=lambda: Origin(None))
    # Parts that are in the directory but did not load: "parameters.yaml",
    # "templates/referral.yaml", "rule R02", "problem mood" (see `Problem.requires`).
    unloaded: set[str] = field(default_factory=set)

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def version(self) -> str:
        return self.meta.version

    def rule(self, rule_id: str) -> RuleFile | None:
        return next((lr.rule for lr in self.rules if lr.rule.id == rule_id), None)

    def hooks(self) -> list[str]:
        """Every hook some enabled rule (or service) answers, in a stable order."""
        hooks = {h for lr in self.rules if lr.rule.enabled for h in lr.rule.hooks}
        if self.services is not None:
            hooks |= {s.hook for s in self.services.services}
        return sorted(hooks)


_RESOLVED_KEYS = ("when", "unless", "suppression")


class _Reader:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.problems: list[Problem] = []
        self.unloaded: set[str] = set()

    def part(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def doc(self, name: str, *, required: bool) -> SourceDoc | None:
        path = self.root / name
        if not path.exists():
            if required:
                self.problems.append(Problem(display_path(path), 1, 1, "file is missing"))
            return None
        return self.load(path)

    def load(self, path: Path) -> SourceDoc | None:
        try:
            return load_yaml(path)
        except PackProblems as exc:
            self.problems.extend(exc.problems)
            self.unloaded.add(self.part(path))
            return None

    def model(self, doc: SourceDoc, model: type[M], data: Any = None,
              base: tuple[PathItem, ...] = ()) -> M | None:
        try:
            return model.model_validate(doc.data if data is None else data)
        except ValidationError as exc:
            self.problems.extend(validation_problems(doc, exc, base, model))
            self.unloaded.add(self.part(doc.path))
            return None

    def files(self, folder: str) -> list[Path]:
        directory = self.root / folder
        return sorted(directory.glob("*.yaml")) if directory.is_dir() else []


def read_pack(rules_dir: Path, fact_config_loader: FactConfigLoader | None = None,
              ) -> tuple[Pack | None, list[Problem]]:
    """Parse and validate every file; the pack (None if pack.yaml is unusable) + problems."""
    reader = _Reader(rules_dir)
    meta_doc = reader.doc("pack.yaml", required=True)
    meta = reader.model(meta_doc, PackMeta) if meta_doc else None
    if meta is None:
        return None, reader.problems
    pack = Pack(root=rules_dir, meta=meta)
    params_doc = reader.doc("parameters.yaml", required=False)
    if params_doc is not None:
        if isinstance(params_doc.data, dict):
            pack.parameters = params_doc.data
        elif params_doc.data is not None:
            reader.problems.append(params_doc.problem((), "parameters must be a mapping"))
            reader.unloaded.add("parameters.yaml")
    _read_definitions(reader, pack)
    _read_small_files(reader, pack)
    _read_templates(reader, pack)
    _read_rules(reader, pack)
    _read_tests(reader, pack)
    _read_fact_config(reader, pack, fact_config_loader)
    pack.unloaded = reader.unloaded
    return pack, reader.problems


def without_consequences(problems: list[Problem], pack: Pack | None) -> list[Problem]:
    """The problems, less those that only follow from a part of the pack that did not load
    (that part's own error is among them)."""
    if pack is None or not pack.unloaded:
        return problems
    return [p for p in problems if p.requires not in pack.unloaded]


def _read_definitions(reader: _Reader, pack: Pack) -> None:
    doc = reader.doc("definitions.yaml", required=False)
    if doc is None or doc.data is None:
        return
    data = resolve_params(doc.data, pack.parameters, doc, (), reader.problems)
    model = reader.model(doc, Definitions, data)
    if model is not None:
        pack.definitions = {name: (cond, Origin(doc, ("definitions", name)))
                            for name, cond in model.definitions.items()}


def _read_small_files(reader: _Reader, pack: Pack) -> None:
    doc = reader.doc("override-reasons.yaml", required=False)
    reasons = reader.model(doc, OverrideReasonsFile) if doc else None
    if reasons is not None:
        pack.override_reasons = reasons.reasons
    doc = reader.doc("services.yaml", required=True)
    if doc is not None:
        pack.services = reader.model(doc, ServiceCatalogue)
    doc = reader.doc("card-policy.yaml", required=False)
    policy = reader.model(doc, CardPolicyFile) if doc else None
    if policy is not None and doc is not None:
        pack.card_policy, pack.card_policy_origin = policy, Origin(doc)
    doc = reader.doc("data-quality.yaml", required=False)
    texts = reader.model(doc, EngineTexts) if doc else None
    if texts is not None and doc is not None:
        pack.texts, pack.texts_origin = texts, Origin(doc)


def _read_templates(reader: _Reader, pack: Pack) -> None:
    for path in reader.files("templates"):
        doc = reader.load(path)
        if doc is None:
            continue
        if not isinstance(doc.data, dict) or not isinstance(doc.data.get("resourceType"), str):
            reader.problems.append(doc.problem((), "a template must be a FHIR resource mapping "
                                                   "with a resourceType"))
            reader.unloaded.add(reader.part(path))
            continue
        pack.templates[path.stem] = ResourceTemplate(path.stem, doc.data, Origin(doc))


_ID_LINE = re.compile(r"^(id|problem):[ \t]*[\"']?([\w.-]+)", re.MULTILINE)


def _unloaded_rule(reader: _Reader, path: Path, data: Any) -> None:
    """Remember the id and problem key of a rule file that did not load (read from its
    text when it is not even YAML), so that tests and the card policy naming them do not
    add an error each."""
    if isinstance(data, dict):
        found = {key: str(data[key]) for key in ("id", "problem") if data.get(key)}
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = ""
        found = {match[1]: match[2] for match in _ID_LINE.finditer(text)}
    reader.unloaded.update(f"{'rule' if key == 'id' else key} {value}"
                           for key, value in found.items())


def _read_rules(reader: _Reader, pack: Pack) -> None:
    seen: dict[str, LoadedRule] = {}
    for path in reader.files("rules"):
        doc = reader.load(path)
        if doc is None:
            _unloaded_rule(reader, path, None)
            continue
        data = doc.data
        if isinstance(data, dict):
            data = dict(data)
            for key in _RESOLVED_KEYS:
                if key in data:
                    data[key] = resolve_params(data[key], pack.parameters, doc, (key,),
                                               reader.problems)
        rule = reader.model(doc, RuleFile, data)
        if rule is None:
            _unloaded_rule(reader, path, doc.data)
            continue
        loaded = LoadedRule(rule, Origin(doc))
        if rule.id in seen:
            first = seen[rule.id].origin.doc
            where = first.name if first is not None else "another file"
            reader.problems.append(doc.problem(("id",), f"duplicate rule id {rule.id} "
                                                        f"(also in {where})"))
            continue
        seen[rule.id] = loaded
        pack.rules.append(loaded)
    pack.rules.sort(key=lambda lr: lr.rule.id)


def _read_tests(reader: _Reader, pack: Pack) -> None:
    for path in reader.files("tests"):
        doc = reader.load(path)
        tests = reader.model(doc, RuleTests) if doc else None
        if tests is not None:
            pack.tests.append(LoadedTests(tests, Origin(doc)))


def _read_fact_config(reader: _Reader, pack: Pack, loader: FactConfigLoader | None) -> None:
    if loader is None:
        loader = load_fact_config
    try:
        pack.fact_config = loader(pack.root)
    except PackProblems as exc:
        reader.problems.extend(exc.problems)
    except RulePackError as exc:
        reader.problems.append(problem_from_error(exc, display_path(pack.root)))
