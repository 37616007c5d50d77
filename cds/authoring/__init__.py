"""Authoring tools for rule packs: the checks that `cds rules check` and the service run on a
pack, rule tests with the shorthand that builds FHIR test patients, explain, the pack-file
schema and the `cds rules` commands."""
