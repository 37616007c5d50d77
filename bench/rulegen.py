"""A copy of a rule pack with N synthetic rules added, to measure cost against rule count.

The synthetic rules use the shapes the clinical rules use (clinical-content §5): a score
threshold with a recency window, a score with a medicine class or a condition, either of
two scores, a demographic gate, and a score vetoed by an existing referral (`unless`).
Thresholds sit mostly in the upper part of each measure's range, so that on a typical
patient a few percent of them fire and the cost measured is mostly matching, as with a
large real pack. Generation is seeded: the same N gives the same files.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any

import yaml

Where = dict[str, Any]


def _catalogue(rules_dir: Path) -> tuple[dict[str, tuple[float, float]], dict[str, list[str]]]:
    """Measure ids with their plausible ranges, and value-set ids by the fact type they fit."""
    measures_doc = yaml.safe_load((rules_dir / "measures.yaml").read_text())
    measures = {
        mid: (float(spec["range"][0]), float(spec["range"][1]))
        for mid, spec in measures_doc["measures"].items() if "range" in spec
    }
    valuesets: dict[str, list[str]] = {}
    for path in sorted((rules_dir / "valuesets").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        for kind in doc.get("applies_to", []):
            valuesets.setdefault(kind, []).append(doc["id"])
    return measures, valuesets


class _Shapes:
    def __init__(self, rng: random.Random, measures: dict[str, tuple[float, float]],
                 valuesets: dict[str, list[str]]) -> None:
        self.rng, self.measures, self.valuesets = rng, measures, valuesets
        self.measure_ids = sorted(measures)

    def score(self, bind: str, low_fraction: float = 0.75) -> dict[str, Any]:
        mid = self.rng.choice(self.measure_ids)
        low, high = self.measures[mid]
        threshold = round(low + (high - low) * self.rng.uniform(low_fraction, 1.0), 1)
        where: Where = {"measure": mid, "value": {"gte": threshold}}
        if self.rng.random() < 0.5:
            where["age_days"] = {"lte": self.rng.choice([30, 90, 180, 365])}
        return {"bind": bind, "fact": "measure", "where": where}

    def member(self, bind: str, fact: str) -> dict[str, Any]:
        vs = self.rng.choice(self.valuesets[fact])
        return {"bind": bind, "fact": fact, "where": {"valuesets": {"contains": vs}}}

    def when(self, index: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        shape = index % 6
        unless: list[dict[str, Any]] = []
        if shape == 0:
            when: dict[str, Any] = {"all": [self.score("s")]}
        elif shape == 1:
            when = {"all": [self.score("s", 0.5), self.member("m", "medication")]}
        elif shape == 2:
            when = {"all": [self.score("s", 0.5), self.member("c", "condition")]}
        elif shape == 3:
            when = {"any": [self.score("s"), self.score("s")]}
        elif shape == 4:
            age = self.rng.randrange(40, 90)
            when = {"all": [{"bind": "p", "fact": "patient", "where": {"age": {"gte": age}}},
                            self.score("s")]}
        else:
            when = {"all": [self.score("s", 0.6)]}
            unless = [self.member("r", "referral")]
        return when, unless


def synthetic_rule(index: int, shapes: _Shapes) -> dict[str, Any]:
    rid = f"SYN{index:04d}"
    when, unless = shapes.when(index)
    rule: dict[str, Any] = {
        "id": rid,
        "slug": f"synthetic-{index:04d}",
        "version": "1.0.0",
        "title": f"Synthetic benchmark rule {index}",
        "hooks": ["patient-view"],
        "priority": 900,
        "problem": f"synthetic-{index:04d}",
        "evidence": {"statement": "Synthetic rule generated for load measurement only."},
        "citations": [{"id": "BENCH", "label": "Benchmark rule",
                       "url": "https://fhir.stresspain.org/bench"}],
        "source": {"label": "Benchmark", "url": "https://fhir.stresspain.org/bench"},
        "when": when,
        "card": {
            "indicator": "info",
            "summary": f"{rid}: {{{{ s.measure }}}} is {{{{ s.value }}}}",
            "detail": f"Synthetic rule {rid} matched the latest {{{{ s.measure }}}} score.",
        },
    }
    if unless:
        rule["unless"] = unless
    return rule


def generate_pack(source: Path, target: Path, count: int, seed: int = 7) -> Path:
    """Copy the pack at `source` into `target` and add `count` synthetic rule files."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    measures, valuesets = _catalogue(source)
    shapes = _Shapes(random.Random(seed), measures, valuesets)
    rules_dir = target / "rules"
    rules_dir.mkdir(exist_ok=True)
    for index in range(1, count + 1):
        rule = synthetic_rule(index, shapes)
        path = rules_dir / f"{rule['id']}-{rule['slug']}.yaml"
        path.write_text(yaml.safe_dump(rule, sort_keys=False, width=100))
    return target
