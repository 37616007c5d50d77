"""The real servers some tests need (PostgreSQL, Redis), named by environment variables that
scripts/test.d sets. In CI a missing server fails the run; locally the test skips, saying
how to get one."""

from __future__ import annotations

import os

import pytest


def server_url(variable: str, what: str, script: str) -> str:
    url = os.environ.get(variable)
    if url:
        return url
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run these tests on {what}: {variable} is not set "
                    f"(scripts/test.d/{script} sets it)")
    pytest.skip(f"{variable} is not set: run scripts/test to get {what}")


def postgres_server_url() -> str:
    return server_url("CDS_TEST_POSTGRES_URL", "a PostgreSQL", "20-postgres.sh")


def redis_server_url() -> str:
    return server_url("CDS_TEST_REDIS_URL", "a Redis", "30-redis.sh")
