"""`cds population generate`: a seeded synthetic population as a FHIR Bulk Data export."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

population_app = typer.Typer(name="population", no_args_is_help=True,
                             help="Synthetic populations for dry-runs and benchmarks.")


@population_app.command("generate")
def generate_command(
    patients: Annotated[int, typer.Option(min=1, help="Number of patients")],
    out: Annotated[Path, typer.Option(help="Output directory (NDJSON files, export.json)",
                                      file_okay=False)],
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same "
                                           "export")] = 1,
    now: Annotated[str | None, typer.Option(help="Records end the day before this date, "
                                                 "ISO 8601 (default: now)")] = None,
    gzip: Annotated[bool, typer.Option("--gzip", help="Write .ndjson.gz files")] = False,
    workers: Annotated[int | None, typer.Option(min=1, help="Processes (default: the "
                                                "machine's cores)")] = None,
    rules: Annotated[Path | None, typer.Option(help="Rule pack whose value sets and product "
                                               "table give the codes", file_okay=False,
                                               exists=True)] = None,
) -> None:
    """Write PATIENTS synthetic patients (about 100 resources each) to OUT."""
    from datetime import UTC, datetime

    from cds.dryrun import DryRunError
    from cds.dryrun.cli import parse_now
    from cds.dryrun.execute import default_workers
    from cds.population.writer import generate
    from cds.settings import Settings

    try:
        when = parse_now(now) if now else datetime.now(UTC).replace(microsecond=0)
    except DryRunError as exc:
        typer.secho(f"cds population generate: {exc.message}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc
    manifest = generate((rules or Settings().rules_dir).resolve(), out, patients, seed, when,
                        gz=gzip, workers=workers or default_workers())
    info = manifest["extension"]["generator"]
    typer.echo(f"{info['patients']:,} patients, {info['resources']:,} resources in "
               f"{len(manifest['output'])} files: {out}")
