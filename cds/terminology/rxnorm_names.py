"""Read RxNorm normalized drug names (the display of SCD, SBD, GPCK and BPCK concepts).

RxNorm builds these names by a fixed grammar, so ingredients, strengths and dose form can be
read back from them without guessing:

    SCD   [qualifier] [quantity factor] ingredient strength [/ ingredient strength ...] dose form
          "12 HR oxycodone hydrochloride 10 MG Extended Release Oral Tablet"
          "1 ML naloxone hydrochloride 0.4 MG/ML Injection"
    SBD   an SCD name followed by " [Brand]"
    GPCK  "{7 (SCD name) / 14 (SCD name) } Pack"      BPCK  the same followed by " [Brand]"

Ingredient names are precise (salt) names; `base_name` drops the salt or ester words so that
"oxycodone hydrochloride" and "oxycodone" meet. Strengths are normalised to mg per unit, ug/h
(transdermal rates), mg/mL (solutions) or mg per actuation (sprays); other units (%, UNT, MEQ)
are kept as written and never converted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Qualitative distinctions RxNorm puts before the ingredient (lower case).
_QUALIFIERS = ("abuse-deterrent", "once-daily", "sprinkle", "pmdd", "sensor", "matrix delivery",
               "smoking cessation", "chewable", "extended release")
_QUANTITY = re.compile(r"^\d+(?:\.\d+)? (?:HR|ML|ACTUAT|DAY|MG|MIN|CM2|G|UNT|MEQ)\s+",
                       re.IGNORECASE)
_COMPONENT = re.compile(
    r"^(?P<name>[^\d\s].*?|\d\S*-.*?) (?P<value>\d+(?:\.\d+)?) (?P<unit>[A-Z%][A-Z0-9%/]*)"
    r"(?: (?P<rest>.*))?$")
_BRAND = re.compile(r"^(?P<body>.*?)\s*\[(?P<brand>[^\[\]]+)\]$")
_PACK = re.compile(r"^\{(?P<inner>.*)\}\s*Pack$")
_PACK_ITEM = re.compile(
    r"^\s*(?P<count>\d+(?:\.\d+)?)(?: \((?P<quantity>[\d.]+ [A-Z]+)\))? \((?P<name>.*)\)\s*$")

SALTS = frozenset({
    "hydrochloride", "dihydrochloride", "hcl", "sulfate", "bisulfate", "bitartrate", "tartrate",
    "phosphate", "citrate", "maleate", "dimaleate", "mesylate", "dimesylate", "succinate",
    "besylate", "hydrobromide", "oxalate", "acetate", "sodium", "disodium", "potassium",
    "dipotassium", "calcium", "magnesium", "fumarate", "napsylate", "pamoate", "lactate",
    "bromide", "monohydrate", "dihydrate", "trihydrate", "anhydrous", "tosylate", "benzoate",
    "decanoate", "xinafoate", "stearate", "polistirex", "terephthalate", "hemisulfate",
    "gluconate", "carbonate", "resin", "hydrate", "hemihydrate", "hyclate",
})

# Strength units -> (normalised unit, factor). Anything else is kept as written.
_UNITS = {
    "MG": ("mg", 1.0), "MCG": ("mg", 0.001), "G": ("mg", 1000.0),
    "MG/HR": ("ug/h", 1000.0), "MCG/HR": ("ug/h", 1.0),
    "MG/ML": ("mg/mL", 1.0), "MCG/ML": ("mg/mL", 0.001),
    "MG/ACTUAT": ("mg/actuat", 1.0), "MCG/ACTUAT": ("mg/actuat", 0.001),
}


@dataclass(frozen=True, slots=True)
class Component:
    """One ingredient of a drug: precise name, its base name, and strength per unit."""

    name: str
    base: str
    strength: float | None
    unit: str | None  # mg | ug/h | mg/mL | mg/actuat | a raw RxNorm unit | None (packs)


@dataclass(frozen=True, slots=True)
class DrugName:
    tty: str  # SCD | SBD | GPCK | BPCK
    components: tuple[Component, ...]
    dose_form: str
    brand: str | None
    volume_ml: float | None = None  # quantity factor "N ML" (prefilled syringes, cartridges)


def base_name(name: str) -> str:
    """The ingredient name without trailing salt / ester words ("oxycodone hydrochloride")."""
    words = name.lower().split()
    while len(words) > 1 and words[-1] in SALTS:
        words.pop()
    return " ".join(words)


def _strip_prefixes(text: str) -> tuple[str, float | None]:
    volume: float | None = None
    changed = True
    while changed:
        changed = False
        lower = text.lower()
        for qualifier in _QUALIFIERS:
            if lower.startswith(qualifier + " "):
                text, changed = text[len(qualifier) + 1:], True
                break
        found = _QUANTITY.match(text)
        if found:
            amount, unit = found.group(0).split()[:2]
            if unit.upper() == "ML":
                volume = float(amount)
            text, changed = text[found.end():], True
    return text, volume


def _strength(value: str, unit: str) -> tuple[float, str]:
    known = _UNITS.get(unit)
    if known is None:
        return float(value), unit
    return round(float(value) * known[1], 9), known[0]


def _clinical_drug(text: str) -> tuple[list[Component], str, float | None] | None:
    """Components, dose form and volume of an SCD name (without brand), or None."""
    text, volume = _strip_prefixes(text.strip())
    parts = text.split(" / ")
    components: list[Component] = []
    dose_form = ""
    for i, part in enumerate(parts):
        found = _COMPONENT.match(part.strip())
        if not found:
            return None
        rest = found.group("rest") or ""
        if rest and i < len(parts) - 1:
            return None  # only the last component is followed by the dose form
        name = found.group("name").strip()
        value, unit = _strength(found.group("value"), found.group("unit"))
        components.append(Component(name.lower(), base_name(name), value, unit))
        dose_form = rest
    return _merge_salts(components), dose_form.strip(), volume


def _merge_salts(components: list[Component]) -> list[Component]:
    """Two salts of one ingredient in one product (oxycodone hydrochloride and oxycodone
    terephthalate) are one ingredient whose strength is their sum."""
    merged: dict[str, Component] = {}
    for comp in components:
        seen = merged.get(comp.base)
        if seen is None:
            merged[comp.base] = comp
        elif seen.unit == comp.unit and seen.strength is not None and comp.strength is not None:
            merged[comp.base] = Component(comp.base, comp.base,
                                          round(seen.strength + comp.strength, 9), comp.unit)
        else:
            merged[comp.base] = Component(comp.base, comp.base, None, None)
    return list(merged.values())


def _pack(inner: str) -> list[Component] | None:
    strengths: dict[str, set[tuple[float | None, str | None]]] = {}
    names: dict[str, str] = {}
    for item in inner.split(") / "):
        item = item if item.rstrip().endswith(")") else item + ")"
        found = _PACK_ITEM.match(item)
        if not found:
            return None
        name = found.group("name")
        branded = _BRAND.match(name)
        drug = _clinical_drug(branded.group("body") if branded else name)
        if drug is None:
            return None
        for comp in drug[0]:
            names.setdefault(comp.base, comp.name)
            strengths.setdefault(comp.base, set()).add((comp.strength, comp.unit))
    out = []
    for base, seen in strengths.items():
        strength, unit = next(iter(seen)) if len(seen) == 1 else (None, None)
        out.append(Component(names[base], base, strength, unit))
    return out


def parse_drug_name(display: str) -> DrugName | None:
    """The structure of an RxNorm SCD/SBD/GPCK/BPCK name, or None when it is not one."""
    text = display.strip()
    brand = None
    branded = _BRAND.match(text)
    if branded:
        text, brand = branded.group("body"), branded.group("brand").strip()
    pack = _PACK.match(text)
    if pack:
        components = _pack(pack.group("inner"))
        if not components:
            return None
        return DrugName("BPCK" if brand else "GPCK", tuple(components), "Pack", brand)
    drug = _clinical_drug(text)
    if drug is None:
        return None
    components, dose_form, volume = drug
    if not dose_form:
        return None
    return DrugName("SBD" if brand else "SCD", tuple(components), dose_form, brand, volume)
