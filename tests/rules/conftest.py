from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cds.authoring.check import load_pack
from cds.pipeline import Evaluator
from cds.rules.pack import Pack
from tests.rules.standin import PACK, standin_fact_config

BUNDLED_RULES = Path(__file__).resolve().parents[2] / "rules"
FACTS_FILES = ("measures.yaml", "instruments.yaml", "medications.yaml")


@pytest.fixture(scope="session")
def pack() -> Pack:
    return load_pack(PACK, standin_fact_config)


@pytest.fixture(scope="session")
def evaluator(pack: Pack) -> Evaluator:
    return Evaluator(pack)


def copy_pack(target: Path, *, real_facts: bool = False) -> Path:
    """The engine fixture pack copied to `target`; with `real_facts`, the bundled pack's
    facts files (measures, instruments, medications, value sets and the imported terminology)
    are copied in too, so the
    real facts configuration and extractor can run on it."""
    shutil.copytree(PACK, target)
    if real_facts:
        for name in FACTS_FILES:
            shutil.copy(BUNDLED_RULES / name, target / name)
        shutil.copytree(BUNDLED_RULES / "valuesets", target / "valuesets")
        shutil.copytree(BUNDLED_RULES / "terminology", target / "terminology")
        (target / "facts-standin.yaml").unlink()
    return target


@pytest.fixture(scope="session")
def real_facts_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_pack(tmp_path_factory.mktemp("hybrid") / "pack", real_facts=True)
