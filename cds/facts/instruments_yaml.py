"""rules/instruments.yaml (format in that file's header, model `InstrumentsFile`) as
`InstrumentDef`s and the answer-code score table."""

from __future__ import annotations

from cds.facts.codes import Code, resolve_system
from cds.facts.factfiles import FactsFile, FactsReader
from cds.facts.formats import Instrument, InstrumentsFile
from cds.facts.packdefs import InstrumentDef, ItemDef


def _instrument(reader: FactsReader, file: FactsFile[InstrumentsFile], iid: str,
                spec: Instrument) -> InstrumentDef | None:
    where = ("instruments", iid)
    item_codes = reader.codes(file, (*where, "items"), spec.items)
    reverse = spec.reverse
    reversed_codes = set(reader.codes(file, (*where, "reverse", "items"),
                                      reverse.items if reverse else ()))
    total = reader.code(file, (*where, "total"), spec.total)
    if total is None:
        return None
    return InstrumentDef(
        id=iid,
        title=spec.title,
        canonicals=frozenset(c.split("|")[0] for c in spec.canonicals or ()),
        codes=frozenset(reader.codes(file, (*where, "codes"), spec.codes)),
        items=tuple(ItemDef(code, (system, code), (system, code) in reversed_codes)
                    for system, code in item_codes),
        aliases={link_id.lstrip("/"): target.rpartition("#")[2]
                 for link_id, target in (spec.aliases or {}).items()},
        item_low=spec.item_range[0],
        item_high=spec.item_range[1],
        score=spec.score,
        reverse_from=reverse.from_ if reverse else 0.0,
        total=total,
        score_from=tuple(spec.score_from or ()),
    )


def instrument_defs(reader: FactsReader, file: FactsFile[InstrumentsFile]
                    ) -> tuple[dict[str, InstrumentDef], dict[Code, float]]:
    scores = {(resolve_system(system, reader.local), code): score
              for system, codes in file.model.answer_scores.items()
              for code, score in codes.items()}
    instruments = {iid: inst for iid, spec in file.model.instruments.items()
                   if (inst := _instrument(reader, file, iid, spec)) is not None}
    for iid, inst in instruments.items():
        for other in inst.score_from:
            if other not in file.model.instruments:
                reader.report(file, ("instruments", iid, "score_from"),
                              f"instrument '{iid}' scores from unknown instrument '{other}'")
            if other not in instruments:
                continue
            missing = inst.keys - instruments[other].keys
            if missing:
                reader.report(file, ("instruments", iid, "score_from"),
                              f"instrument '{iid}' scores from '{other}' but '{other}' "
                              f"lacks items {', '.join(sorted(missing))}")
    return instruments, scores
