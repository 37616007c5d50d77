"""The imported product table (`rules/terminology/products.json`, written by `cds terminology
import`): every drug product of the imported medication value sets with its ingredients,
strength per unit and dose form. Ingredient names are tied to RxNorm IN codes here, at load,
from the pack's own ingredient table (medications.yaml) first, then the codes the import
recorded (OMTK), so a correction in medications.yaml applies without a re-import."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import orjson

from cds.errors import RulePackError
from cds.facts.packdefs import Ingredient, Product, ProductPart

_BRAND = re.compile(r"\[([^\]]+)\]\s*$")  # RxNorm SBD/BPCK names end in "[Brand]"


def load_product_table(path: Path, ingredients: Mapping[str, Ingredient]
                       ) -> tuple[dict[str, Product], dict[str, str]]:
    """Products by RxNorm code, and the brand names of those products (lower case) -> their
    ingredient names; an absent file is an empty table (a pack without imports)."""
    if not path.exists():
        return {}, {}
    try:
        doc = orjson.loads(path.read_bytes())
        rows = doc["products"]
        imported_codes = doc.get("ingredient_codes") or {}
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise RulePackError(f"{path}:1: cannot read the product table ({exc}); "
                            "re-run `cds terminology import`") from exc
    by_name = {**imported_codes, **{i.name: code for code, i in ingredients.items()}}
    out: dict[str, Product] = {}
    brands: dict[str, str] = {}
    for code, row in rows.items():
        parts = tuple(ProductPart(by_name.get(name), name, strength, unit)
                      for name, strength, unit in row["ingredients"])
        out[code] = Product(code, row["tty"], parts, row.get("form", ""), row.get("volume_ml"))
        brand = _BRAND.search(row.get("display") or "")
        if brand:
            brands.setdefault(brand.group(1).lower(), " / ".join(p.name for p in parts))
    return out, brands


def name_index(ingredient_names: list[str], brands: Mapping[str, str]
               ) -> tuple[dict[str, str], re.Pattern[str] | None]:
    """Every ingredient and brand name -> ingredient, and one whole-word pattern of them
    (longest first, so "oxycodone" wins over a shorter brand inside it)."""
    names = {name: ingredient for name, ingredient in
             [*brands.items(), *((n.lower(), n.lower()) for n in ingredient_names)]
             if len(name) > 3}
    if not names:
        return {}, None
    words = sorted(names, key=len, reverse=True)
    return names, re.compile(r"\b(" + "|".join(map(re.escape, words)) + r")\b")
