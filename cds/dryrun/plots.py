"""The report's plots, drawn with matplotlib and embedded as inline SVG (no files, no network
when the report is opened)."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # the backend is chosen first

plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "axes.spines.top": False,
                     "axes.spines.right": False, "svg.hashsalt": "cds-dryrun"})
COLOURS = {"critical": "#b42318", "warning": "#dc6803", "info": "#1570ef",
           "gained": "#039855", "lost": "#d92d20", "bar": "#475467"}
_PROLOGUE = re.compile(r"^.*?(?=<svg)", re.S)
MAX_ROWS = 40


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return _PROLOGUE.sub("", buf.getvalue(), count=1)


def _height(rows: int) -> float:
    return max(1.8, 0.28 * rows + 0.9)


def rule_burden(rows: Sequence[dict[str, Any]]) -> str | None:
    """Cards per 1,000 patients for each rule, split by indicator."""
    rows = [r for r in rows if r["cards"]][:MAX_ROWS]
    if not rows:
        return None
    rows = sorted(rows, key=lambda r: r["cards_per_1000"])
    fig, ax = plt.subplots(figsize=(7.5, _height(len(rows))))
    labels = [r["rule"] for r in rows]
    left = [0.0] * len(rows)
    for indicator in ("critical", "warning", "info"):
        widths = [r["cards_per_1000"] * r[indicator] / max(r["cards"], 1) for r in rows]
        ax.barh(labels, widths, left=left, color=COLOURS[indicator], label=indicator)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    ax.set_xlabel("cards per 1,000 patients (a merged card counts for each rule it carries)")
    ax.legend(frameon=False, loc="lower right")
    return _svg(fig)


def cards_per_opening(rows: Sequence[dict[str, Any]]) -> str | None:
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 2.6))
    ax.bar([r["cards"] for r in rows], [r["share_percent"] for r in rows],
           color=COLOURS["bar"], width=0.7)
    ax.set_xlabel("cards shown in one call")
    ax.set_ylabel("% of calls")
    ax.set_xticks(sorted({r["cards"] for r in rows}))
    return _svg(fig)


def overlaps(rows: Sequence[dict[str, Any]]) -> str | None:
    """A heat map: of the calls in which the row's rule fired, the share in which the
    column's rule fired too (the diagonal, always 100%, is left blank)."""
    fired = {r["rule_a"]: r["openings"] for r in rows if r["rule_a"] == r["rule_b"]}
    rules = sorted(fired, key=lambda rule: (-fired[rule], rule))[:MAX_ROWS]
    if len(rules) < 2:
        return None
    index = {rule: i for i, rule in enumerate(rules)}
    grid = [[0.0] * len(rules) for _ in rules]
    for r in rows:
        a, b = index.get(r["rule_a"]), index.get(r["rule_b"])
        if a is not None and b is not None and a != b:
            grid[a][b] = 100.0 * r["openings"] / fired[r["rule_a"]]
            grid[b][a] = 100.0 * r["openings"] / fired[r["rule_b"]]
    size = max(3.0, 0.32 * len(rules) + 1.5)
    fig, ax = plt.subplots(figsize=(size + 1.4, size))
    image = ax.imshow(grid, cmap="Blues", vmin=0, vmax=100)
    ax.set_xticks(range(len(rules)), rules, rotation=90)
    ax.set_yticks(range(len(rules)), rules)
    ax.set_xlabel("... this rule fired too")
    ax.set_ylabel("of the calls in which this rule fired ...")
    fig.colorbar(image, ax=ax, label="% of the row rule's calls")
    return _svg(fig)


def counts(labels: Sequence[str], values: Sequence[float], xlabel: str) -> str | None:
    if not labels:
        return None
    fig, ax = plt.subplots(figsize=(7.5, _height(len(labels))))
    ax.barh(list(labels)[::-1], list(values)[::-1], color=COLOURS["bar"])
    ax.set_xlabel(xlabel)
    return _svg(fig)


def compare(rows: Sequence[dict[str, Any]]) -> str | None:
    """Patients gaining and losing each rule's card between the two packs."""
    rows = [r for r in rows if r["patients_gaining"] or r["patients_losing"]][:MAX_ROWS]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(7.5, _height(len(rows))))
    labels = [f"{r['rule']} ({r['hook']})" for r in rows][::-1]
    ax.barh(labels, [r["patients_gaining"] for r in rows][::-1], color=COLOURS["gained"],
            label="patients gaining the card")
    ax.barh(labels, [-r["patients_losing"] for r in rows][::-1], color=COLOURS["lost"],
            label="patients losing the card")
    ax.axvline(0, color="#101828", linewidth=0.8)
    ax.set_xlabel("patients (losing to the left, gaining to the right)")
    ax.legend(frameon=False, loc="lower right")
    return _svg(fig)
