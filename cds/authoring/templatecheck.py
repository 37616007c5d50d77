"""Names in card templates, checked against what the rule and the pack define.

Jinja renders a misspelt name as empty text and a comparison with it as false, so a typo
would silently change a card. Every template of a card is therefore read (not run, so every
`{% if %}` branch is covered) for:

- names: a binding of the rule's `when`, a name the card context always has (`params`,
  `rule`, `now`, ...), a Jinja global, or a name the template sets itself;
- `params.<group>.<name>`: present in parameters.yaml;
- `<binding>.<field>`: a field of the binding's fact type(s) in the fact catalogue;
- `rule.<key>`: id, title or version.

Each problem points at the misspelt text inside the YAML value when it can be found there.
Filters and tests are checked when templates are compiled (cds.cards.render).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateSyntaxError, meta, nodes

from cds.cards.templating import ENV
from cds.facts.catalogue import FACT_TYPES
from cds.packsource import PathItem, Problem
from cds.rules.dnf import Origin
from cds.suggest import hint, unknown

CONTEXT_NAMES = ("params", "rule", "hook", "now", "patient_id", "patient_ref", "matches")
RULE_KEYS = ("id", "title", "version")
_DICT_METHODS = frozenset(n for n in dir(dict) if not n.startswith("_"))


@dataclass(frozen=True)
class Chain:
    """`root.a.b` / `root["a"]`: a name and the constant keys read from it, in order."""

    root: str
    keys: tuple[str, ...]

    def text(self, depth: int) -> str:
        return ".".join((self.root, *self.keys[:depth]))

    def near(self, depth: int) -> str:
        """A pattern for the chain's first `depth` keys as written (dots or brackets)."""
        parts = [re.escape(self.root)]
        parts += [rf"(?:\s*\.\s*{re.escape(k)}\b|\s*\[\s*['\"]{re.escape(k)}['\"]\s*\])"
                  for k in self.keys[:depth]]
        return r"\b" + "".join(parts)


def parse(source: str, expression: bool) -> nodes.Template | None:
    try:
        return ENV.parse("{{ " + source + " }}" if expression else source)
    except TemplateSyntaxError:
        return None  # reported when the template is compiled


def _chain(node: nodes.Node) -> Chain | None:
    keys: list[str] = []
    while True:
        if isinstance(node, nodes.Getattr):
            keys.append(node.attr)
            node = node.node
        elif (isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const)
              and isinstance(node.arg.value, str)):
            keys.append(node.arg.value)
            node = node.node
        else:
            break
    if isinstance(node, nodes.Name) and keys:
        return Chain(node.name, tuple(reversed(keys)))
    return None


def chains(node: nodes.Node) -> Iterator[Chain]:
    """Every longest chain of constant keys read from a name."""
    if isinstance(node, nodes.Getattr | nodes.Getitem):
        found = _chain(node)
        if found is not None:
            yield found
            return
    for child in node.iter_child_nodes():
        yield from chains(child)


def undeclared(ast: nodes.Template) -> set[str]:
    """Names the template reads without setting them itself."""
    try:
        return set(meta.find_undeclared_variables(ast))
    except TemplateSyntaxError:
        return set()  # an unknown filter or test: reported when the template is compiled


def assigned(ast: nodes.Template) -> set[str]:
    """Names the template sets itself (`{% set %}`, `{% for %}` targets, macro arguments)."""
    return {n.name for n in ast.find_all(nodes.Name) if n.ctx in ("store", "param")}


def _param_problem(chain: Chain, params: Mapping[str, Any]) -> tuple[str, int] | None:
    """(message, depth of the wrong key) for a `params.` chain parameters.yaml lacks."""
    value: Any = params
    for depth, key in enumerate(chain.keys, start=1):
        if not isinstance(value, dict):
            return f"'{chain.text(depth - 1)}' is a value, not a group of parameters", depth - 1
        if key not in value:
            if key in _DICT_METHODS:
                return None  # a mapping method: params.pain.items()
            valid = [f"{chain.text(depth - 1)}.{k}" for k in value]
            return unknown("parameter", chain.text(depth), valid), depth
        value = value[key]
    return None


@dataclass
class TemplateNames:
    """Checks the names of one rule's templates (`bindings`: name -> fact types)."""

    origin: Origin
    bindings: Mapping[str, set[str]]
    params: Mapping[str, Any] | None  # None: parameters.yaml did not load

    def problems(self, path: tuple[PathItem, ...], source: str, expression: bool,
                 extra: frozenset[str] = frozenset()) -> Iterator[Problem]:
        """Problems of one template; `extra`: more names it may use (`with:` values)."""
        ast = parse(source, expression)
        if ast is None:
            return
        own = assigned(ast)
        allowed = {*self.bindings, *CONTEXT_NAMES, *ENV.globals, *extra}
        known = [*sorted({*self.bindings, *extra}), *CONTEXT_NAMES]
        for name in sorted(undeclared(ast) - allowed):
            yield self.origin.problem(f"'{name}' is not bound by this rule "
                                      f"{hint(name, known, label='names')}", *path,
                                      near=rf"\b{re.escape(name)}\b")
        for chain in dict.fromkeys(chains(ast)):
            if chain.root in own or chain.root in extra:
                continue
            found = self._chain_problem(chain)
            if found is not None:
                message, depth = found
                problem = self.origin.problem(message, *path, near=chain.near(depth))
                yield problem.needing("parameters.yaml") if chain.root == "params" else problem

    def _chain_problem(self, chain: Chain) -> tuple[str, int] | None:
        key = chain.keys[0]
        if chain.root == "params":
            return _param_problem(chain, self.params) if self.params is not None else None
        if chain.root == "rule" and key not in RULE_KEYS:
            return unknown("key", f"rule.{key}", [f"rule.{k}" for k in RULE_KEYS]), 1
        types = self.bindings.get(chain.root)
        if not types or key in _DICT_METHODS:
            return None
        fields = [f.name for t in sorted(types) if t in FACT_TYPES for f in FACT_TYPES[t].fields]
        if not fields or key in fields:
            return None
        kinds = " or ".join(sorted(types))
        return (f"{chain.root} ({kinds} fact) has no field '{key}' "
                f"{hint(key, dict.fromkeys(fields), label='fields')}", 1)
