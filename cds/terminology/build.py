"""Write the pack's derived terminology from imported sources, and say what changed.

- `import_expansions`: each expansion whose URL the manifest lists becomes
  `valuesets/<id>.json` (codes with system and display, plus provenance).
- `import_omtk`: the OMTK opioid drug data becomes `omtk.json`.
- `rebuild_products`: `products.json` is made anew from every stored medication expansion:
  each product's ingredients, strengths and dose form, read from its RxNorm name and checked
  against OMTK where OMTK knows the product (OMTK's ingredient codes are kept).
Every step is idempotent: importing the same source twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from cds.terminology.omtk import OmtkRow
from cds.terminology.rxnorm_names import base_name, parse_drug_name
from cds.terminology.sources import Expansion
from cds.terminology.store import (
    OMTK,
    PRODUCTS,
    VALUESETS,
    ManifestEntry,
    read_json,
    read_manifest,
    terminology_dir,
    write_json,
)

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
_OMTK_UNITS = {"MG": ("mg", 1.0), "MCG": ("mg", 0.001), "MG/HR": ("ug/h", 1000.0),
               "MCG/HR": ("ug/h", 1.0), "MG/ML": ("mg/mL", 1.0), "MCG/ML": ("mg/mL", 0.001),
               "MG/ACTUAT": ("mg/actuat", 1.0), "MCG/ACTUAT": ("mg/actuat", 0.001)}


@dataclass
class Changes:
    """What an import did, line by line, for the person running it."""

    lines: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add(self, line: str) -> None:
        self.lines.append(line)


def _diff(old: set[Any], new: set[Any]) -> str:
    return f"+{len(new - old)} -{len(old - new)}"


def import_expansions(rules_dir: Path, expansions: list[Expansion], *, package: str | None,
                      today: date) -> Changes:
    manifest = {entry.url: entry for entry in read_manifest(rules_dir)}
    changes = Changes()
    folder = terminology_dir(rules_dir) / VALUESETS
    for exp in expansions:
        entry = manifest.get(exp.url)
        if entry is None:
            changes.skipped.append(f"{exp.url} (not in manifest.yaml)")
            continue
        path = folder / f"{entry.id}.json"
        old_rows: list[list[str]] = []
        old_header: dict[str, Any] = {}
        if path.exists():
            old = read_json(path)
            old_rows = old.get("codes", [])
            old_header = {k: v for k, v in old.items() if k not in ("codes", "imported")}
        header = {
            "id": entry.id,
            "url": exp.url,
            "title": exp.title,
            "version": exp.version,
            "expansion_timestamp": exp.timestamp,
            "package": package,
            "applies_to": list(entry.applies_to),
            "source": exp.provenance,
            "total": len(exp.codes),
        }
        new_rows = [list(c) for c in exp.codes]
        if header == old_header and new_rows == old_rows:
            changes.add(f"{entry.id}: {len(new_rows)} codes, unchanged")
            continue
        write_json(path, {**header, "imported": today.isoformat()}, "codes", new_rows)
        old_codes = {(c[0], c[1]) for c in old_rows}
        new_codes = {(c[0], c[1]) for c in new_rows}
        changes.add(f"{entry.id}: {len(new_rows)} codes, {_diff(old_codes, new_codes)}")
    return changes


def import_omtk(rules_dir: Path, rows: list[OmtkRow], provenance: dict[str, Any],
                today: date) -> Changes:
    path = terminology_dir(rules_dir) / OMTK
    new: dict[str, list[list[Any]]] = {}
    for r in sorted(rows, key=lambda r: (int(r.drug), r.ingredient_name, r.strength)):
        new.setdefault(r.drug, []).append(
            [r.ingredient, r.ingredient_name, r.strength, r.unit, r.dose_form])
    old: dict[str, Any] = read_json(path).get("drugs", {}) if path.exists() else {}
    changes = Changes()
    if old == new:
        changes.add(f"omtk: {len(new)} drugs, unchanged")
        return changes
    header = {"title": "OMTK opioid drug ingredients (CDC Opioid CDS IG, OMTKData)",
              "columns": [["ingredient_rxcui", "ingredient", "strength", "unit", "dose_form"]],
              "source": provenance, "imported": today.isoformat()}
    write_json(path, header, "drugs", new)
    changes.add(f"omtk: {len(new)} drugs, {_diff(set(old), set(new))}")
    return changes


def _omtk_components(rows: list[list[Any]]) -> dict[str, tuple[str, float, str]]:
    """OMTK rows of one drug -> ingredient name -> (IN code, strength, normalised unit)."""
    out: dict[str, tuple[str, float, str]] = {}
    for code, name, strength, unit, _form in rows:
        norm, factor = _OMTK_UNITS.get(unit, (unit, 1.0))
        amount = strength * factor
        seen = out.get(base_name(name))
        if seen is not None and seen[2] == norm:  # two salts of one ingredient: one amount
            amount += seen[1]
        out[base_name(name)] = (code, round(amount, 9), norm)
    return out


def _product(code: str, display: str, omtk: dict[str, list[list[Any]]],
             ingredient_codes: dict[str, str], changes: Changes) -> dict[str, Any] | None:
    parsed = parse_drug_name(display)
    from_omtk = _omtk_components(omtk.get(code, []))
    for name, (rxcui, _s, _u) in from_omtk.items():
        ingredient_codes.setdefault(name, rxcui)
    if parsed is None:
        if not from_omtk:
            changes.problems.append(f"{code} '{display}': not an RxNorm drug name")
            return None
        parts = [[name, s, u] for name, (_c, s, u) in from_omtk.items()]
        return {"tty": "?", "form": omtk[code][0][4], "via": "omtk", "ingredients": parts,
                "display": display}
    parts = []
    for comp in parsed.components:
        known = from_omtk.get(comp.base)
        if known and (known[1], known[2]) != (comp.strength, comp.unit):
            changes.problems.append(f"{code} '{display}': {comp.base} strength "
                                    f"{comp.strength} {comp.unit} by name, {known[1]} "
                                    f"{known[2]} by OMTK (OMTK kept)")
            parts.append([comp.base, known[1], known[2]])
        else:
            parts.append([comp.base, comp.strength, comp.unit])
    product: dict[str, Any] = {"tty": parsed.tty, "form": parsed.dose_form,
                               "via": "omtk+name" if from_omtk else "name",
                               "ingredients": parts, "display": display}
    if parsed.volume_ml is not None:
        product["volume_ml"] = parsed.volume_ml
    return product


def rebuild_products(rules_dir: Path, today: date) -> Changes:
    """products.json from every stored medication expansion (manifest `products: true`)."""
    folder = terminology_dir(rules_dir)
    entries: list[ManifestEntry] = [e for e in read_manifest(rules_dir) if e.products]
    omtk_path = folder / OMTK
    omtk_doc = read_json(omtk_path) if omtk_path.exists() else {}
    omtk: dict[str, list[list[Any]]] = dict(omtk_doc.get("drugs") or {})
    changes = Changes()
    displays: dict[str, str] = {}
    used: list[str] = []
    for entry in entries:
        path = folder / VALUESETS / f"{entry.id}.json"
        if not path.exists():
            changes.skipped.append(f"{entry.id} (not imported yet)")
            continue
        used.append(entry.id)
        for system, code, display in read_json(path).get("codes", []):
            if system == RXNORM:
                displays.setdefault(code, display)
    ingredient_codes: dict[str, str] = {}
    products: dict[str, Any] = {}
    for code in sorted(displays, key=int):
        product = _product(code, displays[code], omtk, ingredient_codes, changes)
        if product is not None:
            products[code] = product
    path = folder / PRODUCTS
    old = read_json(path) if path.exists() else {}
    old_products = old.get("products", {})
    header = {
        "title": "Drug products of the imported medication value sets: ingredients, strength "
                 "per unit, dose form",
        "columns": {"ingredients": ["ingredient (base name)", "strength", "unit"]},
        "derived_from": {"valuesets": used, "omtk": omtk_doc.get("source")},
        "method": "RxNorm normalized names (SCD/SBD/GPCK/BPCK grammar) read by "
                  "cds/terminology/rxnorm_names.py; opioid ingredients checked against OMTK",
        "ingredient_codes": dict(sorted(ingredient_codes.items())),
    }
    if old_products == products and {k: v for k, v in old.items()
                                      if k not in ("products", "imported")} == header:
        changes.add(f"products: {len(products)} products, unchanged")
        return changes
    write_json(path, {**header, "imported": today.isoformat()}, "products", products)
    changed = sum(1 for k in set(products) & set(old_products) if products[k] != old_products[k])
    changes.add(f"products: {len(products)} products, "
                f"{_diff(set(old_products), set(products))}, {changed} changed")
    return changes
