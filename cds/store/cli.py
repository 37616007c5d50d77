"""`cds report`: per-rule numbers from the audit trail, as a table or JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import inspect
from sqlalchemy.exc import SQLAlchemyError

from cds.settings import Settings
from cds.store import tables
from cds.store.database import make_engine, safe_url
from cds.store.report import Report, build_report

REPORT_TIMEOUT_MS = 600_000  # a report reads whole tables: not held to a request's deadline


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


def report_command(
    since: Annotated[
        datetime | None,
        typer.Option(help="Only calls and cards from this date/time on (UTC)",
                     formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"]),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", help="Database to read (default: CDS_DATABASE_URL)"),
    ] = None,
    output: Annotated[
        OutputFormat, typer.Option("--format", help="table or json")
    ] = OutputFormat.table,
) -> None:
    """Per rule: times fired, cards issued, cards held back by the budget, accepted,
    overridden, acceptance rate.

    Overrides are broken down by reason. The acceptance rate is accepted cards over cards
    issued (EHRs never report ignored cards). Then the medication codes the pack could not
    resolve, most frequent first: add or import them so the safety rules can see them.
    """
    if database_url is None:
        database_url = Settings().database_url
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    engine = make_engine(database_url, REPORT_TIMEOUT_MS)
    try:
        if not inspect(engine).has_table(tables.calls.name):
            typer.secho(f"no audit trail in {safe_url(engine)}", fg=typer.colors.RED, err=True)
            raise typer.Exit(1)
        report = build_report(engine, since)
    except SQLAlchemyError as exc:
        typer.secho(f"cannot read {safe_url(engine)}: {type(exc).__name__}",
                    fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
    if output is OutputFormat.json:
        typer.echo(json.dumps(report.to_json(), indent=2))
    else:
        console = Console()
        console.print(render_table(report))
        if report.unresolved:
            console.print(render_unresolved(report))


def render_table(report: Report) -> Table:
    period = f"since {report.since:%Y-%m-%d %H:%M} UTC" if report.since else "all time"
    table = Table(title=f"Rules, {period} ({report.calls} calls)")
    for column in ("Rule", "Fired", "Cards", "Held back", "Accepted", "Overridden",
                   "Acceptance"):
        table.add_column(column, justify="left" if column == "Rule" else "right")
    table.add_column("Override reasons")
    for rule in report.rules:
        rate = rule.acceptance_rate
        reasons = "\n".join(
            f"{r.display or r.code or 'none given'} ({r.cards})" for r in rule.override_reasons
        )
        table.add_row(
            rule.rule, str(rule.fired), str(rule.cards), str(rule.left_out), str(rule.accepted),
            str(rule.overridden), "-" if rate is None else f"{rate:.0%}", reasons or "-",
        )
    return table


def render_unresolved(report: Report) -> Table:
    table = Table(title="Medication codes the pack could not resolve (most frequent first)")
    for column in ("calls", "code", "system", "name as sent"):
        table.add_column(column, justify="right" if column == "calls" else "left")
    for u in report.unresolved:
        table.add_row(str(u.calls), u.code, u.system, u.display)
    return table


app = typer.Typer(add_completion=False)
app.command("report")(report_command)

