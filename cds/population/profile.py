"""The population profile (profile.yaml) and the pack tables it draws codes from: condition
codes from the pack's value sets, medicine products from its imported product table."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import orjson

from cds.facts.codes import RXNORM
from cds.packyaml import parse

PROFILE = Path(__file__).with_name("profile.yaml")
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ORAL_FORMS = ("Oral Tablet", "Oral Capsule", "Extended Release Oral Tablet",
              "Extended Release Oral Capsule", "Delayed Release Oral Capsule")


@dataclass(frozen=True)
class Product:
    code: str
    display: str
    strength: float
    form: str

    @property
    def solid(self) -> bool:
        return "Tablet" in self.form or "Capsule" in self.form


@dataclass(frozen=True)
class Drug:
    products: tuple[Product, ...]
    weight: float
    times: tuple[int, ...]


@dataclass(frozen=True)
class MedicineClass:
    name: str
    take: dict[str, float]
    drugs: tuple[Drug, ...]

    def pick(self, rng: random.Random) -> Drug:
        return rng.choices(self.drugs, weights=[d.weight for d in self.drugs])[0]


@dataclass
class Profile:
    raw: dict[str, Any]
    rules_dir: Path
    codes: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)

    @classmethod
    def load(cls, rules_dir: Path, path: Path = PROFILE) -> Profile:
        profile = cls(parse(path.read_text(encoding="utf-8")), rules_dir)
        for name, spec in profile.conditions.items():
            profile.codes[name] = profile._condition_codes(spec)
        return profile

    @property
    def population(self) -> dict[str, Any]:
        return dict(self.raw["population"])

    @property
    def conditions(self) -> dict[str, dict[str, Any]]:
        return dict(self.raw["conditions"])

    def _condition_codes(self, spec: dict[str, Any]) -> list[tuple[str, str, str]]:
        """(system, code, display) a condition is recorded with: the listed codes, else the
        SNOMED CT and ICD-10-CM codes of its value set."""
        found: list[tuple[str, str, str]] = []
        if spec.get("valueset"):
            doc = parse((self.rules_dir / "valuesets" / f"{spec['valueset']}.yaml")
                                 .read_text(encoding="utf-8"))
            for entry in doc.get("codes") or []:
                if entry.get("system") in (SNOMED, ICD10CM) and "code" in entry:
                    found.append((entry["system"], str(entry["code"]),
                                  str(entry.get("display", ""))))
        wanted = [str(c) for c in spec.get("codes") or []]
        if wanted:
            displays = self.raw.get("displays") or {}
            known = {code: (system, code, display) for system, code, display in found}
            found = [known.get(c) or (SNOMED if c.isdigit() else ICD10CM, c,
                                      str(displays.get(c, ""))) for c in wanted]
        return found

    @cached_property
    def medicines(self) -> list[MedicineClass]:
        table = orjson.loads((self.rules_dir / "terminology" / "products.json").read_bytes())
        products = table["products"]
        out = []
        for name, spec in self.raw["medicines"].items():
            drugs = tuple(d for d in (self._drug(d, products) for d in spec["drugs"])
                          if d.products)
            out.append(MedicineClass(name, dict(spec["take"]), drugs))
        return out

    @staticmethod
    def _drug(spec: dict[str, Any], products: dict[str, Any]) -> Drug:
        wanted = {spec["ingredient"], *([spec["with"]] if "with" in spec else [])}
        form = spec.get("form")
        chosen = []
        for code, p in products.items():
            names = {i[0] for i in p["ingredients"]}
            if names != wanted or p["tty"] not in ("SCD", "SBD"):
                continue
            if (form not in p["form"]) if form else (p["form"] not in ORAL_FORMS):
                continue
            strength = next(float(i[1]) for i in p["ingredients"] if i[0] == spec["ingredient"])
            if strength <= float(spec["max_strength"]):
                chosen.append(Product(code, p["display"], strength, p["form"]))
        chosen.sort(key=lambda p: p.code)
        return Drug(tuple(chosen), float(spec["weight"]), tuple(spec["times"]))

    @property
    def other_medicines(self) -> list[dict[str, Any]]:
        return [dict(m, system=RXNORM) for m in self.raw.get("other_medicines") or []]
