"""Checks of the `card` part of rules: templates, names, summary length and FHIR validity.

- every template compiles, with filters and tests that exist (cds.cards.render);
- every name a template reads is known: bindings, `params.*` in parameters.yaml, fields of
  the bound fact types, `with:` values (cds.authoring.templatecheck), and every `with:` value is
  read by its resource template;
- override reasons and resource templates exist;
- every template runs: for each branch of the rule's `when`, the card is rendered as the
  renderer would for a match with sample facts of that branch (cds.authoring.samples): variant
  conditions, then the summary, detail, suggestions, actions, resources and links in effect.
  A condition that fails is an error (one that compares a value the branch does not bind is
  false, as when serving); so is a text or resource that fails;
- a summary cannot reach 140 characters: it is rendered with the longest value of every
  field (catalogue `max_len`) bound in every name;
- every suggested resource is valid FHIR R4: it is rendered from typical values and validated
  with the fhir.resources R4B models (R4B changed no resource the pack suggests).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from jinja2 import UndefinedError
from pydantic import ValidationError

from cds.authoring.samples import branch_samples
from cds.authoring.templatecheck import TemplateNames, parse, undeclared
from cds.authoring.validate import binding_types
from cds.cards.render import CardRenderer, CompiledCard, card_context
from cds.cards.templating import (
    Native,
    Scope,
    Text,
    collect_errors,
    compile_expression,
    compile_native,
    compile_text,
    template_strings,
)
from cds.hooks.models import SUMMARY_MAX
from cds.packsource import PathItem, Problem
from cds.rules.dnf import Origin
from cds.rules.engine import Match
from cds.rules.pack import Pack
from cds.rules.schema import ActionSpec, Rule, SuggestionSpec
from cds.suggest import unknown

_NOW = datetime(2026, 1, 1, tzinfo=UTC)
Path_ = tuple[PathItem, ...]


def _suggestion_templates(specs: list[SuggestionSpec], path: Path_,
                          ) -> Iterator[tuple[Path_, str, bool]]:
    for i, s in enumerate(specs):
        yield (*path, i, "label"), s.label, False
        if s.when:
            yield (*path, i, "when"), s.when, True
        for j, a in enumerate(s.actions):
            at = (*path, i, "actions", j)
            yield (*at, "description"), a.description, False
            if a.when:
                yield (*at, "when"), a.when, True
            if a.resourceId:
                yield (*at, "resourceId"), a.resourceId, False
            if a.resource:
                for p, text in template_strings(a.resource.with_):
                    yield (*at, "resource", "with", *p), text, False


def card_templates(rule: Rule) -> Iterator[tuple[Path_, str, bool]]:
    """(path, template, is_expression) of every template in the rule's card and source."""
    card = rule.card
    yield ("card", "summary"), card.summary, False
    yield ("card", "detail"), card.detail, False
    for i, v in enumerate(card.variants):
        at = ("card", "variants", i)
        yield (*at, "when"), v.when, True
        if v.summary:
            yield (*at, "summary"), v.summary, False
        if v.detail:
            yield (*at, "detail"), v.detail, False
        yield from _suggestion_templates(v.suggestions or [], (*at, "suggestions"))
    yield from _suggestion_templates(card.suggestions, ("card", "suggestions"))
    for i, link in enumerate(card.links):
        for key in ("label", "url", "appContext"):
            if getattr(link, key):
                yield ("card", "links", i, key), getattr(link, key), False
        if link.when:
            yield ("card", "links", i, "when"), link.when, True
    for key in ("label", "url"):
        text = getattr(rule.source, key)
        if text and "{" in text:
            yield ("source", key), text, False


def _actions(rule: Rule) -> Iterator[tuple[Path_, ActionSpec]]:
    card = rule.card
    groups: list[tuple[Path_, list[SuggestionSpec]]] = [(("card", "suggestions"),
                                                         card.suggestions)]
    groups += [(("card", "variants", i, "suggestions"), v.suggestions or [])
               for i, v in enumerate(card.variants)]
    for path, specs in groups:
        for i, s in enumerate(specs):
            for j, a in enumerate(s.actions):
                yield (*path, i, "actions", j), a


def _scope(pack: Pack, rule: Rule, bindings: dict[str, dict[str, Any]]) -> Scope:
    match = Match(rule.id, 0, bindings)
    return Scope(card_context(pack, rule, [match], rule.hooks[0], _NOW, "example"))


