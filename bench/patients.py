"""Deterministic synthetic patients of three sizes, as CDS Hooks patient-view requests.

    S  ~20 resources    a few recent scores, 4 medicines, 2 conditions
    M  ~100 resources   a year of pain, PHQ-9, GAD-7, sleep, stress, labs; questionnaire
                        responses; 10 medicines; 5 conditions; referrals and therapies
    L  ~1,000 resources three years of daily sleep and weekly pain, many medicines

The same (size, seed, now) always gives the same request, byte for byte. Dates are relative
to `now` so the service sees recent data whenever the benchmark runs.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import resources as fhir

SERVICE_ID = "stress-pain-patient-view"
FHIR_BASE = "https://ehr.example.org/fhir"

# (LOINC code, display, unit, typical value, spread, low, high, decimals)
_SERIES: dict[str, tuple[str, str, str, float, float, float, float, int]] = {
    "pain": ("72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported",
             "{score}", 6, 1.2, 0, 10, 0),
    "sleep": ("93832-4", "Sleep duration", "h", 6.2, 0.7, 3, 10, 1),
    "phq9": ("44261-6", "Patient Health Questionnaire 9 item (PHQ-9) total score",
             "{score}", 12, 2.5, 0, 27, 0),
    "gad7": ("70274-6", "Generalized anxiety disorder 7 item (GAD-7) total score",
             "{score}", 10, 2.5, 0, 21, 0),
    "pss10": ("106860-0", "Perceived Stress Scale-10 total score", "{score}", 21, 3, 0, 40, 0),
    "bmi": ("39156-5", "Body mass index (BMI) [Ratio]", "kg/m2", 29.5, 0.4, 15, 60, 1),
    "weight": ("29463-7", "Body weight", "kg", 86, 1.0, 40, 200, 1),
    "egfr": ("98979-8", "Glomerular filtration rate/1.73 sq M.predicted [CKD-EPI 2021]",
             "mL/min/{1.73_m2}", 72, 4, 5, 150, 0),
    "creatinine": ("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL",
                   1.0, 0.08, 0.3, 5, 2),
    "exercise": ("82290-8", "Frequency of moderate to vigorous aerobic physical activity",
                 "min/wk", 60, 20, 0, 600, 0),
}
_ITEM9 = ("44260-8", "Thoughts that you would be better off dead, or of hurting yourself")
_LAB_SERIES = {"bmi", "weight", "egfr", "creatinine", "exercise"}

PHQ9 = ("http://loinc.org/q/44249-1", ["44250-9", "44255-8", "44259-0", "44254-1", "44251-7",
                                       "44258-2", "44252-5", "44253-3", "44260-8"])
GAD7 = ("http://loinc.org/q/69737-5", ["69725-0", "68509-9", "69733-4", "69734-2", "69735-9",
                                       "69689-8", "69736-7"])

# (RxNorm ingredient, name, dose mg, times a day); the first ten make the M patient's list.
DRUGS: list[tuple[str, str, float, int]] = [
    ("72625", "duloxetine", 30, 1), ("187832", "pregabalin", 75, 2),
    ("704", "amitriptyline", 10, 1), ("10689", "tramadol", 50, 3),
    ("161", "acetaminophen", 1000, 3), ("5640", "ibuprofen", 400, 3),
    ("39993", "zolpidem", 5, 1), ("36437", "sertraline", 50, 1),
    ("21949", "cyclobenzaprine", 5, 3), ("7646", "omeprazole", 20, 1),
    ("83367", "atorvastatin", 20, 1), ("29046", "lisinopril", 10, 1),
    ("6809", "metformin", 500, 2), ("25480", "gabapentin", 300, 3),
    ("7258", "naproxen", 250, 2), ("6470", "lorazepam", 0.5, 2),
]
CONDITIONS = [
    ("82423001", "Chronic pain"), ("193462001", "Insomnia"),
    ("35489007", "Depressive disorder"), ("197480006", "Anxiety disorder"),
    ("203082005", "Fibromyalgia"), ("38341003", "Hypertensive disorder"),
    ("44054006", "Diabetes mellitus type 2"), ("55822004", "Hyperlipidemia"),
    ("239873007", "Osteoarthritis of knee"), ("279039007", "Low back pain"),
    ("25064002", "Headache"), ("195967001", "Asthma"),
]
REFERRALS = [
    ("308459004", "Referral to psychologist"), ("183568002", "Refer to pain clinic"),
    ("308447003", "Refer to physiotherapist"), ("438517001", "Referral to sleep clinic"),
    ("103699006", "Referral to dietitian"),
]
THERAPIES = [("228557008", "Cognitive and behavioral therapy"),
             ("229065009", "Exercise therapy")]


@dataclass(frozen=True)
class SizePlan:
    """How many resources of each kind a patient of one size has, over how many days."""

    name: str
    span_days: int
    observations: dict[str, int]
    item9: int
    questionnaires: int      # half PHQ-9, half GAD-7
    medication_requests: int
    medication_statements: int
    conditions: int
    service_requests: int
    procedures: int

    @property
    def total(self) -> int:
        return (1 + sum(self.observations.values()) + self.item9 + self.questionnaires
                + self.medication_requests + self.medication_statements + self.conditions
                + self.service_requests + self.procedures)


SIZES: dict[str, SizePlan] = {
    "S": SizePlan("S", 90, {"pain": 3, "sleep": 3, "phq9": 1, "gad7": 1}, 1, 2, 3, 1, 2, 1, 1),
    "M": SizePlan("M", 365, {"pain": 12, "sleep": 24, "phq9": 6, "gad7": 6, "pss10": 4,
                             "bmi": 2, "weight": 2, "egfr": 2, "creatinine": 2, "exercise": 4},
                  6, 8, 8, 2, 5, 4, 2),
    "L": SizePlan("L", 1095, {"pain": 200, "sleep": 400, "phq9": 40, "gad7": 40, "pss10": 20,
                              "bmi": 10, "weight": 20, "egfr": 10, "creatinine": 10,
                              "exercise": 50},
                  40, 60, 30, 10, 25, 20, 14),
}


class _Clock:
    """Spreads readings over the plan's span, newest about a day before `now`."""

    def __init__(self, now: datetime, span_days: int, rng: random.Random) -> None:
        self.now, self.span, self.rng = now, span_days, rng

    def series(self, count: int) -> list[datetime]:
        step = self.span / max(count, 1)
        days = [1 + i * step + self.rng.uniform(0, step * 0.5) for i in range(count)]
        return [self.at(d) for d in days]

    def at(self, days_ago: float) -> datetime:
        moment = self.now - timedelta(days=days_ago)
        return moment.replace(hour=8 + self.rng.randrange(10), minute=self.rng.randrange(60),
                              second=0, microsecond=0)


