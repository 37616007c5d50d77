"""How much of the imported expansions the pack resolves, per class (`cds terminology
coverage`): each product code of a manifest `coverage` entry must resolve, through the same
tables the extractor uses, to ingredients, with an ingredient in the class value set and a
strength that converts doses in units of the dose form."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cds.facts.codes import RXNORM
from cds.facts.config import FactConfig
from cds.facts.packdefs import Product
from cds.facts.products_table import ingredient_codes
from cds.terminology.store import VALUESETS, read_json, read_manifest, terminology_dir


@dataclass
class ClassCoverage:
    cls: str
    source: str
    codes: int = 0
    resolved: int = 0  # the pack knows the product's ingredients
    in_class: int = 0  # an ingredient of it is in the class value set
    excluded: int = 0  # the class value set excludes it on purpose (`exclude`)
    with_strength: int = 0  # that ingredient's strength per unit is known
    mme_factor: int = 0  # opioids: a CDC factor applies to that ingredient
    missing: list[str] = field(default_factory=list)  # "code display: why"

    @property
    def complete(self) -> bool:
        return self.codes == self.in_class + self.excluded


def class_parts(product: Product, cls: str, config: FactConfig) -> list[int]:
    """Indexes of the product's ingredients that are members of value set `cls`."""
    index = config.vs_index
    out = []
    for i, part in enumerate(product.parts):
        codes = [(RXNORM, product.code), *ingredient_codes(part, config.local_system)]
        if cls in index.of("medication", codes):
            out.append(i)
    return out


def excluded_on_purpose(product: Product, cls: str, config: FactConfig) -> bool:
    """The product has an ingredient of the class, and the class excludes the product."""
    vs = config.valuesets[cls]
    if (RXNORM, product.code) not in vs.excludes:
        return False
    local = config.local_system
    return (RXNORM, product.code) in vs.codes or any(
        code in vs.codes for p in product.parts for code in ingredient_codes(p, local))


def coverage(rules_dir: Path, config: FactConfig) -> list[ClassCoverage]:
    out: list[ClassCoverage] = []
    folder = terminology_dir(rules_dir) / VALUESETS
    for entry in read_manifest(rules_dir):
        path = folder / f"{entry.id}.json"
        if not entry.coverage or not path.exists():
            continue
        codes = [(c[1], c[2]) for c in read_json(path)["codes"] if c[0] == RXNORM]
        for target in entry.coverage:
            result = ClassCoverage(target.cls, entry.id)
            for code, display in codes:
                product = config.drugs.products.get(code)
                if target.ingredients and (product is None or not any(
                        p.name in target.ingredients for p in product.parts)):
                    continue
                result.codes += 1
                if product is None:
                    result.missing.append(f"{code} {display}: not in the product table")
                    continue
                result.resolved += 1
                members = class_parts(product, target.cls, config)
                if not members and excluded_on_purpose(product, target.cls, config):
                    result.excluded += 1
                    continue
                if not members:
                    names = ", ".join(p.name for p in product.parts)
                    result.missing.append(f"{code} {display}: ingredients ({names}) not in "
                                          f"value set '{target.cls}'")
                    continue
                result.in_class += 1
                parts = [product.parts[i] for i in members]
                if any(p.strength is not None for p in parts):
                    result.with_strength += 1
                if any(p.rxcui in config.drugs.mme for p in parts if p.rxcui):
                    result.mme_factor += 1
            out.append(result)
    return out
