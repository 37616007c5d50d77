"""Jinja for card text and FHIR resource templates: compiled once at pack load, sandboxed.

Missing bindings render as empty text rather than failing: a rule whose `when` has `any`
branches binds only the names of the branch that matched, and its card text may mention the
others (`{{ gad7.value | num }}` is empty when the PHQ-9 branch fired). A condition (`when` of
variants, suggestions, actions and links) that compares a value the match does not have
(`crcl.value < 30` when the branch bound no `crcl`) is false. Any other failure is a template
error: `cds rules check` renders every template over sample facts of each branch and reports
it (cds.authoring.cardcheck); at run time the card renderer collects it (`collect_errors`), and
the card is sent with its rule's title only (cds.cards.render).

Resource templates keep types: a string leaf that is exactly one `{{ expression }}` yields
the expression's native value (a float stays a number in `doseQuantity.value`); other string
leaves render as text. Keys whose value comes out empty (None, "", {}, []) are left out, so
an optional element disappears when the binding it refers to is absent.

Speed: templates made only of output, `{% if %}` blocks and common expressions run as generated
Python functions with Jinja's semantics (`cds.cards.codegen`); the others run as compiled Jinja. A
Jinja context costs far more than running a template, so one `Scope` (the variables of one
card) creates one context lazily, only if some template or call of the card needs it.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any, cast

from jinja2 import ChainableUndefined, TemplateSyntaxError, Undefined, UndefinedError, nodes
from jinja2.parser import Parser
from jinja2.runtime import Context, new_context
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import concat, consume

from cds.cards.codegen import Compiler, ScopeLike, Unsupported

log = logging.getLogger("cds.cards")

_ERRORS: contextvars.ContextVar[list[Exception] | None] = contextvars.ContextVar(
    "template_errors", default=None)


class collect_errors:  # lower case: it reads as a function, `with collect_errors() as e`
    """Collect the template errors raised inside the block instead of logging them (the
    card renderer, once per card, and `cds rules check` act on them). A class rather than a
    generator-based context manager: it costs a fraction as much per card."""

    __slots__ = ("errors", "_token")

    def __enter__(self) -> list[Exception]:
        self.errors: list[Exception] = []
        self._token = _ERRORS.set(self.errors)
        return self.errors

    def __exit__(self, *_exc: object) -> None:
        _ERRORS.reset(self._token)


def _failed(exc: Exception, what: str) -> None:
    errors = _ERRORS.get()
    if errors is not None:
        errors.append(exc)
    else:  # the type only: an exception's text may quote a value of the patient's data
        log.error("%s: %s", what, type(exc).__name__)


def num(value: Any, digits: int = 1) -> str:
    """A number for people: 12.0 -> "12", 6.666 -> "6.7"; anything else as text."""
    if value is None or isinstance(value, Undefined):
        return ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    rounded = round(float(value), digits)
    if rounded.is_integer():
        return str(int(rounded))
    return f"{rounded:.{digits}f}".rstrip("0").rstrip(".")


def days_after(start: Any, days: Any) -> str:
    """ISO timestamp `days` after the ISO timestamp `start` ("" if either is unusable): due
    dates of suggested follow-ups, e.g. `{{ now | days_after(28) }}`."""
    try:
        return (datetime.fromisoformat(str(start)) + timedelta(days=float(days))).isoformat()
    except (TypeError, ValueError, OverflowError):
        return ""


def make_environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(undefined=ChainableUndefined, autoescape=False,
                               keep_trailing_newline=True, trim_blocks=True,
                               lstrip_blocks=True)
    env.filters["num"] = num
    env.filters["days_after"] = days_after
    return env


ENV = make_environment()
_GLOBALS = dict(ENV.globals)  # range, dict, namespace, ...: copied once, not per context
_COMPILER = Compiler(ENV, _GLOBALS, text_leaf=lambda source: _text_leaf(source),
                     expression_leaf=lambda source: _expression_leaf(source),
                     failed=lambda exc, what: _failed(exc, what))
PACK_FILTERS = ("num", "days_after")
_TEST = re.compile(r"\sis\s")


@functools.lru_cache(maxsize=4096)
def unknown_filters(source: str, expression: bool) -> tuple[tuple[str, str], ...]:
    """("filter" or "test", name) of each filter and test the template names that the
    environment lacks. Jinja rejects those only when it compiles them outside an `{% if %}`
    and otherwise fails when they run; the pack loader rejects them all."""
    if "|" not in source and not _TEST.search(source):
        return ()
    try:
        ast = ENV.parse("{{ " + source + " }}" if expression else source)
    except TemplateSyntaxError:
        return ()  # reported when the template is compiled
    found = [("filter", n.name) for n in ast.find_all(nodes.Filter) if n.name not in ENV.filters]
    found += [("test", n.name) for n in ast.find_all(nodes.Test) if n.name not in ENV.tests]
    return tuple(dict.fromkeys(found))


def template_strings(node: Any, path: tuple[str | int, ...] = (),
                     ) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """(path, text) of every string leaf of a resource template or `with:` mapping."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from template_strings(v, (*path, str(k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from template_strings(v, (*path, i))
    elif isinstance(node, str):
        yield path, node


