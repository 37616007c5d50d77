"""cProfile of the hot path: N in-process calls of one request, top entries as text."""

from __future__ import annotations

import cProfile
import io
import pstats
import re

from bench.inprocess import InProcessService

_SITE = re.compile(r"^.*/site-packages/")
_STDLIB = re.compile(r"^.*/lib/python3\.\d+/")


def _short(path: str) -> str:
    path = _STDLIB.sub("", _SITE.sub("", path)) if "site-packages" not in path \
        else _SITE.sub("", path)
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


def component(filename: str, func: str) -> str:
    """A coarse owner of a function: cds package, library, or builtin."""
    short = _short(filename)
    if short.startswith("cds/"):
        parts = short.split("/")
        return "/".join(parts[:2]) if len(parts) > 2 else short.split(":")[0]
    if filename == "~":
        for library in ("orjson", "durable_rules", "pydantic"):
            if library in func:
                return f"C: {library}"
        return "C: builtins"
    return short.split("/")[0].split(".")[0]


def render(profiler: cProfile.Profile, calls: int, top: int) -> str:
    stats = pstats.Stats(profiler)
    rows = []
    owners: dict[str, float] = {}
    for (filename, line, func), (_cc, ncalls, tottime, cumtime, _callers) in \
            stats.stats.items():  # type: ignore[attr-defined]  # not in typeshed's pstats
        where = f"{_short(filename)}:{line}({func})" if line else func
        rows.append((tottime, cumtime, ncalls, where))
        owner = component(filename, func)
        owners[owner] = owners.get(owner, 0.0) + tottime
    out = io.StringIO()
    total = sum(owners.values()) or 1.0
    out.write(f"Own time by component, microseconds per hook call ({calls} calls):\n")
    for owner, tottime in sorted(owners.items(), key=lambda kv: kv[1], reverse=True)[:15]:
        out.write(f"{tottime / calls * 1e6:9.1f}  {tottime / total * 100:5.1f}%  {owner}\n")
    out.write("\n")
    for title, index in (("own time", 0), ("cumulative time", 1)):
        out.write(f"Top {top} by {title}, microseconds per hook call ({calls} calls):\n")
        out.write(f"{'own us':>9} {'cum us':>9} {'calls':>7}  function\n")
        for row in sorted(rows, key=lambda r: r[index], reverse=True)[:top]:
            tottime, cumtime, ncalls, where = row
            out.write(f"{tottime / calls * 1e6:9.1f} {cumtime / calls * 1e6:9.1f} "
                      f"{ncalls / calls:7.1f}  {where}\n")
        out.write("\n")
    return out.getvalue().rstrip() + "\n"
