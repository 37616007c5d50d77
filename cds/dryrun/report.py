"""The self-contained HTML report of a dry-run: one file, inline CSS and inline SVG plots, so
a committee opens it anywhere, offline, without the tool. It states what ran (pack, input,
--now, hooks, patients, run time) and explains every table in plain words. Patient ids are
never shown: the patient-level comparison stays in its Parquet/CSV file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from cds.dryrun import plots
from cds.dryrun.results import Tables

TOP = 20


def _by_hook(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(row["hook"], []).append(row)
    return out


def _svg(svg: str | None) -> Markup | None:
    return Markup(svg) if svg else None  # our own matplotlib output, never input data


def render(summary: dict[str, Any], tables: Tables, other: Tables) -> str:
    env = Environment(loader=PackageLoader("cds.dryrun", "templates"),
                      autoescape=select_autoescape(["html", "j2"]), trim_blocks=True,
                      lstrip_blocks=True)
    rules = _by_hook(tables["rules"])
    per_opening = _by_hook(tables["cards_per_opening"])
    overlaps = _by_hook(tables["overlaps"])
    notes = tables["data_notes"]
    unresolved = tables["unresolved_codes"][:TOP]
    context = {
        "s": summary, "t": tables, "other": other, "top": TOP,
        "rules": rules,
        "rule_plots": {h: _svg(plots.rule_burden(sorted(rows, key=lambda r: -r["cards"])))
                       for h, rows in rules.items()},
        "per_opening": per_opening,
        "opening_plots": {h: _svg(plots.cards_per_opening(rows))
                          for h, rows in per_opening.items()},
        "overlap_plots": {h: _svg(plots.overlaps(rows)) for h, rows in overlaps.items()},
        "top_pairs": {h: sorted((r for r in rows if r["rule_a"] != r["rule_b"]),
                                key=lambda r: (-r["openings"], r["rule_a"], r["rule_b"]))[:TOP]
                      for h, rows in overlaps.items()},
        "unresolved": unresolved,
        "unresolved_plot": _svg(plots.counts(
            [f"{r['code']} {r['display']}"[:48] for r in unresolved],
            [r["openings"] for r in unresolved], "calls in which the code was not resolved")),
        "notes_plot": _svg(plots.counts(
            [f"{r['kind']} ({r['hook']})" for r in notes[:TOP]],
            [r["openings"] for r in notes[:TOP]], "calls with at least one such note")),
        "suggestions": sorted(tables["suggestions"], key=lambda r: -r["offered"])[:TOP],
        "compare_plot": _svg(plots.compare(tables.get("compare_rules", []))),
    }
    return env.get_template("report.html.j2").render(**context)


def write_report(path: Path, summary: dict[str, Any], tables: Tables, other: Tables) -> Path:
    path.write_text(render(summary, tables, other), encoding="utf-8")
    return path
