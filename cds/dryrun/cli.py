"""`cds dryrun INPUT --now DATE --out DIR`: every service of the pack on every patient of a
FHIR Bulk Data export; tables, and an HTML report for the governance committee. The work is
in cds/dryrun/run.py, imported when the command runs: it needs the `dryrun` extra."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from cds.dryrun import DryRunError

EXTRA = ("pyarrow", "matplotlib")  # what `pip install 'stress-pain-cds[dryrun]'` brings


def parse_now(text: str) -> datetime:
    """An ISO 8601 date or date-time; a date is midnight UTC, a time without zone is UTC."""
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise DryRunError(f"--now {text!r} is not an ISO 8601 date or date-time") from exc
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def dryrun_command(
    source: Annotated[str, typer.Argument(
        metavar="INPUT", help="FHIR Bulk Data export directory (*.ndjson, *.ndjson.gz), or a "
        "FHIR server base URL to export from with $export")],
    now: Annotated[str, typer.Option(help="Evaluation time, ISO 8601 (lookbacks and ages "
                                          "are counted from it)")],
    out: Annotated[Path, typer.Option(help="Output directory (a rerun resumes a run here)",
                                      file_okay=False)],
    hooks: Annotated[str | None, typer.Option(help="Comma-separated hooks (default: every "
                                              "hook the pack has a service for)")] = None,
    compare: Annotated[Path | None, typer.Option(help="Another pack directory: which patients "
                                                 "gain or lose which cards", file_okay=False,
                                                 exists=True)] = None,
    rules: Annotated[Path | None, typer.Option(help="Rule pack directory (default: "
                                               "CDS_RULES_DIR, else the bundled pack)",
                                               file_okay=False, exists=True)] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Local worker processes "
                                                "(default: the machine's cores)")] = None,
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler address, e.g. "
                                                  "tcp://HOST:8786, instead of local workers")
                         ] = None,
    partitions: Annotated[int | None, typer.Option(
        min=1, help="Partitions of the population (default: about 24 MB of NDJSON each, "
        "at least 8)")] = None,
    token_env: Annotated[str | None, typer.Option(
        "--token-env", help="$export only: the environment variable holding the bearer "
        "token (never passed on the command line)")] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars on stderr")] = True,
) -> None:
    """Population dry-run: how often each rule would fire before go-live."""
    try:
        from cds.dryrun.run import run_dryrun
    except ImportError as exc:
        if (exc.name or "").split(".")[0] not in EXTRA:
            raise
        typer.secho(f"cds dryrun needs {exc.name}: pip install 'stress-pain-cds[dryrun]'",
                    fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc
    try:
        summary = run_dryrun(source, parse_now(now), out, hooks=hooks, compare=compare,
                             rules=rules, workers=workers, scheduler=scheduler,
                             partitions=partitions, token_env=token_env, progress=progress)
    except DryRunError as exc:
        typer.secho(f"cds dryrun: {exc.message}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"{summary['patients']:,} patients, "
               + ", ".join(f"{o['openings']:,} {o['hook']}" for o in summary["openings"])
               + f" calls in {summary['seconds']:.1f} s")
    typer.echo(f"report: {out / 'report.html'}")
    typer.echo(f"tables: {out / 'tables'}")


