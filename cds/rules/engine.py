"""Run compiled rules on the facts of one call and return the matches.

durable_rules' C extension is used directly and synchronously, without its Python `Host`:
the Host's background dispatcher crashes under threads and defers actions when a fact of a
batch matches no rule. The extension itself holds no locks, so every call into it goes
through one process-wide lock, held around assert -> drain matches -> delete state. Each call
uses a fresh state id and deletes it before releasing the lock, so at most one state is ever
live and the engine's 1024-state cap cannot be reached. If the engine fails half-way, its
state is not touched again (deleting it can crash the process) and the ruleset is replaced.

Facts are normalised against the fact catalogue before they are asserted: numbers become
floats (the engine compares "9" with 10 as text and hashes 5 and 5.0 differently), yes/no
become "yes"/"no", and a value of the wrong kind is left out rather than compared wrongly.
Only catalogue fields are asserted; matches are mapped back to the caller's fact objects.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import threading
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import durable_rules_engine as dre

from cds.errors import RulePackError
from cds.facts.catalogue import FACT_TYPES
from cds.rules.compiler import BranchPlan, Flag, Program, VetoPlan
from cds.rules.dnf import Test
from cds.rules.pyeval import test_holds

log = logging.getLogger("cds.rules.engine")

ENGINE_LOCK = threading.Lock()
# A state in which no action ever started has an uninitialised action context, and
# `delete_state` frees it: after a call where no fact matched anything the process crashes
# (a segfault or abort in deleteStateNode, depending on what the heap held). Every ruleset
# therefore gets a rule that handles one sentinel fact asserted first in every batch, so
# every state starts at least one action; sentinel matches name no plan and are ignored when
# matches are resolved. tests/rules/test_engine_semantics.py reproduced the crash.
_STATE_RULE = "__state__"
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


def _delete_ruleset(handle: int) -> None:
    with ENGINE_LOCK:
        try:
            dre.delete_ruleset(handle)
        except dre.error:  # already gone: nothing to free
            pass


class _Ruleset:
    """One engine ruleset; freed when the last evaluator using it is garbage-collected, so
    an in-flight call on a replaced pack still finishes on a live ruleset."""

    def __init__(self, name: str, definition: dict[str, Any]) -> None:
        self.name = name
        self.definition = definition
        self.source = json.dumps({**definition, _STATE_RULE: _STATE_MATCH})
        with ENGINE_LOCK:
            try:
                self.handle = dre.create_ruleset(self.name, self.source)
            except dre.error as exc:
                raise RulePackError(f"the rule engine refused ruleset {name}: {exc}") from exc
        weakref.finalize(self, _delete_ruleset, self.handle)


def _normal(kind: str, value: Any) -> Any:
    if kind == "number":
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
            return number if math.isfinite(number) else None
        return None
    if kind == "list":
        if isinstance(value, list | tuple):
            return [v for v in value if isinstance(v, str)]
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    return None


FlagIndex = Mapping[str, list[tuple[str, Test]]]  # fact type -> (flag field, test)


def flag_index(flags: Iterable[Flag]) -> dict[str, list[tuple[str, Test]]]:
    index: dict[str, list[tuple[str, Test]]] = {}
    for flag in flags:
        index.setdefault(flag.fact, []).append((flag.name, flag.test))
    return index


def prepare(facts: Iterable[dict[str, Any]], sid: str, flags: FlagIndex | None = None,
            ) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Facts as the engine gets them (catalogue fields, normalised, unique ids, flags of
    the program set) and the map from asserted id back to the caller's fact."""
    asserted: list[dict[str, Any]] = []
    by_id: dict[str, dict[str, Any]] = {}
    for index, fact in enumerate(facts):
        ftype = FACT_TYPES.get(str(fact.get("type")))
        if ftype is None:
            continue
        fid = str(fact.get("id") or f"fact-{index}")
        if fid in by_id or fid == _STATE_RULE:
            fid = f"{fid}#{index}"
        out: dict[str, Any] = {"id": fid, "type": ftype.name, "sid": sid}
        for spec in ftype.fields:
            if spec.name in ("id", "type") or spec.name not in fact:
                continue
            value = _normal(spec.kind, fact[spec.name])
            if value is None:
                log.warning("fact %s: field %s is not a %s; left out", fid, spec.name, spec.kind)
            else:
                out[spec.name] = value
        for name, test in (flags or {}).get(ftype.name, ()):
            if test_holds(test, out, {}):
                out[name] = 1.0
        asserted.append(out)
        by_id[fid] = fact
    return asserted, by_id


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
        self._flags = {hook: flag_index(p.flags) for hook, p in self.programs.items()}
        self._vetoes: dict[str, dict[str, list[VetoPlan]]] = {}
        for hook, p in self.programs.items():
            index: dict[str, list[VetoPlan]] = {}
            for cr in p.rules:
                for veto in cr.vetoes:
                    index.setdefault(f"{veto.rule_id}#{veto.branch}", []).append(veto)
            self._vetoes[hook] = index

    def evaluate(self, facts: list[dict[str, Any]], hook: str) -> list[Match]:
        """Every match of the hook's rules on `facts`, vetoes applied, in rule order."""
        program = self.programs.get(hook)
        if program is None or not facts:
            return []
        asserted, by_id = prepare(facts, "", self._flags[hook])
        if not asserted:
            return []
        raw: list[dict[str, Any]] = []
        rulesets = self._rulesets[hook]
        for index, ruleset in enumerate(rulesets):
            sid = str(next(_SIDS))
            for fact in asserted:
                fact["sid"] = sid
            try:
                raw.extend(_run(ruleset.handle, sid, asserted))
            except _EngineFailure as exc:
                # The failed state cannot be deleted safely: leave it and this ruleset
                # behind, and serve later calls from a fresh copy of the ruleset.
                log.error("rule engine failed on ruleset %s (%s); it is replaced",
                          ruleset.name, exc)
                rulesets[index] = _Ruleset(ruleset.name, ruleset.definition)
                raise RulePackError(f"the rule engine failed on this call: {exc}") from exc
        return self._resolve(program, raw, by_id)

    def _resolve(self, program: Program, raw: list[dict[str, Any]],
                 by_id: dict[str, dict[str, Any]]) -> list[Match]:
        vetoed: set[tuple[str, int, tuple[str, ...]]] = set()
        found: list[tuple[BranchPlan, dict[str, Any]]] = []
        for message in raw:
            for name, bound in message.items():
                plan = program.plans.get(name)
                if isinstance(plan, VetoPlan):
                    ids = tuple(str(bound[b]["id"]) for b in plan.keep)
                    vetoed.add((plan.rule_id, plan.branch, ids))
                elif plan is not None:
                    found.append((plan, bound))
        out: dict[tuple[str, frozenset[tuple[str, str]]], Match] = {}
        vetoes = self._vetoes[program.hook]
        for plan, bound in found:
            ids = {b: str(bound[b]["id"]) for b in plan.bindings}
            if vetoed and any((plan.rule_id, plan.index, tuple(ids[b] for b in v.keep)) in vetoed
                              for v in vetoes.get(plan.name, ())):
                continue
            key = (plan.rule_id, frozenset(ids.items()))
            match = Match(plan.rule_id, plan.index, {b: by_id[ids[b]] for b in plan.bindings})
            if key not in out or out[key].branch > match.branch:
                out[key] = match
        order = self._rule_order[program.hook]
        return sorted(out.values(), key=lambda m: (order[m.rule], m.branch, m.fact_ids()))


class _EngineFailure(Exception):
    pass


def _run(handle: int, sid: str, facts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Assert, drain every match, delete the state: all under the engine lock.

    The state is deleted only after a clean drain: deleting a state whose assert or drain
    failed half-way can crash the process (seen with error 303), so such a state is left
    where it is and the caller replaces the ruleset.
    """
    payload = json.dumps([{"id": _STATE_RULE, "type": _STATE_RULE, "sid": sid}, *facts])
    out: list[dict[str, Any]] = []
    with ENGINE_LOCK:
        try:
            _code, state = dre.assert_facts(handle, payload)  # code 1: some fact matched nothing
            reply = dre.start_action_for_state(handle, state)
            message = reply[1] if reply else None
            while message:  # drained to the end even past the cap: a clean state to delete
                if len(out) < MAX_MATCHES:
                    out.append(json.loads(message))
                message = dre.complete_and_start_action(handle, state)
        except dre.error as exc:
            raise _EngineFailure(str(exc)) from exc
        dre.delete_state(handle, sid)
    if len(out) >= MAX_MATCHES:
        log.warning("more than %d matches in one call; the rest were dropped", MAX_MATCHES)
    return out
