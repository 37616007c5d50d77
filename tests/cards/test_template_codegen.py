"""Templates run as generated Python functions give exactly what Jinja gives, and fall back to Jinja
for what the generator does not cover."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from cds.cards import templating
from cds.cards.codegen import Compiler, Unsupported
from cds.cards.templating import ENV, Scope, compile_native, compile_text
from cds.fhir.collect import collect
from cds.hooks.models import HookRequest
from cds.pipeline import Evaluator
from fhir_examples.generate import NOW
from tests.packs import shipped_pack

ROOT = Path(__file__).resolve().parents[2]
UNSET = object()


class _JinjaOnly(Compiler):
    """Generates only the structure of resource templates: every text and expression, and
    every leaf of a resource, runs as compiled Jinja."""

    def text(self, _template: Any) -> Any:
        raise Unsupported("disabled")

    def expression(self, _node: Any) -> Any:
        raise Unsupported("disabled")

    def _expr(self, _node: Any, _src: Any, _frame: str) -> str:
        raise Unsupported("disabled")


def _jinja_only() -> _JinjaOnly:
    shipped = templating._COMPILER
    return _JinjaOnly(ENV, shipped.globals, text_leaf=shipped.text_leaf,
                      expression_leaf=shipped.expression_leaf, failed=shipped.failed)


def _clear_caches() -> None:
    for cached in (templating.compile_text, templating.compile_expression,
                   templating.compile_condition):
        cached.cache_clear()


@pytest.fixture
def jinja_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    _clear_caches()
    monkeypatch.setattr(templating, "_COMPILER", _jinja_only())
    yield
    _clear_caches()


def _requests() -> list[tuple[str, dict[str, Any]]]:
    from bench.patients import build_request

    found = [(p.name, json.loads(p.read_text())) for p in
             sorted((ROOT / "fhir_examples").glob("*.json"))]
    return found + [(f"bench-{size}", build_request(size, seed=7)) for size in ("S", "M")]


def _cards(evaluator: Evaluator, requests: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    out = {}
    for name, body in requests:
        hook_request = HookRequest.model_validate(body)
        service = next(s.id for s in evaluator.services.services
                       if s.hook == hook_request.hook)
        data = collect(hook_request.prefetch, hook_request.context, hook_request.hook, service)
        cards = [c.model_dump(mode="json", exclude_none=True)
                 for c in evaluator.evaluate(data, NOW).cards]
        for card in cards:
            card.pop("uuid", None)
            for suggestion in card.get("suggestions", []):
                suggestion.pop("uuid")
        out[name] = cards
    return out


def test_the_shipped_pack_renders_the_same_cards_with_and_without_generated_code(
        monkeypatch: pytest.MonkeyPatch) -> None:
    requests = _requests()
    pack = shipped_pack()
    _clear_caches()
    with_generated = _cards(Evaluator(pack), requests)
    _clear_caches()
    monkeypatch.setattr(templating, "_COMPILER", _jinja_only())
    with_jinja = _cards(Evaluator(pack), requests)
    _clear_caches()
    assert sum(len(cards) for cards in with_generated.values()) > 35
    assert orjson.dumps(with_generated, option=orjson.OPT_SORT_KEYS) == \
        orjson.dumps(with_jinja, option=orjson.OPT_SORT_KEYS)


class Thing:
    """A non-dict object in a template's variables."""

    visible = "seen"
    _hidden = "secret"

    def shout(self, word: str) -> str:
        return word.upper()


SCOPE = {
    "d": {"a": 1, "b": None, "s": "Condition/1", "n": 7.25, "items": "an item", "keys": 3,
          "nested": {"x": [1, 2, 3]}},
    "text": "hello world", "zero": 0, "empty": "", "none": None, "num": 4, "flag": False,
    "lst": [3, 1, 2], "thing": Thing(), "params": {"codeine": {"max": 240}},
}