def _summary_problems(pack: Pack, compiled: CompiledCard, origin: Origin,
                      ) -> Iterator[Problem]:
    rule = compiled.rule
    if len(rule.title) >= SUMMARY_MAX:
        yield origin.problem(f"title has {len(rule.title)} characters; keep it under "
                             f"{SUMMARY_MAX} (it stands in for a summary that cannot render)",
                             "title")
    candidates: list[tuple[tuple[PathItem, ...], Text | None]] = [
        (("card", "summary"), compiled.summary)]
    candidates += [(("card", "variants", i, "summary"), v.summary)
                   for i, v in enumerate(compiled.variants) if v.summary is not None]
    longest: dict[tuple[PathItem, ...], int] = {}
    with collect_errors():  # failures are reported by the rendering check
        for bindings in branch_samples(pack, rule.id, longest=True):
            scope = _scope(pack, rule, bindings)
            for path, template in candidates:
                assert template is not None
                longest[path] = max(longest.get(path, 0), len(template(scope).strip()))
    for path, length in longest.items():
        if length >= SUMMARY_MAX:
            yield origin.problem(f"summary can reach {length} characters with the longest "
                                 f"field values; CDS Hooks allows {SUMMARY_MAX - 1}", *path)


@functools.lru_cache(maxsize=2048)
def _fhir_error(resource_json: str) -> str | None:
    """Why a rendered resource is not valid FHIR R4 (None if it is); cached because many
    branches of a rule render the same resource."""
    from fhir.resources.R4B import get_fhir_model_class

    resource = json.loads(resource_json)
    kind = resource.get("resourceType") if isinstance(resource, dict) else None
    try:
        get_fhir_model_class(str(kind)).model_validate(resource)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        return f"renders an invalid {kind}: {where}: {err['msg']}"
    except (KeyError, ValueError):
        return f"renders no known FHIR resourceType ({kind!r})"
    return None


@dataclass
class _Rendering:
    """Renders one rule's card over the sample facts of each branch of its `when`, the way
    the renderer would, and records every template that fails (at its path, once)."""

    pack: Pack
    rule: Rule
    origin: Origin
    bodies: Mapping[str, Native]  # resource templates that compile, by name
    problems: dict[tuple[Path_, str], Problem] = field(default_factory=dict)
    values: dict[Path_, Native] = field(default_factory=dict)  # compiled `with:`, by path
    branch: int = 0

    def _report(self, path: Path_, message: str) -> None:
        if not any(key[0] == path for key in self.problems):  # the first failure per place
            self.problems[(path, message)] = self.origin.problem(message, *path)

    def _failed(self, path: Path_, exc: Exception) -> None:
        self._report(path, f"fails for branch {self.branch} of `when`: "
                           f"{type(exc).__name__}: {exc}")

    def text(self, path: Path_, source: str | None, scope: Scope) -> None:
        if source is None:
            return
        with collect_errors() as errors:
            compile_text(source)(scope)
        if errors:
            self._failed(path, errors[0])

    def holds(self, path: Path_, source: str | None, scope: Scope) -> bool:
        """The condition's value; one that fails other than on a missing value is reported."""
        if source is None:
            return True
        try:
            return bool(compile_expression(source)(scope))
        except UndefinedError:
            return False  # a value this branch does not have: false, as when serving
        except Exception as exc:
            self._failed(path, exc)
            return False

    def resource(self, path: Path_, spec: ActionSpec, scope: Scope) -> None:
        body = self.bodies.get(spec.resource.template) if spec.resource else None
        if spec.resource is None or body is None:
            return
        values = self.values.get(path)
        if values is None:
            values = self.values[path] = compile_native(dict(spec.resource.with_))
        with collect_errors() as errors:
            resource = body(scope.child(values(scope) or {}))
        if errors:
            self._failed((*path, "resource"), errors[0])
            return
        message = _fhir_error(json.dumps(resource, sort_keys=True, default=str))
        if message:
            self._report((*path, "resource"), f"template '{spec.resource.template}' {message}")

    def suggestions(self, specs: list[SuggestionSpec], path: Path_, scope: Scope) -> None:
        for i, spec in enumerate(specs):
            at = (*path, i)
            if not self.holds((*at, "when"), spec.when, scope):
                continue
            self.text((*at, "label"), spec.label, scope)
            for j, action in enumerate(spec.actions):
                here = (*at, "actions", j)
                if not self.holds((*here, "when"), action.when, scope):
                    continue
                self.text((*here, "description"), action.description, scope)
                self.text((*here, "resourceId"), action.resourceId, scope)
                if action.setStatus is None:
                    self.resource(here, action, scope)

    def card(self, scope: Scope) -> None:
        card = self.rule.card
        holding = [i for i, v in enumerate(card.variants)
                   if self.holds(("card", "variants", i, "when"), v.when, scope)]
        chosen = card.variants[holding[0]] if holding else None
        for i in holding:
            variant, at = card.variants[i], ("card", "variants", i)
            self.text((*at, "summary"), variant.summary, scope)
            self.text((*at, "detail"), variant.detail, scope)
            self.suggestions(variant.suggestions or [], (*at, "suggestions"), scope)
        if chosen is None or chosen.summary is None:
            self.text(("card", "summary"), card.summary, scope)
        if chosen is None or chosen.detail is None:
            self.text(("card", "detail"), card.detail, scope)
        if chosen is None or chosen.suggestions is None:
            self.suggestions(card.suggestions, ("card", "suggestions"), scope)
        for i, link in enumerate(card.links):
            if self.holds(("card", "links", i, "when"), link.when, scope):
                for key in ("label", "url", "appContext"):
                    self.text(("card", "links", i, key), getattr(link, key), scope)
        for key in ("label", "url"):
            text = getattr(self.rule.source, key)
            if text and "{" in text:
                self.text(("source", key), text, scope)

    def run(self) -> list[Problem]:
        for branch, bindings in enumerate(branch_samples(self.pack, self.rule.id,
                                                         longest=False)):
            self.branch = branch
            self.card(_scope(self.pack, self.rule, bindings))
        return list(self.problems.values())


