"""Parse rules/instruments.yaml (format in that file's header) into `InstrumentDef`s and the
answer-code score table."""

from __future__ import annotations

from typing import Any

from cds.facts.codes import Code, parse_code, resolve_system
from cds.facts.measures_yaml import parse_codes
from cds.facts.packdefs import InstrumentDef, ItemDef
from cds.facts.yamlfile import YamlFile

_KEYS = {"title", "canonicals", "codes", "items", "reverse", "item_range", "score", "total",
         "aliases", "score_from", "mark", "source", "note"}
_SCORES = {"sum", "mean", "item"}


def _answer_scores(doc: YamlFile, node: Any, local: str) -> dict[Code, float]:
    scores: dict[Code, float] = {}
    for system, codes in doc.items(node):
        if not isinstance(codes, dict):
            doc.fail(node, system, f"answer codes of '{system}' must be a mapping code: score")
        url = resolve_system(system, local)
        for code, score in doc.items(codes):
            scores[(url, code)] = doc.to_number(score, codes, code)
    return scores


def _instrument(doc: YamlFile, iid: str, node: Any, local: str) -> InstrumentDef:
    if not isinstance(node, dict):
        doc.fail(node, None, f"instrument '{iid}' must be a mapping")
    doc.only(node, _KEYS, f"instrument '{iid}'")
    item_codes = parse_codes(doc, node, "items", local)
    if not item_codes:
        doc.fail(node, "items", f"instrument '{iid}' has no items")
    reverse_node = doc.mapping(node, "reverse", required=False)
    reversed_codes: set[Code] = set()
    reverse_from = 0.0
    if reverse_node:
        doc.only(reverse_node, {"from", "items"}, "reverse")
        reverse_from = doc.number(reverse_node, "from") or 0.0
        reversed_codes = set(parse_codes(doc, reverse_node, "items", local))
        unknown = reversed_codes - set(item_codes)
        if unknown:
            doc.fail(reverse_node, "items", "reverse lists codes that are not items: "
                     + ", ".join(sorted(c for _, c in unknown)))
    items = tuple(ItemDef(code, (system, code), (system, code) in reversed_codes)
                  for system, code in item_codes)
    rng = doc.sequence(node, "item_range")
    if len(rng) != 2:
        doc.fail(node, "item_range", "'item_range' must be [low, high]")
    low, high = (doc.to_number(v, rng, i) for i, v in enumerate(rng))
    score = doc.text(node, "score")
    if score not in _SCORES:
        doc.fail(node, "score", f"'score' must be one of {', '.join(sorted(_SCORES))}")
    if score == "item" and len(items) != 1:
        doc.fail(node, "score", "'score: item' needs exactly one item")
    try:
        total = parse_code(doc.text(node, "total"), local)
    except ValueError as exc:
        doc.fail(node, "total", str(exc))
    aliases: dict[str, str] = {}
    alias_node = doc.mapping(node, "aliases", required=False)
    keys = {item.key for item in items}
    for link_id, target in doc.items(alias_node):
        target_key = str(target).rpartition("#")[2]
        if target_key not in keys:
            doc.fail(alias_node, link_id, f"alias '{link_id}' points at '{target}', not an item")
        aliases[link_id.lstrip("/")] = target_key
    canonicals = frozenset(str(c).split("|")[0]
                           for c in doc.sequence(node, "canonicals", required=False))
    return InstrumentDef(
        id=iid,
        title=doc.text(node, "title"),
        canonicals=canonicals,
        codes=frozenset(parse_codes(doc, node, "codes", local, required=False)),
        items=items,
        aliases=aliases,
        item_low=low,
        item_high=high,
        score=score,
        reverse_from=reverse_from,
        total=total,
        score_from=tuple(str(s) for s in doc.sequence(node, "score_from", required=False)),
    )


def parse_instruments(doc: YamlFile, local: str
                      ) -> tuple[dict[str, InstrumentDef], dict[Code, float]]:
    root = doc.root
    if not isinstance(root, dict):
        doc.fail(root, None, "instruments.yaml must be a mapping")
    doc.only(root, {"answer_scores", "instruments"}, "instruments.yaml")
    scores = _answer_scores(doc, doc.mapping(root, "answer_scores"), local)
    node = doc.mapping(root, "instruments")
    instruments = {iid: _instrument(doc, iid, spec, local) for iid, spec in doc.items(node)}
    for iid, inst in instruments.items():
        for other in inst.score_from:
            if other not in instruments:
                doc.fail(node, iid, f"instrument '{iid}' scores from unknown instrument '{other}'")
            missing = inst.keys - instruments[other].keys
            if missing:
                doc.fail(node, iid, f"instrument '{iid}' scores from '{other}' but '{other}' "
                         f"lacks items {', '.join(sorted(missing))}")
    return instruments, scores