def _walk(rng: random.Random, count: int, spec: tuple[Any, ...]) -> list[float]:
    """A mean-reverting random walk clamped to the plausible range."""
    _code, _display, _unit, mean, spread, low, high, decimals = spec
    value, values = mean, []
    for _ in range(count):
        value += rng.gauss(0, spread) + 0.3 * (mean - value)
        clamped = min(high, max(low, value))
        values.append(round(clamped, decimals) if decimals else float(round(clamped)))
    return values


class PatientBuilder:
    def __init__(self, plan: SizePlan, seed: int, now: datetime) -> None:
        self.plan = plan
        self.rng = random.Random(f"{plan.name}:{seed}")
        self.clock = _Clock(now, plan.span_days, self.rng)
        self.pid = f"bench-{plan.name.lower()}-{seed}"
        self.now = now

    def keyed(self) -> dict[str, list[fhir.Resource]]:
        return {
            "observations": self._observations(),
            "questionnaireResponses": self._questionnaires(),
            "medicationRequests": self._medication_requests(),
            "medicationStatements": self._medication_statements(),
            "conditions": self._conditions(),
            "serviceRequests": self._service_requests(),
            "procedures": self._procedures(),
        }

    def patient(self) -> fhir.Resource:
        birth = self.now.date().replace(year=self.now.year - 52) - timedelta(days=40)
        return fhir.patient(self.pid, birth.isoformat(), "female")

    def _observations(self) -> list[fhir.Resource]:
        out: list[fhir.Resource] = []
        for name, count in self.plan.observations.items():
            spec = _SERIES[name]
            category = "laboratory" if name in {"egfr", "creatinine"} else (
                "vital-signs" if name in {"bmi", "weight"} else
                "activity" if name == "exercise" else "survey")
            values = _walk(self.rng, count, spec)
            for i, (when, value) in enumerate(zip(self.clock.series(count), values, strict=True)):
                out.append(fhir.observation(f"{self.pid}-{name}-{i}", self.pid,
                                            (spec[0], spec[1]), when, value, spec[2],
                                            category=category))
        for i, when in enumerate(self.clock.series(self.plan.item9)):
            score = 1 if self.rng.random() < 0.1 else 0
            out.append(fhir.answer_observation(f"{self.pid}-item9-{i}", self.pid, _ITEM9, when,
                                               score))
        return out

    def _questionnaires(self) -> list[fhir.Resource]:
        out = []
        half = self.plan.questionnaires // 2
        for form, count, tag in ((PHQ9, half, "phq9"), (GAD7, self.plan.questionnaires - half,
                                                        "gad7")):
            canonical, items = form
            for i, when in enumerate(self.clock.series(count)):
                scores = [min(3, max(0, round(self.rng.gauss(1.3, 0.8)))) for _ in items]
                if tag == "phq9":
                    scores[-1] = 0  # item 9 stays negative in routine questionnaires
                out.append(fhir.questionnaire_response(f"{self.pid}-qr-{tag}-{i}", self.pid,
                                                       canonical, items, scores, when))
        return out

    def _drug(self, index: int) -> tuple[tuple[str, str], float, int]:
        code, name, dose, times = DRUGS[index % len(DRUGS)]
        return (code, name), dose, times

    def _medication_requests(self) -> list[fhir.Resource]:
        out = []
        for i in range(self.plan.medication_requests):
            drug, dose, times = self._drug(i)
            # Older repeats of a drug are history; the newest order of each drug is active.
            status = "active" if i < len(DRUGS) else "completed"
            when = self.clock.at(self.rng.uniform(14, self.plan.span_days))
            out.append(fhir.medication_request(f"{self.pid}-mr-{i}", self.pid, drug, dose,
                                               times, when, status))
        return out

    def _medication_statements(self) -> list[fhir.Resource]:
        out = []
        offset = self.plan.medication_requests
        for i in range(self.plan.medication_statements):
            drug, dose, times = self._drug(offset + i)
            when = self.clock.at(self.rng.uniform(30, self.plan.span_days))
            out.append(fhir.medication_statement(f"{self.pid}-ms-{i}", self.pid, drug, dose,
                                                 times, when))
        return out

    def _conditions(self) -> list[fhir.Resource]:
        return [
            fhir.condition(f"{self.pid}-cond-{i}", self.pid, CONDITIONS[i % len(CONDITIONS)],
                           self.clock.at(self.plan.span_days + self.rng.uniform(30, 900)))
            for i in range(self.plan.conditions)
        ]

    def _service_requests(self) -> list[fhir.Resource]:
        out = []
        for i in range(self.plan.service_requests):
            status = "active" if i < 2 else "completed"
            when = self.clock.at(self.rng.uniform(5, self.plan.span_days))
            out.append(fhir.service_request(f"{self.pid}-sr-{i}", self.pid,
                                            REFERRALS[i % len(REFERRALS)], when, status))
        return out

    def _procedures(self) -> list[fhir.Resource]:
        return [
            fhir.procedure(f"{self.pid}-proc-{i}", self.pid, THERAPIES[i % len(THERAPIES)],
                           self.clock.at(self.rng.uniform(10, self.plan.span_days)))
            for i in range(self.plan.procedures)
        ]


