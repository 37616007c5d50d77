"""CDS Hooks 2.0 wire models: requests (their `context` checked with the model of its hook in
cds/hookdefs.py), cards, responses, feedback.

Strict where the spec says MUST (required fields, enumerations, summary length), lenient
where real EHRs differ harmlessly (unknown extra fields are kept). Responses leave optional
fields out rather than sending null.
"""

from __future__ import annotations

import uuid as uuid_lib
from datetime import datetime
from typing import Any, ClassVar, Literal

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    model_serializer,
    model_validator,
)
from pydantic_core import to_jsonable_python

from cds.hookdefs import PatientViewContext, hook_def
from cds.hooks.card_ids import new_card_uuid
from cds.hooks.card_meta import EXTENSION_KEY, CardMeta

SUMMARY_MAX = 140


class _Wire(BaseModel):
    """Base for models sent to EHRs: drops None and empty optional collections on output."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")
    # True on models that add wire fields of their own after their fields (`wire_extra`).
    has_wire_extra: ClassVar[bool] = False

    def wire_extra(self) -> dict[str, Any]:
        return {}

    @model_serializer(mode="wrap")
    def _omit_empty(self, handler: Any) -> dict[str, Any]:
        data = handler(self)
        if self.has_wire_extra:
            data.update(self.wire_extra())
        return {k: v for k, v in data.items() if v is not None and v != [] and v != {}}


# --------------------------------------------------------------------------- request


class FhirAuthorization(BaseModel):
    model_config = ConfigDict(extra="allow")

    access_token: str = Field(min_length=1)
    token_type: Literal["Bearer", "bearer"]
    expires_in: int = Field(ge=0)
    scope: str
    subject: str
    patient: str | None = None

    def __repr__(self) -> str:  # never let a token reach a log line through repr()
        return f"FhirAuthorization(subject={self.subject!r}, token=<redacted>)"

    __str__ = __repr__


class HookRequest(BaseModel):
    """A CDS Hooks call. `context` is validated against the hook's context model."""

    model_config = ConfigDict(extra="allow")

    hook: str = Field(min_length=1)
    hookInstance: uuid_lib.UUID
    fhirServer: str | None = None
    fhirAuthorization: FhirAuthorization | None = None
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None
    extension: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _fhir_server_with_token(self) -> HookRequest:
        if self.fhirAuthorization is not None and not self.fhirServer:
            raise ValueError("fhirServer is required when fhirAuthorization is present")
        return self

    def typed_context(self) -> BaseModel:
        """The context parsed with the model of its hook (raises pydantic ValidationError)."""
        definition = hook_def(self.hook)
        model = definition.context if definition is not None else PatientViewContext
        return model.model_validate(self.context)

    def __repr__(self) -> str:
        return f"HookRequest(hook={self.hook!r}, hookInstance={self.hookInstance})"

    __str__ = __repr__


# --------------------------------------------------------------------------- cards


class Coding(_Wire):
    model_config = ConfigDict(extra="allow")

    code: str = Field(min_length=1)
    system: str | None = None
    display: str | None = None


class Source(_Wire):
    label: str = Field(min_length=1)
    url: str | None = None
    icon: str | None = None
    topic: Coding | None = None


class Action(_Wire):
    type: Literal["create", "update", "delete"]
    description: str = Field(min_length=1)
    resource: dict[str, Any] | None = None
    resourceId: str | None = None

    @model_validator(mode="after")
    def _payload(self) -> Action:
        if self.type in ("create", "update") and self.resource is None:
            raise ValueError(f"a {self.type} action needs a resource")
        if self.type == "delete" and not (self.resourceId or self.resource):
            raise ValueError("a delete action needs resourceId")
        return self


class Suggestion(_Wire):
    label: str = Field(min_length=1)
    uuid: str | None = None
    isRecommended: bool | None = None
    actions: list[Action] = Field(default_factory=list)


class Link(_Wire):
    label: str = Field(min_length=1)
    url: str = Field(min_length=1)
    type: Literal["absolute", "smart"]
    appContext: str | None = None
    autolaunchable: bool | None = None

    @model_validator(mode="after")
    def _app_context_only_for_smart(self) -> Link:
        if self.appContext is not None and self.type != "smart":
            raise ValueError("appContext is only allowed on smart links")
        return self


