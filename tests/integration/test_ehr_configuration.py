"""The EHR-facing settings as an operator writes them in the environment (README)."""

from __future__ import annotations

import pytest

from cds.fhir.client import UrlPolicy
from cds.settings import Settings


def test_trusted_issuers_are_a_json_object_in_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CDS_TRUSTED_ISSUERS", '{"https://sandbox.cds-hooks.org": '
                       '{"jwks_file": "/etc/cds/sandbox-jwks.json", "jku_allow": []}}')
    issuers = Settings().trusted_issuers
    assert issuers == {"https://sandbox.cds-hooks.org": {
        "jwks_file": "/etc/cds/sandbox-jwks.json", "jku_allow": []}}


@pytest.mark.parametrize(
    "value", ["https://ehr.example.org/fhir, https://fhir.example.com/r4",
              '["https://ehr.example.org/fhir", "https://fhir.example.com/r4"]'],
)
def test_the_fhir_allow_list_may_be_comma_separated_or_json(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("CDS_FHIR_SERVER_ALLOW", value)
    settings = Settings()
    assert settings.fhir_server_allow == ["https://ehr.example.org/fhir",
                                          "https://fhir.example.com/r4"]
    assert UrlPolicy.from_settings(settings).permits("https://fhir.example.com/r4/Patient/1")


def test_by_default_no_fhir_server_may_be_contacted() -> None:
    settings = Settings()
    assert not UrlPolicy.from_settings(settings).permits("https://ehr.example.org/fhir")
    assert settings.fhir_deadline_ms == 600
