"""`cds terminology import | coverage`: bring public value-set expansions and drug data into
the pack, and measure how much of them the pack resolves.

    cds terminology import FILE|DIR ... [--repository R --commit SHA --package P]
    cds terminology import --server URL [--valueset CANONICAL ...] [--token T]
    cds terminology import --omtk OMTKData.cql [--repository R --commit SHA]
    cds terminology coverage [--rules DIR] [--missing]

An import writes rules/terminology/valuesets/<id>.json for each expansion the manifest
lists, rebuilds products.json, and prints what changed; running it again with the same
sources changes nothing.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cds.authoring.check import load_pack
from cds.errors import CDSError
from cds.settings import Settings
from cds.terminology.build import import_expansions, import_omtk, rebuild_products
from cds.terminology.coverage import coverage
from cds.terminology.omtk import read_omtk
from cds.terminology.sources import fetch_from_server, read_files
from cds.terminology.store import read_manifest

terminology_app = typer.Typer(name="terminology", no_args_is_help=True,
                              help="Import value sets and drug data; measure coverage.")

RulesOpt = Annotated[Path | None, typer.Option("--rules", help="Rule pack directory "
                                               "(default: CDS_RULES_DIR, else the bundled pack)",
                                               file_okay=False)]


def _rules_dir(path: Path | None) -> Path:
    if path is not None:
        return path
    return Settings().rules_dir


def _fail(console: Console, exc: CDSError) -> typer.Exit:
    console.print(f"[red]error:[/red] {exc.message}")
    return typer.Exit(2)


@terminology_app.command("import")
def import_command(
    files: Annotated[list[Path] | None, typer.Argument(
        help="ValueSet or Bundle JSON files, or directories of them", exists=True)] = None,
    server: Annotated[str | None, typer.Option(
        help="FHIR terminology server base URL ($expand, else ValueSet?url=)")] = None,
    valueset: Annotated[list[str] | None, typer.Option(
        help="Canonical URL to expand on --server (repeat; default: every manifest URL)")
    ] = None,
    token: Annotated[str | None, typer.Option(
        help="Bearer token for --server (or CDS_TERMINOLOGY_TOKEN)")] = None,
    omtk: Annotated[Path | None, typer.Option(
        help="OMTKData CQL library of the CDC Opioid CDS IG", exists=True, dir_okay=False)
    ] = None,
    repository: Annotated[str | None, typer.Option(
        help="Source repository of the files (default: read from their git work tree)")
    ] = None,
    commit: Annotated[str | None, typer.Option(help="Source commit of the files")] = None,
    package: Annotated[str | None, typer.Option(
        help="Published package and version the value sets belong to, e.g. "
             "fhir.cdc.opioid-cds-r4#2022.1.0")] = None,
    base: Annotated[Path | None, typer.Option(
        help="Directory the recorded source paths are relative to", file_okay=False)] = None,
    rules: RulesOpt = None,
) -> None:
    """Import expansions (files or a terminology server) and OMTK data into the pack."""
    console = Console(highlight=False, soft_wrap=True)
    rules_dir = _rules_dir(rules)
    today = datetime.now(UTC).date()
    if not files and not server and not omtk:
        console.print("[red]error:[/red] give ValueSet files, --server or --omtk")
        raise typer.Exit(2)
    reports = []
    try:
        expansions = read_files(list(files or []), repository, commit, base)
        if server:
            urls = valueset or [e.url for e in read_manifest(rules_dir)]
            expansions += fetch_from_server(
                server, urls, token or os.environ.get("CDS_TERMINOLOGY_TOKEN"))
        if expansions:
            reports.append(import_expansions(rules_dir, expansions, package=package,
                                             today=today))
        if omtk:
            rel = str(omtk.relative_to(base)) if base and omtk.is_relative_to(base) else None
            rows, provenance = read_omtk(omtk, repository, commit, rel)
            reports.append(import_omtk(rules_dir, rows, provenance, today))
        reports.append(rebuild_products(rules_dir, today))
    except CDSError as exc:
        raise _fail(console, exc) from exc
    for report in reports:
        for line in report.lines:
            console.print(line)
        for line in report.skipped:
            console.print(f"[yellow]skipped[/yellow] {line}")
        for line in report.problems:
            console.print(f"[yellow]note[/yellow] {line}")


@terminology_app.command("coverage")
def coverage_command(
    rules: RulesOpt = None,
    missing: Annotated[bool, typer.Option(
        "--missing", help="List every product code that does not resolve into its class")
    ] = False,
) -> None:
    """Per class: how many codes of the imported expansions the pack resolves."""
    console = Console(highlight=False, soft_wrap=True, width=max(Console().width, 130))
    rules_dir = _rules_dir(rules)
    try:
        pack = load_pack(rules_dir)
    except CDSError as exc:
        raise _fail(console, exc) from exc
    assert pack.fact_config is not None
    results = coverage(rules_dir, pack.fact_config)
    table = Table(title=f"Terminology coverage of {pack.name} {pack.version}")
    for column in ("class", "expansion", "codes", "resolved", "in class", "excluded",
                   "strength", "MME factor"):
        table.add_column(column, justify="left" if column in ("class", "expansion") else "right")

    def pct(n: int, total: int) -> str:
        return f"{n} ({100.0 * n / total:.0f}%)" if total else "0"

    for r in results:
        table.add_row(r.cls, r.source, str(r.codes), pct(r.resolved, r.codes),
                      pct(r.in_class, r.codes), str(r.excluded), pct(r.with_strength, r.codes),
                      pct(r.mme_factor, r.codes) if r.cls == "opioids" else "-")
    console.print(table)
    console.print("excluded: products the class value set leaves out on purpose (`exclude`, "
                  "e.g. buprenorphine/naloxone is no rescue naloxone). MME factor: opioid "
                  "products whose opioid has a CDC factor; the others get \"MME not computed "
                  "for X\" on their cards.")
    if missing:
        for r in results:
            for line in r.missing:
                console.print(f"{r.cls}: {line}")
    if any(not r.complete for r in results):
        raise typer.Exit(1)
