"""A subset of Jinja compiled to plain Python functions, with Jinja's own semantics.

Running a compiled Jinja template needs a `Context` per rendering and goes through the
generated module's machinery for every output; for the short texts, conditions and FHIR
resource templates of cards that overhead is most of the cost. This module walks the parsed
template (`Environment.parse`) and generates one Python function per template, expression
or resource tree instead, for the node kinds card templates use: names, constants,
attribute and item access, filters and tests, inline `if`, `and`/`or`/`not`, comparisons,
arithmetic without `**`, `~`, literals, calls, `{% if %}`, `{% set name = ... %}` and plain
`{% for %}` blocks. Anything else (macros, `loop.*`, `for` with `else`, ...) raises
`Unsupported` and the caller keeps the Jinja template.

Semantics are Jinja's by construction: attribute and item access, calls and filters go
through the same sandboxed environment methods Jinja's generated code calls, a missing name
is the environment's `undefined`, output is `str(value)` as in a non-autoescaping
environment, and `set`/`for` scope variables as Jinja does (a loop pass has its own frame).
The one shortcut (a key of a plain dict read directly) is taken only where the sandbox would
end up reading the same key. Generated source never contains template text: constants,
names, filters and undefined values are passed in a table (`K[i]`), so nothing in a
template can inject code.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping
from typing import Any, Protocol, cast

from jinja2 import ChainableUndefined, Undefined, nodes
from jinja2.parser import Parser
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import _PassArg

ONE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\{\{|\}\}).)*)\}\}\s*$", re.DOTALL)
_DICT_ATTRIBUTES = frozenset(dir(dict))
_BINARY = {nodes.And: "and", nodes.Or: "or", nodes.Add: "+", nodes.Sub: "-", nodes.Mul: "*",
           nodes.Div: "/", nodes.FloorDiv: "//", nodes.Mod: "%"}
_UNARY = {nodes.Not: "not ", nodes.Neg: "-", nodes.Pos: "+"}
_COMPARE = {"eq": "==", "ne": "!=", "lt": "<", "lteq": "<=", "gt": ">", "gteq": ">=",
            "in": "in", "notin": "not in"}


class Unsupported(Exception):
    """A node kind this module does not compile; the caller falls back to Jinja."""


class ScopeLike(Protocol):
    vars: dict[str, Any]

    def context(self) -> Context: ...


def empty(value: Any) -> bool:
    """What a resource template leaves out: None, "", {} and []."""
    return value is None or (isinstance(value, str | dict | list) and not value)


def prune(value: dict[str, Any] | list[Any]) -> dict[str, Any] | list[Any]:
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if not empty(v)}
    return [v for v in value if not empty(v)]


def is_constant(node: Any) -> bool:
    if isinstance(node, dict):
        return all(is_constant(v) for v in node.values())
    if isinstance(node, list):
        return all(is_constant(v) for v in node)
    return not (isinstance(node, str) and "{" in node)


def pruned_constant(node: Any) -> Any:
    """A constant part of a resource template as it renders (empty elements left out)."""
    if isinstance(node, dict):
        return prune({str(k): pruned_constant(v) for k, v in node.items()})
    if isinstance(node, list):
        return prune([pruned_constant(v) for v in node])
    return node


class _Source:
    """The lines of one generated function, its constant table and fresh local names."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.table: list[Any] = []
        self._names = itertools.count()

    def const(self, value: Any) -> str:
        self.table.append(value)
        return f"K[{len(self.table) - 1}]"

    def local(self, prefix: str) -> str:
        return f"{prefix}{next(self._names)}"

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)


