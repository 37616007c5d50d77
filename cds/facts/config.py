"""The facts configuration of a rule pack: measures, instruments, the drug map and value sets,
all read from `rules/` once at load and cross-checked, so a typo fails the load (with
`file:line`) instead of silently matching nothing at run time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import yaml
from pydantic import BaseModel

from cds.errors import RulePackError
from cds.facts.codes import Code
from cds.facts.factfiles import FactsFile, FactsReader
from cds.facts.formats import InstrumentsFile, MeasuresFile, MedicationsFile, PatientStatusFile
from cds.facts.instruments_yaml import instrument_defs
from cds.facts.measures_yaml import measure_defs
from cds.facts.medications_yaml import drug_map
from cds.facts.packdefs import (
    ComputeDef,
    DrugMap,
    InstrumentDef,
    MeasureDef,
    PregnancyDef,
    Product,
    ProductPart,
    ValueSetDef,
)
from cds.facts.products_table import ingredient_codes, load_product_table, name_index
from cds.facts.valuesets import ValueSetIndex, load_valuesets
from cds.packyaml import parse
from cds.suggest import unknown


@dataclass(frozen=True)
class FactConfig:
    local_system: str
    measures: Mapping[str, MeasureDef]
    instruments: Mapping[str, InstrumentDef]
    answer_scores: Mapping[Code, float]
    drugs: DrugMap
    valuesets: Mapping[str, ValueSetDef]
    pregnancy: PregnancyDef | None = None
    measures_by_code: Mapping[Code, tuple[str, ...]] = field(init=False)
    vs_index: ValueSetIndex = field(init=False)

    def __post_init__(self) -> None:
        by_code: dict[Code, list[str]] = {}
        for m in self.measures.values():
            for code in m.codes:
                by_code.setdefault(code, []).append(m.id)
        object.__setattr__(self, "measures_by_code",
                           {code: tuple(ids) for code, ids in by_code.items()})
        object.__setattr__(self, "vs_index", ValueSetIndex(self.valuesets))

    @cached_property
    def measure_defs_by_code(self) -> dict[Code, tuple[MeasureDef, ...]]:
        """`measures_by_code` with the definitions themselves (looked up for every reading)."""
        return {code: tuple(self.measures[mid] for mid in ids)
                for code, ids in self.measures_by_code.items()}

    @cached_property
    def dose_not_needed_codes(self) -> tuple[tuple[frozenset[Code], frozenset[Code]], ...]:
        """(codes, excluded codes) of each `dose_not_needed` value set, for a quick test."""
        return tuple((self.valuesets[v].codes, self.valuesets[v].excludes)
                     for v in sorted(self.drugs.dose_not_needed) if v in self.valuesets)

    @cached_property
    def valueset_ids(self) -> frozenset[str]:
        return frozenset(self.valuesets)

    @cached_property
    def measure_ids(self) -> frozenset[str]:
        return frozenset(self.measures)

    @cached_property
    def canonical_index(self) -> dict[str, str]:
        """Questionnaire canonical (no version) -> instrument id."""
        return {c: inst.id for inst in self.instruments.values() for c in inst.canonicals}

    @cached_property
    def questionnaire_code_index(self) -> dict[Code, str]:
        return {c: inst.id for inst in self.instruments.values() for c in inst.codes}

    @cached_property
    def measured_items(self) -> dict[str, Code]:
        """Item key (linkId form) -> item code, for the items that are measures themselves
        (PHQ-9 item 9) rather than instrument totals."""
        codes = {item.key: item.code for inst in self.instruments.values() for item in inst.items}
        totals = {inst.total for inst in self.instruments.values()}
        return {key: code for key, code in codes.items()
                if code not in totals and code in self.measures_by_code}

    @cached_property
    def computed_measures(self) -> tuple[tuple[MeasureDef, ComputeDef], ...]:
        """The measures computed from others, in measures.yaml order, with their formula."""
        return tuple((m, m.compute) for m in self.measures.values() if m.compute is not None)

    @cached_property
    def link_aliases(self) -> dict[str, str]:
        return {k: v for inst in self.instruments.values() for k, v in inst.aliases.items()}

    @cached_property
    def scored_with(self) -> dict[str, tuple[InstrumentDef, ...]]:
        """Instrument id -> itself and the instruments scored from its items (score_from)."""
        return {iid: (inst, *(o for o in self.instruments.values() if iid in o.score_from))
                for iid, inst in self.instruments.items()}


def local_codesystem(rules_dir: Path) -> str:
    path = rules_dir / "pack.yaml"
    try:
        pack = parse(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RulePackError(f"{path}:1: cannot read the pack identity: {exc}") from exc
    system = pack.get("codesystem") if isinstance(pack, dict) else None
    if not isinstance(system, str) or "://" not in system:
        raise RulePackError(f"{path}:1: 'codesystem' (the local CodeSystem URL) is required")
    return system


def load_measures(rules_dir: Path, local: str | None = None) -> dict[str, MeasureDef]:
    reader = FactsReader(local or local_codesystem(rules_dir))
    file = reader.read(rules_dir / "measures.yaml", MeasuresFile)
    measures = measure_defs(reader, file) if file else {}
    reader.raise_problems()
    return measures


def load_instruments(rules_dir: Path, local: str | None = None
                     ) -> tuple[dict[str, InstrumentDef], dict[Code, float]]:
    reader = FactsReader(local or local_codesystem(rules_dir))
    file = reader.read(rules_dir / "instruments.yaml", InstrumentsFile)
    instruments = instrument_defs(reader, file) if file else ({}, {})
    reader.raise_problems()
    return instruments


def load_fact_config(rules_dir: Path) -> FactConfig:
    """Load and cross-check the facts files of the pack in `rules_dir`; `PackProblems` lists
    every problem of every facts file."""
    reader = FactsReader(local_codesystem(rules_dir))
    measures_file = reader.read(rules_dir / "measures.yaml", MeasuresFile)
    inst_file = reader.read(rules_dir / "instruments.yaml", InstrumentsFile)
    med_file = reader.read(rules_dir / "medications.yaml", MedicationsFile)
    status_path = rules_dir / "patient-status.yaml"
    status_file = reader.read(status_path, PatientStatusFile) if status_path.exists() else None
    valuesets = load_valuesets(reader, rules_dir / "valuesets",
                               imported=rules_dir / "terminology" / "valuesets")
    if measures_file is None or inst_file is None or med_file is None:
        reader.raise_problems()
    assert measures_file is not None and inst_file is not None and med_file is not None
    measures = measure_defs(reader, measures_file)
    instruments, scores = instrument_defs(reader, inst_file)
    drugs = drug_map(reader, med_file)
    imported, brands = load_product_table(rules_dir / "terminology" / "products.json",
                                          drugs.ingredients)
    products = {**imported, **drugs.products}
    names = _unknown_product_names(drugs, products, brands, valuesets, reader.local)
    drugs = replace(drugs, products=products, names=names,
                    names_max_words=max(map(len, names), default=0))
    pregnancy = _pregnancy(reader, status_file, valuesets, measures) if status_file else None
    config = FactConfig(reader.local, measures, instruments, scores, drugs, valuesets,
                        pregnancy)
    _cross_check(reader, config, inst_file, med_file)
    reader.raise_problems()
    return config


def _unknown_product_names(drugs: DrugMap, products: Mapping[str, Product],
                           brands: Mapping[str, tuple[ProductPart, ...]],
                           valuesets: Mapping[str, ValueSetDef], local: str
                           ) -> dict[tuple[str, ...], tuple[str, ...]]:
    """medications.yaml `unknown_products`: the names an unknown product's name is matched
    against (ingredients of those value sets, and brands of products containing one)."""
    sets = [valuesets[i] for i in drugs.name_valuesets if i in valuesets]  # ids: _cross_check
    members = frozenset().union(*(vs.codes for vs in sets))
    parts = [*(part for product in products.values() for part in product.parts),
             *(ProductPart(code, i.name, None, None) for code, i in drugs.ingredients.items())]
    return name_index(parts, brands,
                      lambda part: any(c in members for c in ingredient_codes(part, local)))


def _pregnancy(reader: FactsReader, file: FactsFile[PatientStatusFile],
               valuesets: Mapping[str, ValueSetDef], measures: Mapping[str, MeasureDef]
               ) -> PregnancyDef:
    """rules/patient-status.yaml `pregnancy` (format in that file's header)."""
    spec = file.model.pregnancy
    _known_valuesets(reader, file, ("pregnancy", "valuesets"), spec.valuesets, valuesets)
    if spec.measure is not None and spec.measure not in measures:
        reader.report(file, ("pregnancy", "measure"), unknown("measure", spec.measure, measures))
    return PregnancyDef(frozenset(spec.valuesets), spec.measure)


def _cross_check(reader: FactsReader, config: FactConfig, inst_file: FactsFile[InstrumentsFile],
                 med_file: FactsFile[MedicationsFile]) -> None:
    for iid, inst in config.instruments.items():
        if inst.total not in config.measures_by_code:
            reader.report(inst_file, ("instruments", iid, "total"),
                          f"instrument '{iid}': total {inst.total[1]} is not a code of any "
                          "measure in measures.yaml")
    meds = med_file.model
    if meds.dose_response.measure not in config.measures:
        reader.report(med_file, ("dose_response", "measure"),
                      unknown("measure", meds.dose_response.measure, config.measures))
    for where, ids in ((("dose_not_needed", "valuesets"),
                        meds.dose_not_needed and meds.dose_not_needed.valuesets),
                       (("dose_response", "valuesets"), meds.dose_response.valuesets),
                       (("totals", "cns_active_count", "valuesets"),
                        meds.totals.cns_active_count.valuesets),
                       (("unknown_products", "valuesets"),
                        meds.unknown_products and meds.unknown_products.valuesets)):
        _known_valuesets(reader, med_file, where, ids or [], config.valuesets)


def _known_valuesets(reader: FactsReader, file: FactsFile[BaseModel], where: tuple[str, ...],
                     ids: Sequence[str], valuesets: Mapping[str, ValueSetDef]) -> None:
    """Report each id of the list at `where` that is not a value set, at its item."""
    for i, vid in enumerate(ids):
        if vid not in valuesets:
            reader.report(file, (*where, i), unknown("value set", vid, sorted(valuesets)))
