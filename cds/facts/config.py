"""The facts configuration of a rule pack: measures, instruments, the drug map and value sets,
all read from `rules/` once at load and cross-checked, so a typo fails the load (with
`file:line`) instead of silently matching nothing at run time."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, NoReturn

import yaml

from cds.errors import RulePackError
from cds.facts.codes import Code
from cds.facts.instruments_yaml import parse_instruments
from cds.facts.measures_yaml import parse_measures
from cds.facts.medications_yaml import parse_medications
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
from cds.facts.yamlfile import YamlFile
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
    local = local or local_codesystem(rules_dir)
    return parse_measures(YamlFile.load(rules_dir / "measures.yaml"), local)


def load_instruments(rules_dir: Path, local: str | None = None
                     ) -> tuple[dict[str, InstrumentDef], dict[Code, float]]:
    local = local or local_codesystem(rules_dir)
    return parse_instruments(YamlFile.load(rules_dir / "instruments.yaml"), local)


def load_fact_config(rules_dir: Path) -> FactConfig:
    """Load and cross-check the facts files of the pack in `rules_dir`."""
    local = local_codesystem(rules_dir)
    measures = load_measures(rules_dir, local)
    inst_doc = YamlFile.load(rules_dir / "instruments.yaml")
    instruments, scores = parse_instruments(inst_doc, local)
    med_doc = YamlFile.load(rules_dir / "medications.yaml")
    drugs = parse_medications(med_doc)
    imported, brands = load_product_table(rules_dir / "terminology" / "products.json",
                                          drugs.ingredients)
    products = {**imported, **drugs.products}
    valuesets = load_valuesets(rules_dir / "valuesets", local,
                               imported=rules_dir / "terminology" / "valuesets")
    names = _unknown_product_names(drugs, products, brands, valuesets, local)
    drugs = replace(drugs, products=products, names=names,
                    names_max_words=max(map(len, names), default=0))
    pregnancy = _pregnancy(rules_dir / "patient-status.yaml", valuesets, measures)
    config = FactConfig(local, measures, instruments, scores, drugs, valuesets, pregnancy)
    _cross_check(config, inst_doc, med_doc)
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


def _pregnancy(path: Path, valuesets: Mapping[str, ValueSetDef],
               measures: Mapping[str, MeasureDef]) -> PregnancyDef | None:
    """rules/patient-status.yaml `pregnancy` (format in that file's header); optional."""
    if not path.exists():
        return None
    doc = YamlFile.load(path)
    root = doc.root if isinstance(doc.root, dict) else {}
    doc.only(root, {"pregnancy"}, "patient-status.yaml")
    node = doc.mapping(root, "pregnancy")
    doc.only(node, {"valuesets", "measure"}, "pregnancy")
    ids = tuple(str(x) for x in doc.sequence(node, "valuesets"))
    missing = [i for i in ids if i not in valuesets]
    if missing:
        _fail_at_item(doc, node, "valuesets", missing[0],
                      unknown("value set", missing[0], sorted(valuesets)))
    measure = doc.text(node, "measure", required=False)
    if measure is not None and measure not in measures:
        doc.fail(node, "measure", unknown("measure", measure, measures))
    return PregnancyDef(frozenset(ids), measure)


def _cross_check(config: FactConfig, inst_doc: YamlFile, med_doc: YamlFile) -> None:
    inst_node = inst_doc.root["instruments"]
    for iid, inst in config.instruments.items():
        if inst.total not in config.measures_by_code:
            inst_doc.fail(inst_node[iid], "total", f"instrument '{iid}': total "
                          f"{inst.total[1]} is not a code of any measure in measures.yaml")
    drugs = config.drugs
    dr = med_doc.root["dose_response"]
    if drugs.dose_response_measure not in config.measures:
        med_doc.fail(dr, "measure", unknown("measure", drugs.dose_response_measure,
                                            config.measures))
    for key, ids, node in (("valuesets", tuple(drugs.dose_not_needed),
                            med_doc.root.get("dose_not_needed") or {}),
                           ("valuesets", drugs.dose_response_valuesets, dr),
                           ("valuesets", drugs.cns_valuesets,
                            med_doc.root["totals"]["cns_active_count"]),
                           ("valuesets", drugs.name_valuesets,
                            med_doc.root.get("unknown_products") or {})):
        missing = [i for i in ids if i not in config.valuesets]
        if missing:
            _fail_at_item(med_doc, node, key, missing[0],
                          unknown("value set", missing[0], sorted(config.valuesets)))


def _fail_at_item(doc: YamlFile, node: Any, key: str, item: str, message: str) -> NoReturn:
    """Fail at `item` in the list `node[key]` (at the key when the list is not there)."""
    items = node.get(key) if isinstance(node, dict) else None
    if isinstance(items, list) and item in map(str, items):
        doc.fail(items, [str(i) for i in items].index(item), message)
    doc.fail(node, key, message)
