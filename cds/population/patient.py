"""One synthetic patient: conditions drawn with the profile's prevalences, then the visits,
measures, questionnaires, medicines and referrals that go with them, written in the fixture
shorthand of cds/authoring/synth.py and built into FHIR R4 resources by it.

The same (seed, index, now) always gives the same resources: each patient has its own
random stream, so a population can be generated in blocks, in any order, by any process.
"""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

from cds.authoring.synth import build_resources
from cds.population.profile import Drug, Profile

OLDER = 65
# LOINC: (unit, mean, sd, low, high, decimals)
VITALS = {
    "29463-7": ("kg", 82.0, 17.0, 40, 200, 1),       # body weight
    "39156-5": ("kg/m2", 28.5, 5.5, 15, 60, 1),      # BMI
    "8867-4": ("/min", 74.0, 10.0, 40, 140, 0),      # heart rate
    "8480-6": ("mm[Hg]", 126.0, 15.0, 85, 210, 0),   # systolic blood pressure
    "8462-4": ("mm[Hg]", 79.0, 9.0, 45, 130, 0),     # diastolic blood pressure
}
PAIN, EXERCISE, SLEEP, PSS10 = "72514-3", "82290-8", "93832-4", "106860-0"
PHQ9_TOTAL, PHQ9_ITEM9, GAD7_TOTAL = "44261-6", "44260-8", "70274-6"
CREATININE, EGFR = "2160-0", "98979-8"
ANSWERS = ("LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9")  # PHQ/GAD item scores 0-3
VISIT_CODES = (("185349003", "Encounter for check up"), ("390906007", "Follow-up encounter"))
REFERRALS = {
    "chronic_pain": [("308447003", "Referral to physiotherapist", 0.2),
                     ("183568002", "Refer to pain clinic", 0.08)],
    "depression": [("308459004", "Referral to psychologist", 0.3)],
    "insomnia": [("438517001", "Referral to sleep clinic", 0.1)],
}


def _clip(value: float, low: float, high: float, decimals: int) -> float:
    value = min(high, max(low, value))
    return round(value, decimals) if decimals else float(round(value))


