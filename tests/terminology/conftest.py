from __future__ import annotations

from pathlib import Path

import pytest

from cds.facts.config import FactConfig, load_fact_config

RULES = Path(__file__).resolve().parents[2] / "rules"


@pytest.fixture(scope="session")
def shipped() -> FactConfig:
    """The facts configuration of the shipped pack, imported terminology included."""
    return load_fact_config(RULES)
