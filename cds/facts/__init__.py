"""FHIR R4 resources -> flat facts for the rule engine (see catalogue.py for every fact)."""
