"""CDS_TRUSTED_ISSUERS: a `jku` mapped to a local key-set file is verified offline, and a
configuration the service could not use stops it at start with every problem listed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cds.app import create_app
from cds.auth import IssuerConfigError, JWTVerifier, TokenRejected
from cds.auth.issuers import load_trusted_issuers
from cds.cli import app as cli
from cds.settings import Settings
from cds.store.interfaces import MemoryStore
from tests.api_support import OneCardPack, PackSource
from tests.auth.support import AUDIENCE, ISSUER, RecordingServer, SigningKey, jwks, mint


@pytest.fixture
def key_file(tmp_path: Path, ec_key: SigningKey) -> Path:
    path = tmp_path / "ehr-jwks.json"
    path.write_text(json.dumps(jwks(ec_key)))
    return path


async def why_rejected(verifier: JWTVerifier, token: str) -> str:
    with pytest.raises(TokenRejected) as caught:
        await verifier.verify(f"Bearer {token}", AUDIENCE)
    return caught.value.why


# ----------------------------------------------------------------------------- jku_files


async def test_a_jku_mapped_to_a_file_is_verified_with_the_file_and_never_contacted(
    key_host: RecordingServer, ec_key: SigningKey, key_file: Path
) -> None:
    jku = key_host.serve_json("/.well-known/jwks.json", jwks(SigningKey.es384(ec_key.kid)))
    verifier = JWTVerifier(Settings(trusted_issuers={ISSUER: {"jku_files": {jku: str(key_file)}}}))
    assert await verifier.verify(f"Bearer {mint(ec_key, jku=jku)}", AUDIENCE)
    assert key_host.hits("/.well-known/jwks.json") == 0


async def test_a_mapped_file_leaves_other_jkus_refused(
    key_host: RecordingServer, ec_key: SigningKey, key_file: Path
) -> None:
    mapped = key_host.url("/.well-known/jwks.json")
    other = key_host.serve_json("/other-keys", jwks(ec_key))
    verifier = JWTVerifier(Settings(
        trusted_issuers={ISSUER: {"jku_files": {mapped: str(key_file)}}}
    ))
    assert await why_rejected(verifier, mint(ec_key, jku=other)) == "jku-not-allowed"
    assert await why_rejected(verifier, mint(ec_key)) == "issuer-without-keys"
    assert key_host.hits("/other-keys") == 0


async def test_a_token_without_jku_uses_the_issuers_own_key_set_beside_a_mapping(
    key_host: RecordingServer, ec_key: SigningKey, rsa_key: SigningKey, key_file: Path
) -> None:
    url = key_host.serve_json("/jwks", jwks(rsa_key))
    mapped = key_host.url("/.well-known/jwks.json")
    verifier = JWTVerifier(Settings(
        trusted_issuers={ISSUER: {"jwks_url": url, "jku_files": {mapped: str(key_file)}}}
    ))
    assert await verifier.verify(f"Bearer {mint(rsa_key)}", AUDIENCE)
    assert await verifier.verify(f"Bearer {mint(ec_key, jku=mapped)}", AUDIENCE)


# ----------------------------------------------------------------------------- refused at start


def problems_with(config: dict[str, Any]) -> str:
    with pytest.raises(IssuerConfigError) as caught:
        load_trusted_issuers({ISSUER: config})
    return str(caught.value)


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"jwks_uri": "https://ehr.example.org/jwks"}, ".jwks_uri: unknown key"),
        ({"jwks_url": "ehr.example.org/jwks"}, ".jwks_url: 'ehr.example.org/jwks' is not an "
         "http(s) URL"),
        ({"jku_allow": "https://ehr.example.org/jwks"}, ".jku_allow: must be a list of URLs"),
        ({"jku_files": ["https://ehr.example.org/jwks"]}, ".jku_files: must be an object"),
        ({"jku_files": {"file:///etc/keys.json": "keys.json"}},
         ".jku_files['file:///etc/keys.json']: 'file:///etc/keys.json' is not an http(s) URL"),
        ({"jku_files": {"https://ehr.example.org/jwks": 7}},
         ".jku_files['https://ehr.example.org/jwks']: must be a file path"),
        ({"tenants": "tenant-a", "jwks_url": "https://ehr.example.org/jwks"},
         ".tenants: must be a list of strings"),
        ({}, ": no key source: set jwks_url, jwks_file, jku_allow or jku_files"),
        ({"jku_allow": ["https://ehr.example.org/jwks"],
          "jku_files": {"https://ehr.example.org/jwks": "keys.json"}},
         ".jku_allow: 'https://ehr.example.org/jwks' is also a key of jku_files"),
    ],
)
def test_a_malformed_issuer_is_refused_naming_the_issuer_and_key(
    config: dict[str, Any], problem: str
) -> None:
    assert f"CDS_TRUSTED_ISSUERS['{ISSUER}']{problem}" in problems_with(config)


def test_a_missing_key_file_is_refused_naming_its_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.json"
    message = problems_with({"jku_files": {"https://ehr.example.org/jwks": str(missing)}})
    assert f"jku_files['https://ehr.example.org/jwks']: {missing}: cannot read JWK Set file" \
        in message


def test_a_key_file_without_a_usable_signing_key_is_refused(tmp_path: Path) -> None:
    secret_only = tmp_path / "hmac.json"
    secret_only.write_text(json.dumps({"keys": [{"kty": "oct", "kid": "k", "k": "c2VjcmV0"}]}))
    message = problems_with({"jwks_file": str(secret_only)})
    assert f".jwks_file: {secret_only}: no usable signing key in it" in message


def test_relative_key_files_are_read_from_the_working_directory(
    key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(key_file.parent)
    issuers = load_trusted_issuers({ISSUER: {"jwks_file": key_file.name}})
    assert issuers[ISSUER].jwks_file == key_file.resolve()


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(IssuerConfigError) as caught:
        load_trusted_issuers({"https://a.example.org": {"jwks_uri": "x"},
                              "https://b.example.org": {"jwks_url": "ftp://b.example.org/k"}})
    message = str(caught.value)
    assert "CDS_TRUSTED_ISSUERS['https://a.example.org'].jwks_uri: unknown key" in message
    assert "CDS_TRUSTED_ISSUERS['https://b.example.org'].jwks_url: 'ftp://b.example.org/k'" \
        in message


def test_the_app_does_not_start_with_an_unusable_issuer(tmp_path: Path) -> None:
    settings = Settings(trusted_issuers={ISSUER: {"jwks_file": str(tmp_path / "gone.json")}})
    with pytest.raises(IssuerConfigError, match="cannot read JWK Set file"):
        create_app(settings, packs=PackSource(OneCardPack()), store=MemoryStore())


def test_cds_serve_stops_with_the_problems_before_starting_workers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def never_started(*_args: Any, **_kwargs: Any) -> int:
        raise AssertionError("the service started")

    monkeypatch.setattr("cds.cli.run_service", never_started)
    monkeypatch.setattr("cds.cli.configure_logging", lambda *_args: None)
    result = CliRunner().invoke(
        cli, ["serve"], env={"CDS_TRUSTED_ISSUERS": json.dumps({ISSUER: {"jwks_uri": "x"}})}
    )
    assert result.exit_code == 2
    assert f"CDS_TRUSTED_ISSUERS['{ISSUER}'].jwks_uri: unknown key" in result.output
