"""cProfile of the hot path: N in-process calls of one request, top entries as text."""

from __future__ import annotations

import cProfile
import io
import pstats
import re

from bench.inprocess import InProcessService

_SITE = re.compile(r"^.*?/(site-packages|lib/python3\.\d+)/")


def _short(path: str) -> str:
    path = _SITE.sub("", path)
    marker = "/cds/"
    return path[path.index(marker) + 1:] if marker in path else path


async def profile_calls(svc: InProcessService, body: bytes, calls: int, top: int = 25) -> str:
    """Profile `calls` calls; the top entries by own time and by cumulative time."""
    for _ in range(20):
        await svc.call(body)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        await svc.call(body)
    profiler.disable()
    return render(profiler, calls, top)


def render(profiler: cProfile.Profile, calls: int, top: int) -> str:
    stats = pstats.Stats(profiler)
    rows = []
    for (filename, line, func), (_cc, ncalls, tottime, cumtime, _callers) in \
            stats.stats.items():  # type: ignore[attr-defined]
        where = f"{_short(filename)}:{line}({func})" if line else func
        rows.append((tottime, cumtime, ncalls, where))
    out = io.StringIO()
    for title, index in (("own time", 0), ("cumulative time", 1)):
        out.write(f"Top {top} by {title}, microseconds per hook call ({calls} calls):\n")
        out.write(f"{'own us':>9} {'cum us':>9} {'calls':>7}  function\n")
        for row in sorted(rows, key=lambda r: r[index], reverse=True)[:top]:
            tottime, cumtime, ncalls, where = row
            out.write(f"{tottime / calls * 1e6:9.1f} {cumtime / calls * 1e6:9.1f} "
                      f"{ncalls / calls:7.1f}  {where}\n")
        out.write("\n")
    return out.getvalue().rstrip() + "\n"
