"""The README's sandbox configuration verifies a token the public CDS Hooks sandbox signs
(ES384, `jku` https://sandbox.cds-hooks.org/.well-known/jwks.json) with no network access,
and trusting that issuer is flagged loudly. Provenance of the key set and token:
tests/auth/keys/README.md."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest

from cds.auth import JWTVerifier, TokenRejected
from cds.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
KEYS = Path(__file__).resolve().parent / "keys"
SANDBOX = "https://sandbox.cds-hooks.org"
SANDBOX_JKU = f"{SANDBOX}/.well-known/jwks.json"


def readme_sandbox_issuers() -> dict[str, Any]:
    """The `CDS_TRUSTED_ISSUERS` value of the README's sandbox example."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"export CDS_TRUSTED_ISSUERS='(\{.*?\})'", readme, re.DOTALL)
    sandbox = [json.loads(block) for block in blocks if SANDBOX in block]
    assert len(sandbox) == 1, "the README has one sandbox example"
    issuers: dict[str, Any] = sandbox[0]
    return issuers


@pytest.fixture
def sandbox_token() -> dict[str, Any]:
    fixture: dict[str, Any] = json.loads((KEYS / "cds-hooks-sandbox-token.json").read_text())
    return fixture


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    async def no_network(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("a key set was fetched over the network")

    monkeypatch.setattr("cds.auth.jwks._fetch_url", no_network)


async def test_the_readme_sandbox_example_verifies_a_sandbox_token_offline(
    offline: None, sandbox_token: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # the README runs the service from the repository root
    issuers = readme_sandbox_issuers()
    assert list(issuers) == [SANDBOX]  # shown on its own, never beside a real EHR
    verifier = JWTVerifier(Settings(trusted_issuers=issuers),
                           clock=lambda: sandbox_token["iat"] + 5)
    claims = await verifier.verify(f"Bearer {sandbox_token['token']}", sandbox_token["audience"])
    assert claims["iss"] == SANDBOX


async def test_a_key_file_alone_refuses_the_sandbox_because_it_names_a_jku(
    offline: None, sandbox_token: dict[str, Any]
) -> None:
    keys = str(KEYS / "cds-hooks-sandbox-jwks.json")
    verifier = JWTVerifier(Settings(trusted_issuers={SANDBOX: {"jwks_file": keys}}),
                           clock=lambda: sandbox_token["iat"] + 5)
    with pytest.raises(TokenRejected) as caught:
        await verifier.verify(f"Bearer {sandbox_token['token']}", sandbox_token["audience"])
    assert caught.value.why == "jku-not-allowed"


def test_trusting_the_sandbox_logs_a_test_only_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="cds.auth")
    keys = str(KEYS / "cds-hooks-sandbox-jwks.json")
    JWTVerifier(Settings(trusted_issuers={SANDBOX: {"jku_files": {SANDBOX_JKU: keys}}}))
    assert any(SANDBOX in r.getMessage() and "TESTING ONLY" in r.getMessage()
               for r in caplog.records if r.levelno == logging.WARNING)
