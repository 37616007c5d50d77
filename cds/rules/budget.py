"""The limits of durable_rules' Rete network, and packing engine rules into rulesets that
stay within them.

Measured on durable-rules 2.0.28 (see tests/rules/test_engine_limits.py and the README):

- a ruleset's joins (patterns after the first, summed over its rules) above 512: ruleset
  creation never returns;
- more than 511 distinct tests below one node of the alpha network (e.g. 600 rules that
  each test a different value of `measure` under `type: measure`): creation or the first
  assert never returns;
- more than 256 patterns ending on the same node (identical patterns): creation fails (108);
- a fact that passes more than 64 sibling tests at once (e.g. 65 thresholds on one measure
  that a high value all passes): the assert fails at run time with error 303;
- more than 16 patterns in one rule: the assert fails at run time (304);
- more than 4096 rules: creation fails (106).

The alpha network is a tree of tests keyed by (field, operator, value); patterns that share
their leading tests share nodes. `Shard` mirrors that tree while rules are added, so the
compiler can predict each limit exactly and start a new ruleset ("shard") before one would be
crossed. Every call asserts the facts into each shard of its hook, so a pack that needs
several shards still works, only a little slower. A single rule that breaks a limit on its
own cannot be compiled and is reported.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

MAX_RULES = 4000
MAX_JOINS = 500
MAX_CHILDREN = 500
MAX_ENDINGS = 250
MAX_STACK = 60
MAX_PATTERNS = 16


class _Node:
    __slots__ = ("beta", "children", "eq_field", "eq_fields", "height", "others", "size",
                 "weight")

    def __init__(self, eq_field: str | None = None, weight: int = 1) -> None:
        self.children: dict[str, _Node] = {}
        self.eq_fields: Counter[str] = Counter()
        self.others = 0
        self.size = 0
        self.beta = 0
        self.height = 0
        self.eq_field = eq_field
        self.weight = weight

    def matching(self) -> int:
        """Children that one fact may pass at once: one per equality-tested field, plus
        every other test (ranges, joins, list membership, existence)."""
        return len(self.eq_fields) + self.others

    def recompute(self) -> None:
        if not self.children:
            self.height = 0
            return
        m = self.matching()
        self.height = max(m, m - 1 + max(c.height for c in self.children.values()))

    def link(self, key: str, child: _Node, sign: int) -> None:
        if sign > 0:
            self.children[key] = child
        else:
            del self.children[key]
        self.size += sign * child.weight
        if child.eq_field is None:
            self.others += sign
        else:
            self.eq_fields[child.eq_field] += sign
            if self.eq_fields[child.eq_field] == 0:
                del self.eq_fields[child.eq_field]


def _describe(term: dict[str, Any]) -> tuple[str | None, int, bool]:
    """(field when the term is an equality test, number of alternatives, whether the engine
    shares the node between rules). `$or`, `$iany`/`$iall` and join nodes are never shared:
    every use is a new node (measured: 65 rules with the same `$iany` test overflow the
    matching stack for one fact that passes it, 100 identical equality tests do not)."""
    (key, value), = term.items()
    if key == "$or":
        return None, len(value), False
    if key in ("$iany", "$iall"):
        return None, 1, False
    if key.startswith("$"):
        inner = next(iter(value.values())) if isinstance(value, dict) and value else None
        return None, 1, not isinstance(inner, dict)  # a comparison with a join is not shared
    if isinstance(value, dict):  # an equality join
        return None, 1, False
    return key, 1, True


@dataclass
class Shard:
    """One engine ruleset being filled; `add` refuses a rule that would cross a limit."""

    names: list[str] = field(default_factory=list)
    joins: int = 0
    root: _Node = field(default_factory=_Node)
    unshared: int = 0

    def add(self, name: str, patterns: list[list[dict[str, Any]]]) -> str | None:
        """Add the rule (its patterns as lists of terms); None, or why it does not fit."""
        if len(patterns) > MAX_PATTERNS:
            return f"{len(patterns)} patterns in one branch (the engine allows {MAX_PATTERNS})"
        if len(self.names) + 1 > MAX_RULES:
            return f"more than {MAX_RULES} engine rules"
        joins = max(len(patterns) - 1, 0)
        if self.joins + joins > MAX_JOINS:
            return f"more than {MAX_JOINS} joins between patterns"
        created: list[tuple[_Node, str]] = []
        paths: list[list[_Node]] = []
        for terms in patterns:
            node, path = self.root, [self.root]
            for term in terms:
                eq_field, weight, shared = _describe(term)
                key = json.dumps(term, sort_keys=True)
                if not shared:
                    self.unshared += 1
                    key = f"{key}#{self.unshared}"
                child = node.children.get(key)
                if child is None:
                    child = _Node(eq_field, weight)
                    node.link(key, child, +1)
                    created.append((node, key))
                node = child
                path.append(node)
            node.beta += 1
            paths.append(path)
        reason = self._violation(paths)
        if reason is None:
            self.names.append(name)
            self.joins += joins
            return None
        for path in paths:
            path[-1].beta -= 1
        for parent, key in reversed(created):
            parent.link(key, parent.children[key], -1)
        for path in paths:
            for node in reversed(path):
                node.recompute()
        return reason

    def _violation(self, paths: list[list[_Node]]) -> str | None:
        for path in paths:
            for node in reversed(path):
                node.recompute()
        for path in paths:
            if any(node.size > MAX_CHILDREN for node in path):
                return (f"more than {MAX_CHILDREN} different tests follow the same test "
                        "(use a value set instead of one rule per code)")
            if path[-1].beta > MAX_ENDINGS:
                return f"more than {MAX_ENDINGS} identical patterns"
        if self.root.height > MAX_STACK:
            return (f"one fact could pass more than {MAX_STACK} tests of the same field at "
                    "once (too many thresholds on one measure)")
        return None


def plan_shards(rules: list[tuple[str, list[list[dict[str, Any]]]]],
                ) -> tuple[list[list[str]], dict[str, str]]:
    """Pack engine rules into as few shards as the limits allow, in order.

    Returns the shards (lists of rule names) and, for each rule that cannot fit even in an
    empty shard, the reason.
    """
    shards = [Shard()]
    rejected: dict[str, str] = {}
    for name, patterns in rules:
        if shards[-1].add(name, patterns) is None:
            continue
        fresh = Shard()
        reason = fresh.add(name, patterns)
        if reason is not None:
            rejected[name] = reason
            continue
        shards.append(fresh)
    return [s.names for s in shards if s.names], rejected
