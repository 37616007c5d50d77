"""rules/medications.yaml (format in that file's header, model `MedicationsFile`) as a
`DrugMap`."""

from __future__ import annotations

import re

from cds.facts.factfiles import FactsFile, FactsReader
from cds.facts.formats import MedicationsFile
from cds.facts.packdefs import (
    CurrentTherapy,
    DrugMap,
    Ingredient,
    MmeFactor,
    Product,
    ProductPart,
)

_STRENGTH = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(mg|ug/h)\s*$")


def _products(reader: FactsReader, file: FactsFile[MedicationsFile],
              ingredients: dict[str, Ingredient]) -> dict[str, Product]:
    out: dict[str, Product] = {}
    for code, spec in file.model.products.items():
        if code in ingredients:
            reader.report(file, ("products", code),
                          f"product {code} is also listed as an ingredient")
        if spec.ingredient not in ingredients:
            reader.report(file, ("products", code, "ingredient"),
                          f"product {code}: unknown ingredient {spec.ingredient}")
            continue
        match = _STRENGTH.match(spec.strength or "")
        strength, unit = (float(match[1]), match[2]) if match else (None, None)
        part = ProductPart(spec.ingredient, ingredients[spec.ingredient].name, strength, unit)
        out[code] = Product(code, spec.tty, (part,))
    return out


def drug_map(reader: FactsReader, file: FactsFile[MedicationsFile]) -> DrugMap:
    model = file.model
    ingredients = {rxcui: Ingredient(rxcui, spec.name)
                   for rxcui, spec in model.ingredients.items()}
    for rxcui in model.mme.factors:
        if rxcui not in ingredients:
            reader.report(file, ("mme", "factors", rxcui),
                          f"MME factor for unknown ingredient {rxcui}")
    current = model.current_therapy
    return DrugMap(
        ingredients=ingredients,
        products=_products(reader, file, ingredients),
        mme={rxcui: MmeFactor(spec.factor, spec.per) for rxcui, spec in model.mme.factors.items()},
        mme_excluded=frozenset(model.mme.excluded or ()),
        mme_valuesets=frozenset(model.mme.opioid_valuesets),
        mme_routes={per: tuple(w.lower() for w in words)
                    for per, words in model.mme.routes.items()},
        timing_codes={code.upper(): v for code, v in model.timing_codes.items()},
        current_therapy=CurrentTherapy(current.grace_days, current.dispense_days,
                                       current.undated_days),
        dose_not_needed=frozenset(model.dose_not_needed.valuesets or ()
                                  if model.dose_not_needed else ()),
        dose_response_valuesets=tuple(model.dose_response.valuesets),
        dose_response_measure=model.dose_response.measure,
        cns_valuesets=tuple(model.totals.cns_active_count.valuesets),
        name_valuesets=tuple(model.unknown_products.valuesets or ()
                             if model.unknown_products else ()),
    )
