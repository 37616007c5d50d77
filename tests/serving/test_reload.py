"""Hot reload: an edited pack is swapped in only after it loads, checks and passes its tests."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cds.serving.reload import PackHolder
from tests.packs import copy_pack
from tests.rules.standin import standin_fact_config

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
FACTS = [{"id": "p", "type": "measure", "measure": "pain", "value": 5.0},
         {"id": "q", "type": "measure", "measure": "phq9", "value": 12.0}]


@pytest.fixture
def pack_dir(tmp_path: Path) -> Path:
    return copy_pack(tmp_path / "pack")


def _summary(holder: PackHolder) -> str:
    evaluator = holder.current()
    assert evaluator is not None
    return evaluator.evaluate_facts(FACTS, "patient-view", NOW).cards[0].summary


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_an_edited_rule_is_swapped_in(pack_dir):
    holder = PackHolder.from_directory(pack_dir, fact_config_loader=standin_fact_config)
    _edit(pack_dir / "rules" / "R02-mood.yaml", "offer psychology", "refer to psychology")
    _edit(pack_dir / "pack.yaml", "version: 0.3.0", "version: 0.3.1")
    result = holder.reload()
    assert result.swapped and result.version == "0.3.1"
    assert _summary(holder) == "Pain 5 with PHQ-9 12: refer to psychology"


def test_a_broken_edit_keeps_the_serving_pack(pack_dir):
    holder = PackHolder.from_directory(pack_dir, fact_config_loader=standin_fact_config)
    serving = holder.current()
    _edit(pack_dir / "rules" / "R02-mood.yaml", "measure: pain,", "measure: pian,")
    result = holder.reload()
    assert not result.swapped and result.version == "0.3.0"
    assert any("R02-mood.yaml:" in p and "unknown measure 'pian'" in p for p in result.problems)
    assert holder.current() is serving
    assert _summary(holder) == "Pain 5 with PHQ-9 12: offer psychology"


def test_an_edit_that_fails_the_packs_own_tests_keeps_the_serving_pack(pack_dir):
    holder = PackHolder.from_directory(pack_dir, fact_config_loader=standin_fact_config)
    serving = holder.current()
    _edit(pack_dir / "parameters.yaml", "  moderate: 4", "  moderate: 6")  # pain gate
    result = holder.reload()
    assert not result.swapped
    assert any("tests/R02.yaml" in p and "R02 did not fire" in p for p in result.problems)
    assert holder.current() is serving


async def _wait_for(predicate, seconds: float = 15.0) -> bool:
    for _ in range(int(seconds / 0.05)):
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return predicate()


async def test_the_watcher_swaps_in_a_good_edit_and_ignores_a_broken_one(pack_dir):
    holder = PackHolder.from_directory(pack_dir, fact_config_loader=standin_fact_config)
    stop = asyncio.Event()
    task = asyncio.create_task(holder.watch(debounce_ms=50, stop=stop))
    try:
        await asyncio.sleep(0.3)  # let the watcher start
        _edit(pack_dir / "pack.yaml", "version: 0.3.0", "version: 0.4.0")
        assert await _wait_for(lambda: holder.current().version == "0.4.0")
        good = holder.current()
        _edit(pack_dir / "rules" / "R02-mood.yaml", "when:", "when: [")
        _edit(pack_dir / "pack.yaml", "version: 0.4.0", "version: 0.5.0")
        assert await _wait_for(lambda: holder.last_result is not None
                               and not holder.last_result.swapped)
        assert any("R02-mood.yaml" in p for p in holder.last_result.problems)
        assert holder.current() is good
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)
