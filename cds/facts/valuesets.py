"""Value sets (rules/valuesets/<id>.yaml) and the code -> value-set index.

Membership is computed in Python so the rule engine never sees long code lists: a fact
carries `valuesets: [ids]`. File format (owned by the pack's content)::

    id: opioids
    title: Opioid analgesics (RxNorm ingredients)
    applies_to: [medication]        # medication | condition | referral | encounter | measure
    codes:
      - {system: "http://www.nlm.nih.gov/research/umls/rxnorm", code: "7804",
         display: oxycodone, mark: V, source: "S1, S8"}
    prefixes:                         # optional: every code starting with these (hierarchies)
      - {system: "http://hl7.org/fhir/sid/icd-10-cm", prefix: "S", display: Injury, mark: V,
         source: ...}
    include: [cdc-malignant-cancer]   # optional: every code of these value sets too
    exclude: [cdc-opioid-analgesics]  # optional: a fact carrying any of these codes is no member

`include` and `exclude` name other value sets by id: the pack's own, or the imported
expansions in rules/terminology/valuesets/<id>.json (written by `cds terminology import`,
with their provenance; never edited by hand).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import orjson

from cds.errors import RulePackError
from cds.facts.codes import Code, resolve_system
from cds.facts.packdefs import ValueSetDef
from cds.facts.yamlfile import YamlFile
from cds.suggest import unknown

KINDS = frozenset({"medication", "condition", "referral", "encounter", "measure"})
_KEYS = {"id", "title", "description", "applies_to", "codes", "mark", "source", "note",
         "include", "exclude", "prefixes"}
_CODE_KEYS = {"system", "code", "display", "mark", "source", "note"}
_PREFIX_KEYS = {"system", "prefix", "display", "mark", "source", "note"}


@dataclass(frozen=True)
class _Composed:
    """A YAML value set before its `include` / `exclude` references are resolved."""

    vs: ValueSetDef
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    doc: YamlFile


def _refs(doc: YamlFile, root: dict[str, object], key: str) -> tuple[str, ...]:
    return tuple(str(x) for x in doc.sequence(root, key, required=False))


def _load_yaml(path: Path, local: str) -> _Composed:
    doc = YamlFile.load(path)
    root = doc.root
    if not isinstance(root, dict):
        doc.fail(root, None, "a value set must be a mapping")
    doc.only(root, _KEYS, "value set")
    vid = doc.text(root, "id")
    applies = frozenset(str(k) for k in doc.sequence(root, "applies_to", required=False))
    if applies - KINDS:
        doc.fail(root, "applies_to", f"'applies_to' must be among {', '.join(sorted(KINDS))}")
    codes: set[Code] = set()
    include = _refs(doc, root, "include")
    prefixes: set[Code] = set()
    pseq = doc.sequence(root, "prefixes", required=False)
    for i, entry in enumerate(pseq):
        if not isinstance(entry, dict):
            doc.fail(pseq, i, "each prefix must be a mapping {system, prefix, ...}")
        doc.only(entry, _PREFIX_KEYS, "value-set prefix")
        prefixes.add((resolve_system(doc.text(entry, "system"), local), doc.text(entry, "prefix")))
    seq = doc.sequence(root, "codes", required=not (include or prefixes))
    for i, entry in enumerate(seq):
        if not isinstance(entry, dict):
            doc.fail(seq, i, "each code must be a mapping {system, code, ...}")
        doc.only(entry, _CODE_KEYS, "value-set code")
        codes.add((resolve_system(doc.text(entry, "system"), local), doc.text(entry, "code")))
    vs = ValueSetDef(vid, doc.text(root, "title"), applies, frozenset(codes),
                     prefixes=frozenset(prefixes))
    return _Composed(vs, include, _refs(doc, root, "exclude"), doc)


def load_imported(path: Path) -> ValueSetDef:
    """An imported expansion (rules/terminology/valuesets/<id>.json)."""
    try:
        doc = orjson.loads(path.read_bytes())
        codes = frozenset((str(c[0]), str(c[1])) for c in doc["codes"])
        return ValueSetDef(str(doc["id"]), str(doc.get("title") or doc["id"]),
                           frozenset(doc.get("applies_to") or ()), codes)
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, IndexError) as exc:
        raise RulePackError(f"{path}:1: cannot read the imported value set ({exc}); "
                            "re-run `cds terminology import`") from exc


def load_valuesets(directory: Path, local: str, imported: Path | None = None
                   ) -> dict[str, ValueSetDef]:
    """The pack's value sets: imported expansions, then the YAML files (whose `include` and
    `exclude` may name any of them)."""
    out: dict[str, ValueSetDef] = {}
    sources: dict[str, Path] = {}

    def add(vs: ValueSetDef, path: Path) -> None:
        if vs.id in out:
            raise RulePackError(f"{path}:1: duplicate value-set id '{vs.id}' "
                                f"(also in {sources[vs.id]})")
        out[vs.id], sources[vs.id] = vs, path

    if imported is not None and imported.is_dir():
        for path in sorted(imported.glob("*.json")):
            add(load_imported(path), path)
    composed: list[_Composed] = []
    if directory.is_dir():
        for path in sorted(directory.glob("*.yaml")):
            item = _load_yaml(path, local)
            add(item.vs, path)
            composed.append(item)
    pending = {item.vs.id: item for item in composed if item.include or item.exclude}
    for vid in list(pending):
        _resolve(vid, pending, out, ())
    return out


def _resolve(vid: str, pending: dict[str, _Composed], out: dict[str, ValueSetDef],
             chain: tuple[str, ...]) -> ValueSetDef:
    """`out[vid]` with its include/exclude references resolved (depth first, no cycles)."""
    item = pending.pop(vid, None)
    if item is None:
        return out[vid]

    def codes_of(key: str, ids: tuple[str, ...]) -> frozenset[Code]:
        found: set[Code] = set()
        for ref in ids:
            if ref not in out or ref == vid or ref in chain:
                item.doc.fail(item.doc.root, key, f"value set '{vid}': {key} names "
                              + (f"'{ref}', which includes it in turn" if ref in out
                                 else unknown("value set", ref, sorted(out))))
            found |= _resolve(ref, pending, out, (*chain, vid)).codes
        return frozenset(found)

    included = [_resolve(ref, pending, out, (*chain, vid)) for ref in item.include
                if ref in out and ref != vid and ref not in chain]
    out[vid] = replace(item.vs, codes=item.vs.codes | codes_of("include", item.include),
                       excludes=codes_of("exclude", item.exclude),
                       prefixes=item.vs.prefixes.union(*(v.prefixes for v in included)))
    return out[vid]


class ValueSetIndex:
    """(system, code) -> value-set ids, one table per fact kind; a second table holds the
    value sets each code excludes (`exclude`), subtracted from a fact's memberships."""

    def __init__(self, valuesets: Mapping[str, ValueSetDef]) -> None:
        tables: dict[str, dict[Code, list[str]]] = {kind: {} for kind in KINDS}
        excluded: dict[str, dict[Code, list[str]]] = {kind: {} for kind in KINDS}
        for vs in valuesets.values():
            for kind in vs.applies_to or KINDS:
                for code in vs.codes:
                    tables[kind].setdefault(code, []).append(vs.id)
                for code in vs.excludes:
                    excluded[kind].setdefault(code, []).append(vs.id)
        self._tables: dict[str, dict[Code, tuple[str, ...]]] = {
            kind: {code: tuple(sorted(ids)) for code, ids in table.items()}
            for kind, table in tables.items()
        }
        self._excluded: dict[str, dict[Code, frozenset[str]]] = {
            kind: {code: frozenset(ids) for code, ids in table.items()}
            for kind, table in excluded.items()
        }
        # system -> prefix -> value-set ids, per kind; and the prefix lengths to try
        prefixes: dict[str, dict[str, dict[str, list[str]]]] = {kind: {} for kind in KINDS}
        for vs in valuesets.values():
            for kind in vs.applies_to or KINDS:
                for system, prefix in vs.prefixes:
                    prefixes[kind].setdefault(system, {}).setdefault(prefix, []).append(vs.id)
        self._prefixes = prefixes
        self._prefix_lengths = {kind: {system: sorted({len(p) for p in table})
                                       for system, table in systems.items()}
                                for kind, systems in prefixes.items()}

    def _by_prefix(self, kind: str, code: Code) -> list[str]:
        lengths = self._prefix_lengths[kind].get(code[0])
        if not lengths:
            return []
        table = self._prefixes[kind][code[0]]
        return [vid for n in lengths if n <= len(code[1])
                for vid in table.get(code[1][:n], ())]

    def of(self, kind: str, codes: Sequence[Code]) -> list[str]:
        """Sorted ids of the `kind` value sets containing any of `codes` (as a code or under
        a prefix) and excluding none."""
        table = self._tables[kind]
        if self._prefix_lengths[kind]:
            found = set(self._of(kind, table, codes))
            for code in codes:
                found.update(self._by_prefix(kind, code))
            return sorted(found)
        return self._of(kind, table, codes)

    def _of(self, kind: str, table: dict[Code, tuple[str, ...]], codes: Sequence[Code]
            ) -> list[str]:
        if len(codes) == 1:  # the usual case: the table's ids are already sorted and unique
            ids = table.get(codes[0])
            if not ids:
                return []
            gone_one = self._excluded[kind].get(codes[0])
            return [i for i in ids if i not in gone_one] if gone_one else list(ids)
        found: set[str] = set()
        excluded = self._excluded[kind]
        dropped: set[str] = set()
        for code in codes:
            ids = table.get(code)
            if ids:
                found.update(ids)
            if excluded:
                gone = excluded.get(code)
                if gone:
                    dropped.update(gone)
        return sorted(found - dropped)

    def contains(self, kind: str, code: Code) -> bool:
        return code in self._tables[kind] or bool(self._by_prefix(kind, code))
