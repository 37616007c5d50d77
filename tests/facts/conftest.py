"""Shared fixtures: the real facts files of rules/ with small test value sets, a pinned now."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cds.facts.config import FactConfig, load_fact_config

RULES = Path(__file__).resolve().parents[2] / "rules"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
FACT_FILES = ("measures.yaml", "instruments.yaml", "medications.yaml")


def make_rules_dir(target: Path) -> Path:
    """A pack directory: the project's measures/instruments/medications files and imported
    terminology (product table), the fixture pack.yaml and the fixture value sets (the
    clinical value sets are tested elsewhere)."""
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURES / "pack.yaml", target / "pack.yaml")
    for name in FACT_FILES:
        shutil.copy(RULES / name, target / name)
    shutil.copytree(FIXTURES / "valuesets", target / "valuesets", dirs_exist_ok=True)
    shutil.copytree(RULES / "terminology", target / "terminology", dirs_exist_ok=True)
    return target


@pytest.fixture(scope="session")
def rules_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_rules_dir(tmp_path_factory.mktemp("rules"))


@pytest.fixture(scope="session")
def config(rules_dir: Path) -> FactConfig:
    return load_fact_config(rules_dir)


@pytest.fixture
def now() -> datetime:
    return NOW
