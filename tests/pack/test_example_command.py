"""`cds example`: the example requests, dated for any moment; `cds --version`."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from cds.cli import app
from cds.examples.patients import EXAMPLES, NOW
from cds.settings import BUNDLED_RULES_DIR
from tests.pack.examples import EXAMPLES as FOLDER
from tests.pack.examples import readme_examples

runner = CliRunner()


def test_list_names_every_example_with_its_service_and_what_it_shows():
    listed = runner.invoke(app, ["example", "--list"])
    assert listed.exit_code == 0
    lines = listed.stdout.splitlines()
    assert [line.split()[0] for line in lines] == list(EXAMPLES)
    services = {e.file.removesuffix(".json"): e.service for e in readme_examples()}
    for line in lines:
        name, service, about = line.split(None, 2)
        assert service == services[name]
        assert about == EXAMPLES[name].about


def test_an_example_dated_at_the_pinned_moment_is_the_file_in_fhir_examples():
    for when in ("2026-11-20T09:00:00Z", "2026-11-20T10:00:00+01:00"):
        printed = runner.invoke(app, ["example", "r11-benzodiazepine-with-opioid", "--now", when])
        assert printed.exit_code == 0, printed.output
        committed = (FOLDER / "r11-benzodiazepine-with-opioid.json").read_text(encoding="utf-8")
        assert json.loads(printed.stdout) == json.loads(committed)


def test_a_later_moment_moves_every_date_and_keeps_the_intervals():
    at_pinned = runner.invoke(app, ["example", "complex-patient.json", "--now", NOW.isoformat()])
    later = runner.invoke(app, ["example", "complex-patient", "--now", "2027-03-01T09:00:00Z"])
    assert at_pinned.exit_code == later.exit_code == 0
    before = json.loads(at_pinned.stdout)["prefetch"]["observations"]["entry"]
    after = json.loads(later.stdout)["prefetch"]["observations"]["entry"]
    dates = [(b["resource"]["effectiveDateTime"], a["resource"]["effectiveDateTime"])
             for b, a in zip(before, after, strict=True)]
    assert dates[0] == ("2026-09-11T09:00:00Z", "2026-12-21T09:00:00Z")  # 70 days before
    assert dates[-1] == ("2026-08-22T09:00:00Z", "2026-12-01T09:00:00Z")  # 90 days before


def test_a_date_alone_means_midnight_utc():
    printed = runner.invoke(app, ["example", "r02-depression-with-pain", "--now", "2027-01-10"])
    assert printed.exit_code == 0
    entry = json.loads(printed.stdout)["prefetch"]["observations"]["entry"][0]["resource"]
    assert entry["effectiveDateTime"] == "2027-01-06T00:00:00Z"  # 4 days before


def test_an_unknown_name_is_refused_with_the_nearest_one():
    refused = runner.invoke(app, ["example", "r02-depression"])
    assert refused.exit_code == 2
    assert "no example 'r02-depression'; did you mean 'r02-depression-with-pain'?" in " ".join(
        refused.output.replace("│", " ").split())
    assert refused.stdout.count("{") == 0


def test_a_bad_moment_and_a_missing_name_are_usage_errors():
    bad = runner.invoke(app, ["example", "well-patient", "--now", "20 Nov 2026"])
    assert bad.exit_code == 2
    assert "is not an ISO 8601 date or date-time" in " ".join(
        bad.output.replace("│", " ").split())
    missing = runner.invoke(app, ["example"])
    assert missing.exit_code == 2
    assert "name an example, or use --list" in missing.output


def test_version_names_the_package_and_the_rule_pack_it_serves(monkeypatch):
    monkeypatch.delenv("CDS_RULES_DIR", raising=False)
    shown = runner.invoke(app, ["--version"])
    assert shown.exit_code == 0
    package, pack = shown.stdout.splitlines()
    assert package.startswith("stress-pain-cds ")
    assert pack == f"rule pack stress-pain 2.0.0 ({BUNDLED_RULES_DIR})"


def test_version_says_when_the_configured_directory_holds_no_pack(monkeypatch, tmp_path):
    monkeypatch.setenv("CDS_RULES_DIR", str(tmp_path))
    shown = runner.invoke(app, ["--version"])
    assert shown.exit_code == 0
    assert shown.stdout.splitlines()[1] == (
        f"rule pack none: no readable pack.yaml in {tmp_path} ({tmp_path})")
