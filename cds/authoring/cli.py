"""`cds rules check | test | schema` and `cds explain`: the informaticist's tools.

    cds rules check [DIR]            every problem as file:line:col: message (exit 1 if any)
    cds rules test [DIR] [--rule R]  run the pack's test cases (exit 1 if one fails)
    cds rules schema [--rules DIR] [--out DIR]   JSON Schemas of the pack's files, for editors
    cds explain REQUEST.json         facts, notes, fired rules, cards, near misses

DIR defaults to the configured pack (CDS_RULES_DIR, else the bundled rules/). A pack with
problems exits with status 1 after listing them; bad input (a request that is not JSON,
a time that is not ISO 8601, an unknown service or rule) exits with status 2 and one line.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from cds.authoring.check import check_dir
from cds.authoring.explain import Explanation, explain_request
from cds.authoring.packschema import file_kind, kind_schema, render, write_schemas
from cds.authoring.testing import build_evaluator, run_tests
from cds.authoring.vocabulary import pack_vocabulary
from cds.errors import RequestError
from cds.packsource import PackProblems
from cds.pipeline import Evaluator
from cds.rules.pack import read_pack
from cds.settings import Settings
from cds.suggest import unknown

rules_app = typer.Typer(name="rules", help="Check, test and describe rule packs.",
                        no_args_is_help=True)

DirArg = Annotated[Path | None, typer.Argument(help="Rule pack directory", file_okay=False)]


def _rules_dir(path: Path | None) -> Path:
    if path is not None:
        return path
    return Settings().rules_dir


def _console() -> Console:
    return Console(highlight=False, soft_wrap=True)



def _load_or_exit(console: Console, rules: Path | None) -> Evaluator:
    """The pack at `rules`, compiled; its problems printed and exit 1 when it cannot load."""
    try:
        return build_evaluator(_rules_dir(rules), run_pack_tests=False)
    except PackProblems as exc:
        for problem in exc.problems:
            console.print(str(problem), markup=False)
        raise typer.Exit(1) from exc

def _bad_input(command: str, message: str) -> NoReturn:
    """One line on stderr and exit status 2: the input, not the pack, is wrong."""
    typer.secho(f"cds {command}: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _time(value: str | None) -> datetime:
    """`--now` as an aware datetime (UTC when no offset is given); now when absent."""
    if value is None:
        return datetime.now(UTC)
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        _bad_input("explain", f"--now {value!r} is not an ISO 8601 time "
                              "(e.g. 2026-11-20T09:00:00Z)")
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        _bad_input("explain", f"{path} is not JSON: {exc.msg} (line {exc.lineno}, column "
                              f"{exc.colno})")
    except OSError as exc:
        _bad_input("explain", f"cannot read {path}: {exc.strerror or exc}")
    except UnicodeDecodeError as exc:
        _bad_input("explain", f"{path} is not UTF-8 text: {exc.reason}")


@rules_app.command("check")
def check_command(rules: DirArg = None) -> None:
    """Check a pack: schema, facts, compilation, cards, tests; file:line:col per problem."""
    directory = _rules_dir(rules)
    problems = check_dir(directory)
    console = _console()
    for problem in problems:
        console.print(str(problem), markup=False)
    errors = [p for p in problems if p.is_error]
    if errors:
        console.print(f"[red]{len(errors)} error(s)[/red], {len(problems) - len(errors)} "
                      f"warning(s) in {directory}")
        raise typer.Exit(1)
    pack, _ = read_pack(directory)
    assert pack is not None
    cases = sum(len(t.tests.cases) for t in pack.tests)
    console.print(f"[green]OK[/green] {pack.name} {pack.version}: {len(pack.rules)} rules, "
                  f"{cases} test cases, hooks {', '.join(pack.hooks())}")


@rules_app.command("test")
def test_command(
    rules: DirArg = None,
    rule: Annotated[str | None, typer.Option(help="Only this rule's test file")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="List passing cases")] = False,
) -> None:
    """Run the pack's rule test cases (rules/tests/*.yaml)."""
    console = _console()
    evaluator = _load_or_exit(console, rules)
    if rule is not None and all(t.tests.rule != rule for t in evaluator.pack.tests):
        _bad_input("rules test", unknown("rule", rule,
                                         sorted({t.tests.rule for t in evaluator.pack.tests}),
                                         label="rules with tests"))
    results = run_tests(evaluator, rule)
    failed = [r for r in results if not r.passed]
    for r in results:
        if r.passed and not verbose:
            continue
        status = "[green]PASS[/green]" if r.passed else "[red]FAIL[/red]"
        console.print(f"{status} {r.file}:{r.line} {r.id}")
        for failure in r.failures:
            console.print(f"     {failure}", markup=False)
    console.print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if failed or not results:
        raise typer.Exit(1)


