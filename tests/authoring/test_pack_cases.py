"""Every rule test case of the bundled pack (rules/tests/*.yaml) and of the engine fixture
pack, one pytest test per case; a pack that does not load is one failing test listing why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cds.authoring.testing import build_evaluator, iter_cases, run_case
from cds.errors import RulePackError
from tests.packs import SHIPPED_RULES
from tests.rules.standin import PACK, standin_fact_config

BUNDLED = SHIPPED_RULES


def _params(name: str, root: Path, loader: Any) -> list[Any]:
    try:
        evaluator = build_evaluator(root, fact_config_loader=loader, run_pack_tests=False)
    except RulePackError as exc:
        return [pytest.param(None, None, 0, None, exc, id=f"{name} pack loads")]
    return [pytest.param(evaluator, loaded, index, case, None,
                         id=f"{name} {loaded.tests.rule}: {case.name}")
            for loaded, index, case in iter_cases(evaluator.pack.tests)]


CASES = _params("bundled", BUNDLED, None) + _params("fixture", PACK, standin_fact_config)


@pytest.mark.parametrize(("evaluator", "loaded", "index", "case", "error"), CASES)
def test_rule_case(evaluator, loaded, index, case, error):
    assert error is None, str(error)
    result = run_case(evaluator, loaded, index, case)
    assert result.passed, f"{result.file}:{result.line}: " + "; ".join(result.failures)
