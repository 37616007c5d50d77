"""The words the engine adds to cards, from the pack's data-quality.yaml, compiled once:
the "data not used" section and the stand-alone data-quality card; and the card extension
of the data-quality card. Notes name resources by reference only
(DataNote's own rule)."""

from __future__ import annotations

from collections.abc import Sequence

from cds.cards.templating import Scope, compile_text
from cds.hooks.card_meta import CardMeta
from cds.hooks.models import SUMMARY_MAX, Card, Coding, Source
from cds.notes import DataNote
from cds.rules.packfiles import EngineTexts


class EngineTextRenderer:
    def __init__(self, texts: EngineTexts, pack_name: str, pack_version: str) -> None:
        self.texts = texts
        self.pack_name = pack_name
        self.pack_version = pack_version
        self._section = compile_text(texts.section)
        card = texts.card
        self._summary = compile_text(card.summary) if card else None
        self._detail = compile_text(card.detail) if card else None

    def _ctx(self, notes: Sequence[DataNote]) -> Scope:
        shown = list(notes[: self.texts.max_notes])
        return Scope({"notes": [n.as_dict() for n in shown], "more": len(notes) - len(shown)})

    def section(self, notes: Sequence[DataNote]) -> str:
        return self._section(self._ctx(notes)) if notes else ""

    def card_summary(self, notes: Sequence[DataNote]) -> str | None:
        """The data-quality card's summary for these notes (None without a card)."""
        return self._summary(self._ctx(notes)).strip() if self._summary else None

    def card(self, notes: Sequence[DataNote]) -> Card | None:
        """The card shown when data could not be used and no rule fired (None without a
        `card` in data-quality.yaml)."""
        spec = self.texts.card
        if not notes or spec is None or self._summary is None or self._detail is None:
            return None
        ctx = self._ctx(notes)
        summary = self.card_summary(notes) or ""
        if not summary or len(summary) >= SUMMARY_MAX:  # never truncated; check prevents it
            summary = "Data not used"
        src = spec.source
        return Card(
            summary=summary,
            detail=self._detail(ctx).strip() or None,
            indicator=spec.indicator,
            source=Source(label=src.label, url=src.url, icon=src.icon,
                          topic=Coding.model_validate(src.topic) if src.topic else None),
        ).with_meta(CardMeta(
            rule="data-quality", problem="data-quality", pack=self.pack_name,
            pack_version=self.pack_version, notes=tuple(n.as_dict() for n in notes)))