def build_request(size: str, seed: int = 1, now: datetime | None = None) -> dict[str, Any]:
    """A patient-view request for a synthetic patient of `size` (S, M or L), prefetch filled."""
    plan = SIZES[size]
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    builder = PatientBuilder(plan, seed, now)
    prefetch: dict[str, Any] = {"patient": builder.patient()}
    for key, items in builder.keyed().items():
        prefetch[key] = fhir.searchset(FHIR_BASE, items)
    hook_instance = uuid.UUID(int=builder.rng.getrandbits(128), version=4)
    return {
        "hookInstance": str(hook_instance),
        "hook": "patient-view",
        "context": {"userId": "Practitioner/bench-clinician", "patientId": builder.pid},
        "prefetch": prefetch,
    }


def resource_count(request: dict[str, Any]) -> int:
    """Resources in a request's prefetch (Bundles unwrapped)."""
    count = 0
    for value in request.get("prefetch", {}).values():
        if value.get("resourceType") == "Bundle":
            count += len(value.get("entry", []))
        else:
            count += 1
    return count


def all_resources(request: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for value in request.get("prefetch", {}).values():
        if value.get("resourceType") == "Bundle":
            out.extend(entry["resource"] for entry in value.get("entry", []))
        else:
            out.append(value)
    return out
