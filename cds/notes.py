"""Data notes: what the service could not use, and why.

Bad input never crashes a call and is never dropped silently (DESIGN.md): every resource or
value the collector or the extractor skips leaves one `DataNote`. Notes name the resource by
relative reference only; they never copy patient data (names, free text) into the message.
Draft orders are the exception: one still being entered (no medication chosen yet) or of a
kind the rules do not read (imaging, labs) is not a fault in the patient's record and is
left out without a note (cds/fhir/orders.py).

Kinds in use:
    prefetch-error        a prefetch key held an OperationOutcome or something that is not FHIR
    prefetch-warning      a searchset Bundle carried an OperationOutcome entry
    invalid-resource      a resource that cannot be read (wrong types, impossible dates, ...)
    unusable-value        a readable resource whose value is out of range or cannot be scored
    unit                  a quantity in a unit the measure does not accept
    incomplete-questionnaire  a QuestionnaireResponse without all required items
    unmapped-medication   a medication code with no known ingredient
    dose-unknown          a medication whose daily dose cannot be computed
    dose-assumed          a dose computed with a documented assumption (e.g. once daily)
    other-patient         a resource whose subject is not the patient of the call
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DataNote:
    kind: str
    message: str
    resource: str | None = None

    def as_dict(self) -> dict[str, str]:
        out = {"kind": self.kind, "message": self.message}
        if self.resource:
            out["resource"] = self.resource
        return out
