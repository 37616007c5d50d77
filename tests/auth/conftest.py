from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.auth.support import RecordingServer, SigningKey


@pytest.fixture(scope="session")
def ec_key() -> SigningKey:
    return SigningKey.es384("ec-1")


@pytest.fixture(scope="session")
def rsa_key() -> SigningKey:
    return SigningKey.rs384("rsa-1")


@pytest.fixture
def key_host() -> Iterator[RecordingServer]:
    server = RecordingServer()
    yield server
    server.close()
