"""RSS over many in-process calls: engine state left behind would show as growth."""

from __future__ import annotations

import gc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bench.machine import self_rss_mib


@dataclass
class RssCheck:
    calls: int
    warmup: int
    samples: list[tuple[int, float]] = field(default_factory=list)  # (calls done, RSS MiB)
    errors: int = 0
    audit_dropped: int = 0  # records the audit writer could not keep up with

    @property
    def start_mib(self) -> float:
        return self.samples[0][1] if self.samples else float("nan")

    @property
    def end_mib(self) -> float:
        return self.samples[-1][1] if self.samples else float("nan")

    @property
    def max_deviation_pct(self) -> float:
        if not self.samples:
            return float("nan")
        return max(abs(rss - self.start_mib) for _, rss in self.samples) / self.start_mib * 100

    @property
    def growth_pct(self) -> float:
        return (self.end_mib - self.start_mib) / self.start_mib * 100


async def rss_check(call: Callable[[], Awaitable[int]], calls: int, samples: int = 20,
                    progress: Callable[[str], None] | None = None,
                    audit_dropped: Callable[[], float] = lambda: 0.0) -> RssCheck:
    """Run `call` (returns an HTTP status) `calls` times after a warm-up, sampling RSS.

    The first sample is taken after the warm-up (1% of the calls, at least 200 unless the
    run is shorter), so caches
    that fill once (compiled templates, pydantic schemas) do not count as growth. Audit
    records dropped meanwhile are counted: a writer that falls behind grows its queue.
    """
    warmup = min(calls, max(200, calls // 100))
    check = RssCheck(calls, warmup)
    for _ in range(warmup):
        if await call() != 200:
            check.errors += 1
    every = max(1, calls // samples)
    dropped_before = audit_dropped()
    gc.collect()
    check.samples.append((0, self_rss_mib()))
    for done in range(1, calls + 1):
        if await call() != 200:
            check.errors += 1
        if done % every == 0 or done == calls:
            gc.collect()
            check.samples.append((done, self_rss_mib()))
            if progress is not None:
                progress(f"  {done:,} calls, RSS {check.samples[-1][1]:.1f} MiB")
    check.audit_dropped = int(audit_dropped() - dropped_before)
    return check
