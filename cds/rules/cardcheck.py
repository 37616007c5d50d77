"""Checks of the `card` part of rules: templates, names, summary length and FHIR validity.

- every template compiles (syntax errors at the key that holds them);
- every name a template uses is a binding of the rule, a `with:` value (resource templates)
  or a global (jinja2.meta.find_undeclared_variables on the parsed template);
- override reasons and resource templates exist;
- a summary cannot reach 140 characters: it is rendered with the longest value of every
  field (catalogue `max_len`) bound in every name;
- every suggested resource is valid FHIR R4: it is rendered from typical values and validated
  with the fhir.resources R4B models (R4B changed no resource the pack suggests).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from jinja2 import TemplateSyntaxError, meta
from pydantic import ValidationError

from cds.cards.render import CardRenderer, CompiledCard, card_context
from cds.cards.templating import ENV, Scope, collect_errors
from cds.hooks.models import SUMMARY_MAX
from cds.rules.dnf import Origin
from cds.rules.engine import Match
from cds.rules.pack import Pack
from cds.rules.samples import branch_samples
from cds.rules.schema import ActionSpec, Rule, SuggestionSpec
from cds.rules.source import PathItem, Problem
from cds.rules.validate import GLOBAL_NAMES, binding_types

_NOW = datetime(2026, 1, 1, tzinfo=UTC)
Path_ = tuple[PathItem, ...]


@functools.lru_cache(maxsize=4096)
def _names(source: str, expression: bool) -> frozenset[str]:
    try:
        ast = ENV.parse("{{ " + source + " }}" if expression else source)
    except TemplateSyntaxError:
        return frozenset()  # reported by the renderer
    return frozenset(meta.find_undeclared_variables(ast))


def _strings(node: Any, path: Path_) -> Iterator[tuple[Path_, str]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _strings(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _strings(v, (*path, i))
    elif isinstance(node, str):
        yield path, node


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
                for p, text in _strings(a.resource.with_, (*at, "resource", "with")):
                    yield p, text, False


def card_templates(rule: Rule) -> Iterator[tuple[Path_, str, bool]]:
    """(path, template, is_expression) of every template in the rule's card."""
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


def _actions(rule: Rule) -> Iterator[tuple[Path_, ActionSpec]]:
    card = rule.card
    groups = [(("card", "suggestions"), card.suggestions)]
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
    candidates = [(("card", "summary"), compiled.summary)]
    candidates += [(("card", "variants", i, "summary"), v.summary)
                   for i, v in enumerate(compiled.variants) if v.summary is not None]
    longest: dict[tuple[PathItem, ...], int] = {}
    for bindings in branch_samples(pack, rule.id, longest=True):
        scope = _scope(pack, rule, bindings)
        for path, template in candidates:
            assert template is not None
            longest[path] = max(longest.get(path, 0), len(template(scope).strip()))
    for path, length in longest.items():
        if length >= SUMMARY_MAX:
            yield origin.problem(f"summary can reach {length} characters with the longest "
                                 f"field values; CDS Hooks allows {SUMMARY_MAX - 1}", *path)


def _fhir_problems(pack: Pack, compiled: CompiledCard, origin: Origin) -> Iterator[Problem]:
    suggestions = list(compiled.suggestions)
    for v in compiled.variants:
        suggestions.extend(v.suggestions or ())
    pairs = list(zip(_actions(compiled.rule), [a for s in suggestions for a in s.actions],
                     strict=False))
    seen: set[tuple[tuple[PathItem, ...], str]] = set()
    for bindings in branch_samples(pack, compiled.rule.id, longest=False):
        scope = _scope(pack, compiled.rule, bindings)
        for (path, spec), action in pairs:
            if action.resource is None or spec.resource is None:
                continue
            resource = action.resource(scope)
            message = _fhir_error(json.dumps(resource, sort_keys=True, default=str))
            if message and (path, message) not in seen:
                seen.add((path, message))
                yield origin.problem(f"template '{spec.resource.template}' {message}",
                                     *path, "resource")


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


def _template_names(pack: Pack) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for name, template in pack.templates.items():
        used: set[str] = set()
        for _p, text in _strings(template.body, ()):
            used |= _names(text, False)
        out[name] = used
    return out


def _name_problems(rule: Rule, origin: Origin, types: Mapping[str, set[str]],
                   template_names: Mapping[str, set[str]]) -> Iterator[Problem]:
    """Names a card template uses that the rule does not bind, and `with` values the
    resource template never reads (a misspelt input)."""
    if not types:
        return  # `when` did not expand (reported by the compiler): its names are unknown
    allowed = set(types) | GLOBAL_NAMES | set(ENV.globals)
    hint = ", ".join(sorted(types)) or "none"
    for path, source, expression in card_templates(rule):
        for name in sorted(_names(source, expression) - allowed):
            yield origin.problem(f"'{name}' is not bound by this rule (bindings: {hint})", *path)
    for path, spec in _actions(rule):
        if spec.resource is None or spec.resource.template not in template_names:
            continue
        used = template_names[spec.resource.template]
        for key in sorted(set(spec.resource.with_) - used):
            yield origin.problem(f"template '{spec.resource.template}' does not use '{key}'",
                                 *path, "resource", "with", key)


def card_problems(pack: Pack) -> list[Problem]:
    renderer = CardRenderer(pack)
    problems = list(renderer.problems)
    template_names = _template_names(pack)
    for loaded in pack.rules:
        rule, origin = loaded.rule, loaded.origin
        types = binding_types(pack, rule.id)
        for reason in rule.suppression.by_reason:
            if reason not in pack.override_reasons:
                problems.append(origin.problem(f"unknown override reason '{reason}'",
                                               "suppression", "by_reason", reason))
        problems.extend(_name_problems(rule, origin, types, template_names))
        if any(p.file == (origin.doc.name if origin.doc else "") for p in renderer.problems):
            continue  # render-based checks need templates that compile
        compiled = renderer.cards[rule.id]
        with collect_errors() as errors:
            problems.extend(_summary_problems(pack, compiled, origin))
            problems.extend(_fhir_problems(pack, compiled, origin))
        for exc in dict.fromkeys(f"{type(e).__name__}: {e}" for e in errors):
            problems.append(origin.problem(f"a template of this rule fails when rendered with "
                                           f"sample facts of its branches: {exc}", "card",
                                           severity="warning"))
    return problems
