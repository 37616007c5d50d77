from __future__ import annotations

from pathlib import Path

import pytest

from cds.authoring.check import load_pack
from cds.pipeline import Evaluator

RULES = Path(__file__).resolve().parents[2] / "rules"


@pytest.fixture(scope="session")
def shipped_evaluator() -> Evaluator:
    """The shipped pack, compiled once for the tests that evaluate real patients."""
    return Evaluator(load_pack(RULES))
