"""The example requests of fhir_examples/ and the cards README.md says they produce, plus an
in-process service with its clock set to the moment the examples are dated from."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from cds.app import create_app
from cds.settings import Settings

EXAMPLES = Path(__file__).resolve().parents[2] / "fhir_examples"
_ROW = re.compile(
    r"^\|\s*(?P<file>[\w.-]+\.json)\s*\|\s*(?P<service>[\w-]+)\s*\|\s*(?P<cards>.*?)\s*\|$")
_CARD = re.compile(
    r'^(?P<rule>[A-Z][A-Z0-9-]*):(?P<indicator>info|warning|critical)\s+"(?P<summary>[^"]*)"$')


@dataclass(frozen=True)
class ExpectedCard:
    rule: str
    indicator: str
    summary_start: str


@dataclass(frozen=True)
class Example:
    file: str
    service: str
    cards: tuple[ExpectedCard, ...]

    @property
    def path(self) -> Path:
        return EXAMPLES / self.file

    def request(self) -> dict[str, Any]:
        return json.loads(self.path.read_text(encoding="utf-8"))


def parse_readme(text: str) -> list[Example]:
    """The rows of the README table `| file | service | cards |` (header rows skipped)."""
    out = []
    for line in text.splitlines():
        row = _ROW.match(line.strip())
        if row is None:
            continue
        cards_text = row["cards"]
        cards: list[ExpectedCard] = []
        if cards_text != "none":
            for part in cards_text.split('"; '):
                part = part if part.endswith('"') else part + '"'
                card = _CARD.match(part.strip())
                if card is None:
                    raise ValueError(f"README card {part!r} is not RULE:indicator \"summary\"")
                cards.append(ExpectedCard(card["rule"], card["indicator"], card["summary"]))
        out.append(Example(row["file"], row["service"], tuple(cards)))
    return out


def readme_examples() -> list[Example]:
    return parse_readme((EXAMPLES / "README.md").read_text(encoding="utf-8"))


@contextmanager
def service(tmp_path: Path, now: datetime | None) -> Iterator[TestClient]:
    """The service with its clock pinned to `now` (the examples are dated relative to it), or
    on the real clock when `now` is None."""
    settings = Settings(auth="off", database_url=f"sqlite:///{tmp_path / 'cds.sqlite3'}")
    clock = None if now is None else lambda: now
    with TestClient(create_app(settings, clock=clock)) as client:
        yield client
