"""`cds rules check`: every problem of a pack, each as `file:line:col: message`.

    schema        pack files against their models (schema.py, packfiles.py, testspec.py)
    conditions    fact types, fields, operator/kind fit, value sets, measures (validate.py)
    compilation   `use` names, DNF size, bindings and joins, engine limits (compiler.py)
    cards         templates, names, override reasons, summary length, FHIR (cardcheck.py)
    tests         rule test files refer to rules, hooks and fixtures that exist

`load_pack` reads a pack and runs the same checks, so the service never loads a pack `check`
rejects.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from jinja2 import TemplateSyntaxError

from cds.authoring.cardcheck import card_problems
from cds.authoring.validate import condition_problems
from cds.cards.notes import EngineTextRenderer
from cds.cards.templating import filter_pattern, known_filters, unknown_filters
from cds.hooks.models import SUMMARY_MAX
from cds.notes import DataNote
from cds.packsource import PackProblems, PathItem, Problem
from cds.rules.compiler import compile_pack
from cds.rules.pack import FactConfigLoader, LoadedTests, Pack, read_pack, without_consequences
from cds.suggest import hint, unknown

log = logging.getLogger("cds.rules.pack")  # the name the pack's warnings have always had

ENGINE_RULES = frozenset({"data-quality"})


def _test_problems(pack: Pack, loaded: LoadedTests) -> Iterator[Problem]:
    tests, origin = loaded.tests, loaded.origin
    rule = pack.rule(tests.rule)
    ids = sorted(lr.rule.id for lr in pack.rules)
    if rule is None:
        yield origin.problem(unknown("rule", tests.rule, ids),
                             "rule").needing(f"rule {tests.rule}")
    for i, case in enumerate(tests.cases):
        at = ("cases", i)
        named = [("fires", j, r) for j, r in enumerate(case.expect.fires)]
        named += [("not_fires", j, r) for j, r in enumerate(case.expect.not_fires)]
        named += [("cards", j, c.rule) for j, c in enumerate(case.expect.cards)]
        for key, j, rid in named:
            other = pack.rule(rid)
            if other is None and rid not in ENGINE_RULES:
                yield origin.problem(unknown("rule", rid, ids), *at,
                                     "expect", key, j).needing(f"rule {rid}")
            elif other is not None and key != "not_fires" and case.hook not in other.hooks:
                yield origin.problem(f"{rid} does not run on {case.hook} (hooks: "
                                     f"{', '.join(other.hooks)})", *at, "expect", key, j)
        if case.fixture is not None and not (loaded.path.parent / case.fixture).is_file():
            yield origin.problem(f"fixture {case.fixture} does not exist", *at, "fixture")


def _text_problems(pack: Pack) -> Iterator[Problem]:
    origin, texts = pack.texts_origin, pack.texts
    sources: list[tuple[tuple[str, ...], str]] = [(("section",), texts.section)]
    if texts.card is not None:
        sources += [(("card", "summary"), texts.card.summary),
                    (("card", "detail"), texts.card.detail)]
    missing = [origin.problem(unknown(kind, name, known_filters(kind)), *path,
                              near=filter_pattern(kind, name))
               for path, source in sources for kind, name in unknown_filters(source, False)]
    if missing:
        yield from missing
        return
    try:
        renderer = EngineTextRenderer(texts, pack.name, pack.version)
    except TemplateSyntaxError as exc:
        yield origin.problem(f"template error: {exc.message} (template line {exc.lineno})")
        return
    notes = [DataNote("invalid-resource", "W" * 160, "Observation/" + "W" * 64)] * 20
    summary = renderer.card_summary(notes)
    if summary is not None:
        length = len(summary)
        if length >= SUMMARY_MAX:
            yield origin.problem(f"summary can reach {length} characters; CDS Hooks allows "
                                 f"{SUMMARY_MAX - 1}", "card", "summary")


def _card_policy_problems(pack: Pack) -> Iterator[Problem]:
    """Every problem key card-policy.yaml names is a rule's problem (a typo would silently
    put a safety problem under the budget or leave an indicator unguarded)."""
    policy, origin = pack.card_policy, pack.card_policy_origin
    problems = {loaded.rule.problem for loaded in pack.rules if loaded.rule.problem}
    known = sorted(problems)

    def missing(key: str, message: str, *at: PathItem, valid: list[str] = known) -> Problem:
        return origin.problem(f"{message} {hint(key, valid)}", *at).needing(f"problem {key}")

    for bid, bundle in policy.bundles.items():
        for i, key in enumerate(bundle.problems):
            if key not in problems:
                yield missing(key, f"bundle '{bid}': no rule has problem '{key}'",
                              "bundles", bid, "problems", i)
    for i, key in enumerate(policy.safety):
        if key not in problems and key not in policy.bundles:
            yield missing(key, f"'{key}' is neither a rule's problem nor a bundle", "safety",
                          i, valid=[*known, *policy.bundles])
    if policy.indicators is not None:
        for i, finding in enumerate(policy.indicators.critical):
            if finding.problem not in problems:
                yield missing(finding.problem, f"no rule has problem '{finding.problem}'",
                              "indicators", "critical", i, "problem")
        for i, key in enumerate(policy.indicators.info):
            if key not in problems:
                yield missing(key, f"no rule has problem '{key}'", "indicators", "info", i)


def pack_problems(pack: Pack) -> list[Problem]:
    """Semantic problems of a pack that parsed."""
    problems = condition_problems(pack)
    problems += compile_pack(pack)[1]
    problems += card_problems(pack)
    problems += _text_problems(pack)
    problems += _card_policy_problems(pack)
    for loaded in pack.tests:
        problems += _test_problems(pack, loaded)
    return sorted(set(problems))


def check_dir(rules_dir: Path, fact_config_loader: FactConfigLoader | None = None,
              ) -> list[Problem]:
    """Every problem of the pack in `rules_dir` (empty: the pack is good)."""
    pack, problems = read_pack(rules_dir, fact_config_loader)
    if pack is not None:
        problems = without_consequences(problems + pack_problems(pack), pack)
    return sorted(set(problems))


def load_pack(rules_dir: Path, fact_config_loader: FactConfigLoader | None = None) -> Pack:
    """The pack in `rules_dir`, fully checked; raises `PackProblems` listing every error."""
    pack, problems = read_pack(rules_dir, fact_config_loader)
    if pack is not None:
        problems = without_consequences(problems + pack_problems(pack), pack)
    errors = [p for p in problems if p.is_error]
    if errors or pack is None:
        raise PackProblems(errors)
    for warning in problems:
        log.warning("%s", warning)
    return pack
