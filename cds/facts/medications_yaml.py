"""Parse rules/medications.yaml (format in that file's header) into a `DrugMap`."""

from __future__ import annotations

import re
from typing import Any

from cds.facts.packdefs import (
    CurrentTherapy,
    DrugMap,
    Ingredient,
    MmeFactor,
    Product,
    ProductPart,
)
from cds.facts.yamlfile import YamlFile

MARKS = {"V", "C", "U"}
_STRENGTH = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(mg|ug/h)\s*$")
_ROOT_KEYS = {"ingredients", "products", "mme", "timing_codes", "current_therapy",
              "dose_not_needed", "dose_response", "totals", "unknown_products"}


def _provenance(doc: YamlFile, node: Any, what: str) -> None:
    mark = doc.text(node, "mark")
    if mark not in MARKS:
        doc.fail(node, "mark", f"{what}: 'mark' must be V, C or U")
    doc.text(node, "source")


def _ingredients(doc: YamlFile, node: Any) -> dict[str, Ingredient]:
    out: dict[str, Ingredient] = {}
    for rxcui, spec in doc.items(node):
        if not isinstance(spec, dict):
            doc.fail(node, rxcui, f"ingredient {rxcui} must be a mapping")
        doc.only(spec, {"name", "mark", "source", "note"}, f"ingredient {rxcui}")
        _provenance(doc, spec, f"ingredient {rxcui}")
        name = doc.text(spec, "name")
        if name != name.lower():
            doc.fail(spec, "name", f"ingredient name '{name}' must be lower case")
        out[rxcui] = Ingredient(rxcui, name)
    return out


def _products(doc: YamlFile, node: Any, ingredients: dict[str, Ingredient]) -> dict[str, Product]:
    out: dict[str, Product] = {}
    for code, spec in doc.items(node):
        if not isinstance(spec, dict):
            doc.fail(node, code, f"product {code} must be a mapping")
        doc.only(spec, {"tty", "ingredient", "strength", "display", "mark", "source", "note"},
                 f"product {code}")
        _provenance(doc, spec, f"product {code}")
        doc.text(spec, "display")
        if code in ingredients:
            doc.fail(node, code, f"product {code} is also listed as an ingredient")
        ingredient = doc.text(spec, "ingredient")
        if ingredient not in ingredients:
            doc.fail(spec, "ingredient", f"product {code}: unknown ingredient {ingredient}")
        tty = doc.text(spec, "tty")
        strength, unit = None, None
        raw = doc.text(spec, "strength", required=False)
        if raw:
            match = _STRENGTH.match(raw)
            if not match:
                doc.fail(spec, "strength", "'strength' must be like '30 mg' or '25 ug/h'")
            strength, unit = float(match.group(1)), match.group(2)
        elif tty in {"SCD", "SBD"}:
            doc.fail(spec, None, f"product {code}: an {tty} needs a 'strength'")
        part = ProductPart(ingredient, ingredients[ingredient].name, strength, unit)
        out[code] = Product(code, tty, (part,))
    return out


def _mme(doc: YamlFile, node: Any, ingredients: dict[str, Ingredient]
         ) -> tuple[dict[str, MmeFactor], frozenset[str]]:
    doc.only(node, {"factors", "excluded", "source", "opioid_valuesets", "routes"}, "mme")
    factors: dict[str, MmeFactor] = {}
    table = doc.mapping(node, "factors")
    for rxcui, spec in doc.items(table):
        if rxcui not in ingredients:
            doc.fail(table, rxcui, f"MME factor for unknown ingredient {rxcui}")
        if not isinstance(spec, dict):
            doc.fail(table, rxcui, "an MME factor must be a mapping {factor, per}")
        doc.only(spec, {"factor", "per", "note"}, f"MME factor {rxcui}")
        per = doc.text(spec, "per", required=False, default="mg/d")
        if per not in {"mg/d", "ug/h"}:
            doc.fail(spec, "per", "'per' must be mg/d or ug/h")
        factor = doc.number(spec, "factor")
        assert factor is not None
        factors[rxcui] = MmeFactor(factor, per)
    excluded = frozenset(str(x) for x in doc.sequence(node, "excluded", required=False))
    return factors, excluded


def _ids(doc: YamlFile, node: Any, key: str) -> tuple[str, ...]:
    return tuple(str(x) for x in doc.sequence(node, key))


def parse_medications(doc: YamlFile) -> DrugMap:
    root = doc.root
    if not isinstance(root, dict):
        doc.fail(root, None, "medications.yaml must be a mapping")
    doc.only(root, _ROOT_KEYS, "medications.yaml")
    ingredients = _ingredients(doc, doc.mapping(root, "ingredients"))
    products = _products(doc, doc.mapping(root, "products"), ingredients)
    mme_node = doc.mapping(root, "mme")
    factors, excluded = _mme(doc, mme_node, ingredients)
    routes_node = doc.mapping(mme_node, "routes")
    routes = {str(per): tuple(str(w).lower() for w in doc.sequence(routes_node, per))
              for per, _ in doc.items(routes_node)}
    timing_node = doc.mapping(root, "timing_codes")
    timing = {code.upper(): doc.to_number(v, timing_node, code)
              for code, v in doc.items(timing_node)}
    current = doc.mapping(root, "current_therapy")
    doc.only(current, {"grace_days", "dispense_days", "undated_days"}, "current_therapy")
    current_therapy = CurrentTherapy(*(float(doc.number(current, key) or 0.0) for key in (
        "grace_days", "dispense_days", "undated_days")))
    not_needed = doc.mapping(root, "dose_not_needed", required=False)
    doc.only(not_needed, {"valuesets"}, "dose_not_needed")
    dose_response = doc.mapping(root, "dose_response")
    doc.only(dose_response, {"valuesets", "measure"}, "dose_response")
    unknown_products = doc.mapping(root, "unknown_products", required=False)
    doc.only(unknown_products, {"valuesets"}, "unknown_products")
    totals = doc.mapping(root, "totals")
    doc.only(totals, {"cns_active_count"}, "totals")
    cns = doc.mapping(totals, "cns_active_count")
    doc.only(cns, {"valuesets"}, "cns_active_count")
    return DrugMap(
        ingredients=ingredients,
        products=products,
        mme=factors,
        mme_excluded=excluded,
        mme_valuesets=frozenset(_ids(doc, mme_node, "opioid_valuesets")),
        mme_routes=routes,
        timing_codes=timing,
        current_therapy=current_therapy,
        dose_not_needed=frozenset(str(x) for x in doc.sequence(not_needed, "valuesets",
                                                                 required=False)),
        dose_response_valuesets=_ids(doc, dose_response, "valuesets"),
        dose_response_measure=doc.text(dose_response, "measure"),
        cns_valuesets=_ids(doc, cns, "valuesets"),
        name_valuesets=tuple(str(x) for x in doc.sequence(unknown_products, "valuesets",
                                                          required=False)),
    )
