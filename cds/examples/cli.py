"""`cds example NAME [--now WHEN]`: an example request dated relative to now.

The example patients are described with relative times (`days_ago`), so the request printed
is the one the example stands for on any day: pipe it to the service,
`cds example r02-depression-with-pain | curl ... -d @-`. `cds example --list` lists them.
"""

from __future__ import annotations

import difflib
import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from cds.examples.patients import EXAMPLES, request_for


def parse_when(text: str) -> datetime:
    """An ISO 8601 date (midnight UTC) or date-time (UTC unless it names its offset), in UTC."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date or date-time (e.g. 2026-11-20 or "
                         "2026-11-20T09:00:00Z)") from None
    return when.astimezone(UTC) if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _unknown(name: str, names: list[str]) -> str:
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.5)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"no example {name!r}; {hint}`cds example --list` lists them"


def example_command(
    name: Annotated[str | None, typer.Argument(help="Example name (see --list)")] = None,
    now: Annotated[
        str | None, typer.Option(help="Date the request for this moment instead of now: "
                                      "2026-11-20 or 2026-11-20T09:00:00Z")
    ] = None,
    list_: Annotated[
        bool, typer.Option("--list", help="List the examples: name, service, what it shows")
    ] = False,
) -> None:
    """Print an example CDS Hooks request, dated relative to now (or --now)."""
    if list_:
        width = max(map(len, EXAMPLES))
        for key, example in EXAMPLES.items():
            typer.echo(f"{key:<{width}}  {example.service:<24}  {example.about}")
        return
    if name is None:
        raise typer.BadParameter("name an example, or use --list", param_hint="NAME")
    key = name.removesuffix(".json")
    if key not in EXAMPLES:
        raise typer.BadParameter(_unknown(key, list(EXAMPLES)), param_hint="NAME")
    try:
        when = parse_when(now) if now is not None else datetime.now(UTC)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--now") from None
    typer.echo(json.dumps(request_for(key, when), indent=2))
