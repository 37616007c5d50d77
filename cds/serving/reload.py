"""The pack serving calls, and hot reload that never swaps in a broken pack.

`PackHolder.current()` is what the web layer asks for on every call; a swap replaces one
reference, so a call always runs entirely on the old or entirely on the new pack (calls in
flight keep their evaluator, whose engine rulesets are freed only once no call holds it).

`reload()` loads the directory again, runs every check (`load_pack`: the same as `cds rules
check`, card templates included), compiles it, runs the pack's own test cases, and only then
swaps. Any failure is logged with its first `file:line:col` problems or failing cases, and
the old pack keeps serving. `watch()` runs `reload()` after files under the rules directory
change (debounced, so an editor's burst of writes is one reload).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from cds.authoring.testing import build_evaluator
from cds.errors import RulePackError
from cds.packsource import PackProblems
from cds.pipeline import Evaluator
from cds.rules.pack import FactConfigLoader

log = logging.getLogger("cds.rules.reload")  # the name its log lines have always had
LOGGED_PROBLEMS = 10  # a refusal logs this many problems (`cds rules check` lists them all)


@dataclass
class ReloadResult:
    swapped: bool
    version: str | None = None
    problems: list[str] = field(default_factory=list)


class PackHolder:
    """Holds the serving evaluator; `reload` and `watch` replace it only with a good one."""

    def __init__(self, evaluator: Evaluator | None, rules_dir: Path, *,
                 fact_config_loader: FactConfigLoader | None = None,
                 strict: bool = False, required_version: str | None = None) -> None:
        """`required_version`: the only pack version this replica may serve (a rollout pin):
        a reload to any other version is refused, and `serves_required_version` says whether
        the serving pack is it (readiness)."""
        self._evaluator = evaluator
        self.required_version = required_version
        self.rules_dir = rules_dir
        self._loader = fact_config_loader
        self._strict = strict
        self._reloading = threading.Lock()
        self._task: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None
        self.last_result: ReloadResult | None = None

    @classmethod
    def from_directory(cls, rules_dir: Path, *,
                       fact_config_loader: FactConfigLoader | None = None,
                       strict: bool = False, required_version: str | None = None) -> PackHolder:
        """Load the pack now (raising on any problem): a service never starts broken.
        The pack's tests are not run at start-up; `cds rules test` and CI run them."""
        evaluator = build_evaluator(rules_dir, fact_config_loader=fact_config_loader,
                                    strict=strict, run_pack_tests=False)
        log.info("rule pack %s %s loaded from %s", evaluator.name, evaluator.version, rules_dir)
        if required_version is not None and evaluator.version != required_version:
            log.error("rule pack %s is not the required version %s (CDS_PACK_VERSION): this "
                      "replica reports not ready until the required pack is in %s",
                      evaluator.version, required_version, rules_dir)
        return cls(evaluator, rules_dir, fact_config_loader=fact_config_loader, strict=strict,
                   required_version=required_version)

    def serves_required_version(self) -> bool:
        """True unless a version is required and the serving pack is another one."""
        current = self._evaluator
        return self.required_version is None or (
            current is not None and current.version == self.required_version)

    def current(self) -> Evaluator | None:
        return self._evaluator

    def swap(self, evaluator: Evaluator) -> None:
        self._evaluator = evaluator

    def reload(self) -> ReloadResult:
        """Load -> check -> compile -> test -> swap; on any failure keep the serving pack."""
        result = self._reload()
        self.last_result = result
        return result

    def _reload(self) -> ReloadResult:
        with self._reloading:
            try:
                evaluator = build_evaluator(self.rules_dir, fact_config_loader=self._loader,
                                            strict=self._strict)
            except PackProblems as exc:
                return self._refused([str(p) for p in exc.problems])
            except RulePackError as exc:
                return self._refused(exc.details or [exc.message])
            except Exception as exc:  # never let a reload take the service down
                log.exception("rule pack reload failed unexpectedly")
                return self._refused([f"{type(exc).__name__}: {exc}"])
            if self.required_version is not None and evaluator.version != self.required_version:
                return self._refused([f"pack version {evaluator.version} is not the required "
                                      f"version {self.required_version} (CDS_PACK_VERSION)"])
            old = self._evaluator
            self.swap(evaluator)
            log.info("rule pack reloaded: %s %s -> %s", evaluator.name,
                     old.version if old else "none", evaluator.version)
            return ReloadResult(True, evaluator.version)

    def _refused(self, problems: list[str]) -> ReloadResult:
        current = self._evaluator
        shown = problems[:LOGGED_PROBLEMS]
        if len(problems) > len(shown):
            shown.append(f"... and {len(problems) - len(shown)} more (cds rules check)")
        log.error("rule pack NOT reloaded; still serving %s. %d problem(s):\n%s",
                  current.version if current else "no pack", len(problems), "\n".join(shown))
        return ReloadResult(False, current.version if current else None, problems)

    async def watch(self, *, debounce_ms: int = 400, stop: asyncio.Event | None = None,
                    force_polling: bool | None = None) -> None:
        """Reload after every (debounced) change under the rules directory until `stop`."""
        from watchfiles import awatch

        async for _changes in awatch(self.rules_dir, debounce=debounce_ms, stop_event=stop,
                                     force_polling=force_polling):
            await asyncio.to_thread(self.reload)

    async def start_watching(self) -> None:
        """Start `watch` in the background (for the app's startup hook)."""
        if self._task is None:
            self._stop = asyncio.Event()
            self._task = asyncio.create_task(self.watch(stop=self._stop), name="rules-watch")

    async def stop_watching(self) -> None:
        """Stop the background watcher (for the app's shutdown hook)."""
        if self._task is not None and self._stop is not None:
            self._stop.set()
            try:
                await asyncio.wait_for(self._task, timeout=5)
            except (TimeoutError, asyncio.CancelledError):
                self._task.cancel()
            self._task = None
