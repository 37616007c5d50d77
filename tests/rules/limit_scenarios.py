"""Rule shapes at and beyond durable_rules' limits, run in a child process by
test_engine_limits.py (a shape the engine cannot take would hang the process, not fail it).

    python -m tests.rules.limit_scenarios <name>   prints {"shards": n, "matches": k, ...}
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

from cds.rules.engine import Engine
from tests.rules.builders import measure, med, pattern, program, rule

Scenario = Callable[[], tuple[list[Any], list[dict[str, Any]]]]


def many_measures() -> tuple[list[Any], list[dict[str, Any]]]:
    """1000 rules: 40 measures x 25 thresholds each."""
    rules = [rule(f"R{k}", pattern("m", "measure", measure=f"m{k % 40}",
                                   value={"gte": float(k // 40)})) for k in range(1000)]
    return rules, [measure(f"f{j}", f"m{j}", 12.5) for j in range(40)]


def one_measure() -> tuple[list[Any], list[dict[str, Any]]]:
    """1000 thresholds on one measure, and a value that passes them all."""
    rules = [rule(f"R{k}", pattern("m", "measure", measure="pain", value={"gte": float(k)}))
             for k in range(1000)]
    return rules, [measure("p", "pain", 5000.0)]


def distinct_codes() -> tuple[list[Any], list[dict[str, Any]]]:
    """600 rules that each test a different value of the same field."""
    rules = [rule(f"R{k}", pattern("m", "measure", measure=f"m{k}")) for k in range(600)]
    return rules, [measure(f"f{j}", f"m{j}", 1.0) for j in range(600)]


def joins() -> tuple[list[Any], list[dict[str, Any]]]:
    """600 rules of two patterns (600 joins)."""
    rules = [rule(f"R{k}", {"all": [
        pattern("m", "measure", measure=f"m{k % 20}", value={"gte": float(k % 7)}),
        pattern("d", "medication", valuesets={"contains": f"vs{k % 30}"})]})
        for k in range(600)]
    facts = [measure(f"f{j}", f"m{j}", 3.0) for j in range(20)]
    facts += [med(f"g{j}", f"vs{j}") for j in range(30)]
    return rules, facts


def identical() -> tuple[list[Any], list[dict[str, Any]]]:
    """300 rules with the same pattern."""
    rules = [rule(f"R{k}", pattern("m", "measure", measure="phq9", value={"gte": 10}))
             for k in range(300)]
    return rules, [measure("q", "phq9", 12.0)]


def memberships() -> tuple[list[Any], list[dict[str, Any]]]:
    """200 rules testing the same value set and status list (flags the engine shares)."""
    rules = [rule(f"R{k}", pattern("r", "referral", valuesets={"contains": "psychology"},
                                   status={"in": ["active", "draft"]},
                                   age_days={"lte": float(k % 20)})) for k in range(200)]
    facts = [{"id": "r", "type": "referral", "valuesets": ["psychology"], "status": "active",
              "age_days": 3.0}]
    return rules, facts


def shared_joins() -> tuple[list[Any], list[dict[str, Any]]]:
    """100 rules joining the same pattern (join nodes are never shared)."""
    rules = [rule(f"R{k}", {"all": [
        pattern("p", "patient", age={"gte": 18}),
        pattern("r", "referral", age_days={"lte": {"ref": "p.age"}})]}) for k in range(100)]
    facts = [{"id": "p", "type": "patient", "age": 50.0},
             {"id": "r", "type": "referral", "age_days": 3.0}]
    return rules, facts


SCENARIOS: dict[str, Scenario] = {
    "memberships": memberships, "shared-joins": shared_joins,
    "many-measures": many_measures, "one-measure": one_measure,
    "distinct-codes": distinct_codes, "joins": joins, "identical": identical,
}


def main(name: str) -> dict[str, Any]:
    rules, facts = SCENARIOS[name]()
    started = time.perf_counter()
    compiled = program(*rules)
    engine = Engine({"patient-view": compiled}, name=name)
    built = time.perf_counter()
    matches = engine.evaluate(facts, "patient-view")
    again = engine.evaluate(facts, "patient-view")
    done = time.perf_counter()
    return {"shards": len(compiled.shards), "matches": len(matches),
            "stable": [m.fact_ids() for m in matches] == [m.fact_ids() for m in again],
            "rules": sorted({m.rule for m in matches}, key=lambda r: int(r[1:])),
            "build_s": round(built - started, 3), "evaluate_ms": round((done - built) * 500, 3)}


if __name__ == "__main__":
    sys.stdout.write(json.dumps(main(sys.argv[1])) + "\n")
