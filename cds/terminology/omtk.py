"""The OMTK drug data of the CDC Opioid CDS IG (library OMTKData, `DrugIngredients`): for each
opioid-containing RxNorm product, its opioid ingredient (RxNorm IN code), strength and dose
form, as determined with RxNav. Read from the library's CQL text, where the data is a list
of tuple literals; nothing of the library's logic is used."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cds.errors import TerminologyError

_TUPLE = re.compile(
    r"\{\s*drugCode:\s*(?P<drug>\d+),\s*drugName:\s*'(?P<name>(?:[^'\\]|\\.)*)',\s*"
    r"doseFormCode:\s*(?P<form_code>\d+),\s*doseFormName:\s*'(?P<form>(?:[^'\\]|\\.)*)',\s*"
    r"ingredientCode:\s*(?P<ingredient>\d+),\s*ingredientName:\s*'(?P<ingredient_name>[^']*)',"
    r"\s*strength:\s*'[^']*',\s*strengthValue:\s*(?P<value>[\d.]+),\s*"
    r"strengthUnit:\s*'(?P<unit>[^']*)'\s*\}")
_VERSION = re.compile(r"^library\s+\S+\s+version\s+'(?P<version>[^']+)'", re.MULTILINE)
_GENERATED = re.compile(r"generated on (?P<date>\d{4}-\d{2}-\d{2})")


@dataclass(frozen=True, slots=True)
class OmtkRow:
    drug: str
    drug_name: str
    dose_form: str
    ingredient: str  # RxNorm IN code
    ingredient_name: str
    strength: float
    unit: str  # as OMTK writes it: MG, MG/HR, MG/ML, MG/ACTUAT, ...


def read_omtk(path: Path, repository: str | None = None, commit: str | None = None,
              source_path: str | None = None) -> tuple[list[OmtkRow], dict[str, Any]]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TerminologyError(f"{path}: cannot read the OMTK data: {exc}") from exc
    text = data.decode("utf-8", errors="replace")
    rows = [OmtkRow(m["drug"], m["name"].replace("\\'", "'"), m["form"], m["ingredient"],
                    m["ingredient_name"].lower(), float(m["value"]), m["unit"])
            for m in _TUPLE.finditer(text)]
    if not rows:
        raise TerminologyError(f"{path}: no DrugIngredients tuples found (is this OMTKData?)")
    version = _VERSION.search(text)
    generated = _GENERATED.search(text)
    provenance = {
        "repository": repository, "commit": commit, "path": source_path or path.name,
        "library_version": version["version"] if version else None,
        "rxnav_data_date": generated["date"] if generated else None,
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    return rows, provenance