EXPRESSIONS = [
    "d.a", "d.b", "d.missing", "d.missing.deeper", "absent", "absent.x.y", "d.items",
    "d.keys", "d['items']", "d['a']", "d.nested.x[1]", "d.nested.x[5]", "lst[1:]", "text[:5]",
    "text[::-1]", "d.s.split('/')[0]", "d.s.split('/')[0] in ('Condition', 'Observation')",
    "d.s.split('/')[0] not in ('Condition',)", "absent.split('/')", "d.n | num",
    "d.n | num(0)", "absent | num", "text | capitalize", "absent | capitalize",
    "d.n | round(1)", "d.n | int", "absent | default('x')", "none | default('x', true)",
    "('P/' ~ d.a) if d.a else none", "'x' if flag", "'x' if flag else 'y'", "d.a or 'z'",
    "empty or 'z'", "absent or 'z'", "zero and 'z'", "not flag", "not absent", "-num + 2",
    "num * 3 - 1", "num / 3", "num // 3", "num % 3", "1 < num < 9", "1 < num < 3",
    "num == 4", "num != 4", "num >= 4.0", "absent < 3", "d.a is defined", "absent is defined",
    "none is none", "d.n is number", "[d.a, num, absent]", "{'k': d.a, 'm': absent}",
    "range(3) | list", "lst | sort | first", "lst | join(',')", "thing.visible",
    "thing._hidden", "thing.shout('hi')", "text.format(1)", "thing.__class__",
    "d.__class__", "'a' ~ none ~ absent ~ 1.5", "d.nested", "lst | length > 2",
    "lst | selectattr('x') | list", "params[d.s] is defined", "params['codeine'].max",
    "params.codeine.max / (2 if num > 3 else 1)", "(params.codeine.max / 3) | int",
]


def _via_jinja(source: str, variables: dict[str, Any]) -> Any:
    return ENV.compile_expression(source, undefined_to_none=False)(**variables)


def _outcome(run: Any) -> Any:
    try:
        value = run()
    except Exception as exc:  # the same failure both ways is the same behaviour
        return ("raised", type(exc).__name__)
    return ("value", type(value).__name__, str(value), repr(value) if not hasattr(
        value, "__html__") else None)


@pytest.mark.parametrize("source", EXPRESSIONS)
def test_a_generated_expression_behaves_as_jinja(source: str) -> None:
    compiler = Compiler(ENV, dict(ENV.globals))
    from jinja2.parser import Parser

    try:
        function = compiler.expression(Parser(ENV, source, state="variable").parse_expression())
    except Unsupported:
        pytest.fail(f"not compiled: {source}")
    scope = Scope(SCOPE)
    assert _outcome(lambda: function(scope)) == _outcome(lambda: _via_jinja(source, SCOPE))


TEXTS = [
    "plain {{ d.a }} and {{ absent }} and {{ none }} and {{ d.n | num }}",
    "{% if d.a %}A{% elif absent %}B{% else %}C{% endif %}|{% if flag %}x{% endif %}",
    "{% if absent %}A{% elif num > 3 %}B {{ num }}{% else %}C{% endif %}",
    "Line\n{% if d.a %}\n  - item {{ d.a }}\n{% endif %}\nend {{ lst }} {{ {'a': 1} }}",
    "{{ '%s' % num }} {{ d.b }} {{ flag }} {{ 1.0 }} {{ [none] }}",
    "{{ thing.shout('ok') }} {{ d.missing.x }}",
    "{% set x = d.a + 1 %}{{ x }} {% if flag %}{% set x = 9 %}{% endif %}{{ x }}",
    "{% set num = 40 %}{{ num }}|{% for num in lst %}{{ num }}{% set num = 0 %}{{ num }},"
    "{% endfor %}|{{ num }}",
    "{% for k in d %}{{ k }};{% endfor %}{% for x in absent %}never{% endfor %}",
    "{% for m in lst | sort %}{% set s = m * 2 %}{% if s > 2 %}{{ s }} {% endif %}{% endfor %}"
    "{{ s }}",
    "{% for x in none %}x{% endfor %}",
    "{{ lst | map('string') | join }} {{ (lst | selectattr('real') | first) }}",
]


