"""Reading FHIR CodeableConcepts as they come: the well-formed codings and a display text."""

from __future__ import annotations

from typing import Any


def codings(concept: Any) -> list[dict[str, Any]]:
    """The well-formed codings of a CodeableConcept (a string `code`, a string or no
    `system`)."""
    if not isinstance(concept, dict):
        return []
    raw = concept.get("coding")
    if not isinstance(raw, list):
        return []
    found = []
    for c in raw:  # a loop: cheaper than a comprehension for the usual one or two codings
        if isinstance(c, dict) and isinstance(c.get("code"), str) \
                and isinstance(c.get("system"), str | None):
            found.append(c)
    return found


def display_of(concept: Any, coding: dict[str, Any] | None = None,
               found: list[dict[str, Any]] | None = None) -> str:
    """The coding's display, else the concept's text, else the first coding display."""
    if coding is not None and isinstance(display := coding.get("display"), str):
        return display
    if isinstance(concept, dict):
        if isinstance(text := concept.get("text"), str):
            return text
        for c in codings(concept) if found is None else found:
            if isinstance(display := c.get("display"), str):
                return display
    return ""
