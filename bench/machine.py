"""Machine details for the report header, and process memory from /proc (Linux)."""

from __future__ import annotations

import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TypedDict


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_total_mib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def details() -> dict[str, str]:
    mem = memory_total_mib()
    return {
        "Date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "CPU": cpu_model(),
        "Cores": str(os.cpu_count()),
        "Memory": f"{mem / 1024:.1f} GiB" if mem else "unknown",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": f"{platform.python_implementation()} {sys.version.split()[0]}",
        "Load average at start": load_average(),
        "Python reference workload at start": python_reference_ms(),
    }


class _Row(TypedDict):
    id: str
    value: int
    tags: list[str]


def python_reference_ms() -> str:
    """The median time of a fixed pure-Python workload (dicts, strings, sorting).

    On shared or virtual machines the speed of a core varies by tens of percent over an
    hour; this figure, taken at the start and the end of a run, lets two reports be compared.
    """
    def workload() -> int:
        rows: list[_Row] = [
            {"id": f"r{i}", "value": (i * 7919) % 1000, "tags": [str(i % 7)]}
            for i in range(20_000)]
        rows.sort(key=lambda r: (r["value"], r["id"]))
        return sum(len(r["id"]) + len(r["tags"][0]) for r in rows)

    times = []
    for _ in range(7):
        start = time.perf_counter()
        workload()
        times.append((time.perf_counter() - start) * 1000.0)
    return f"{sorted(times)[len(times) // 2]:.1f} ms"


def load_average() -> str:
    """Other work on the machine skews every figure; the report shows how much there was."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min)"


def rss_kib(pid: int) -> int | None:
    """Resident set size of one process in KiB, or None when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return 0


def children(pid: int) -> list[int]:
    """Direct child processes (every thread's children list)."""
    kids: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text().split()
            kids.extend(int(k) for k in text)
    except OSError:
        pass
    return kids


def process_tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children(current))
    return out


def tree_rss_mib(pid: int) -> dict[int, float]:
    """RSS in MiB of a process and every descendant, by pid."""
    out: dict[int, float] = {}
    for each in process_tree(pid):
        kib = rss_kib(each)
        if kib is not None:
            out[each] = kib / 1024.0
    return out


def self_rss_mib() -> float:
    return (rss_kib(os.getpid()) or 0) / 1024.0