def _template_names(pack: Pack) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for name, template in pack.templates.items():
        used: set[str] = set()
        for _p, text in template_strings(template.body):
            ast = parse(text, False)
            used |= undeclared(ast) if ast is not None else set()
        out[name] = used
    return out


def _name_problems(pack: Pack, rule: Rule, origin: Origin, types: Mapping[str, set[str]],
                   template_names: Mapping[str, set[str]]) -> Iterator[Problem]:
    """Names a card template uses that the rule or the pack does not define, and `with`
    values the resource template never reads (a misspelt input)."""
    if not types:
        return  # `when` did not expand (reported by the compiler): its names are unknown
    params = None if "parameters.yaml" in pack.unloaded else pack.parameters
    names = TemplateNames(origin, types, params)
    for path, source, expression in card_templates(rule):
        yield from names.problems(path, source, expression)
    for path, spec in _actions(rule):
        if spec.resource is None or spec.resource.template not in template_names:
            continue
        used = template_names[spec.resource.template]
        for key in sorted(set(spec.resource.with_) - used):
            yield origin.problem(f"template '{spec.resource.template}' does not use '{key}'",
                                 *path, "resource", "with", key)


def _resource_template_problems(pack: Pack) -> Iterator[Problem]:
    """`params.*` and `rule.*` in resource templates (their other names are `with:` values
    and bindings of the rules that use them, checked when those rules are rendered)."""
    params = None if "parameters.yaml" in pack.unloaded else pack.parameters
    for template in pack.templates.values():
        names = TemplateNames(template.origin, {}, params)
        for path, text in template_strings(template.body):
            ast = parse(text, False)
            extra = frozenset(undeclared(ast) - {"params", "rule"}) if ast else frozenset()
            yield from names.problems(path, text, False, extra)


def card_problems(pack: Pack) -> list[Problem]:
    renderer = CardRenderer(pack)
    problems = list(renderer.problems)
    problems += _resource_template_problems(pack)
    template_names = _template_names(pack)
    failed_files = {p.file for p in problems if p.is_error}
    bodies = {name: compile_native(t.body) for name, t in pack.templates.items()
              if t.origin.doc is not None and t.origin.doc.name not in failed_files}
    for loaded in pack.rules:
        rule, origin = loaded.rule, loaded.origin
        types = binding_types(pack, rule.id)
        for reason in rule.suppression.by_reason:
            if reason not in pack.override_reasons:
                problems.append(origin.problem(
                    unknown("override reason", reason, pack.override_reasons),
                    "suppression", "by_reason", reason).needing("override-reasons.yaml"))
        named = list(_name_problems(pack, rule, origin, types, template_names))
        problems.extend(named)
        if named or (origin.doc is not None and origin.doc.name in failed_files) \
                or "parameters.yaml" in pack.unloaded:
            continue  # rendering needs templates that compile and names that exist
        compiled = renderer.cards[rule.id]
        problems.extend(_Rendering(pack, rule, origin, bodies).run())
        problems.extend(_summary_problems(pack, compiled, origin))
    return problems
