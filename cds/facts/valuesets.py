"""Value sets (rules/valuesets/<id>.yaml) and the code -> value-set index.

Membership is computed in Python so the rule engine never sees long code lists: a fact
carries `valuesets: [ids]`. File format (owned by the pack's content)::

    id: opioids
    title: Opioid analgesics (RxNorm ingredients)
    applies_to: [medication]        # medication | condition | referral | measure
    codes:
      - {system: "http://www.nlm.nih.gov/research/umls/rxnorm", code: "7804",
         display: oxycodone, mark: V, source: "S1, S8"}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from cds.errors import RulePackError
from cds.facts.codes import Code, resolve_system
from cds.facts.packdefs import ValueSetDef
from cds.facts.yamlfile import YamlFile

KINDS = frozenset({"medication", "condition", "referral", "measure"})
_KEYS = {"id", "title", "description", "applies_to", "codes", "mark", "source", "note"}
_CODE_KEYS = {"system", "code", "display", "mark", "source", "note"}


def load_valueset(path: Path, local: str) -> ValueSetDef:
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
    seq = doc.sequence(root, "codes")
    for i, entry in enumerate(seq):
        if not isinstance(entry, dict):
            doc.fail(seq, i, "each code must be a mapping {system, code, ...}")
        doc.only(entry, _CODE_KEYS, "value-set code")
        codes.add((resolve_system(doc.text(entry, "system"), local), doc.text(entry, "code")))
    return ValueSetDef(vid, doc.text(root, "title"), applies, frozenset(codes))


def load_valuesets(directory: Path, local: str) -> dict[str, ValueSetDef]:
    out: dict[str, ValueSetDef] = {}
    if not directory.is_dir():
        return out
    for path in sorted(directory.glob("*.yaml")):
        vs = load_valueset(path, local)
        if vs.id in out:
            raise RulePackError(f"{path}:1: duplicate value-set id '{vs.id}'")
        out[vs.id] = vs
    return out


class ValueSetIndex:
    """(system, code) -> value-set ids, one table per fact kind."""

    def __init__(self, valuesets: Mapping[str, ValueSetDef]) -> None:
        tables: dict[str, dict[Code, list[str]]] = {kind: {} for kind in KINDS}
        for vs in valuesets.values():
            for kind in vs.applies_to or KINDS:
                table = tables[kind]
                for code in vs.codes:
                    table.setdefault(code, []).append(vs.id)
        self._tables: dict[str, dict[Code, tuple[str, ...]]] = {
            kind: {code: tuple(sorted(ids)) for code, ids in table.items()}
            for kind, table in tables.items()
        }

    def of(self, kind: str, codes: Sequence[Code]) -> list[str]:
        """Sorted ids of the `kind` value sets containing any of `codes`."""
        table = self._tables[kind]
        if len(codes) == 1:  # the usual case: the table's ids are already sorted and unique
            return list(table.get(codes[0]) or ())
        found: set[str] = set()
        for code in codes:
            ids = table.get(code)
            if ids:
                found.update(ids)
        return sorted(found)

    def contains(self, kind: str, code: Code) -> bool:
        return code in self._tables[kind]
