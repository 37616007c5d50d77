"""`cds rules check`: one fixture folder per error class under engine_fixtures/invalid/.

Each folder holds the files that differ from the valid fixture pack and `expected.txt`
(`file:line:col: text`); checking the patched pack must report exactly those errors.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cds.authoring.check import check_dir, load_pack
from cds.packsource import PackProblems
from tests.rules.standin import FIXTURES, PACK, standin_fact_config

INVALID = sorted(p for p in (FIXTURES / "invalid").iterdir() if p.is_dir())


def _expected(folder: Path) -> list[tuple[str, int, int, str]]:
    out = []
    for line in (folder / "expected.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            where, _, text = line.partition(": ")
            file, row, col = where.rsplit(":", 2)
            out.append((file, int(row), int(col), text))
    return out


def _patched(folder: Path, tmp_path: Path) -> Path:
    root = tmp_path / "pack"
    shutil.copytree(PACK, root)
    shutil.copytree(folder, root, dirs_exist_ok=True)
    (root / "expected.txt").unlink()
    return root


def test_the_fixture_pack_has_no_problems():
    assert check_dir(PACK, standin_fact_config) == []


@pytest.mark.parametrize("folder", INVALID, ids=[p.name for p in INVALID])
def test_check_reports_each_error_class_at_its_file_line_and_column(folder, tmp_path):
    root = _patched(folder, tmp_path)
    found = [p for p in check_dir(root, standin_fact_config) if p.is_error]
    actual = sorted((Path(p.file).resolve().relative_to(root.resolve()).as_posix(), p.line,
                     p.col) for p in found)
    expected = _expected(folder)
    assert actual == sorted((f, r, c) for f, r, c, _ in expected), [str(p) for p in found]
    for (file, row, col, text), problem in zip(sorted(expected), sorted(
            found, key=lambda p: (Path(p.file).resolve().relative_to(root.resolve()).as_posix(),
                                  p.line, p.col)), strict=True):
        assert text in problem.message, (file, row, col)
        assert str(problem).endswith(f"{file}:{row}:{col}: {problem.message}")


def test_a_pack_with_errors_does_not_load_and_lists_them_all(tmp_path):
    root = _patched(FIXTURES / "invalid" / "unknown-measure", tmp_path)
    (root / "rules" / "R91-bad.yaml").write_text(
        (root / "rules" / "R90-bad.yaml").read_text().replace("R90", "R91")
        .replace("pian", "paine"), encoding="utf-8")
    with pytest.raises(PackProblems) as caught:
        load_pack(root, standin_fact_config)
    measures = "evs_min_week, gad7, isi, pain, phq9, phq9_item9, psqi, pss10"
    messages = [p.message for p in caught.value.problems]
    assert messages == [f"unknown measure 'pian' (did you mean 'pain'? valid: {measures})",
                        f"unknown measure 'paine' (did you mean 'pain'? valid: {measures})"]
    assert "R90-bad.yaml:14:11: unknown measure 'pian'" in caught.value.message
