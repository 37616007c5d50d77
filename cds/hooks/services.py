"""Service definitions (rules/services.yaml): what discovery advertises and what each
service needs prefetched. Kept in the rule pack, never in Python."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cds.hookdefs import HookName
from cds.hooks.models import ServiceDescriptor


class ServiceDefinition(BaseModel):
    """One CDS service: it runs every enabled rule whose hooks include its hook."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9\-_.]+$", description="Service id in the URL "
                    "(/cds-services/<id>)")
    hook: HookName = Field(description="The CDS Hook it answers")
    title: str = Field(description="Shown in discovery")
    description: str = Field(min_length=1, description="What the service does (discovery)")
    prefetch: dict[str, str] = Field(default_factory=dict, description="Prefetch key -> FHIR "
                                     "query template, e.g. Patient/{{context.patientId}}")
    required_prefetch: list[str] = Field(
        default_factory=list,
        description="Prefetch keys without which the service cannot answer (412 when they are "
        "missing and no fhirServer is given).",
    )
    usageRequirements: str | None = Field(default=None, description="What the EHR must provide "
                                          "(discovery)")

    @model_validator(mode="after")
    def _consistent(self) -> ServiceDefinition:
        unknown = [k for k in self.required_prefetch if k not in self.prefetch]
        if unknown:
            raise ValueError(f"required_prefetch names undeclared keys: {', '.join(unknown)}")
        return self

    def descriptor(self) -> ServiceDescriptor:
        return ServiceDescriptor(
            hook=self.hook,
            id=self.id,
            title=self.title,
            description=self.description,
            prefetch=self.prefetch,
            usageRequirements=self.usageRequirements,
        )


class ServiceCatalogue(BaseModel):
    """rules/services.yaml: the services advertised at GET /cds-services."""

    model_config = ConfigDict(extra="forbid")

    services: list[ServiceDefinition] = Field(min_length=1, description="The CDS services")

    @model_validator(mode="after")
    def _unique_ids(self) -> ServiceCatalogue:
        ids = [s.id for s in self.services]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate service ids: {', '.join(duplicates)}")
        return self

    def get(self, service_id: str) -> ServiceDefinition | None:
        for service in self.services:
            if service.id == service_id:
                return service
        return None
