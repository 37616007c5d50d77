"""JSON Schemas of every kind of pack file, for editors: `cds rules schema --out DIR`.

Each schema is generated from the pydantic model that loads the file (for the facts files,
the models of cds.facts.formats) and then given the pack's own ids as enums: fields marked
`vocab(...)` list the pack's measures, value sets, templates, override reasons, rules ...;
conditions get one schema per fact type from the fact catalogue (conditionschema.py);
"@group.name" parameters are listed where a number may be one. The enums depend on the
pack, so a pack commits the schemas generated from itself.

The dialect is JSON Schema draft-07, the one VS Code's YAML extension implements.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import CoreSchema

from cds.authoring.conditionschema import (
    NUMBER_PARAMETER,
    ConditionSchema,
    number_parameters,
    ref,
)
from cds.authoring.vocabulary import Vocabulary, pack_vocabulary
from cds.facts.formats import (
    InstrumentsFile,
    MeasuresFile,
    MedicationsFile,
    PatientStatusFile,
    ValueSetFile,
)
from cds.hooks.services import ServiceCatalogue
from cds.rules.pack import FactConfigLoader
from cds.rules.packfiles import CardPolicyFile, EngineTexts, OverrideReasonsFile, PackMeta
from cds.rules.schema import Definitions, RuleFile
from cds.rules.testspec import RuleTests

Schema = dict[str, Any]
DRAFT = "http://json-schema.org/draft-07/schema#"
SCHEMA_DIR = "schemas"  # inside the pack
MODELINE = "# yaml-language-server: $schema="


@dataclass(frozen=True)
class FileKind:
    name: str  # the schema is <name>.schema.json
    pattern: str  # the pack's files of this kind (a glob relative to the pack)
    title: str
    model: type[BaseModel] | None  # None: the schema is written by hand below

    @property
    def schema_file(self) -> str:
        return f"{self.name}.schema.json"


FILE_KINDS = (
    FileKind("rule", "rules/*.yaml", "CDS rule file", RuleFile),
    FileKind("rule-tests", "tests/*.yaml", "CDS rule test file", RuleTests),
    FileKind("pack", "pack.yaml", "CDS pack identity (pack.yaml)", PackMeta),
    FileKind("services", "services.yaml", "CDS services (services.yaml)", ServiceCatalogue),
    FileKind("parameters", "parameters.yaml", "CDS parameters (parameters.yaml)", None),
    FileKind("definitions", "definitions.yaml", "CDS named conditions (definitions.yaml)",
             Definitions),
    FileKind("override-reasons", "override-reasons.yaml",
             "CDS override reasons (override-reasons.yaml)", OverrideReasonsFile),
    FileKind("card-policy", "card-policy.yaml", "CDS card policy (card-policy.yaml)",
             CardPolicyFile),
    FileKind("data-quality", "data-quality.yaml", "CDS data-quality texts (data-quality.yaml)",
             EngineTexts),
    FileKind("measures", "measures.yaml", "CDS measures (measures.yaml)", MeasuresFile),
    FileKind("instruments", "instruments.yaml", "CDS questionnaire instruments "
             "(instruments.yaml)", InstrumentsFile),
    FileKind("medications", "medications.yaml", "CDS medications (medications.yaml)",
             MedicationsFile),
    FileKind("patient-status", "patient-status.yaml",
             "CDS patient statuses (patient-status.yaml)", PatientStatusFile),
    FileKind("valueset", "valuesets/*.yaml", "CDS value set", ValueSetFile),
    FileKind("template", "templates/*.yaml", "CDS resource template", None),
)


def file_kind(name: str) -> FileKind:
    return next(kind for kind in FILE_KINDS if kind.name == name)


def pack_files(rules_dir: Path) -> Iterator[tuple[FileKind, Path]]:
    """Every file of the pack that has a schema, with its kind."""
    for kind in FILE_KINDS:
        for path in sorted(rules_dir.glob(kind.pattern)):
            yield kind, path


def modeline(kind: FileKind, path: Path, schema_dir: Path) -> str:
    """The first line that points VS Code's YAML extension at the file's schema."""
    relative = os.path.relpath(schema_dir / kind.schema_file, path.parent)
    return MODELINE + Path(relative).as_posix()


def pack_schemas(rules_dir: Path, fact_config_loader: FactConfigLoader | None = None
                 ) -> dict[str, Schema]:
    """Schema file name -> schema, for the pack in `rules_dir`."""
    vocab = pack_vocabulary(rules_dir, fact_config_loader)
    return {kind.schema_file: kind_schema(kind, vocab) for kind in FILE_KINDS}


def render(schema: Schema) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def write_schemas(rules_dir: Path, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in pack_schemas(rules_dir).items():
        path = out_dir / name
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    return written


def kind_schema(kind: FileKind, vocab: Vocabulary) -> Schema:
    if kind.model is None:
        body = _HAND_WRITTEN[kind.name]()
    else:
        body = kind.model.model_json_schema(by_alias=True, ref_template="#/definitions/{model}",
                                            schema_generator=_Generator)
        body.pop("title", None)
    defs: dict[str, Schema] = body.pop("$defs", {})
    if "Pattern" in defs:
        defs |= ConditionSchema(vocab).build(defs["Pattern"])
    if "ResourceRef" in defs:
        _template_inputs(defs["ResourceRef"], vocab)
    for node in _walk([body, *defs.values()]):
        _fill(node, vocab, defs)
    schema = {"$schema": DRAFT, "title": kind.title, **body}
    used = _used_defs(schema, defs)
    if used:
        schema["definitions"] = {name: defs[name] for name in sorted(used)}
    return schema


class _Generator(GenerateJsonSchema):
    """pydantic's generator without the titles it derives from field and class names, and
    without `default: null` (an editor would insert it)."""

    def field_title_should_be_set(self, schema: CoreSchema) -> bool:  # noqa: ARG002
        return False

    def generate(self, schema: CoreSchema, mode: Any = "validation") -> Schema:
        out = super().generate(schema, mode)
        for node in _walk([out, *out.get("$defs", {}).values()]):
            if isinstance(node.get("title"), str) and "type" in node:
                del node["title"]
            if "default" in node and node["default"] is None:
                del node["default"]
        return out


def _walk(roots: list[Schema]) -> Iterator[Schema]:
    """Every schema object under `roots` (keyword-aware: a property *named* title or enum is
    not a keyword)."""
    stack = list(roots)
    while stack:
        node = stack.pop()
        yield node
        for key in ("additionalProperties", "items", "not", "if", "then", "else",
                    "propertyNames"):
            child = node.get(key)
            if isinstance(child, dict):
                stack.append(child)
        for key in ("anyOf", "oneOf", "allOf"):
            stack.extend(c for c in node.get(key, ()) if isinstance(c, dict))
        stack.extend(c for c in node.get("properties", {}).values() if isinstance(c, dict))


def _fill(node: Schema, vocab: Vocabulary, defs: dict[str, Schema]) -> None:
    """Resolve the markers of one node: `x-vocab` -> one of the pack's ids, `x-param` -> or a
    numeric parameter (each list a definition); and write a `$ref` beside other keywords as
    draft-07 reads it."""
    name = node.pop("x-vocab", None)
    if name is not None and name in vocab.ids:  # absent: that part of the pack did not load
        ids = vocab.ids[name]
        defs[f"ids.{name}"] = {"enum": list(ids)}
        if any(ids.values()):
            defs[f"ids.{name}"]["enumDescriptions"] = [title or "" for title in ids.values()]
        _set_enum(node, ref(f"ids.{name}"))
    params = number_parameters(vocab) if node.pop("x-param", None) else None
    if params is not None:
        defs[NUMBER_PARAMETER] = params
        _or_param(node, ref(NUMBER_PARAMETER))
    if "$ref" in node and len(node) > 1:
        node["allOf"] = [{"$ref": node.pop("$ref")}, *node.get("allOf", [])]


def _set_enum(node: Schema, ids: Schema) -> None:
    """`ids` as the values of a string, the items of a list or the keys of a mapping."""
    if "anyOf" in node:
        for branch in node["anyOf"]:
            if branch.get("type") != "null":
                _set_enum(branch, ids)
    elif node.get("type") == "array":
        _set_enum(node["items"], ids)
    elif node.get("type") == "object":
        node["propertyNames"] = ids
    else:
        node.pop("type", None)
        node.update(ids)


def _or_param(node: Schema, alternative: Schema) -> None:
    if node.get("type") == "object":
        node["additionalProperties"] = {"anyOf": [node["additionalProperties"], alternative]}
    elif "anyOf" in node:
        node["anyOf"].append(alternative)
    else:
        keep = ("description", "default")
        inner = {k: node.pop(k) for k in list(node) if k not in keep}
        node["anyOf"] = [inner, alternative]


def _template_inputs(resource_ref: Schema, vocab: Vocabulary) -> None:
    """`with:` of a resource lists the variables of the template named in `template`."""
    description = resource_ref["properties"]["with"]["description"]
    resource_ref["allOf"] = [
        {"if": {"properties": {"template": {"const": name}}, "required": ["template"]},
         "then": {"properties": {"with": {
             "description": description,
             "type": "object",
             "properties": {var: {"description": text} for var, text in variables.items()},
             "additionalProperties": False}}}}
        for name, variables in vocab.template_vars.items()]


def _used_defs(schema: Schema, defs: dict[str, Schema]) -> set[str]:
    """The definitions reachable from the schema's root."""
    used: set[str] = set()
    pending = [schema]
    while pending:
        found = {node["$ref"].rpartition("/")[2] for node in _walk(pending)
                 if isinstance(node.get("$ref"), str)} - used
        used |= found
        pending = [defs[name] for name in found if name in defs]
    return used


