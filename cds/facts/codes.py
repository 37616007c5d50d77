"""Code-system names used in pack YAML and fixtures, and the `system#code` shorthand.

Pack files may write a system by short name (`loinc`, `snomed`, `rxnorm`, ...) or by URL;
`local` is the pack's own CodeSystem (pack.yaml `codesystem`). These are identities of
public terminologies, not clinical content.
"""

from __future__ import annotations

SYSTEMS: dict[str, str] = {
    "loinc": "http://loinc.org",
    "snomed": "http://snomed.info/sct",
    "rxnorm": "http://www.nlm.nih.gov/research/umls/rxnorm",
    "ucum": "http://unitsofmeasure.org",
    "icd10": "http://hl7.org/fhir/sid/icd-10",
    "icd10cm": "http://hl7.org/fhir/sid/icd-10-cm",
    "icd11": "http://id.who.int/icd/release/11/mms",
    "atc": "http://www.whocc.no/atc",
}

LOINC = SYSTEMS["loinc"]
RXNORM = SYSTEMS["rxnorm"]
UCUM = SYSTEMS["ucum"]

Code = tuple[str, str]  # (system URL, code)


def resolve_system(name: str, local_system: str) -> str:
    """A short name or URL -> the system URL (unknown names are returned unchanged)."""
    if name == "local":
        return local_system
    return SYSTEMS.get(name, name)


def parse_code(text: str, local_system: str) -> Code:
    """`loinc#72514-3` -> ("http://loinc.org", "72514-3"). Raises ValueError when malformed."""
    system, sep, code = text.rpartition("#")
    if not sep or not system or not code or " " in code:
        raise ValueError(f"'{text}' is not a code; write it as system#code, e.g. loinc#72514-3")
    return resolve_system(system, local_system), code
