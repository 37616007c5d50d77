"""`cds population generate`: a seeded synthetic population as a FHIR Bulk Data export."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from cds.population.writer import generate
from cds.settings import Settings

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
    try:
        when = _moment(now)
    except ValueError as exc:
        typer.secho(f"cds population generate: --now {now!r} is not an ISO 8601 date or "
                    "date-time", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc
    manifest = generate((rules or Settings().rules_dir).resolve(), out, patients, seed, when,
                        gz=gzip, workers=workers or len(os.sched_getaffinity(0)))
    info = manifest["extension"]["generator"]
    typer.echo(f"{info['patients']:,} patients, {info['resources']:,} resources in "
               f"{len(manifest['output'])} files: {out}")


def _moment(text: str | None) -> datetime:
    """--now: a date is midnight UTC, a time without zone is UTC; none is now."""
    if text is None:
        return datetime.now(UTC).replace(microsecond=0)
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