# ---- kinds without a model ------------------------------------------------------------------


def _parameters() -> Schema:
    scalar = ["number", "string", "boolean"]
    value = {"anyOf": [{"type": scalar}, {"type": "array", "items": {"type": scalar}}]}
    return {
        "description": "Every threshold and tuning constant of the pack. Conditions and "
                       "suppression refer to a value as \"@group.name\" (a list serves `in`), "
                       "card text as {{ params.group.name }}; name each value's source in a "
                       "comment.",
        "type": "object",
        "propertyNames": {"pattern": "^[a-z][a-z0-9_]*$"},
        "additionalProperties": {"anyOf": [ref("Group"), value]},
        "$defs": {"Group": {
            "description": "A group of parameters: name -> value (a number, text, or a "
                           "mapping of values)",
            "type": "object",
            "propertyNames": {"pattern": "^[a-z0-9_]+$"},
            "additionalProperties": {"anyOf": [ref("Group"), value]},
        }},
    }


def _template() -> Schema:
    return {
        "description": "A FHIR R4 resource that suggestions create or update. Its string "
                       "values are Jinja templates over the action's `with:` values and the "
                       "rule's bindings; a value that is exactly one {{ expression }} keeps "
                       "its type, and keys that render empty are left out. `cds rules check` "
                       "validates the rendered resource.",
        "type": "object",
        "properties": {"resourceType": {
            "description": "The FHIR resource type, e.g. ServiceRequest",
            "type": "string", "pattern": "^[A-Z][A-Za-z]+$"}},
        "required": ["resourceType"],
    }


_HAND_WRITTEN: dict[str, Callable[[], Schema]] = {"parameters": _parameters,
                                                   "template": _template}
