"""Shapes of rule sets near durable_rules' limits (see cds/rules/budget.py).

Each shape that would hang or fail inside the engine if compiled into one ruleset is run in a
child process with a timeout, and must come back with exactly the matches the Python
evaluator finds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cds.authoring.pyeval import full_matches
from cds.rules import budget
from cds.rules.compiler import compile_program
from cds.rules.dnf import Origin
from cds.rules.prepare import prepare
from tests.rules import limit_scenarios
from tests.rules.builders import pattern, program, rule

ROOT = Path(__file__).resolve().parents[2]


def _run(name: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-m", "tests.rules.limit_scenarios", name],
                          cwd=ROOT, capture_output=True, text=True, timeout=180, check=True)
    return json.loads(done.stdout)


def _expected(name: str) -> int:
    rules, facts = limit_scenarios.SCENARIOS[name]()
    normal, _ = prepare(facts, "")
    compiled = program(*rules)
    return sum(len(list(full_matches(b.patterns, normal)))
               for cr in compiled.rules for b in cr.branches)


@pytest.mark.parametrize(("name", "shards"), [
    ("many-measures", 1),   # 1000 rules, 40 measures x 25 thresholds: fits one ruleset
    ("one-measure", 17),    # 1000 thresholds one value passes: > 64 siblings at once
    ("distinct-codes", 2),  # 600 values of one field: > 511 tests below one node
    ("joins", 2),           # 600 joins: > 512 per ruleset
    ("identical", 2),       # 300 identical patterns: > 256 endings on one node
    ("memberships", 1),     # 200 x the same contains/in: flags, shared like equalities
    ("shared-joins", 2),    # 100 joins below one node: never shared, > 64 at once
])
def test_large_rule_sets_compile_into_safe_rulesets_and_find_every_match(name, shards):
    result = _run(name)
    assert result["shards"] == shards
    assert result["matches"] == _expected(name)
    assert result["stable"] is True


def test_a_branch_of_more_than_sixteen_patterns_is_refused_at_compile_time():
    big = rule("BIG", {"all": [pattern(f"p{i}", "measure", measure=f"m{i}")
                               for i in range(budget.MAX_PATTERNS + 1)]})
    compiled, problems = compile_program("patient-view", [(big, Origin(None))], {})
    assert compiled is None
    assert "17 patterns in one branch" in problems[0].message


def test_the_shard_planner_starts_a_new_ruleset_before_the_join_limit():
    rules = [(f"r{i}", [[{"type": "measure"}, {"measure": f"m{i % 100}"}],
                        [{"type": "patient"}, {"age": float(i % 90)}]]) for i in range(1001)]
    shards, rejected = budget.plan_shards(rules)
    assert not rejected
    assert [len(s) for s in shards] == [budget.MAX_JOINS, budget.MAX_JOINS, 1]