class Card(_Wire):
    """A card. What the service knows about it (`meta`: rule, problem, merged rules) travels
    with it as a typed value, copied by `model_copy`; the wire `extension` is made from it
    when the card is serialised."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid",
                              json_schema_extra=lambda schema: _document_extension(schema))
    has_wire_extra: ClassVar[bool] = True

    uuid: str = Field(default_factory=new_card_uuid)
    summary: str = Field(min_length=1, max_length=SUMMARY_MAX - 1)
    detail: str | None = None
    indicator: Literal["info", "warning", "critical"]
    source: Source
    suggestions: list[Suggestion] = Field(default_factory=list)
    selectionBehavior: Literal["at-most-one", "any"] | None = None
    overrideReasons: list[Coding] = Field(default_factory=list)
    links: list[Link] = Field(default_factory=list)
    _meta: CardMeta | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _selection_behavior(self) -> Card:
        if self.suggestions and self.selectionBehavior is None:
            raise ValueError("selectionBehavior is required when a card has suggestions")
        return self

    # The private attribute is read from `__pydantic_private__` directly: pydantic's own
    # attribute access to it costs about 2.5 µs, and policy and ranking read it often.
    def _stored_meta(self) -> CardMeta | None:
        private = self.__pydantic_private__
        return private.get("_meta") if private is not None else None

    @property
    def meta(self) -> CardMeta:
        """The card's metadata (a card built without it stands for no rule: rule "")."""
        meta = self._stored_meta()
        return meta if meta is not None else _NO_META

    def with_meta(self, meta: CardMeta) -> Card:
        """This card, carrying `meta` (call on a card just built or copied)."""
        self._meta = meta
        return self

    @property
    def extension(self) -> dict[str, Any] | None:
        """The CDS Hooks `extension` the card is sent with."""
        meta = self._stored_meta()
        return meta.extension() if meta is not None else None

    def wire_extra(self) -> dict[str, Any]:
        extension = self.extension
        return {"extension": extension} if extension is not None else {}


_NO_META = CardMeta(rule="")


def _document_extension(schema: dict[str, Any]) -> None:
    """The card's JSON Schema names the `extension` made from its meta (not a model field)."""
    schema["properties"]["extension"] = {
        "type": "object", "title": "Extension",
        "description": f"Under {EXTENSION_KEY!r}: the rule, problem, pack and merged rules"}


class SystemAction(Action):
    pass


class HookResponse(BaseModel):
    """The body answered to a hook call: `cards` always present, even when empty."""

    cards: list[Card] = Field(default_factory=list)
    systemActions: list[SystemAction] = Field(default_factory=list)

    def to_bytes(self) -> bytes:
        """The response as JSON bytes: what `model_dump(mode="json")` gives, serialised by
        orjson straight from the models."""
        return wire_bytes({"cards": self.cards, "systemActions": self.systemActions})


def wire_bytes(value: Any) -> bytes:
    """`orjson.dumps(model_dump(mode="json"))` of wire models, byte for byte, faster.

    A response of a few cards holds about seventy nested wire models; pydantic calls the
    Python `_omit_empty` serializer once for each. Here orjson walks dicts, lists and
    scalars itself and asks `_wire_default` only for models (their non-empty fields) and for
    values it must not render its own way (datetimes and dataclasses go to pydantic's
    conversion). A nested wire model is never empty (each has a required field), so keeping
    it as it comes matches what `_omit_empty` does (tests compare the two).
    """
    return orjson.dumps(value, default=_wire_default, option=_WIRE_OPTIONS)


_WIRE_OPTIONS = (orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
                 | orjson.OPT_NON_STR_KEYS)
_COLLECTIONS = (list, dict, tuple, set, frozenset)


def _wire_default(value: Any) -> Any:
    if isinstance(value, _Wire):
        fields = value.__dict__
        out = {}
        for name in _field_names(type(value)):  # plain loops: this runs per model
            item = fields[name]
            if item is None or (isinstance(item, _COLLECTIONS) and not item):
                continue
            out[name] = item
        for name, item in (value.__pydantic_extra__ or {}).items():
            if item is None or (isinstance(item, _COLLECTIONS) and not item):
                continue
            out[name] = item
        if value.has_wire_extra:
            out.update(value.wire_extra())
        return out
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return to_jsonable_python(value)


_FIELD_NAMES: dict[type[BaseModel], tuple[str, ...]] = {}


def _field_names(model: type[BaseModel]) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(model)
    if names is None:
        names = _FIELD_NAMES[model] = tuple(model.__pydantic_fields__)
    return names


# --------------------------------------------------------------------------- discovery


class ServiceDescriptor(_Wire):
    model_config = ConfigDict(extra="forbid")

    hook: str
    id: str = Field(pattern=r"^[A-Za-z0-9\-_.]+$")
    title: str | None = None
    description: str = Field(min_length=1)
    prefetch: dict[str, str] = Field(default_factory=dict)
    usageRequirements: str | None = None
    extension: dict[str, Any] | None = None


# --------------------------------------------------------------------------- feedback


class AcceptedSuggestion(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1)


class OverrideReason(BaseModel):
    model_config = ConfigDict(extra="allow")

    reason: Coding | None = None
    userComment: str | None = Field(default=None, max_length=4000)


class Feedback(BaseModel):
    model_config = ConfigDict(extra="allow")

    card: str = Field(min_length=1)
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[AcceptedSuggestion] | None = None
    overrideReason: OverrideReason | None = None
    outcomeTimestamp: datetime

    @model_validator(mode="after")
    def _consistent(self) -> Feedback:
        if self.outcome == "accepted" and not self.acceptedSuggestions:
            raise ValueError("acceptedSuggestions is required when outcome is accepted")
        if self.outcomeTimestamp.tzinfo is None:
            raise ValueError("outcomeTimestamp must carry a time zone (UTC)")
        return self


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    feedback: list[Feedback] = Field(min_length=1)
