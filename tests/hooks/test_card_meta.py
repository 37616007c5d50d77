"""A card's metadata is a typed value that travels with the card; the wire `extension` is
made from it when the card is serialised."""

from __future__ import annotations

import orjson

from cds.hooks.card_meta import EXTENSION_KEY, CardMeta
from cds.hooks.models import Card, HookResponse, Source


def _card() -> Card:
    return Card(summary="Refer to psychology", indicator="info", source=Source(label="NICE"))


def test_model_copy_keeps_the_meta_and_a_copy_can_take_its_own() -> None:
    meta = CardMeta(rule="R02", problem="mood", pack="p", pack_version="2.0.0")
    card = _card().with_meta(meta)
    copied = card.model_copy(update={"indicator": "warning"})
    assert copied.meta is meta
    merged = copied.model_copy().with_meta(CardMeta(rule="R02", also_from=("R05",)))
    assert merged.meta.rules == ("R02", "R05")
    assert card.meta.also_from == () and copied.meta.also_from == ()


def test_the_wire_extension_is_made_from_the_meta_in_a_fixed_order() -> None:
    fact = {"id": "obs-1", "value": 16.0}
    card = _card().with_meta(CardMeta(
        rule="R02", rule_version="1.2.0", pack="stress-pain", pack_version="2.0.0",
        problem="mood", matches=(("phq9", fact),), also_from=("R04",), bundle="plan"))
    wire = orjson.loads(HookResponse(cards=[card]).to_bytes())["cards"][0]
    assert list(wire) == ["uuid", "summary", "indicator", "source", "extension"]
    body = wire["extension"][EXTENSION_KEY]
    assert list(body) == ["rule", "ruleVersion", "pack", "packVersion", "problem", "matches",
                          "alsoFrom", "bundle"]
    assert body["matches"] == [{"binding": "phq9", "fact": fact}]
    assert body["alsoFrom"] == ["R04"] and body["bundle"] == "plan"
    assert card.model_dump(mode="json") == wire


def test_a_card_without_meta_has_no_extension_and_stands_for_no_rule() -> None:
    card = _card()
    assert card.extension is None and card.meta.rule == ""
    wire = orjson.loads(HookResponse(cards=[card]).to_bytes())["cards"][0]
    assert "extension" not in wire


def test_the_data_quality_card_lists_its_notes_and_no_rule_version() -> None:
    notes = ({"kind": "unit", "message": "pain in mm", "resource": "Observation/1"},)
    body = CardMeta(rule="data-quality", problem="data-quality", pack="p",
                    pack_version="1", notes=notes).extension()[EXTENSION_KEY]
    assert list(body) == ["rule", "pack", "packVersion", "problem", "notes", "matches",
                          "alsoFrom"]
    assert body["notes"] == list(notes)