@pytest.mark.parametrize("source", TEXTS)
def test_a_generated_text_renders_as_jinja(source: str) -> None:
    compiler = Compiler(ENV, dict(ENV.globals))
    render = compiler.text(ENV.parse(source))
    assert _outcome(lambda: render(Scope(SCOPE))) == \
        _outcome(lambda: ENV.from_string(source).render(SCOPE))


@pytest.mark.parametrize("source", [
    "{% for x in lst %}{{ loop.index }}{{ x }}{% endfor %}",
    "{% for x in lst if x > 1 %}{{ x }}{% else %}none{% endfor %}",
    "{% set a, b = lst[:2] %}{{ a }}{{ b }}", "{% macro m() %}x{% endmacro %}{{ m() }}"])
def test_templates_beyond_the_generator_still_render_through_jinja(source: str) -> None:
    with pytest.raises(Unsupported):
        Compiler(ENV, dict(ENV.globals)).text(ENV.parse(source))
    assert compile_text(source)(Scope(SCOPE)) == ENV.from_string(source).render(SCOPE)


def test_the_sandbox_still_guards_attributes_and_calls_in_generated_code() -> None:
    leak = compile_native({"a": "{{ thing.__class__.__mro__ }}", "b": "{{ thing._hidden }}",
                           "c": "{{ '{0.__class__}'.format(thing) }}",
                           "d": "{{ thing.shout.__globals__ }}"})
    assert leak(Scope(SCOPE)) == {}
    assert compile_text("{{ range(num * 100000000) | list }}!")(Scope(SCOPE)) == ""


def test_without_generated_code_the_jinja_path_gives_the_same_resource(jinja_only: None) -> None:
    node = {"a": "{{ d.n }}", "b": "{{ absent }}", "c": ["{{ d.a }}", "{{ none }}"],
            "t": "n={{ d.n | num }}", "e": {"f": "{{ d.b }}"}}
    assert compile_native(node)(Scope(SCOPE)) == {"a": 7.25, "c": [1], "t": "n=7.2"}


RESOURCE = {
    "resourceType": "Task", "status": "draft", "empty": "", "gone": [], "nothing": {},
    "for": {"reference": "{{ ('Patient/' ~ d.a) if d.a else none }}"},
    "value": "{{ d.n }}", "missing": "{{ absent }}", "flag": "{{ flag }}", "zero": "{{ zero }}",
    "text": "n={{ d.n | num }} {{ absent }}", "broken": "{{ none.split('/') }}",
    "list": ["{{ d.a }}", "{{ none }}", "", {"k": "{{ absent }}"}, {"k": "{{ lst }}"}, "x"],
    "deep": {"a": {"b": {"c": "{{ d.nested.x[0] }}", "d": "{{ d.nested.y }}"}}},
    "tuple": "{{ (d.a, 2) }}", "undefined_call": "{{ absent.split('/') }}",
    "power": "{{ num ** 2 }}",  # no generated code for `**`: this leaf runs as Jinja
}


def test_a_generated_resource_is_the_one_the_jinja_path_builds(
        monkeypatch: pytest.MonkeyPatch) -> None:
    generated = compile_native(RESOURCE)
    with templating.collect_errors() as errors:
        first = generated(Scope(SCOPE))
    _clear_caches()
    monkeypatch.setattr(templating, "_COMPILER", _jinja_only())
    with templating.collect_errors() as jinja_errors:
        second = compile_native(RESOURCE)(Scope(SCOPE))
    _clear_caches()
    assert first == second
    assert [type(e).__name__ for e in errors] == [type(e).__name__ for e in jinja_errors] != []
    assert first["value"] == 7.25 and first["zero"] == 0 and first["flag"] is False
    assert first["power"] == 16
    assert "broken" not in first and "missing" not in first and "empty" not in first
