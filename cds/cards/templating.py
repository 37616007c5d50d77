"""Jinja for card text and FHIR resource templates: compiled once at pack load, sandboxed.

Missing bindings render as empty text rather than failing: a rule whose `when` has `any`
branches binds only the names of the branch that matched, and its card text may mention the
others (`{{ gad7.value | num }}` is empty when the PHQ-9 branch fired). Conditions (`when` of
variants, suggestions and actions) that raise count as false.

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

import contextlib
import contextvars
import functools
import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from jinja2 import ChainableUndefined, Undefined
from jinja2.parser import Parser
from jinja2.runtime import Context, new_context
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import concat, consume

from cds.cards.codegen import Compiler, Unsupported

log = logging.getLogger("cds.cards")

_ERRORS: contextvars.ContextVar[list[Exception] | None] = contextvars.ContextVar(
    "template_errors", default=None)


@contextlib.contextmanager
def collect_errors() -> Iterator[list[Exception]]:
    """Collect template errors instead of logging them (`cds rules check` reports them)."""
    errors: list[Exception] = []
    token = _ERRORS.set(errors)
    try:
        yield errors
    finally:
        _ERRORS.reset(token)


def _failed(exc: Exception, what: str) -> None:
    errors = _ERRORS.get()
    if errors is not None:
        errors.append(exc)
    else:
        log.error("%s: %s: %s", what, type(exc).__name__, exc)


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
_COMPILER = Compiler(ENV, _GLOBALS, text_leaf=lambda source: compile_text(source),
                     expression_leaf=lambda source: _expression(source),
                     failed=lambda exc, what: _failed(exc, what))


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
    try:
        text = _COMPILER.text(ENV.parse(source))
    except Unsupported:
        def text(scope: Scope) -> str:
            return str(concat(template.root_render_func(scope.context())))

    def render(scope: Scope) -> str:
        try:
            return text(scope)
        except Exception as exc:  # a template must never fail a hook call
            _failed(exc, "card template failed; rendered empty")
            return ""

    return render


@functools.lru_cache(maxsize=4096)
def _expression(source: str) -> Native:
    """An expression as a function of the scope (its value may be Jinja's undefined)."""
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
    """A Jinja expression as a predicate; errors and undefined values are false."""
    if source is None:
        return lambda _scope: True
    expression = _expression(source)

    def holds(scope: Scope) -> bool:
        try:
            return bool(expression(scope))
        except Exception:
            return False

    return holds


def compile_native(node: Any) -> Native:
    """A nested structure whose string leaves are templates; see the module docstring.
    Constant parts are prepared once and shared between renderings (never mutate them)."""
    return _COMPILER.native(node)