class Compiler:
    """Compiles templates parsed by `env` (whose globals are `globals_`) to functions."""

    def __init__(self, env: SandboxedEnvironment, globals_: Mapping[str, Any],
                 text_leaf: Callable[[str], Callable[[ScopeLike], str]] | None = None,
                 expression_leaf: Callable[[str], Callable[[ScopeLike], Any]] | None = None,
                 failed: Callable[[Exception, str], None] | None = None) -> None:
        if env.intercepted_binops or env.intercepted_unops or env.is_async:
            raise Unsupported("environment intercepts operators or is async")
        self.env = env
        self.globals = globals_
        self.text_leaf = text_leaf
        self.expression_leaf = expression_leaf
        self.failed = failed
        chains = env.undefined if issubclass(env.undefined, ChainableUndefined) else None
        undefined = env.undefined
        getattr_ = env.getattr

        def attribute(obj: Any, name: str) -> Any:
            """The sandbox's attribute read, minus the dict hit the generated code inlines."""
            kind = type(obj)
            if kind is dict and name not in _DICT_ATTRIBUTES:
                return undefined(obj=obj, name=name)  # a dict without that key
            if kind is chains and not name.startswith("_"):
                return obj  # what the sandbox returns for a chainable undefined
            return getattr_(obj, name)

        self._helpers: dict[str, Any] = {
            "_attr": attribute, "_getattr": getattr_, "_getitem": env.getitem,
            "_call": env.call, "_env": env, "_Undefined": Undefined, "_empty": empty,
            "_failed": failed,
        }

    # -- entry points ------------------------------------------------------------------

    def expression(self, node: nodes.Node) -> Callable[[ScopeLike], Any]:
        """An expression as a function of the scope (its value may be an undefined)."""
        src = _Source()
        src.emit(1, "v = s.vars")
        src.emit(1, f"return {self._expr(node, src, 'v')}")
        return self._build(src, "expression")

    def text(self, template: nodes.Template) -> Callable[[ScopeLike], str]:
        """A template of output, `if`, `set` and plain `for` blocks, as one text function."""
        src = _Source()
        if any(True for _ in template.find_all(nodes.Assign)):
            src.emit(1, "v = dict(s.vars)")  # the template's own `set`s shadow the card's
        else:
            src.emit(1, "v = s.vars")
        src.emit(1, "out = []")
        src.emit(1, "w = out.append")
        self._statements(template.body, src, 1, "v")
        src.emit(1, "return ''.join(out)")
        return self._build(src, "text")

    def native(self, node: Any) -> Callable[[ScopeLike], Any]:
        """A resource template: a nested structure whose string leaves are templates.
        Elements whose value comes out empty are left out; a leaf that is one expression
        keeps the value's type; a leaf whose expression fails is left out and reported.
        Leaves this module cannot generate run through `text_leaf` / `expression_leaf`."""
        if self.text_leaf is None or self.expression_leaf is None or self.failed is None:
            raise Unsupported("no leaf compilers or error reporter")
        src = _Source()
        src.emit(1, "v = s.vars")
        src.emit(1, f"return {self._native(node, src)}")
        return self._build(src, "resource")

    def _build(self, src: _Source, kind: str) -> Callable[[ScopeLike], Any]:
        code = "def generated(s):\n" + "\n".join(src.lines) + "\n"
        namespace = {**self._helpers, "K": src.table}
        exec(compile(code, f"<card {kind}>", "exec"), namespace)  # source: see module doc
        function: Callable[[ScopeLike], Any] = namespace["generated"]
        return function

    # -- resource trees ----------------------------------------------------------------

    def _native(self, node: Any, src: _Source) -> str:
        """Emit statements building `node`; return the local (or constant) holding it."""
        if is_constant(node):
            return src.const(pruned_constant(node))
        if isinstance(node, dict | list):
            target = src.local("n")
            src.emit(1, f"{target} = {{}}" if isinstance(node, dict) else f"{target} = []")
            items = node.items() if isinstance(node, dict) else ((None, v) for v in node)
            for key, child in items:
                value = self._native(child, src)
                store = (f"{target}[{src.const(str(key))}] = {value}" if key is not None
                         else f"{target}.append({value})")
                if is_constant(child):  # already pruned: only an empty constant is left out
                    if not empty(pruned_constant(child)):
                        src.emit(1, store)
                    continue
                src.emit(1, f"if not _empty({value}):")
                src.emit(2, store)
            return target
        value = src.local("x")
        match = ONE_EXPRESSION.match(node)
        if match is None:
            assert self.text_leaf is not None
            src.emit(1, f"{value} = {src.const(self.text_leaf(node))}(s)")
            return value
        source = match.group("expr")
        expression = Parser(self.env, source, state="variable").parse_expression()
        try:
            code = self._expr(expression, src, "v")
        except Unsupported:
            assert self.expression_leaf is not None
            code = f"{src.const(self.expression_leaf(source))}(s)"
        src.emit(1, "try:")
        src.emit(2, f"{value} = {code}")
        src.emit(1, "except Exception as exc:")
        src.emit(2, "_failed(exc, 'resource template expression failed; element left out')")
        src.emit(2, f"{value} = None")
        src.emit(1, f"if isinstance({value}, _Undefined):")
        src.emit(2, f"{value} = None")
        return value

    # -- statements --------------------------------------------------------------------

    def _statements(self, body: list[nodes.Node], src: _Source, depth: int, frame: str) -> None:
        if not body:
            src.emit(depth, "pass")
        for node in body:
            self._statement(node, src, depth, frame)

    def _statement(self, node: nodes.Node, src: _Source, depth: int, frame: str) -> None:
        if isinstance(node, nodes.Output):
            for child in node.nodes:
                if isinstance(child, nodes.TemplateData):
                    src.emit(depth, f"w({src.const(child.data)})")
                else:
                    src.emit(depth, f"w(str({self._expr(child, src, frame)}))")
        elif isinstance(node, nodes.If):
            src.emit(depth, f"if {self._expr(node.test, src, frame)}:")
            self._statements(node.body, src, depth + 1, frame)
            for branch in node.elif_:
                src.emit(depth, f"elif {self._expr(branch.test, src, frame)}:")
                self._statements(branch.body, src, depth + 1, frame)
            if node.else_:
                src.emit(depth, "else:")
                self._statements(node.else_, src, depth + 1, frame)
        elif isinstance(node, nodes.Assign):
            if not isinstance(node.target, nodes.Name):
                raise Unsupported("set of several names")
            name = src.const(node.target.name)
            src.emit(depth, f"{frame}[{name}] = {self._expr(node.node, src, frame)}")
        elif isinstance(node, nodes.For):
            if not isinstance(node.target, nodes.Name) or node.else_ \
                    or node.test is not None or node.recursive \
                    or any(n.name == "loop" for n in node.find_all(nodes.Name)):
                raise Unsupported("for loop beyond a plain one")
            item, inner = src.local("i"), src.local("v")
            src.emit(depth, f"for {item} in {self._expr(node.iter, src, frame)}:")
            src.emit(depth + 1, f"{inner} = {{**{frame}, {src.const(node.target.name)}: {item}}}")
            self._statements(node.body, src, depth + 1, inner)
        else:
            raise Unsupported(type(node).__name__)

    # -- expressions -------------------------------------------------------------------

    def _expr(self, node: nodes.Node, src: _Source, frame: str) -> str:
        """Python source for `node`, every operand parenthesised."""
        write = getattr(self, f"_{type(node).__name__}", None)
        if write is None:
            raise Unsupported(type(node).__name__)
        source: str = write(node, src, frame)
        return source

    def _Const(self, node: nodes.Const, src: _Source, _frame: str) -> str:
        return src.const(node.value)

    def _Name(self, node: nodes.Name, src: _Source, frame: str) -> str:
        if node.ctx != "load":
            raise Unsupported("assignment")
        fallback = self.globals.get(node.name, _MISSING)
        if fallback is _MISSING:
            fallback = self.env.undefined(name=node.name)  # immutable: one serves all
        return f"{frame}.get({_identifier(node.name)}, {src.const(fallback)})"

    def _Getattr(self, node: nodes.Getattr, src: _Source, frame: str) -> str:
        target, key, temp = self._expr(node.node, src, frame), _identifier(node.attr), \
            src.local("t")
        if node.attr in _DICT_ATTRIBUTES:
            return f"_getattr({target}, {key})"
        return (f"({temp}[{key}] if type({temp} := {target}) is dict and {key} in {temp} "
                f"else _attr({temp}, {key}))")

    def _Getitem(self, node: nodes.Getitem, src: _Source, frame: str) -> str:
        target = self._expr(node.node, src, frame)
        if isinstance(node.arg, nodes.Slice):  # Jinja indexes slices directly
            bounds = [("" if b is None else self._expr(b, src, frame))
                      for b in (node.arg.start, node.arg.stop, node.arg.step)]
            return f"({target})[{bounds[0]}:{bounds[1]}:{bounds[2]}]"
        return f"_getitem({target}, {self._expr(node.arg, src, frame)})"

    def _Call(self, node: nodes.Call, src: _Source, frame: str) -> str:
        return (f"_call(s.context(), {self._expr(node.node, src, frame)}"
                f"{self._arguments(node, src, frame)})")

    def _CondExpr(self, node: nodes.CondExpr, src: _Source, frame: str) -> str:
        test, yes = self._expr(node.test, src, frame), self._expr(node.expr1, src, frame)
        if node.expr2 is None:  # Jinja's generated code uses the plain Undefined here
            no = src.const(Undefined("the inline if-expression evaluated to false and no "
                                     "else section was defined."))
        else:
            no = self._expr(node.expr2, src, frame)
        return f"({yes} if {test} else {no})"

    def _unary(self, node: nodes.UnaryExpr, src: _Source, frame: str) -> str:
        return f"({_UNARY[type(node)]}{self._expr(node.node, src, frame)})"

    def _binary(self, node: nodes.BinExpr, src: _Source, frame: str) -> str:
        return (f"({self._expr(node.left, src, frame)} {_BINARY[type(node)]} "
                f"{self._expr(node.right, src, frame)})")

    _Not = _Neg = _Pos = _unary
    _And = _Or = _Add = _Sub = _Mul = _Div = _FloorDiv = _Mod = _binary

    def _Compare(self, node: nodes.Compare, src: _Source, frame: str) -> str:
        parts = [self._expr(node.expr, src, frame)]  # a < b < c: Python's chained comparison
        parts += [f"{_COMPARE[o.op]} {self._expr(o.expr, src, frame)}" for o in node.ops]
        return f"({' '.join(parts)})"

    def _Concat(self, node: nodes.Concat, src: _Source, frame: str) -> str:
        parts = "".join(f"str({self._expr(n, src, frame)}), " for n in node.nodes)
        return f"''.join(({parts}))"

    def _Tuple(self, node: nodes.Tuple, src: _Source, frame: str) -> str:
        if node.ctx != "load":
            raise Unsupported("assignment")
        return f"({''.join(self._expr(n, src, frame) + ', ' for n in node.items)})"

    def _List(self, node: nodes.List, src: _Source, frame: str) -> str:
        return f"[{', '.join(self._expr(n, src, frame) for n in node.items)}]"

    def _Dict(self, node: nodes.Dict, src: _Source, frame: str) -> str:
        pairs = ", ".join(f"{self._expr(p.key, src, frame)}: {self._expr(p.value, src, frame)}"
                          for p in node.items)
        return f"{{{pairs}}}"

    def _Filter(self, node: nodes.Filter, src: _Source, frame: str) -> str:
        func: Callable[..., Any] | None = self.env.filters.get(node.name)
        return self._applied(func, node, src, frame)

    def _Test(self, node: nodes.Test, src: _Source, frame: str) -> str:
        # typeshed types jinja's tests as `function`, which mypy does not treat as callable
        func = cast("Callable[..., Any] | None", self.env.tests.get(node.name))
        return self._applied(func, node, src, frame)

    def _arguments(self, node: nodes.Filter | nodes.Test | nodes.Call, src: _Source,
                   frame: str) -> str:
        """`, a, b, k=c` for the node's arguments ('' when there are none)."""
        if node.dyn_args is not None or node.dyn_kwargs is not None:
            raise Unsupported("*args or **kwargs")
        parts = [self._expr(a, src, frame) for a in node.args]
        parts += [f"**{{{src.const(kw.key)}: {self._expr(kw.value, src, frame)}}}"
                  for kw in node.kwargs]
        return "".join(f", {p}" for p in parts)

    def _applied(self, func: Callable[..., Any] | None, node: nodes.Filter | nodes.Test,
                 src: _Source, frame: str) -> str:
        if func is None or node.node is None:
            raise Unsupported(f"unknown filter or test {node.name}, or a filter block")
        passed = _PassArg.from_obj(func)
        first = {None: "", _PassArg.environment: "_env, ", _PassArg.context: "s.context(), ",
                 _PassArg.eval_context: "s.context().eval_ctx, "}[passed]
        return (f"{src.const(func)}({first}{self._expr(node.node, src, frame)}"
                f"{self._arguments(node, src, frame)})")


_MISSING = object()


def _identifier(name: str) -> str:
    """A name or attribute as a Python string literal; the lexer only makes identifiers."""
    if not name.isidentifier():
        raise Unsupported(f"not an identifier: {name!r}")
    return repr(name)
