"""The imported product table (`rules/terminology/products.json`, written by `cds terminology
import`): every drug product of the imported medication value sets with its ingredients,
strength per unit and dose form. Ingredient names are tied to RxNorm IN codes here, at load,
from the pack's own ingredient table (medications.yaml) first, then the codes the import
recorded (OMTK), so a correction in medications.yaml applies without a re-import."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import orjson

from cds.errors import RulePackError
from cds.facts.packdefs import Ingredient, Product, ProductPart


def load_product_table(path: Path, ingredients: Mapping[str, Ingredient]) -> dict[str, Product]:
    """Products by RxNorm code; an absent file is an empty table (a pack without imports)."""
    if not path.exists():
        return {}
    try:
        doc = orjson.loads(path.read_bytes())
        rows = doc["products"]
        imported_codes = doc.get("ingredient_codes") or {}
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise RulePackError(f"{path}:1: cannot read the product table ({exc}); "
                            "re-run `cds terminology import`") from exc
    by_name = {**imported_codes, **{i.name: code for code, i in ingredients.items()}}
    out: dict[str, Product] = {}
    for code, row in rows.items():
        parts = tuple(ProductPart(by_name.get(name), name, strength, unit)
                      for name, strength, unit in row["ingredients"])
        out[code] = Product(code, row["tty"], parts, row.get("form", ""), row.get("volume_ml"))
    return out
