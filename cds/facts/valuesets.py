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
from cds.facts.factfiles import FactsFile, FactsReader
from cds.facts.formats import ValueSetFile
from cds.facts.packdefs import ValueSetDef
from cds.suggest import unknown

KINDS = frozenset({"medication", "condition", "referral", "encounter", "measure"})


@dataclass(frozen=True)
class _Composed:
    """A YAML value set before its `include` / `exclude` references are resolved."""

    vs: ValueSetDef
    file: FactsFile[ValueSetFile]


def _composed(file: FactsFile[ValueSetFile], local: str) -> _Composed:
    model = file.model
    codes = frozenset((resolve_system(e.system, local), str(e.code)) for e in model.codes or ())
    prefixes = frozenset((resolve_system(e.system, local), str(e.prefix))
                         for e in model.prefixes or ())
    vs = ValueSetDef(model.id, model.title, frozenset(model.applies_to or ()), codes,
                     prefixes=prefixes)
    return _Composed(vs, file)


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


def load_valuesets(reader: FactsReader, directory: Path, imported: Path | None = None
                   ) -> dict[str, ValueSetDef]:
    """The pack's value sets: imported expansions, then the YAML files (whose `include` and
    `exclude` may name any of them)."""
    out: dict[str, ValueSetDef] = {}
    sources: dict[str, Path] = {}
    if imported is not None and imported.is_dir():
        for path in sorted(imported.glob("*.json")):
            vs = load_imported(path)
            if vs.id in out:
                raise RulePackError(f"{path}:1: duplicate value-set id '{vs.id}' "
                                    f"(also in {sources[vs.id]})")
            out[vs.id], sources[vs.id] = vs, path
    pending: dict[str, _Composed] = {}
    for path in sorted(directory.glob("*.yaml")) if directory.is_dir() else ():
        file = reader.read(path, ValueSetFile)
        if file is None:
            continue
        item = _composed(file, reader.local)
        if item.vs.id in out:
            reader.report(file, ("id",), f"duplicate value-set id '{item.vs.id}' "
                                         f"(also in {sources[item.vs.id]})")
            continue
        out[item.vs.id], sources[item.vs.id] = item.vs, path
        if file.model.include or file.model.exclude:
            pending[item.vs.id] = item
    for vid in list(pending):
        _resolve(reader, vid, pending, out, ())
    return out


def _resolve(reader: FactsReader, vid: str, pending: dict[str, _Composed],
             out: dict[str, ValueSetDef], chain: tuple[str, ...]) -> ValueSetDef:
    """`out[vid]` with its include/exclude references resolved (depth first, no cycles)."""
    item = pending.pop(vid, None)
    if item is None:
        return out[vid]

    def resolved(key: str, ids: list[str] | None) -> list[ValueSetDef]:
        found = []
        for i, ref in enumerate(ids or ()):
            if ref not in out or ref == vid or ref in chain:
                reader.report(item.file, (key, i), f"value set '{vid}': {key} names "
                              + (f"'{ref}', which includes it in turn" if ref in out
                                 else unknown("value set", ref, sorted(out))))
            else:
                found.append(_resolve(reader, ref, pending, out, (*chain, vid)))
        return found

    included = resolved("include", item.file.model.include)
    excluded = resolved("exclude", item.file.model.exclude)
    out[vid] = replace(item.vs, codes=item.vs.codes.union(*(v.codes for v in included)),
                       excludes=frozenset().union(*(v.codes for v in excluded)),
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
