"""The imported product table (`rules/terminology/products.json`, written by `cds terminology
import`): every drug product of the imported medication value sets with its ingredients,
strength per unit and dose form. Ingredient names are tied to RxNorm IN codes here, at load,
from the pack's own ingredient table (medications.yaml) first, then the codes the import
recorded (OMTK), so a correction in medications.yaml applies without a re-import."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import orjson

from cds.errors import RulePackError
from cds.facts.codes import RXNORM, Code
from cds.facts.packdefs import Ingredient, Product, ProductPart

# Every ingredient also carries the code "ingredient/<name>" of the pack's local CodeSystem,
# so a value set can name an ingredient that has no RxNorm IN code in a citable source
# (non-US benzodiazepines, orexin antagonists): the name is the one in RxNorm product names.
INGREDIENT_CODE_PREFIX = "ingredient/"

_BRAND = re.compile(r"\[([^\]]+)\]\s*$")  # RxNorm SBD/BPCK names end in "[Brand]"
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*")  # hyphens split: "oxycodone-acetaminophen"


def load_product_table(path: Path, ingredients: Mapping[str, Ingredient]
                       ) -> tuple[dict[str, Product], dict[str, tuple[ProductPart, ...]]]:
    """Products by RxNorm code, and the brand names of those products (lower case) -> their
    ingredients; an absent file is an empty table (a pack without imports)."""
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
    brands: dict[str, tuple[ProductPart, ...]] = {}
    for code, row in rows.items():
        parts = tuple(ProductPart(by_name.get(name), name, strength, unit)
                      for name, strength, unit in row["ingredients"])
        out[code] = Product(code, row["tty"], parts, row.get("form", ""), row.get("volume_ml"))
        brand = _BRAND.search(row.get("display") or "")
        if brand:
            brands.setdefault(brand.group(1).lower(), parts)
    return out, brands


def name_index(parts: Iterable[ProductPart], brands: Mapping[str, tuple[ProductPart, ...]],
               checked: Callable[[ProductPart], bool]) -> dict[tuple[str, ...], tuple[str, ...]]:
    """The names of the `checked` ingredients and the brands of products containing one, as
    tuples of words -> those ingredients. Names of three letters or fewer are left out (too
    easily part of other text)."""
    index: dict[tuple[str, ...], tuple[str, ...]] = {
        words(part.name): (part.name,) for part in parts if len(part.name) > 3 and checked(part)}
    for brand, brand_parts in brands.items():
        names = tuple(p.name for p in brand_parts if checked(p))
        if len(brand) > 3 and names:
            index.setdefault(words(brand), names)
    return index


def ingredient_codes(part: ProductPart, local_system: str) -> list[Code]:
    """The codes that stand for one ingredient: its IN code (when known) and its name."""
    by_name = (local_system, INGREDIENT_CODE_PREFIX + part.name)
    return [(RXNORM, part.rxcui), by_name] if part.rxcui else [by_name]


def words(text: str) -> tuple[str, ...]:
    """The lower-case words of a product name ("john's" stays one word, "z-pram" is two)."""
    return tuple(_WORD.findall(text.lower()))
