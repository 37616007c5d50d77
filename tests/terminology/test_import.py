"""`cds terminology import`: expansions from files and from a FHIR terminology server become
the pack's derived value sets and product table, with provenance; a re-run changes nothing."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from typer.testing import CliRunner

from cds.cli import app
from cds.facts.config import load_fact_config

from .conftest import RULES

CDC = "http://fhir.org/guides/cdc/opioid-cds/ValueSet/"
NALOXONE = CDC + "naloxone-medications"
HOSPICE = CDC + "hospice-finding"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(RULES, target)
    return target


def shipped_codes(vid: str) -> list[list[str]]:
    return json.loads((RULES / f"terminology/valuesets/{vid}.json").read_text())["codes"]


def valueset(url: str, codes: list[list[str]], **extra: Any) -> dict[str, Any]:
    return {"resourceType": "ValueSet", "url": url, "status": "active", "title": "T", **extra,
            "expansion": {"timestamp": "2026-01-01T00:00:00Z",
                          "contains": [{"system": s, "code": c, "display": d}
                                       for s, c, d in codes]}}


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, ["terminology", "import", *args])


def test_an_import_from_files_reports_changes_and_keeps_provenance(pack: Path,
                                                                   tmp_path: Path) -> None:
    codes = shipped_codes("cdc-naloxone")
    new = [*codes[2:], [RXNORM, "2700000", "naloxone hydrochloride 8 MG/ACTUAT Nasal Spray"]]
    source = tmp_path / "src" / "naloxone.json"
    source.parent.mkdir()
    source.write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": valueset(NALOXONE, new)},
        {"resource": valueset("http://example.org/ValueSet/not-in-manifest", codes[:1])}]}))
    result = invoke(str(source), "--repository", "example/terminology", "--commit", "abc123",
                    "--package", "example.pkg#1.0.0", "--base", str(tmp_path / "src"),
                    "--rules", str(pack))
    assert result.exit_code == 0, result.output
    assert "cdc-naloxone: 49 codes, +1 -2" in result.output
    assert "skipped http://example.org/ValueSet/not-in-manifest (not in manifest.yaml)" \
        in result.output
    assert "products: " in result.output
    stored = json.loads((pack / "terminology/valuesets/cdc-naloxone.json").read_text())
    assert stored["source"] == {"repository": "example/terminology", "commit": "abc123",
                                "path": "naloxone.json",
                                "sha256": hashlib.sha256(source.read_bytes()).hexdigest()}
    assert stored["package"] == "example.pkg#1.0.0" and stored["total"] == 49
    products = json.loads((pack / "terminology/products.json").read_text())["products"]
    assert products["2700000"]["ingredients"] == [["naloxone", 8.0, "mg/actuat"]]
    config = load_fact_config(pack)
    assert config.drugs.products["2700000"].parts[0].rxcui == "7242"
    assert codes[0][1] not in config.valuesets["cdc-naloxone"].codes

    again = invoke(str(source), "--repository", "example/terminology", "--commit", "abc123",
                   "--package", "example.pkg#1.0.0", "--base", str(tmp_path / "src"),
                   "--rules", str(pack))
    assert again.exit_code == 0
    assert "cdc-naloxone: 49 codes, unchanged" in again.output
    assert "products: 2915 products, unchanged" in again.output


def test_a_file_that_is_not_json_is_an_error_without_traceback(pack: Path,
                                                               tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{ not json")
    result = invoke(str(bad), "--rules", str(pack))
    assert result.exit_code == 2
    assert "bad.json: cannot read ValueSet JSON" in result.output
    assert "Traceback" not in result.output


def test_a_valueset_without_expansion_is_refused(pack: Path, tmp_path: Path) -> None:
    source = tmp_path / "compose-only.json"
    source.write_text(json.dumps({"resourceType": "ValueSet", "url": NALOXONE,
                                  "compose": {"include": [{"system": RXNORM}]}}))
    result = invoke(str(source), "--rules", str(pack))
    assert result.exit_code == 0  # nothing to import from it: only the products are rebuilt
    assert "cdc-naloxone" not in result.output


def test_omtk_data_gives_ingredient_codes_and_strengths(pack: Path, tmp_path: Path) -> None:
    cql = tmp_path / "OMTKData.cql"
    cql.write_text(
        "library OMTKData version '9.9.9'\n/* generated on 2026-01-02 */\n"
        "define DrugIngredients:\n{\n"
        "  { drugCode: 1049613, drugName: 'oxycodone hydrochloride 15 MG Oral Tablet "
        "[Roxicodone]', doseFormCode: 317541, doseFormName: 'Oral Tablet', "
        "ingredientCode: 7804, ingredientName: 'Oxycodone', strength: '15 MG', "
        "strengthValue: 15.0, strengthUnit: 'MG' }\n}\n")
    result = invoke("--omtk", str(cql), "--repository", "example/omtk", "--commit", "def456",
                    "--rules", str(pack))
    assert result.exit_code == 0, result.output
    assert "omtk: 1 drugs, +0 -909" in result.output
    omtk = json.loads((pack / "terminology/omtk.json").read_text())
    assert omtk["drugs"] == {"1049613": [["7804", "oxycodone", 15.0, "MG", "Oral Tablet"]]}
    assert omtk["source"]["library_version"] == "9.9.9"
    assert omtk["source"]["rxnav_data_date"] == "2026-01-02"


class _Terminology(BaseHTTPRequestHandler):
    """A loopback FHIR terminology server: $expand for the naloxone set, search only for the
    hospice set; every call needs the bearer token."""

    expansions: dict[str, dict[str, Any]] = {}
    seen: list[str] = []

    def do_GET(self) -> None:
        self.seen.append(self.path)
        if self.headers.get("Authorization") != "Bearer t0k":
            return self._send(401, {"resourceType": "OperationOutcome"})
        parsed = urlparse(self.path)
        url = parse_qs(parsed.query).get("url", [""])[0]
        if parsed.path == "/fhir/ValueSet/$expand" and url == NALOXONE:
            return self._send(200, self.expansions[url])
        if parsed.path == "/fhir/ValueSet" and url in self.expansions:
            return self._send(200, {"resourceType": "Bundle", "type": "searchset", "entry": [
                {"resource": self.expansions[url]}]})
        return self._send(404, {"resourceType": "OperationOutcome"})

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Terminology.expansions = {
        NALOXONE: valueset(NALOXONE, shipped_codes("cdc-naloxone"), version="2026-01"),
        HOSPICE: valueset(HOSPICE, shipped_codes("cdc-hospice-findings")),
    }
    _Terminology.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Terminology)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/fhir"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_an_import_from_a_terminology_server_expands_or_searches(pack: Path,
                                                                 server: str) -> None:
    result = invoke("--server", server, "--valueset", NALOXONE, "--valueset", HOSPICE,
                    "--token", "t0k", "--rules", str(pack))
    assert result.exit_code == 0, result.output
    assert "cdc-naloxone: 50 codes" in result.output
    assert "cdc-hospice-findings: 5 codes" in result.output
    naloxone = json.loads((pack / "terminology/valuesets/cdc-naloxone.json").read_text())
    assert naloxone["version"] == "2026-01"
    assert naloxone["source"]["server"] == server and naloxone["source"]["request"] == "$expand"
    hospice = json.loads((pack / "terminology/valuesets/cdc-hospice-findings.json").read_text())
    assert hospice["source"]["request"] == "search"
    assert any("/ValueSet/$expand" in p for p in _Terminology.seen)


def test_a_server_that_refuses_the_token_is_an_error(pack: Path, server: str) -> None:
    result = invoke("--server", server, "--valueset", NALOXONE, "--token", "wrong",
                    "--rules", str(pack))
    assert result.exit_code == 2
    assert f"cannot expand {NALOXONE} ($expand: HTTP 401; search: HTTP 401)" in result.output
