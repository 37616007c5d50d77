"""The `cds` command: serve the hooks, and the informaticist's tools."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from cds.auth import IssuerConfigError
from cds.auth.issuers import load_trusted_issuers
from cds.authoring.cli import explain_command, rules_app
from cds.dryrun.cli import dryrun_command
from cds.examples.cli import example_command
from cds.http_protocol import head_limited_protocol
from cds.logs import configure_logging
from cds.population.cli import population_app
from cds.serving.workers import PortUnavailableError
from cds.serving.workers import serve as run_service
from cds.settings import Settings
from cds.store.cli import report_command
from cds.terminology.cli import terminology_app
from cds.version import version_text

app = typer.Typer(
    name="cds",
    help="Stress-pain CDS Hooks service: serve, check and test rule packs, explain decisions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(version_text(Settings().rules_dir))
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True,
                           help="Print the package version and the rule pack's, and exit")
    ] = False,
) -> None:
    """Stress-pain CDS Hooks service: serve, check and test rule packs, explain decisions."""


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (CDS_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (CDS_PORT)")] = None,
    rules: Annotated[
        Path | None, typer.Option(help="Rule pack directory (CDS_RULES_DIR)", exists=True,
                                  file_okay=False)
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (CDS_WORKERS)")] = None,
    reload: Annotated[
        bool, typer.Option("--reload", help="Swap in edited rule files once they pass check "
                           "and their tests")
    ] = False,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="LOCAL DEVELOPMENT ONLY: accept calls without a "
                           "CDS Hooks JWT (same as CDS_AUTH=off)")
    ] = False,
) -> None:
    """Start the CDS Hooks service (default http://127.0.0.1:8080/cds-services)."""
    from uvicorn.config import STARTUP_FAILURE

    # Flags become CDS_* variables so that every worker process builds the same Settings.
    overrides = {
        "CDS_HOST": host, "CDS_PORT": port, "CDS_WORKERS": workers,
        "CDS_RULES_DIR": str(rules.resolve()) if rules else None,
        "CDS_RELOAD": "true" if reload else None, "CDS_AUTH": "off" if no_auth else None,
    }
    for key, value in overrides.items():
        if value is not None:
            os.environ[key] = str(value)
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    if not (settings.rules_dir / "pack.yaml").is_file():
        typer.secho(f"cds serve: no rule pack in {settings.rules_dir} (it has no pack.yaml); "
                    "name one with --rules DIR or CDS_RULES_DIR", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    if not settings.auth_enabled:
        typer.secho(
            "WARNING: authentication is OFF. Any caller can invoke this service. "
            "Local development only; production runs with CDS_AUTH=on and trusted issuers.",
            fg=typer.colors.RED, bold=True, err=True,
        )
    if settings.auth_enabled:
        try:  # fail here, with the list of problems, rather than in every worker
            load_trusted_issuers(settings.trusted_issuers)
        except IssuerConfigError as exc:
            typer.secho(f"cds serve: {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(2) from exc
    try:
        status = run_service(
            "cds.serving.factory:create_served_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_config=None,
            access_log=False,
            proxy_headers=False,
            http=head_limited_protocol(settings.max_header_bytes, settings.max_header_line_bytes,
                                       settings.header_timeout_ms / 1000.0),
        )
    except PortUnavailableError as exc:
        typer.secho(f"cds serve: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(STARTUP_FAILURE) from exc
    if status:
        raise typer.Exit(status)


app.add_typer(rules_app, name="rules")
app.add_typer(terminology_app, name="terminology")
app.command("explain")(explain_command)
app.command("example")(example_command)
app.command("report")(report_command)
app.command("dryrun")(dryrun_command)
app.add_typer(population_app, name="population")


def main() -> None:
    try:
        app(prog_name="cds")
    except KeyboardInterrupt:
        sys.exit(130)
