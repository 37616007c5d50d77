"""A stand-in for the facts configuration, so engine tests need no facts files.

The engine fixture pack lists its measure ids and value sets (with the fact types they apply
to) in facts-standin.yaml; this builds the few FactConfig attributes the engine and the
schema vocabulary read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

FIXTURES = Path(__file__).resolve().parents[1] / "engine_fixtures"
PACK = FIXTURES / "pack"


@dataclass(frozen=True)
class StandinValueSet:
    id: str
    title: str
    applies_to: frozenset[str]
    codes: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class StandinMeasure:
    id: str
    title: str


@dataclass(frozen=True)
class StandinDrugs:
    ingredients: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class StandinFactConfig:
    valuesets: dict[str, StandinValueSet] = field(default_factory=dict)
    measure_ids: frozenset[str] = frozenset()
    instruments: dict[str, object] = field(default_factory=dict)
    drugs: StandinDrugs = field(default_factory=StandinDrugs)

    @property
    def valueset_ids(self) -> frozenset[str]:
        return frozenset(self.valuesets)

    @property
    def measures(self) -> dict[str, StandinMeasure]:
        return {m: StandinMeasure(m, m) for m in sorted(self.measure_ids)}


def standin_fact_config(rules_dir: Path) -> StandinFactConfig:
    path = rules_dir / "facts-standin.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}
    valuesets = {vid: StandinValueSet(vid, vid, frozenset(kinds))
                 for vid, kinds in (data.get("valuesets") or {}).items()}
    return StandinFactConfig(valuesets, frozenset(data.get("measures") or ()))
