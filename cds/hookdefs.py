"""The CDS Hooks this service answers: one `HookDef` per hook, in one registry.

A hook is its name, the model its `context` must satisfy, and which of its draft orders the
service checks. Everything that depends on the set of hooks reads it from here: the request
validation, `services.yaml` and rule files (`hook`, `hooks`), the fact catalogue's `context`
fact, the test shorthand, the order handling and the dry-run. Adding a hook is one
`register(HookDef(...))`.

The context models are strict where the spec says MUST and lenient where real EHRs differ
harmlessly (extra fields are kept; a draftOrders Bundle without `type` is accepted).

The module sits low in the layers (it needs only pydantic) because the FHIR and facts layers,
below the CDS Hooks wire models, need the hook names too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    field_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from cds.suggest import unknown

_REFERENCE = re.compile(r"^[A-Za-z]+/[A-Za-z0-9\-.]{1,64}$")
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")

# Which draft orders a call asks about: none, the ones in `context.selections`, or all.
OrdersChecked = Literal["none", "selected", "all"]


class PatientViewContext(BaseModel):
    model_config = ConfigDict(extra="allow")

    userId: str = Field(min_length=1)
    patientId: str = Field(min_length=1)
    encounterId: str | None = None

    @field_validator("patientId")
    @classmethod
    def _fhir_id(cls, value: str) -> str:
        if not _FHIR_ID.match(value):
            raise ValueError("must be a FHIR id ([A-Za-z0-9-.], at most 64 characters)")
        return value


class DraftOrdersBundle(BaseModel):
    """`context.draftOrders`: a Bundle. `type` is optional here because real clients omit it."""

    model_config = ConfigDict(extra="allow")

    resourceType: Literal["Bundle"]
    type: str | None = None
    entry: list[dict[str, Any]] = Field(default_factory=list)

    def resources(self) -> list[Any]:
        return [e.get("resource") for e in self.entry if isinstance(e, dict)]


class OrderSignContext(PatientViewContext):
    draftOrders: DraftOrdersBundle


class OrderSelectContext(OrderSignContext):
    """`selections` is required but may be empty: clients call order-select before an order
    is chosen (the answer is then no cards)."""

    selections: list[str]

    @field_validator("selections")
    @classmethod
    def _references(cls, value: list[str]) -> list[str]:
        for ref in value:
            if not _REFERENCE.match(ref):
                raise ValueError(f"{ref!r} is not a relative reference such as MedicationRequest/1")
        return value


class EncounterContext(PatientViewContext):
    encounterId: str = Field(min_length=1)


@dataclass(frozen=True)
class HookDef:
    name: str
    context: type[BaseModel]  # what `context` must hold
    orders: OrdersChecked = "none"  # the draft orders the call asks the service to check

    @property
    def is_order_hook(self) -> bool:
        """A call made while orders are being entered: without an order to check it gets no
        cards (the patient's data is not what the clinician is working on)."""
        return self.orders != "none"


_HOOKS: dict[str, HookDef] = {}


def register(hook: HookDef) -> None:
    _HOOKS[hook.name] = hook


def unregister(name: str) -> None:
    _HOOKS.pop(name, None)


def hook_names() -> tuple[str, ...]:
    return tuple(_HOOKS)


def hook_def(name: str) -> HookDef | None:
    return _HOOKS.get(name)


def hooks() -> Iterator[HookDef]:
    return iter(tuple(_HOOKS.values()))


def known_hook(name: str) -> str:
    """`name` if it is a registered hook (a pydantic validator: ValueError otherwise)."""
    if name not in _HOOKS:
        raise ValueError(unknown("hook", name, _HOOKS))
    return name


class _HookNameSchema:
    """The JSON Schema of a hook name: an enum of the hooks registered when it is made."""

    @classmethod
    def __get_pydantic_json_schema__(cls, core: CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {**handler(core), "enum": list(_HOOKS)}


# A field holding a hook name: validated against the registry when it is read.
HookName = Annotated[str, AfterValidator(known_hook), _HookNameSchema]

register(HookDef("patient-view", PatientViewContext))
register(HookDef("order-select", OrderSelectContext, orders="selected"))
register(HookDef("order-sign", OrderSignContext, orders="all"))
register(HookDef("encounter-start", EncounterContext))
register(HookDef("encounter-discharge", EncounterContext))
