"""Reading FHIR: collecting resources from prefetch and draft orders, the FHIR client, strict
validation."""