def filter_pattern(kind: str, name: str) -> str:
    """A regular expression for where a template applies the filter (or test) `name`."""
    if kind == "filter":
        return rf"\|\s*{re.escape(name)}\b"
    return rf"\bis\s+(?:not\s+)?{re.escape(name)}\b"


def known_filters(kind: str) -> list[str]:
    """The filters (or tests) templates may use: the pack's own first, then Jinja's."""
    names = ENV.filters if kind == "filter" else ENV.tests
    return [*(n for n in PACK_FILTERS if n in names), *sorted(set(names) - set(PACK_FILTERS))]


class Scope:
    """The variables of one rendering, with one Jinja context created on first use."""

    __slots__ = ("_context", "vars")

    def __init__(self, variables: Mapping[str, Any]) -> None:
        self.vars = dict(variables)
        self._context: Context | None = None

    def context(self) -> Context:
        if self._context is None:
            self._context = new_context(ENV, "card", {}, {**_GLOBALS, **self.vars}, True)
        return self._context

    def child(self, extra: Mapping[str, Any]) -> Scope:
        return Scope({**self.vars, **extra}) if extra else self


Text = Callable[[Scope], str]
Condition = Callable[[Scope], bool]
Native = Callable[[Scope], Any]


@functools.lru_cache(maxsize=4096)
def compile_text(source: str) -> Text:
    """A text template; raises jinja2.TemplateSyntaxError at load. Compiled functions are
    shared between rules and packs that use the same text (they hold no state)."""
    if "{" not in source:
        return lambda _scope: source
    template = ENV.from_string(source)
    text: Text
    try:
        text = _COMPILER.text(ENV.parse(source))
    except Unsupported:
        def interpreted(scope: Scope) -> str:
            return str(concat(template.root_render_func(scope.context())))
        text = interpreted

    def render(scope: Scope) -> str:
        try:
            return text(scope)
        except Exception as exc:  # a template must never fail a hook call
            _failed(exc, "card template failed; rendered empty")
            return ""

    return render


@functools.lru_cache(maxsize=4096)
def compile_expression(source: str) -> Native:
    """An expression as a function of the scope (its value may be Jinja's undefined; it
    raises what the expression raises)."""
    template = ENV.compile_expression(source)._template  # syntax errors raise here
    try:
        return _COMPILER.expression(Parser(ENV, source, state="variable").parse_expression())
    except Unsupported:
        def value(scope: Scope) -> Any:
            context = scope.context()
            consume(template.root_render_func(context))  # the `{% set result = ... %}` form
            return context.vars.pop("result", None)

        return value


@functools.lru_cache(maxsize=4096)
def compile_condition(source: str | None) -> Condition:
    """A Jinja expression as a predicate: undefined values, and comparisons with them, are
    false; any other failure is reported (`_failed`) and false."""
    if source is None:
        return lambda _scope: True
    expression = compile_expression(source)

    def holds(scope: Scope) -> bool:
        try:
            return bool(expression(scope))
        except UndefinedError:
            return False
        except Exception as exc:  # a condition must never fail a hook call
            _failed(exc, "card condition failed; taken as false")
            return False

    return holds


def compile_native(node: Any) -> Native:
    """A nested structure whose string leaves are templates; see the module docstring.
    Constant parts are prepared once and shared between renderings (never mutate them)."""
    return _COMPILER.native(node)


# The compiler hands its leaves the scope it was called with, always a Scope here.
def _text_leaf(source: str) -> Callable[[ScopeLike], str]:
    return cast("Callable[[ScopeLike], str]", compile_text(source))


def _expression_leaf(source: str) -> Callable[[ScopeLike], Any]:
    return cast("Callable[[ScopeLike], Any]", compile_expression(source))
