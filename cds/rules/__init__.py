"""The rule runtime: the pack files and their models with source positions (rule test files
and their patient shorthand included, `testspec`, `synth_spec`), parameters, conditions in
disjunctive normal form, the compiler to durable_rules rulesets within the engine's limits,
and the engine. The checks and tools that work on a pack are in cds/authoring."""
