"""Terminology import: public value-set expansions and drug data -> the pack's derived code
lists and product table (`rules/terminology/`). An authoring tool: the service itself only
reads the derived files."""
