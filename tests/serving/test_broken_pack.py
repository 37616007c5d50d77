"""`cds serve` with a pack that fails its checks stops with the problems, not a traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.serving.processes import cds_serve, free_port, stop_group

RULES = Path(__file__).resolve().parents[2] / "rules"
MODERATE = "    - when: pain.value >= params.pain.moderate\n"


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_refuses_a_pack_with_a_template_typo_in_one_line_per_problem(tmp_path, workers):
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    rule = rules / "rules" / "R05-graded-exercise.yaml"
    text = rule.read_text(encoding="utf-8")
    line = text[:text.index(MODERATE)].count("\n") + 1
    rule.write_text(text.replace(MODERATE, MODERATE.replace("moderate", "moderat")),
                    encoding="utf-8")
    proc = cds_serve(free_port(), tmp_path, "broken", workers=workers,
                     env={"CDS_RULES_DIR": str(rules)})
    try:
        status = proc.wait(timeout=120)
    finally:
        stop_group(proc)
    output = (tmp_path / "broken.log").read_text(encoding="utf-8")
    assert status == 3, output
    assert "Traceback" not in output
    assert (f"R05-graded-exercise.yaml:{line}:27: unknown parameter 'params.pain.moderat' "
            "(did you mean 'params.pain.moderate'?") in output
    assert "has 1 problem(s)" in output
