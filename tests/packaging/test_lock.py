"""requirements/*.lock agree with the ranges in pyproject.toml (scripts/lock rewrites them):
every declared dependency is pinned, inside its range, and the test set runs the very
versions the service runs with."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)")


def pins(lock: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in (ROOT / "requirements" / lock).read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line)
        if match:
            found[canonicalize_name(match["name"])] = match["version"]
    return found


def unpinned(declared: list[str], pinned: dict[str, str]) -> list[str]:
    out = []
    for text in declared:
        requirement = Requirement(text)
        version = pinned.get(canonicalize_name(requirement.name))
        if version is None or not requirement.specifier.contains(version, prereleases=True):
            out.append(f"{text} (locked: {version})")
    return out


def test_every_runtime_dependency_is_locked_inside_its_range():
    assert unpinned(PROJECT["dependencies"], pins("runtime.lock")) == []


def test_the_test_lock_adds_the_test_tools_to_the_same_runtime_versions():
    runtime, test = pins("runtime.lock"), pins("test.lock")
    assert unpinned(PROJECT["dependencies"] + PROJECT["optional-dependencies"]["test"],
                    test) == []
    assert {name: test.get(name) for name in runtime} == runtime


def test_the_runtime_lock_holds_no_test_tool():
    tools = {canonicalize_name(Requirement(t).name)
             for t in PROJECT["optional-dependencies"]["test"]} - {"cryptography"}
    assert tools & set(pins("runtime.lock")) == set()


def test_every_locked_file_is_pinned_by_hash():
    for lock in ("runtime.lock", "test.lock"):
        lines = (ROOT / "requirements" / lock).read_text(encoding="utf-8").splitlines()
        without = [line for line, after in zip(lines, [*lines[1:], ""], strict=True)
                   if _PIN.match(line) and not after.strip().startswith("--hash=sha256:")]
        assert without == [], lock
