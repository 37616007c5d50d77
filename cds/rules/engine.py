"""Run compiled rules on the facts of one call and return the matches.

durable_rules' C extension is used directly and synchronously, without its Python `Host`:
the Host's background dispatcher crashes under threads and defers actions when a fact of a
batch matches no rule. The extension holds no locks, so every call into it goes through one
process-wide lock.

Each ruleset keeps one state (one state id) for its whole life. A call asserts its facts,
drains every match, and retracts the same facts, leaving the state empty for the next call
(a test compares this with a fresh state per call on hundreds of random fact sets). Creating
and deleting a state per call was both slow (the engine allocates and clears frame tables
for every join node of the ruleset when a state is created) and unsafe (deleting a state in
which no action ever started frees an uninitialised pointer). With one state per ruleset the
1024-state cap cannot be reached either. If the engine fails half-way through a call, the
ruleset is abandoned (not touched again) and later calls use a fresh copy.

Facts are normalised, projected and flagged before they are asserted (prepare.py); matches
are mapped back to the caller's fact objects.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import durable_rules_engine as dre
import orjson

from cds.errors import RulePackError
from cds.rules.compiler import BranchPlan, Program, VetoPlan
from cds.rules.prepare import SENTINEL_ID, FactPreparer

log = logging.getLogger("cds.rules.engine")

ENGINE_LOCK = threading.Lock()
# Every call asserts one sentinel fact that a rule of every ruleset handles, so every call
# starts at least one action: the engine initialises a state's action context only when an
# action starts, and an uninitialised one crashed the process (seen when deleting states).
# Sentinel matches name no plan and are ignored when matches are resolved.
_STATE_RULE = SENTINEL_ID
_STATE_MATCH = {"all": [{"s": {"$and": [{"type": _STATE_RULE}]}}]}
MAX_MATCHES = 10_000
_SIDS = itertools.count(1)


@dataclass(frozen=True)
class Match:
    """A rule that matched: the branch of its `when` and the fact bound to each name."""

    rule: str
    branch: int
    bindings: Mapping[str, dict[str, Any]]

    def fact_ids(self) -> list[str]:
        return [str(f.get("id")) for f in self.bindings.values()]

    def audit_entry(self) -> dict[str, Any]:
        return {"rule": self.rule, "facts": self.fact_ids()}


class _EngineFailure(Exception):
    pass


def _delete_ruleset(handle: int) -> None:
    with ENGINE_LOCK:
        try:
            dre.delete_ruleset(handle)
        except dre.error:  # already gone: nothing to free
            pass


class _Ruleset:
    """One engine ruleset and its one state; freed when the last evaluator using it is
    garbage-collected, so an in-flight call on a replaced pack still finishes on it."""

    def __init__(self, name: str, definition: dict[str, Any]) -> None:
        self.name = name
        self.definition = definition
        self.sid = f"s{next(_SIDS)}"
        self.source = json.dumps({**definition, _STATE_RULE: _STATE_MATCH})
        with ENGINE_LOCK:
            try:
                self.handle = dre.create_ruleset(self.name, self.source)
            except dre.error as exc:
                raise RulePackError(f"the rule engine refused ruleset {name}: {exc}") from exc
        weakref.finalize(self, _delete_ruleset, self.handle)


class Engine:
    """The compiled programs of a pack (one per hook), ready to evaluate facts."""

    def __init__(self, programs: Mapping[str, Program], name: str = "pack") -> None:
        self.programs = dict(programs)
        self._rulesets = {
            hook: [_Ruleset(f"{name}:{hook}:{i}", shard) for i, shard in enumerate(p.shards)]
            for hook, p in self.programs.items()
        }
        self._rule_order = {
            hook: {cr.rule.id: i for i, cr in enumerate(p.rules)}
            for hook, p in self.programs.items()
        }
        self._prepare = {hook: FactPreparer(p) for hook, p in self.programs.items()}
        self._vetoes: dict[str, dict[str, list[VetoPlan]]] = {}
        for hook, p in self.programs.items():
            index: dict[str, list[VetoPlan]] = {}
            for cr in p.rules:
                for veto in cr.vetoes:
                    for branch in cr.branches:
                        if veto.applies_to(branch.index):
                            index.setdefault(branch.name, []).append(veto)
            self._vetoes[hook] = index

    def evaluate(self, facts: list[dict[str, Any]], hook: str) -> list[Match]:
        """Every match of the hook's rules on `facts`, vetoes applied, in rule order."""
        program = self.programs.get(hook)
        if program is None or not facts:
            return []
        asserted, by_id = self._prepare[hook](facts)
        if not asserted:
            return []
        raw: list[dict[str, Any]] = []
        rulesets = self._rulesets[hook]
        for index, ruleset in enumerate(rulesets):
            for fact in asserted:
                fact["sid"] = ruleset.sid
            try:
                raw.extend(_run(ruleset.handle, ruleset.sid, asserted))
            except _EngineFailure as exc:
                # The state may be half-updated: leave this ruleset alone and serve later
                # calls from a fresh copy of it.
                log.error("rule engine failed on ruleset %s (%s); it is replaced",
                          ruleset.name, exc)
                rulesets[index] = _Ruleset(ruleset.name, ruleset.definition)
                raise RulePackError(f"the rule engine failed on this call: {exc}") from exc
        return self._resolve(program, raw, by_id)

    def _resolve(self, program: Program, raw: list[dict[str, Any]],
                 by_id: dict[str, dict[str, Any]]) -> list[Match]:
        vetoed: set[tuple[str, tuple[str, ...]]] = set()
        found: list[tuple[BranchPlan, dict[str, Any]]] = []
        for message in raw:
            for name, bound in message.items():
                plan = program.plans.get(name)
                if isinstance(plan, VetoPlan):
                    ids = tuple(str(bound[b]["id"]) for b in plan.keep)
                    vetoed.add((plan.name, ids))
                elif plan is not None:
                    found.append((plan, bound))
        out: dict[tuple[str, frozenset[tuple[str, str]]], Match] = {}
        vetoes = self._vetoes[program.hook]
        for plan, bound in found:
            fact_ids = {b: str(bound[b]["id"]) for b in plan.bindings}
            if vetoed and any((v.name, tuple(fact_ids[b] for b in v.keep)) in vetoed
                              for v in vetoes.get(plan.name, ())):
                continue
            key = (plan.rule_id, frozenset(fact_ids.items()))
            match = Match(plan.rule_id, plan.index,
                          {b: by_id[fact_ids[b]] for b in plan.bindings})
            if key not in out or out[key].branch > match.branch:
                out[key] = match
        order = self._rule_order[program.hook]
        return sorted(out.values(), key=lambda m: (order[m.rule], m.branch, m.fact_ids()))


def _run(handle: int, sid: str, facts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Assert, drain every match, retract the facts again: all under the engine lock."""
    payload = orjson.dumps([{"id": _STATE_RULE, "type": _STATE_RULE, "sid": sid}, *facts]
                           ).decode()
    out: list[dict[str, Any]] = []
    with ENGINE_LOCK:
        try:
            _code, state = dre.assert_facts(handle, payload)  # code 1: some fact matched nothing
            reply = dre.start_action_for_state(handle, state)
            message = reply[1] if reply else None
            while message:  # drained to the end even past the cap: nothing left pending
                if len(out) < MAX_MATCHES:
                    out.append(orjson.loads(message))
                message = dre.complete_and_start_action(handle, state)
            dre.retract_facts(handle, payload)
        except dre.error as exc:
            raise _EngineFailure(str(exc)) from exc
    if len(out) >= MAX_MATCHES:
        log.warning("more than %d matches in one call; the rest were dropped", MAX_MATCHES)
    return out
