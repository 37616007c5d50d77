"""Matches to CDS Hooks cards, from each rule's `card` section and the pack's templates.

Every template of the pack is compiled once when the renderer is built (`compile_cards`);
rendering a card only evaluates compiled Jinja. A rule that matched several times renders
one card from its first match (rule order, then branch, then fact ids); all its matches are
available to the text as `matches`. Context of every template:

    <binding>   the fact bound to that name (dict; absent bindings render empty)
    matches     the bindings of every match of the rule, in order
    params      parameters.yaml
    rule        {id, title, version}
    hook, now   the hook of the call and the evaluation time (ISO 8601)
    patient_id, patient_ref   the patient of the call: "<id>" and "Patient/<id>" (for the
                `subject` of suggested resources)
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from jinja2 import TemplateSyntaxError

from cds.cards.templating import (
    Condition,
    Native,
    Scope,
    Text,
    collect_errors,
    compile_condition,
    compile_native,
    compile_text,
    filter_pattern,
    known_filters,
    template_strings,
    unknown_filters,
)
from cds.hooks.card_meta import CardMeta
from cds.hooks.models import SUMMARY_MAX, Action, Card, Coding, Link, Source, Suggestion
from cds.packsource import PathItem, Problem
from cds.rules.dnf import Origin
from cds.rules.engine import Match
from cds.rules.pack import Pack
from cds.rules.schema import CardSpec, Rule, SuggestionSpec
from cds.suggest import unknown

# Finds a resource of the call by relative reference ("MedicationRequest/123").
ResourceLookup = Callable[[str], "dict[str, Any] | None"]

log = logging.getLogger("cds.cards")
T = TypeVar("T")


@dataclass(frozen=True)
class CompiledAction:
    type: str
    description: Text
    when: Condition
    resource: Native | None
    resource_id: Text | None
    set_status: str | None = None


@dataclass(frozen=True)
class CompiledSuggestion:
    label: Text
    is_recommended: bool | None
    when: Condition
    actions: tuple[CompiledAction, ...]


@dataclass(frozen=True)
class CompiledVariant:
    when: Condition
    indicator: str | None
    summary: Text | None
    detail: Text | None
    suggestions: tuple[CompiledSuggestion, ...] | None


@dataclass(frozen=True)
class CompiledLink:
    label: Text
    url: Text
    type: str
    app_context: Text | None
    when: Condition


@dataclass(frozen=True)
class CompiledCard:
    rule: Rule
    summary: Text
    detail: Text
    variants: tuple[CompiledVariant, ...]
    suggestions: tuple[CompiledSuggestion, ...]
    links: tuple[CompiledLink, ...]
    override_reasons: tuple[Coding, ...]
    source: Source  # used as is when label and url hold no template
    source_texts: tuple[Text, Text] | None = None  # label, url: rendered per card


@dataclass
class _Builder:
    """Compiles the templates of one rule, turning syntax errors and unknown filters into
    positioned problems."""

    pack: Pack
    origin: Origin
    problems: list[Problem] = field(default_factory=list)

    def _guard(self, make: Callable[[], T], path: tuple[PathItem, ...]) -> T | None:
        try:
            return make()
        except TemplateSyntaxError as exc:
            self.problems.append(self.origin.problem(f"template error: {exc.message} "
                                                     f"(template line {exc.lineno})", *path))
            return None

    def _known_filters(self, source: str, expression: bool, path: tuple[PathItem, ...],
                       ) -> bool:
        """Report each filter or test the template names that does not exist."""
        missing = unknown_filters(source, expression)
        for kind, name in missing:
            self.problems.append(self.origin.problem(
                unknown(kind, name, known_filters(kind)), *path,
                near=filter_pattern(kind, name)))
        return not missing

    def text(self, source: str, *path: PathItem) -> Text:
        if not self._known_filters(source, False, path):
            return lambda _scope: ""
        return self._guard(lambda: compile_text(source), path) or (lambda _scope: "")

    def cond(self, source: str | None, *path: PathItem) -> Condition:
        if source is not None and not self._known_filters(source, True, path):
            return lambda _scope: False
        return self._guard(lambda: compile_condition(source), path) or (lambda _scope: False)

    def native(self, node: Any, *path: PathItem) -> Native:
        known = [self._known_filters(text, False, (*path, *at))
                 for at, text in template_strings(node)]
        if not all(known):
            return lambda _scope: None
        return self._guard(lambda: compile_native(node), path) or (lambda _scope: None)

    def resource(self, template: str, with_: Mapping[str, Any], *path: PathItem,
                 ) -> Native | None:
        found = self.pack.templates.get(template)
        if found is None:
            problem = self.origin.problem(
                unknown("resource template", template, sorted(self.pack.templates)),
                *path, "template")
            self.problems.append(problem.needing(f"templates/{template}.yaml"))
            return None
        body = _Builder(self.pack, found.origin, self.problems).native(found.body)
        values = self.native(dict(with_), *path, "with")
        return lambda scope: body(scope.child(values(scope) or {}))

    def suggestions(self, specs: list[SuggestionSpec], *path: PathItem,
                    ) -> tuple[CompiledSuggestion, ...]:
        out = []
        for i, spec in enumerate(specs):
            here = (*path, i)
            actions = []
            for j, a in enumerate(spec.actions):
                at = (*here, "actions", j)
                actions.append(CompiledAction(
                    a.type, self.text(a.description, *at, "description"),
                    self.cond(a.when, *at, "when"),
                    self.resource(a.resource.template, a.resource.with_, *at, "resource")
                    if a.resource else None,
                    self.text(a.resourceId, *at, "resourceId") if a.resourceId else None,
                    a.setStatus))
            out.append(CompiledSuggestion(self.text(spec.label, *here, "label"),
                                          spec.isRecommended, self.cond(spec.when, *here, "when"),
                                          tuple(actions)))
        return tuple(out)


def compile_card(pack: Pack, rule: Rule, origin: Origin) -> tuple[CompiledCard, list[Problem]]:
    b = _Builder(pack, origin)
    spec: CardSpec = rule.card
    variants = tuple(
        CompiledVariant(
            b.cond(v.when, "card", "variants", i, "when"), v.indicator,
            b.text(v.summary, "card", "variants", i, "summary") if v.summary else None,
            b.text(v.detail, "card", "variants", i, "detail") if v.detail else None,
            b.suggestions(v.suggestions, "card", "variants", i, "suggestions")
            if v.suggestions is not None else None)
        for i, v in enumerate(spec.variants))
    links = tuple(
        CompiledLink(b.text(lk.label, "card", "links", i, "label"),
                     b.text(lk.url, "card", "links", i, "url"), lk.type,
                     b.text(lk.appContext, "card", "links", i, "appContext")
                     if lk.appContext else None,
                     b.cond(lk.when, "card", "links", i, "when"))
        for i, lk in enumerate(spec.links))
    reasons = []
    for i, rid in enumerate(spec.overrideReasons):
        found = pack.override_reasons.get(rid)
        if found is None:
            problem = origin.problem(unknown("override reason", rid, pack.override_reasons),
                                     "card", "overrideReasons", i)
            b.problems.append(problem.needing("override-reasons.yaml"))
        else:
            reasons.append(Coding(system=found.system, code=found.code, display=found.display))
    src = rule.source
    source = Source(label=src.label, url=src.url, icon=src.icon,
                    topic=Coding.model_validate(src.topic) if src.topic else None)
    templated = "{" in src.label or "{" in (src.url or "")
    source_texts = (b.text(src.label, "source", "label"), b.text(src.url or "", "source", "url")
                    ) if templated else None
    card = CompiledCard(rule, b.text(spec.summary, "card", "summary"),
                        b.text(spec.detail, "card", "detail"), variants,
                        b.suggestions(spec.suggestions, "card", "suggestions"), links,
                        tuple(reasons), source, source_texts)
    return card, b.problems


def card_context(pack: Pack, rule: Rule, matches: list[Match], hook: str, now: datetime,
                 patient_id: str | None = None) -> dict[str, Any]:
    ctx: dict[str, Any] = dict(matches[0].bindings) if matches else {}
    ctx.update(matches=[dict(m.bindings) for m in matches], params=pack.parameters,
               rule={"id": rule.id, "title": rule.title, "version": rule.version},
               hook=hook, now=now.isoformat(), patient_id=patient_id,
               patient_ref=f"Patient/{patient_id}" if patient_id else None)
    return ctx


class CardRenderer:
    """Renders one card per rule from its matches; templates compiled at construction."""

    def __init__(self, pack: Pack) -> None:
        self.pack = pack
        self.cards: dict[str, CompiledCard] = {}
        self.problems: list[Problem] = []
        for loaded in pack.rules:
            card, problems = compile_card(pack, loaded.rule, loaded.origin)
            self.cards[loaded.rule.id] = card
            self.problems.extend(problems)

    def render(self, rule_id: str, matches: list[Match], hook: str, now: datetime,
               patient_id: str | None = None, resources: ResourceLookup | None = None,
               failed: list[str] | None = None) -> Card:
        """The rule's card; `resources` finds the call's resources by reference, for
        `setStatus` updates. When a template of the card fails, the card is sent with its
        rule's title only (nothing it shows can then come from a broken template), the
        failure is logged with the rule id (never the patient's data) and the rule id is
        appended to `failed` (the service counts these)."""
        with collect_errors() as errors:
            card = self._render(rule_id, matches, hook, now, patient_id, resources)
        if not errors:
            return card
        kinds = ", ".join(sorted({type(e).__name__ for e in errors}))
        log.error("rule %s: a card template failed (%s); the card is sent with its title "
                  "only", rule_id, kinds)
        if failed is not None:
            failed.append(rule_id)
        return _title_only(self.cards[rule_id], card)

    def _render(self, rule_id: str, matches: list[Match], hook: str, now: datetime,
                patient_id: str | None, resources: ResourceLookup | None) -> Card:
        compiled = self.cards[rule_id]
        rule = compiled.rule
        ctx = Scope(card_context(self.pack, rule, matches, hook, now, patient_id))
        variant = next((v for v in compiled.variants if v.when(ctx)), None)
        indicator = (variant and variant.indicator) or rule.card.indicator
        summary = ((variant and variant.summary) or compiled.summary)(ctx).strip()
        detail = ((variant and variant.detail) or compiled.detail)(ctx).strip()
        specs = compiled.suggestions
        if variant is not None and variant.suggestions is not None:
            specs = variant.suggestions
        suggestions = [s for s in (_suggestion(spec, ctx, resources) for spec in specs)
                       if s is not None]
        if not summary or len(summary) >= SUMMARY_MAX:
            log.error("rule %s rendered a summary of %d characters; its title is used instead",
                      rule.id, len(summary))
            summary = rule.title
        links = [Link(label=lk.label(ctx), url=lk.url(ctx), type=lk.type,
                      appContext=lk.app_context(ctx) if lk.app_context else None)
                 for lk in compiled.links if lk.when(ctx)]
        return Card(
            summary=summary,
            detail=detail or None,
            indicator=indicator,
            source=_source(compiled, ctx),
            suggestions=suggestions,
            selectionBehavior=(rule.card.selectionBehavior or "at-most-one")
            if suggestions else None,
            overrideReasons=list(compiled.override_reasons),
            links=links,
        ).with_meta(CardMeta(
            rule=rule.id, rule_version=rule.version, pack=self.pack.name,
            pack_version=self.pack.version, problem=rule.problem,
            matches=tuple(matches[0].bindings.items()) if matches else ()))


def _title_only(compiled: CompiledCard, card: Card) -> Card:
    """The card of a rule whose templates failed: its title, its base indicator, the
    static source, override reasons and the matched facts, nothing rendered."""
    rule = compiled.rule
    source = compiled.source if compiled.source_texts is None else Source(label=rule.title)
    return card.model_copy(update={
        "summary": rule.title, "detail": None, "indicator": rule.card.indicator,
        "source": source, "suggestions": [], "selectionBehavior": None, "links": []})


def render_resource(action: CompiledAction, ctx: Scope) -> Any:
    return action.resource(ctx) if action.resource is not None else None


def _source(compiled: CompiledCard, ctx: Scope) -> Source:
    """The card's source; a label or url with a template (e.g. the drug's own label) is
    rendered for this card."""
    if compiled.source_texts is None:
        return compiled.source
    label, url = compiled.source_texts
    return compiled.source.model_copy(update={"label": label(ctx).strip() or compiled.rule.title,
                                              "url": url(ctx).strip() or None})


def with_status(resource: dict[str, Any], status: str, reason: str) -> dict[str, Any]:
    """The resource as received, with a new status and the reason as statusReason text."""
    return {**resource, "status": status, "statusReason": {"text": reason}}


def _suggestion(spec: CompiledSuggestion, ctx: Scope, resources: ResourceLookup | None
                ) -> Suggestion | None:
    if not spec.when(ctx):
        return None
    actions = []
    for a in spec.actions:
        if not a.when(ctx):
            continue
        resource_id = (a.resource_id(ctx).strip() or None) if a.resource_id else None
        if a.set_status is not None:
            # A replacement must stop what it replaces, or it is not offered at all.
            current = resources(resource_id) if resources and resource_id else None
            if current is None:
                return None
            actions.append(Action(type="update", description=a.description(ctx).strip(),
                                  resource=with_status(current, a.set_status,
                                                       a.description(ctx).strip())))
            continue
        resource = render_resource(a, ctx) or None
        if a.type in ("create", "update") and resource is None:
            continue
        if a.type == "delete" and not (resource_id or resource):
            continue
        actions.append(Action(type=a.type, description=a.description(ctx).strip() or a.type,
                              resource=resource, resourceId=resource_id))
    if not actions:
        return None
    return Suggestion(label=spec.label(ctx).strip() or "Suggestion", uuid=str(uuid.uuid4()),
                      isRecommended=spec.is_recommended, actions=actions)
