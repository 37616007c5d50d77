"""The ids a pack defines (measures, value sets, parameters, templates ...): the enums of its
JSON Schemas, so an editor completes them and flags a misspelt one as you type.

Read from the pack as `cds rules check` reads it; a part that does not load (a broken
measures.yaml, say) leaves its vocabulary out, and the schema then accepts any text there.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import TemplateSyntaxError, meta

from cds.authoring.check import ENGINE_RULES
from cds.authoring.validate import GLOBAL_NAMES
from cds.cards.templating import ENV
from cds.facts.catalogue import FACT_TYPES
from cds.hookdefs import hook_names
from cds.rules.pack import FactConfigLoader, Pack, ResourceTemplate, read_pack

Ids = dict[str, str | None]  # id -> its title (shown beside it when the editor completes)


@dataclass(frozen=True)
class Vocabulary:
    """`ids[name]`: the ids of one vocabulary (see `vocab()` in cds.facts.formats);
    `parameters`: "@group.name" -> value; `valueset_kinds`: value-set id -> the fact kinds it
    applies to (empty: all); `template_vars`: template -> variable -> description."""

    ids: Mapping[str, Ids]
    parameters: Mapping[str, Any] = field(default_factory=dict)
    valueset_kinds: Mapping[str, frozenset[str]] = field(default_factory=dict)
    template_vars: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


def pack_vocabulary(rules_dir: Path, fact_config_loader: FactConfigLoader | None = None
                    ) -> Vocabulary:
    pack, _ = read_pack(rules_dir, fact_config_loader)
    ids: dict[str, Ids] = {
        "fact_type": {name: t.description for name, t in FACT_TYPES.items()},
        "hook": dict.fromkeys(hook_names()),
    }
    if pack is None:
        return Vocabulary(ids)
    rules: Ids = {lr.rule.id: lr.rule.title for lr in pack.rules}
    problems: Ids = dict.fromkeys(sorted({lr.rule.problem for lr in pack.rules
                                          if lr.rule.problem}))
    ids |= {
        "rule": rules,
        "tested_rule": rules | dict.fromkeys(ENGINE_RULES, "the engine's data-quality card"),
        "problem": problems,
        "problem_or_bundle": problems | {b: bundle.title
                                         for b, bundle in pack.card_policy.bundles.items()},
        "override_reason": {r: d.display for r, d in pack.override_reasons.items()},
        "definition": dict.fromkeys(pack.definitions),
        "template": {name: t.body.get("resourceType") for name, t in pack.templates.items()},
    }
    kinds: dict[str, frozenset[str]] = {}
    config = pack.fact_config
    if config is not None:
        ids["measure"] = {m.id: m.title for m in config.measures.values()}
        ids["valueset"] = {v.id: v.title for v in config.valuesets.values()}
        ids["instrument"] = {i.id: i.title for i in config.instruments.values()}
        ids["ingredient"] = {i.rxcui: i.name for i in config.drugs.ingredients.values()}
        kinds = {v.id: v.applies_to for v in config.valuesets.values()}
    return Vocabulary({k: dict(sorted(v.items())) for k, v in ids.items()},
                      dict(_leaves(pack.parameters, "@")), kinds, _template_vars(pack))


def _leaves(node: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    for key, value in node.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _leaves(value, name + ".")
        elif prefix != "@":  # a top-level value is not a parameter (@group.name)
            yield name, value


def _template_vars(pack: Pack) -> dict[str, dict[str, str]]:
    """The names each resource template reads (what `with:` may give it), described by the
    template's `Variables:` comment where it has one."""
    out: dict[str, dict[str, str]] = {}
    for name, template in sorted(pack.templates.items()):
        documented = _documented_vars(template)
        used = set()
        for text in _strings(template.body):
            try:
                used |= meta.find_undeclared_variables(ENV.parse(text))
            except TemplateSyntaxError:
                continue  # reported by `cds rules check`
        fallback = "A name the template reads (a `with:` value, else the rule's binding)"
        out[name] = {var: documented.get(var, fallback)
                     for var in sorted(used - GLOBAL_NAMES - set(ENV.globals))}
    return out


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node


_ENTRY = re.compile(r"^#(\s+)(\S.*?)(?:\s{2,}(.*))?$")
_RANGE = re.compile(r"^([a-z_]+?)(\d+)\.\.\1(\d+)$")


def _documented_vars(template: ResourceTemplate) -> dict[str, str]:
    """The `# Variables:` block of a template's header comment: `#   name, other   text`,
    continued on deeper-indented comment lines; `reason1..reason3` names three."""
    doc = template.origin.doc
    if doc is None:
        return {}
    out: dict[str, str] = {}
    indent, names = 0, list[str]()
    in_block = False
    for line in doc.path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        if not in_block:
            in_block = line.lstrip("# ").startswith("Variables")
            continue
        match = _ENTRY.match(line)
        if match is None or (indent and len(match.group(1)) < indent):
            break
        if indent and len(match.group(1)) > indent:  # a continuation line
            for var in names:
                out[var] += " " + line.lstrip("# ").strip()
            continue
        indent = len(match.group(1))
        names = [n for part in match.group(2).split(",") for n in _expand(part.strip())]
        for var in names:
            out[var] = (match.group(3) or "").strip()
    return out


def _expand(name: str) -> list[str]:
    match = _RANGE.match(name)
    if match is None:
        return [name]
    stem, low, high = match.group(1), int(match.group(2)), int(match.group(3))
    return [f"{stem}{i}" for i in range(low, high + 1)]
