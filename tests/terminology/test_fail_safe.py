"""An order whose code the pack cannot resolve is never silent: a warning card on the order
hook, a Prometheus counter by code, and a row the governance report reads."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select

from cds.app import create_app
from cds.settings import Settings
from cds.store import tables

EXAMPLES = Path(__file__).resolve().parents[2] / "fhir_examples"
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _sign(example: str, tmp_path: Path) -> tuple[list[dict[str, Any]], list[str], list[Any]]:
    """Post an example to order-sign: its cards, the unresolved-code metric lines, and the
    unresolved-code audit rows (code, display)."""
    url = f"sqlite:///{tmp_path / 'cds.sqlite3'}"
    request = json.loads((EXAMPLES / example).read_text())
    app = create_app(Settings(auth="off", database_url=url), clock=lambda: NOW)
    with TestClient(app) as client:
        response = client.post("/cds-services/stress-pain-order-sign", json=request)
        assert response.status_code == 200
        metrics = client.get("/metrics").text
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(select(tables.unresolved.c.code, tables.unresolved.c.display)).all()
    engine.dispose()
    counted = [m for m in metrics.splitlines()
               if m.startswith("cds_unresolved_medication_codes_total{")]
    return response.json()["cards"], counted, [tuple(r) for r in rows]


def test_an_unknown_draft_order_warns_is_counted_and_audited(tmp_path: Path) -> None:
    cards, counted, rows = _sign("ehr-unknown-product-order.json", tmp_path)
    assert [c["indicator"] for c in cards] == ["warning"]
    assert cards[0]["summary"].startswith("Interaction checks could not be run for "
                                          "Oxycodone HCl 10 mg tablet")
    assert "999999901" in cards[0]["detail"]
    assert "the name suggests **oxycodone**" in cards[0]["detail"]
    assert "Not checked against the patient's sertraline" in cards[0]["detail"]
    (line,) = counted
    assert 'code="999999901"' in line and line.endswith(" 1.0")
    assert rows == [("999999901", "Oxycodone HCl 10 mg tablet (hospital formulary)")]


def test_an_unknown_order_with_no_hint_still_warns(tmp_path: Path) -> None:
    cards, counted, rows = _sign("ehr-unknown-lisinopril-order.json", tmp_path)
    (card,) = cards
    assert card["indicator"] == "warning" and "999999905" in card["detail"]
    assert "suggests" not in card["detail"]
    assert "Not checked against the patient" not in card["detail"]
    (line,) = counted
    assert 'code="999999905"' in line and line.endswith(" 1.0")
    assert rows == [("999999905", "Lisinopril 10 mg tablet (hospital formulary)")]


def test_a_known_brand_order_is_not_counted(tmp_path: Path) -> None:
    request = json.loads((EXAMPLES / "ehr-oxycontin-order-on-xanax-neurontin.json").read_text())
    settings = Settings(auth="off", database_url=f"sqlite:///{tmp_path / 'cds.sqlite3'}")
    with TestClient(create_app(settings, clock=lambda: NOW)) as client:
        response = client.post("/cds-services/stress-pain-order-sign", json=request)
        metrics = client.get("/metrics").text
    (card,) = response.json()["cards"]  # one opioid-safety card
    meta = card["extension"]["org.stresspain.cds"]
    assert (meta["rule"], meta["alsoFrom"]) == ("R11", ["R10"])
    assert "cds_unresolved_medication_codes_total{" not in metrics