@rules_app.command("schema")
def schema_command(
    rules: Annotated[Path | None, typer.Option(help="Rule pack directory", file_okay=False)
                     ] = None,
    out: Annotated[Path | None, typer.Option(
        help="Write one schema per kind of pack file here (the pack's own: DIR/schemas)",
        file_okay=False)] = None,
) -> None:
    """JSON Schemas of the pack's files, with the pack's ids (measures, value sets,
    parameters, templates ...) as enums, for editors; without --out, the rule-file schema."""
    directory = _rules_dir(rules)
    if not (directory / "pack.yaml").is_file():
        typer.secho(f"cds rules schema: no rule pack in {directory} (no pack.yaml)",
                    fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    if out is None:
        typer.echo(render(kind_schema(file_kind("rule"), pack_vocabulary(directory))), nl=False)
        return
    written = write_schemas(directory, out)
    _console().print(f"wrote {len(written)} schemas to {out}", markup=False)


def _fields(fact: dict[str, Any]) -> str:
    skip = {"id", "type", "sid"}
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in fact.items() if k not in skip)


def print_explanation(expl: Explanation, console: Console) -> None:
    ev = expl.evaluation
    console.print(f"[bold]{expl.hook}[/bold] via {expl.service} at {expl.now.isoformat()}")
    if expl.not_run:
        console.print(f"Rules not run: {expl.not_run}")
        return
    facts = Table("id", "type", "fields", title=f"Facts ({len(ev.facts)})")
    for fact in ev.facts:
        facts.add_row(str(fact.get("id")), str(fact.get("type")), _fields(fact))
    console.print(facts)
    if ev.notes:
        notes = Table("kind", "message", "resource", title="Data not used")
        for note in ev.notes:
            notes.add_row(note.kind, note.message, note.resource or "")
        console.print(notes)
    fired = Table("rule", "branch", "bindings", title="Rules fired")
    for match in expl.fired:
        fired.add_row(match.rule, str(match.branch), ", ".join(
            f"{name} = {fact.get('id')}" for name, fact in match.bindings.items()))
    console.print(fired)
    cards = Table("indicator", "rule", "summary", "also from", title="Cards")
    for card in ev.cards:
        cards.add_row(card.indicator, card.meta.rule, card.summary,
                      ", ".join(card.meta.also_from))
    console.print(cards)
    for title, misses in (("Vetoed by unless", expl.vetoed), ("Near misses", expl.near_misses)):
        if misses:
            table = Table("rule", "title", "branch", "why not", title=title)
            for m in misses:
                table.add_row(m.rule, m.title, str(m.branch), m.reason)
            console.print(table)
    timings = ", ".join(f"{k} {v:.2f} ms" for k, v in ev.timings_ms.items())
    console.print(f"[dim]{timings}[/dim]")


def explain_command(
    request: Annotated[Path, typer.Argument(help="CDS Hooks request JSON")],
    now: Annotated[str | None, typer.Option(help="Evaluation time, ISO 8601 (default: now)")
                   ] = None,
    rules: Annotated[Path | None, typer.Option(help="Rule pack directory", file_okay=False)
                     ] = None,
    service: Annotated[str | None, typer.Option(help="Service id (default: the first service "
                                                     "of the request's hook)")] = None,
) -> None:
    """Explain a decision: facts, data notes, fired rules, cards and near misses."""
    console = _console()
    when = _time(now)
    body = _json(request)
    evaluator = _load_or_exit(console, rules)
    try:
        explanation = explain_request(evaluator, body, when, service)
    except RequestError as exc:
        _bad_input("explain", f"{request}: {exc.message}")
    print_explanation(explanation, console)
