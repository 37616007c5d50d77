"""The packs tests run on, each read once per session however many modules use it (also at
collection time, for parametrised tests): the shipped pack (rules/) and the engine fixture
pack (tests/engine_fixtures/pack, facts from facts-standin.yaml)."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

from cds.authoring.check import load_pack
from cds.rules.pack import Pack
from tests.rules.standin import PACK, standin_fact_config

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_RULES = ROOT / "rules"
FACTS_FILES = ("measures.yaml", "instruments.yaml", "medications.yaml")


@functools.cache
def shipped_pack() -> Pack:
    return load_pack(SHIPPED_RULES)


@functools.cache
def fixture_pack() -> Pack:
    return load_pack(PACK, standin_fact_config)


def copy_pack(target: Path, *, real_facts: bool = False) -> Path:
    """The engine fixture pack copied to `target`; with `real_facts`, the shipped pack's facts
    files (measures, instruments, medications, value sets and the imported terminology) are
    copied in too, so the real facts configuration and extractor can run on it."""
    shutil.copytree(PACK, target)
    if real_facts:
        for name in FACTS_FILES:
            shutil.copy(SHIPPED_RULES / name, target / name)
        shutil.copytree(SHIPPED_RULES / "valuesets", target / "valuesets")
        shutil.copytree(SHIPPED_RULES / "terminology", target / "terminology")
        (target / "facts-standin.yaml").unlink()
    return target
