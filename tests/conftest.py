"""Packs shared by the whole suite, each loaded and compiled once per session: the engine
fixture pack (its facts from facts-standin.yaml), that pack with the real facts files, and the
shipped pack."""

from __future__ import annotations

from pathlib import Path

import pytest

from cds.pipeline import Evaluator
from cds.rules.pack import Pack
from tests.packs import copy_pack, fixture_pack, shipped_pack


@pytest.fixture(scope="session")
def pack() -> Pack:
    """The engine fixture pack (tests/engine_fixtures/pack)."""
    return fixture_pack()


@pytest.fixture(scope="session")
def evaluator(pack: Pack) -> Evaluator:
    return Evaluator(pack)


@pytest.fixture(scope="session")
def real_facts_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The engine fixture pack with the shipped facts files, value sets and terminology."""
    return copy_pack(tmp_path_factory.mktemp("hybrid") / "pack", real_facts=True)


@pytest.fixture(scope="session")
def shipped_evaluator() -> Evaluator:
    """The shipped pack, compiled once for the tests that evaluate real patients."""
    return Evaluator(shipped_pack())
