"""A rollout pin (CDS_PACK_VERSION): a replica serves only the required pack version, says
which version answered each call, and reports not ready while another one serves."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from fastapi.testclient import TestClient

from cds.app import create_app
from cds.serving.reload import PackHolder
from cds.settings import BUNDLED_RULES_DIR, Settings
from cds.store.interfaces import MemoryStore

EXAMPLE = Path(__file__).resolve().parents[2] / "fhir_examples" / "well-patient.json"


def _pack_version() -> str:
    for line in (BUNDLED_RULES_DIR / "pack.yaml").read_text().splitlines():
        if line.startswith("version:"):
            return line.split(":", 1)[1].strip().strip("'\"")
    raise AssertionError("pack.yaml has no version")


def test_every_hook_answer_names_the_pack_version_that_gave_it() -> None:
    with TestClient(create_app(Settings(auth="off"), store=MemoryStore())) as client:
        reply = client.post("/cds-services/stress-pain-patient-view",
                            content=EXAMPLE.read_text(),
                            headers={"Content-Type": "application/json"})
    assert reply.status_code == 200
    assert reply.headers["X-CDS-Pack-Version"] == _pack_version()


def test_a_replica_pinned_to_another_version_is_not_ready_but_still_answers() -> None:
    settings = Settings(auth="off", pack_version="9.9.9")
    with TestClient(create_app(settings, store=MemoryStore())) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["packVersion"] is False
        assert ready.json()["packVersion"] == _pack_version()
        reply = client.post("/cds-services/stress-pain-patient-view",
                            content=EXAMPLE.read_text(),
                            headers={"Content-Type": "application/json"})
        assert reply.status_code == 200


def test_a_reload_to_a_version_other_than_the_pinned_one_is_refused(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(BUNDLED_RULES_DIR, rules)
    current = _pack_version()
    holder = PackHolder.from_directory(rules, required_version=current)
    assert holder.serves_required_version()
    pack_file = rules / "pack.yaml"
    pack_file.write_text(pack_file.read_text().replace(f"version: {current}", "version: 9.9.9"))
    result = holder.reload()
    assert not result.swapped
    assert "not the required version" in json.dumps(result.problems)
    assert holder.current().version == current