class PatientMaker:
    """Draws one patient of the profile."""

    def __init__(self, profile: Profile, seed: int, index: int) -> None:
        self.p = profile
        self.rng = random.Random(f"population:{seed}:{index}")
        self.pid = f"pop-{seed}-{index:07d}"
        self.span = int(profile.population["span_days"])
        self.given: dict[str, Any] = {"observations": [], "questionnaires": [],
                                      "medications": [], "conditions": [], "referrals": [],
                                      "encounters": []}
        self.has: set[str] = set()

    def day(self, low: float = 1, high: float | None = None) -> float:
        return round(self.rng.uniform(low, self.span if high is None else high), 2)

    def build(self, now: datetime) -> list[dict[str, Any]]:
        pop = self.p.population
        ages = pop["age"]
        age = int(_clip(self.rng.gauss(ages["mean"], ages["sd"]), ages["min"], ages["max"], 0))
        female = self.rng.random() < pop["female"]
        self.given["patient"] = {"age": age, "sex": "female" if female else "male"}
        if age >= OLDER:
            self.has.add("older")
        self._conditions(age, female)
        self._visits()
        self._screening()
        self._labs()
        self._medicines()
        self._referrals()
        resources = build_resources(self.given, now, self.pid, rules_dir=self.p.rules_dir)
        return _unique_ids(resources, self.pid)

    def _conditions(self, age: int, female: bool) -> None:
        for name, spec in self.p.conditions.items():
            if spec.get("given") and spec["given"] not in self.has:
                continue
            if spec.get("sex") == "female" and not female or age > spec.get("max_age", 200):
                continue
            chance = float(spec["prevalence"]) * max(
                [1.0, *(float(m) for c, m in (spec.get("if") or {}).items() if c in self.has)])
            if self.rng.random() < min(chance, 0.95):
                self.has.add(name)
                codes = self.p.codes.get(name) or []
                if codes:
                    system, code, display = self.rng.choice(codes)
                    onset = self.day(30, self.span + 1500) if name != "pregnancy" else self.day(
                        20, 200)
                    self.given["conditions"].append({"code": code, "system": system,
                                                     "display": display, "days_ago": onset})

    def _obs(self, code: str, value: float, days: float, unit: str | None = None) -> None:
        spec: dict[str, Any] = {"code": code, "value": value, "days_ago": days}
        if unit:
            spec["unit"] = unit
        self.given["observations"].append(spec)

    def _visits(self) -> None:
        extra = (4 * ("chronic_pain" in self.has) + 2 * ("depression" in self.has)
                 + ("anxiety" in self.has) + 2 * ("older" in self.has))
        pain_mean = 5.6 if "chronic_pain" in self.has else 0.8
        for _ in range(self.rng.randint(8, 13) + extra):
            days = self.day()
            code, display = self.rng.choice(VISIT_CODES)
            self.given["encounters"].append({"code": code, "display": display,
                                             "days_ago": days})
            for loinc, (unit, mean, sd, low, high, decimals) in VITALS.items():
                self._obs(loinc, _clip(self.rng.gauss(mean, sd), low, high, decimals), days,
                          unit)
            if self.rng.random() < 0.75:
                self._obs(PAIN, _clip(self.rng.gauss(pain_mean, 1.8), 0, 10, 0), days)
            if self.rng.random() < 0.4:
                self._obs(EXERCISE, _clip(self.rng.gauss(110, 80), 0, 600, 0), days)
        if "insomnia" in self.has or self.rng.random() < 0.05:
            mean = 5.2 if "insomnia" in self.has else 7.0
            for _ in range(6 if "insomnia" in self.has else 2):
                self._obs(SLEEP, _clip(self.rng.gauss(mean, 0.8), 2, 12, 1), self.day(1, 90))
        if self.has & {"chronic_pain", "depression", "anxiety"} and self.rng.random() < 0.3:
            for _ in range(2):
                self._obs(PSS10, _clip(self.rng.gauss(22, 6), 0, 40, 0), self.day(1, 180))

    def _items(self, n: int, mean: float) -> list[int]:
        return [int(_clip(self.rng.gauss(mean, 0.8), 0, 3, 0)) for _ in range(n)]

    def _screening(self) -> None:
        low_mood = "depression" in self.has
        worried = "anxiety" in self.has
        times = (1 if self.rng.random() < 0.6 else 0) + 3 * (low_mood or worried)
        for _ in range(times):
            days = self.day()
            phq = self._items(9, 1.6 if low_mood else 0.35)
            item9_chance = 0.5 if "suicidal_thoughts" in self.has else 0.08 if low_mood else 0.01
            phq[8] = self.rng.choice((1, 2)) if self.rng.random() < item9_chance else 0
            gad = self._items(7, 1.5 if worried else 0.35)
            if self.rng.random() < 0.4:  # as the questionnaire itself, scored by the service
                self.given["questionnaires"] += [
                    {"instrument": "phq9", "answers": phq, "days_ago": days},
                    {"instrument": "gad7", "answers": gad, "days_ago": days}]
            else:
                self._obs(PHQ9_TOTAL, float(sum(phq)), days)
                self.given["observations"].append({"code": PHQ9_ITEM9, "answer": ANSWERS[phq[8]],
                                                   "days_ago": days})
                self._obs(GAD7_TOTAL, float(sum(gad)), days)

    def _labs(self) -> None:
        mean = 48.0 if "ckd" in self.has else 92.0 - 0.4 * max(0, self.given["patient"]["age"]
                                                                 - 40)
        for _ in range(1 + ("older" in self.has) + 2 * ("ckd" in self.has)):
            days = self.day()
            egfr = _clip(self.rng.gauss(mean, 8), 8, 130, 0)
            self._obs(EGFR, egfr, days)
            self._obs(CREATININE, _clip(90.0 / max(egfr, 8) * 0.95, 0.4, 8, 2), days)

    def _chance(self, take: dict[str, float]) -> float:
        return max([take.get("default", 0.0), *(v for k, v in take.items() if k in self.has)])

    def _medicines(self) -> None:
        for group in self.p.medicines:
            if group.drugs and self.rng.random() < self._chance(group.take):
                self.has.add(group.name)
                self._course(group.pick(self.rng))
        for other in self.p.other_medicines:
            if self.rng.random() < self._chance(other["take"]):
                self._orders({"rxnorm": other["rxnorm"], "display": other["display"],
                              "dose": 1, "dose_unit": "{tbl}", "times_per_day": 1})

    def _course(self, drug: Drug) -> None:
        product = self.rng.choice(drug.products)
        spec: dict[str, Any] = {"rxnorm": product.code, "display": product.display}
        if drug.times:
            spec["times_per_day"] = self.rng.choice(drug.times)
        if not product.solid:
            spec.update(dose=1, dose_unit="{spray}", as_needed=True)
        elif self.rng.random() < 0.3 and "Tablet" in product.form:
            spec.update(dose=self.rng.choice((1, 1, 2)), dose_unit="{tbl}")
        else:
            spec["dose_mg"] = product.strength
        self._orders(spec)

    def _orders(self, spec: dict[str, Any]) -> None:
        """A course of repeat prescriptions every 90 days: older ones completed, the newest
        active (unless the course was stopped), most of them dispensed."""
        start = self.day(20, self.span)
        stopped = self.rng.random() < 0.15
        days = [start - 90 * i for i in range(1 + min(int(start // 90), 3))]
        for i, when in enumerate(days):
            newest = i == len(days) - 1
            status = "stopped" if newest and stopped else "active" if newest else "completed"
            order = {**spec, "days_ago": round(when, 2), "status": status, "supply_days": 90}
            if self.rng.random() < 0.7:
                order["dispensed_days_ago"] = round(max(when - 1, 0.5), 2)
            self.given["medications"].append(order)

    def _referrals(self) -> None:
        for condition, offers in REFERRALS.items():
            if condition in self.has:
                for code, display, chance in offers:
                    if self.rng.random() < chance:
                        status = self.rng.choice(("active", "completed"))
                        self.given["referrals"].append({"code": code, "display": display,
                                                        "status": status,
                                                        "days_ago": self.day(5, 365)})


def _unique_ids(resources: list[dict[str, Any]], pid: str) -> list[dict[str, Any]]:
    """The shorthand numbers ids per patient (obs-1 ...); an export needs them unique."""
    for resource in resources:
        if resource["resourceType"] != "Patient":
            resource["id"] = f"{pid}-{resource['id']}"
        for ref in resource.get("authorizingPrescription") or []:
            ref["reference"] = ref["reference"].replace("MedicationRequest/",
                                                        f"MedicationRequest/{pid}-", 1)
    return resources


def make_patient(profile: Profile, seed: int, index: int, now: datetime
                 ) -> list[dict[str, Any]]:
    return PatientMaker(profile, seed, index).build(now)
