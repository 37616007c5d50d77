"""Bad input to the `cds` commands: one clear line and an exit status, never a traceback.

A pack with problems exits with status 1 after listing them at file:line:col; input that is
not what the command takes (a request that is not JSON or not a CDS Hooks request, a time
that is not ISO 8601, an unknown service or rule) exits with status 2 and one line.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cds.cli import app
from tests.packs import copy_pack

pytestmark = pytest.mark.slow  # each case runs the CLI with a pack load
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "fhir_examples" / "r05-low-activity-chronic-pain.json"
NOW = "2026-11-20T09:00:00Z"
SERVICES = "stress-pain-patient-view, stress-pain-order-select, stress-pain-order-sign"
runner = CliRunner()


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "250"})
    output = result.output  # stdout and stderr
    assert "Traceback" not in output
    assert result.exception is None or isinstance(result.exception, SystemExit), output
    return result.exit_code, output


def test_check_reports_an_unknown_filter_in_a_condition_without_a_traceback(tmp_path):
    pack = copy_pack(tmp_path / "pack", real_facts=True)
    shutil.copytree(ROOT / "tests" / "engine_fixtures" / "invalid" /
                    "unknown-filter-in-condition", pack, dirs_exist_ok=True)
    (pack / "expected.txt").unlink()
    status, output = _run("rules", "check", str(pack))
    assert status == 1
    assert ("rules/R02-mood.yaml:32:62: unknown filter 'intt' (did you mean 'int'? valid: num, "
            "days_after, abs,") in output
    assert "1 error(s), 0 warning(s)" in output


@pytest.mark.parametrize(("content", "message"), [
    ("{bad", " is not JSON: Expecting property name enclosed in double quotes "
              "(line 1, column 2)"),
    ("[1]", ": a CDS Hooks request is a JSON object"),
    ('{"hook": "patient-view", "context": {}}',
     ": not a CDS Hooks request: hookInstance: Field required"),
])
def test_explain_refuses_a_request_that_is_not_a_cds_hooks_request(tmp_path, content, message):
    request = tmp_path / "request.json"
    request.write_text(content, encoding="utf-8")
    status, output = _run("explain", str(request), "--now", NOW)
    assert status == 2
    assert output.strip() == f"cds explain: {request}{message}"


def test_explain_refuses_a_missing_file_in_one_line(tmp_path):
    status, output = _run("explain", str(tmp_path / "none.json"))
    assert status == 2
    assert output.strip() == f"cds explain: cannot read {tmp_path / 'none.json'}: No such " \
                             "file or directory"


def test_explain_refuses_a_time_that_is_not_iso_8601():
    status, output = _run("explain", str(EXAMPLE), "--now", "yesterday")
    assert status == 2
    assert output.strip() == ("cds explain: --now 'yesterday' is not an ISO 8601 time "
                              "(e.g. 2026-11-20T09:00:00Z)")


def test_explain_refuses_an_unknown_service_and_lists_the_services():
    status, output = _run("explain", str(EXAMPLE), "--now", NOW, "--service", "nope")
    assert status == 2
    assert output.strip() == f"cds explain: {EXAMPLE}: unknown service 'nope' (valid: {SERVICES})"


def test_explain_refuses_a_service_of_another_hook():
    status, output = _run("explain", str(EXAMPLE), "--now", NOW, "--service",
                          "stress-pain-order-sign")
    assert status == 2
    assert output.strip() == (f"cds explain: {EXAMPLE}: service 'stress-pain-order-sign' "
                              "answers the 'order-sign' hook; the request is a 'patient-view' "
                              "call")


def test_explain_names_the_service_it_used(tmp_path):
    status, output = _run("explain", str(EXAMPLE), "--now", NOW, "--service",
                          "stress-pain-patient-view")
    assert status == 0
    assert "patient-view via stress-pain-patient-view at 2026-11-20T09:00:00+00:00" in output
    assert json.loads(EXAMPLE.read_text(encoding="utf-8"))["hook"] == "patient-view"


def test_rules_test_refuses_a_rule_without_tests():
    status, output = _run("rules", "test", str(ROOT / "rules"), "--rule", "R99")
    assert status == 2
    assert output.strip().startswith("cds rules test: unknown rule 'R99' (did you mean 'R09'? "
                                     "rules with tests: R00, R01,")
