"""The derived terminology files of a pack (`rules/terminology/`): their layout, and reading
and writing them as JSON with one code or product per line (readable diffs in review)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml

from cds.errors import TerminologyError
from cds.packyaml import parse

MANIFEST = "manifest.yaml"
VALUESETS = "valuesets"
PRODUCTS = "products.json"
OMTK = "omtk.json"
KINDS = frozenset({"medication", "condition", "referral", "encounter", "measure"})


@dataclass(frozen=True)
class Coverage:
    cls: str  # pack value set the products must resolve into
    ingredients: tuple[str, ...] = ()  # only the products of these ingredients


@dataclass(frozen=True)
class ManifestEntry:
    id: str
    url: str
    applies_to: tuple[str, ...]
    products: bool
    coverage: tuple[Coverage, ...]


def terminology_dir(rules_dir: Path) -> Path:
    return rules_dir / "terminology"


def read_manifest(rules_dir: Path) -> list[ManifestEntry]:
    path = terminology_dir(rules_dir) / MANIFEST
    try:
        doc = parse(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TerminologyError(f"{path}: cannot read the import manifest: {exc}") from exc
    entries = doc.get("valuesets") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise TerminologyError(f"{path}: 'valuesets' must be a list")
    out: list[ManifestEntry] = []
    for i, entry in enumerate(entries):
        where = f"{path}: valuesets[{i}]"
        if not isinstance(entry, dict) or not entry.get("id") or not entry.get("url"):
            raise TerminologyError(f"{where}: each entry needs an 'id' and a 'url'")
        applies = tuple(entry.get("applies_to") or ())
        if set(applies) - KINDS:
            raise TerminologyError(f"{where}: applies_to must be among {sorted(KINDS)}")
        coverage = tuple(Coverage(str(c["class"]), tuple(c.get("ingredients") or ()))
                         for c in entry.get("coverage") or ())
        out.append(ManifestEntry(str(entry["id"]), str(entry["url"]), applies,
                                 bool(entry.get("products")), coverage))
    ids = [e.id for e in out]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise TerminologyError(f"{path}: duplicate ids: {', '.join(duplicates)}")
    return out


def read_json(path: Path) -> dict[str, Any]:
    try:
        doc = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise TerminologyError(f"{path}: cannot read: {exc}") from exc
    if not isinstance(doc, dict):
        raise TerminologyError(f"{path}: must be a JSON object")
    return doc


def write_json(path: Path, header: dict[str, Any], key: str, rows: dict[str, Any] | list[Any]
               ) -> None:
    """`header` as indented JSON, then `key` with one row (list item or mapping entry) per
    line, so a re-import shows in a diff as the codes that changed."""
    parts = [orjson.dumps(header, option=orjson.OPT_INDENT_2).decode()[:-2] + ","]
    parts.append(f'  "{key}": ' + ("{" if isinstance(rows, dict) else "["))
    if isinstance(rows, dict):
        lines = [f"    {orjson.dumps(k).decode()}: {orjson.dumps(v).decode()}"
                 for k, v in rows.items()]
        closing = "  }"
    else:
        lines = [f"    {orjson.dumps(v).decode()}" for v in rows]
        closing = "  ]"
    parts.append(",\n".join(lines))
    parts.append(closing + "\n}\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")
