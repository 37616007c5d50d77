"""The whole dry-run behind `cds dryrun`: the pack checked, the export read (or exported),
both passes run, the tables, summary and report written. Needs the `dryrun` extra (pyarrow,
matplotlib; Dask for --scheduler)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import typer

from cds.authoring.check import load_pack
from cds.dryrun import DryRunError
from cds.dryrun.execute import RunPlan, default_workers, run
from cds.dryrun.export import bulk_export
from cds.dryrun.partition import PackSpec
from cds.dryrun.report import write_report
from cds.dryrun.results import BASE, OTHER, build_tables, write_tables
from cds.dryrun.searchset import parse_query
from cds.dryrun.tables import RuleInfo
from cds.errors import RulePackError
from cds.packsource import PackProblems
from cds.rules.pack import Pack
from cds.settings import Settings

MAX_LISTED_BAD_LINES = 20


def _rule_infos(*packs: Pack) -> list[RuleInfo]:
    seen: dict[str, RuleInfo] = {}
    for pack in packs:
        for lr in pack.rules:
            seen.setdefault(lr.rule.id, RuleInfo(lr.rule.id, lr.rule.title, tuple(lr.rule.hooks)))
    return sorted(seen.values(), key=lambda r: r.id)


def _hooks(pack: Pack, wanted: str | None) -> tuple[str, ...]:
    assert pack.services is not None  # load_pack guarantees services.yaml
    offered = sorted({s.hook for s in pack.services.services})
    if wanted is None:
        return tuple(offered)
    hooks = tuple(dict.fromkeys(h.strip() for h in wanted.split(",") if h.strip()))
    unknown = [h for h in hooks if h not in offered]
    if unknown or not hooks:
        raise DryRunError(f"--hooks: the pack has no service for {', '.join(unknown) or '-'}"
                          f" (it offers {', '.join(offered)})")
    return hooks


def _unapplied(pack: Pack, hooks: tuple[str, ...]) -> list[dict[str, Any]]:
    assert pack.services is not None
    out = []
    for service in pack.services.services:
        if service.hook in hooks:
            for key, template in service.prefetch.items():
                query = parse_query(key, template)
                if query.unapplied:
                    out.append({"service": service.id, "key": key, "type": query.resource_type,
                                "params": list(query.unapplied)})
    return out


def _pack_or_exit(path: Path) -> Pack:
    try:
        return load_pack(path)
    except PackProblems as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(1) from exc
    except RulePackError as exc:
        typer.secho(f"cds dryrun: {exc.message}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from exc


def run_dryrun(source: str, now: datetime, out: Path, *, hooks: str | None = None,
               compare: Path | None = None, rules: Path | None = None,
               workers: int | None = None, scheduler: str | None = None,
               partitions: int | None = None, token_env: str | None = None,
               progress: bool = False) -> dict[str, Any]:
    """The whole run; returns the summary written to `out/summary.json`."""
    started = time.perf_counter()
    rules_dir = (rules or Settings().rules_dir).resolve()
    pack = _pack_or_exit(rules_dir)
    other = _pack_or_exit(compare.resolve()) if compare is not None else None
    chosen = _hooks(pack, hooks)
    input_dir = _input(source, out, token_env, progress)
    specs = [PackSpec(BASE, str(rules_dir))]
    if compare is not None:
        specs.append(PackSpec(OTHER, str(compare.resolve())))
    plan = RunPlan(input_dir, out, now, chosen, tuple(specs), workers or default_workers(),
                   scheduler, partitions, progress)
    outcome = run(plan)
    evaluated = time.perf_counter()
    bad = [b for f in outcome.files for b in f["bad_lines"]]
    for b in bad[:MAX_LISTED_BAD_LINES]:
        typer.echo(f"{b['file']}:{b['line']}: {b['reason']}; line skipped", err=True)
    if len(bad) > MAX_LISTED_BAD_LINES:
        typer.echo(f"... and {len(bad) - MAX_LISTED_BAD_LINES} more unreadable lines "
                   "(the first 1,000 are listed in summary.json)", err=True)
    patients = outcome.patients
    tables, other_tables = build_tables(out / "work", len(outcome.partitions),
                                        other is not None, _rule_infos(pack, *([other] if other
                                                                              else [])),
                                        chosen, patients)
    write_tables(tables, out / "tables")
    if other_tables:
        write_tables(other_tables, out / "tables" / "compare")
    tabled = time.perf_counter()
    unlinked: dict[str, int] = {}
    for f in outcome.files:
        for rtype, n in f["unlinked"].items():
            unlinked[rtype] = unlinked.get(rtype, 0) + n
    summary = {
        "pack": {"name": pack.name, "version": pack.version, "rules_dir": str(rules_dir)},
        "compare": ({"name": other.name, "version": other.version,
                     "rules_dir": str(compare.resolve())} if other and compare else None),
        "input": source, "files": len(outcome.files), "now": now.isoformat(),
        "hooks": list(chosen), "patients": patients,
        "resources": sum(f["resources"] for f in outcome.files),
        "openings": tables["openings"], "partitions": len(outcome.partitions),
        "partitions_reused": sum(1 for p in outcome.partitions if p.get("reused")),
        "executor": (f"Dask cluster at {scheduler}" if scheduler
                     else f"{plan.workers} local worker process(es)"),
        "seconds": round(time.perf_counter() - started, 2),
        "pass_seconds": {**{k: round(v, 2) for k, v in outcome.seconds.items()},
                         "tables": round(tabled - evaluated, 2)},
        "worker_cpu_seconds": round(sum(f.get("cpu_seconds", 0.0) for f in outcome.files)
                                    + sum(p.get("cpu_seconds", 0.0)
                                          for p in outcome.partitions), 2),
        "finished": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "bad_line_count": len(bad), "bad_lines": bad[:1000], "unlinked": unlinked,
        "without_patient_resource": sum(p["without_patient_resource"]
                                        for p in outcome.partitions),
        "unapplied": _unapplied(pack, chosen), "tables": sorted(tables),
    }
    (out / "summary.json").write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    write_report(out / "report.html", summary, tables, other_tables)
    return summary


def _input(source: str, out: Path, token_env: str | None, progress: bool) -> Path:
    if source.startswith(("http://", "https://")):
        return bulk_export(source, out / "export", token_env=token_env, progress=progress)
    return Path(source)
