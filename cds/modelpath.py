"""Which pydantic model validates the value at a path of a pack file.

Pydantic reports an unexpected key as `extra_forbidden` at a path such as
`('when', 'all', 'all', 1, 'any', 'any', 0, 'pattern', 'where', 'value', 'test', 'ge')`
(union members appear by their tag); following the same path through the models' type
annotations gives the model whose keys were expected, so the message can list them.
"""

from __future__ import annotations

import types
from collections.abc import Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, Tag

PathItem = str | int


def _tag(annotation: Any) -> str | None:
    if get_origin(annotation) is Annotated:
        return next((m.tag for m in annotation.__metadata__ if isinstance(m, Tag)), None)
    return None


def _bare(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _members(annotation: Any) -> tuple[Any, ...]:
    bare = _bare(annotation)
    if get_origin(bare) in (Union, types.UnionType):
        return tuple(a for a in get_args(bare) if a is not type(None))
    return ()


def _step(annotation: Any, item: PathItem) -> tuple[Any, bool] | None:
    """The annotation after `item`, and whether `item` was used (a union tag, a key, an
    index) or the annotation only narrowed (an optional value)."""
    members = _members(annotation)
    if members:
        tagged = next((m for m in members if _tag(m) == item), None)
        if tagged is not None:
            return tagged, True
        return (members[0], False) if len(members) == 1 else None
    bare = _bare(annotation)
    if isinstance(bare, type) and issubclass(bare, BaseModel) and isinstance(item, str):
        for name, info in bare.model_fields.items():
            if item in (name, info.alias):
                return info.annotation, True
        return None
    origin, args = get_origin(bare), get_args(bare)
    if origin is list and isinstance(item, int) and args:
        return args[0], True
    if origin is dict and isinstance(item, str) and len(args) == 2:
        return args[1], True
    return None


def model_at(model: type[BaseModel], path: Sequence[PathItem]) -> type[BaseModel] | None:
    """The model that validates the value at `path` inside a `model` document, if any."""
    annotation: Any = model
    items = list(path)
    while items:
        step = _step(annotation, items[0])
        if step is None:
            return None
        annotation, used = step
        if used:
            items.pop(0)
    while _members(annotation):  # an optional model at the end of the path
        step = _step(annotation, "")
        if step is None:
            return None
        annotation = step[0]
    bare = _bare(annotation)
    return bare if isinstance(bare, type) and issubclass(bare, BaseModel) else None


def keys_of(model: type[BaseModel]) -> list[str]:
    """The keys a model accepts, as written in files (aliases), in declaration order."""
    return [info.alias or name for name, info in model.model_fields.items()]
