"""A subset of Jinja compiled to Python closures, with Jinja's own semantics.

Running a compiled Jinja template needs a `Context` per rendering and goes through the
generated module's machinery for every output; for the short texts and one-expression leaves
of card templates that overhead is most of the cost. This module walks the parsed template
(`Environment.parse`) and builds a closure per node instead, for the node kinds card
templates use: names, constants, attribute and item access, filters and tests, inline `if`,
`and`/`or`/`not`, comparisons, arithmetic without `**`, `~`, literals, calls, `{% if %}`,
`{% set name = ... %}` and plain `{% for %}` blocks. Anything else (macros, `loop.*`, `for`
with `else`, ...) raises `Unsupported` and the caller keeps the Jinja template.

Semantics are Jinja's by construction: attribute and item access, calls and filters go
through the same sandboxed environment methods the generated code calls, a missing name is
the environment's `undefined`, and output is `str(value)` as in a non-autoescaping
environment. The one shortcut (a key of a plain dict read directly) is taken only where the
sandbox would end up reading the same key.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from jinja2 import ChainableUndefined, Undefined, nodes
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import _PassArg


class Unsupported(Exception):
    """A node kind this module does not compile; the caller falls back to Jinja."""


class ScopeLike(Protocol):
    vars: dict[str, Any]

    def context(self) -> Context: ...


class _Frame:
    """Variables a template sets (or a loop binds) over those of the card it renders."""

    __slots__ = ("_outer", "vars")

    def __init__(self, outer: ScopeLike, variables: dict[str, Any]) -> None:
        self._outer = outer
        self.vars = variables

    def context(self) -> Context:
        return self._outer.context()


Closure = Callable[[ScopeLike], Any]
_MISSING = object()
_DICT_ATTRIBUTES = frozenset(dir(dict))
_BINARY: dict[type[nodes.BinExpr], Callable[[Any, Any], Any]] = {
    nodes.Add: operator.add, nodes.Sub: operator.sub, nodes.Mul: operator.mul,
    nodes.Div: operator.truediv, nodes.FloorDiv: operator.floordiv, nodes.Mod: operator.mod,
}
_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "lteq": operator.le,
    "gt": operator.gt, "gteq": operator.ge,
    "in": lambda a, b: a in b, "notin": lambda a, b: a not in b,
}


class Compiler:
    """Compiles nodes of templates parsed by `env` (whose globals are `globals_`)."""

    def __init__(self, env: SandboxedEnvironment, globals_: Mapping[str, Any]) -> None:
        self.env = env
        self.globals = globals_
        if env.intercepted_binops or env.intercepted_unops or env.is_async:
            raise Unsupported("environment intercepts operators or is async")

    # -- templates --------------------------------------------------------------------

    def text(self, template: nodes.Template) -> Callable[[ScopeLike], str]:
        """A template of output, `if`, `set` and simple `for` blocks, as one text function."""
        parts = self._statements(template.body)
        assigns = any(True for _ in template.find_all(nodes.Assign))

        def render(scope: ScopeLike) -> str:
            out: list[str] = []
            if assigns:  # the template's own `set`s shadow the card's variables
                scope = _Frame(scope, dict(scope.vars))
            for part in parts:
                part(scope, out)
            return "".join(out)

        return render

    def _statements(self, body: list[nodes.Node]) -> list[Callable[[ScopeLike, list[str]], None]]:
        return [self._statement(node) for node in body]

    def _statement(self, node: nodes.Node) -> Callable[[ScopeLike, list[str]], None]:
        if isinstance(node, nodes.Output):
            pieces = [self._output(child) for child in node.nodes]

            def output(scope: ScopeLike, out: list[str]) -> None:
                for piece in pieces:
                    out.append(piece(scope))

            return output
        if isinstance(node, nodes.If):
            branches = [(self.expression(node.test), self._statements(node.body))]
            branches += [(self.expression(e.test), self._statements(e.body)) for e in node.elif_]
            otherwise = self._statements(node.else_)

            def when(scope: ScopeLike, out: list[str]) -> None:
                chosen = next((body for test, body in branches if test(scope)), otherwise)
                for part in chosen:
                    part(scope, out)

            return when
        if isinstance(node, nodes.Assign):
            return self._assign(node)
        if isinstance(node, nodes.For):
            return self._for(node)
        raise Unsupported(type(node).__name__)

    def _assign(self, node: nodes.Assign) -> Callable[[ScopeLike, list[str]], None]:
        if not isinstance(node.target, nodes.Name):
            raise Unsupported("set of several names")
        name, value = node.target.name, self.expression(node.node)

        def assign(scope: ScopeLike, _out: list[str]) -> None:
            scope.vars[name] = value(scope)

        return assign

    def _for(self, node: nodes.For) -> Callable[[ScopeLike, list[str]], None]:
        """A loop without `loop.*`, `else`, a filter or recursion; each pass its own frame."""
        if not isinstance(node.target, nodes.Name) or node.else_ or node.test is not None \
                or node.recursive or any(n.name == "loop" for n in node.find_all(nodes.Name)):
            raise Unsupported("for loop beyond a plain one")
        name, items, body = node.target.name, self.expression(node.iter), \
            self._statements(node.body)

        def loop(scope: ScopeLike, out: list[str]) -> None:
            for item in items(scope):
                inner = _Frame(scope, {**scope.vars, name: item})
                for part in body:
                    part(inner, out)

        return loop

    def _output(self, node: nodes.Node) -> Callable[[ScopeLike], str]:
        if isinstance(node, nodes.TemplateData):
            data = node.data
            return lambda _scope: data
        value = self.expression(node)
        return lambda scope: str(value(scope))

    # -- expressions ------------------------------------------------------------------

    def expression(self, node: nodes.Node) -> Closure:
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            raise Unsupported(type(node).__name__)
        return method(node)

    def _args(self, node: nodes.Filter | nodes.Test | nodes.Call,
              ) -> tuple[list[Closure], dict[str, Closure]]:
        if node.dyn_args is not None or node.dyn_kwargs is not None:
            raise Unsupported("*args or **kwargs")
        return ([self.expression(a) for a in node.args],
                {kw.key: self.expression(kw.value) for kw in node.kwargs})

    def _Const(self, node: nodes.Const) -> Closure:
        value = node.value
        return lambda _scope: value

    def _Name(self, node: nodes.Name) -> Closure:
        if node.ctx != "load":
            raise Unsupported("assignment")
        name = node.name
        fallback = self.globals.get(name, _MISSING)
        if fallback is _MISSING:
            fallback = self.env.undefined(name=name)  # immutable: one instance serves all

        def load(scope: ScopeLike) -> Any:
            value = scope.vars.get(name, _MISSING)
            return fallback if value is _MISSING else value

        return load

    def _Getattr(self, node: nodes.Getattr) -> Closure:
        target, attr, getattr_ = self.expression(node.node), node.attr, self.env.getattr
        if attr in _DICT_ATTRIBUTES:
            return lambda scope: getattr_(target(scope), attr)

        undefined = self.env.undefined
        chains = undefined if issubclass(undefined, ChainableUndefined) \
            and not attr.startswith("_") else None

        def attribute(scope: ScopeLike) -> Any:
            obj = target(scope)
            kind = type(obj)
            if kind is dict:  # what the sandbox ends with for a key that is no dict method
                return obj[attr] if attr in obj else undefined(obj=obj, name=attr)
            if kind is chains:  # the sandbox returns the undefined itself
                return obj
            return getattr_(obj, attr)

        return attribute

    def _Getitem(self, node: nodes.Getitem) -> Closure:
        target = self.expression(node.node)
        if isinstance(node.arg, nodes.Slice):  # Jinja indexes slices directly
            bounds = [None if n is None else self.expression(n)
                      for n in (node.arg.start, node.arg.stop, node.arg.step)]

            def sliced(scope: ScopeLike) -> Any:
                return target(scope)[slice(*(b(scope) if b else None for b in bounds))]

            return sliced
        key, getitem = self.expression(node.arg), self.env.getitem
        return lambda scope: getitem(target(scope), key(scope))

    def _Filter(self, node: nodes.Filter) -> Closure:
        if node.node is None:
            raise Unsupported("filter block")
        return self._applied(self.env.filters.get(node.name), node)

    def _Test(self, node: nodes.Test) -> Closure:
        return self._applied(self.env.tests.get(node.name), node)

    def _applied(self, func: Callable[..., Any] | None, node: nodes.Filter | nodes.Test,
                 ) -> Closure:
        if func is None:
            raise Unsupported(f"unknown filter or test {node.name}")
        assert node.node is not None
        value = self.expression(node.node)
        args, kwargs = self._args(node)
        passed = _PassArg.from_obj(func)
        if passed is not None:
            first = self._passed(passed)
            return lambda scope: func(first(scope), value(scope), *(a(scope) for a in args),
                                      **{k: v(scope) for k, v in kwargs.items()})
        if not args and not kwargs:
            return lambda scope: func(value(scope))
        return lambda scope: func(value(scope), *(a(scope) for a in args),
                                  **{k: v(scope) for k, v in kwargs.items()})

    def _passed(self, passed: _PassArg) -> Callable[[ScopeLike], Any]:
        """What a filter or test marked `pass_environment`/`_context`/`_eval_context` gets."""
        if passed is _PassArg.environment:
            env = self.env
            return lambda _scope: env
        if passed is _PassArg.context:
            return lambda scope: scope.context()
        return lambda scope: scope.context().eval_ctx

    def _Call(self, node: nodes.Call) -> Closure:
        callee = self.expression(node.node)
        args, kwargs = self._args(node)
        call = self.env.call  # the sandbox's check of what may be called

        def called(scope: ScopeLike) -> Any:
            return call(scope.context(), callee(scope), *(a(scope) for a in args),
                        **{k: v(scope) for k, v in kwargs.items()})

        return called

    def _CondExpr(self, node: nodes.CondExpr) -> Closure:
        test, yes = self.expression(node.test), self.expression(node.expr1)
        if node.expr2 is None:  # Jinja's generated code uses the plain Undefined here
            return lambda scope: yes(scope) if test(scope) else Undefined(
                "the inline if-expression evaluated to false and no else section was defined.")
        no = self.expression(node.expr2)
        return lambda scope: yes(scope) if test(scope) else no(scope)

    def _And(self, node: nodes.And) -> Closure:
        left, right = self.expression(node.left), self.expression(node.right)
        return lambda scope: left(scope) and right(scope)

    def _Or(self, node: nodes.Or) -> Closure:
        left, right = self.expression(node.left), self.expression(node.right)
        return lambda scope: left(scope) or right(scope)

    def _Not(self, node: nodes.Not) -> Closure:
        value = self.expression(node.node)
        return lambda scope: not value(scope)

    def _Neg(self, node: nodes.Neg) -> Closure:
        value = self.expression(node.node)
        return lambda scope: -value(scope)

    def _Pos(self, node: nodes.Pos) -> Closure:
        value = self.expression(node.node)
        return lambda scope: +value(scope)

    def _binary(self, node: nodes.BinExpr) -> Closure:
        op = _BINARY[type(node)]
        left, right = self.expression(node.left), self.expression(node.right)
        return lambda scope: op(left(scope), right(scope))

    _Add = _Sub = _Mul = _Div = _FloorDiv = _Mod = _binary

    def _Compare(self, node: nodes.Compare) -> Closure:
        first = self.expression(node.expr)
        chain = [(_COMPARE[o.op], self.expression(o.expr)) for o in node.ops]

        def compare(scope: ScopeLike) -> Any:
            left, result = first(scope), True
            for op, operand in chain:  # a < b < c: Python's chained comparison
                right = operand(scope)
                result = op(left, right)
                if not result:
                    return result
                left = right
            return result

        return compare

    def _Concat(self, node: nodes.Concat) -> Closure:
        parts = [self.expression(n) for n in node.nodes]
        return lambda scope: "".join([str(p(scope)) for p in parts])

    def _Tuple(self, node: nodes.Tuple) -> Closure:
        if node.ctx != "load":
            raise Unsupported("assignment")
        items = [self.expression(n) for n in node.items]
        return lambda scope: tuple(i(scope) for i in items)

    def _List(self, node: nodes.List) -> Closure:
        items = [self.expression(n) for n in node.items]
        return lambda scope: [i(scope) for i in items]

    def _Dict(self, node: nodes.Dict) -> Closure:
        pairs = [(self.expression(p.key), self.expression(p.value)) for p in node.items]
        return lambda scope: {k(scope): v(scope) for k, v in pairs}
