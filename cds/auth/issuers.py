"""Trusted issuers: `CDS_TRUSTED_ISSUERS` checked once at start, and where a token's keys come from.

Per issuer (every key optional, at least one key source required):

- `jwks_url`: the issuer's JWK Set URL, fetched.
- `jwks_file`: a JWK Set shared out of band, as a file.
- `jku_allow`: URLs a token's `jku` header may name; the key set is fetched from there.
- `jku_files`: `{jku URL: file}`. A token naming that `jku` is verified with the file's keys
  and the URL is never contacted: pinned keys, or an issuer reached without internet access.
- `tenants`: the `tenant` claims accepted.

A token without `jku` is verified with `jwks_url`, else `jwks_file`; a token with a `jku`
must name a URL of `jku_allow` or `jku_files`. Unknown keys, wrong types, URLs that are not
http(s), a URL in both `jku_allow` and `jku_files`, and key files that cannot be read or
hold no usable signing key are configuration errors, all reported together at start.
Relative file paths are taken from the working directory at start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cds.auth.errors import TokenRejected
from cds.auth.jwks import JWKSUnavailable, file_source, read_key_file

KNOWN_KEYS = ("jwks_url", "jwks_file", "jku_allow", "jku_files", "tenants")

# Issuers whose private signing key is published: anyone can mint tokens they would accept.
PUBLIC_TEST_ISSUERS = {"https://sandbox.cds-hooks.org": "the public CDS Hooks sandbox"}


class IssuerConfigError(ValueError):
    """`CDS_TRUSTED_ISSUERS` cannot be used; the message lists every problem found."""


@dataclass(frozen=True)
class Issuer:
    iss: str
    jwks_url: str | None = None
    jwks_file: Path | None = None
    jku_allow: frozenset[str] = frozenset()
    jku_files: Mapping[str, Path] = field(default_factory=dict)
    tenants: frozenset[str] | None = None

    def key_source(self, jku: object) -> str:
        """The key source for a token with this `jku` header (None: no header)."""
        if jku is not None:
            if isinstance(jku, str) and jku in self.jku_files:
                return file_source(self.jku_files[jku])
            if isinstance(jku, str) and jku in self.jku_allow:
                return jku
            raise TokenRejected("jku-not-allowed")
        if self.jwks_url is not None:
            return self.jwks_url
        if self.jwks_file is not None:
            return file_source(self.jwks_file)
        raise TokenRejected("issuer-without-keys")

    def key_files(self) -> dict[str, Path]:
        """Every key file of this issuer, by the configuration key that names it."""
        files = {f"jku_files[{url!r}]": path for url, path in self.jku_files.items()}
        if self.jwks_file is not None:
            files["jwks_file"] = self.jwks_file
        return files


def load_trusted_issuers(raw: Mapping[str, Any]) -> dict[str, Issuer]:
    """Check `CDS_TRUSTED_ISSUERS` (shape and key files); IssuerConfigError lists all problems."""
    problems: list[str] = []
    issuers: dict[str, Issuer] = {}
    for iss, config in raw.items():
        issuer = _parse_issuer(iss, config, _Problems(problems, f"CDS_TRUSTED_ISSUERS[{iss!r}]"))
        if issuer is not None:
            issuers[iss] = issuer
    for issuer in issuers.values():
        for where, path in issuer.key_files().items():
            try:
                if not read_key_file(path):
                    raise JWKSUnavailable("no usable signing key in it")
            except JWKSUnavailable as exc:
                problems.append(f"CDS_TRUSTED_ISSUERS[{issuer.iss!r}].{where}: {path}: {exc}")
    if problems:
        raise IssuerConfigError(
            "CDS_TRUSTED_ISSUERS is not valid:\n" + "\n".join(f"  - {p}" for p in problems)
        )
    return issuers


@dataclass
class _Problems:
    found: list[str]
    prefix: str

    def add(self, key: str, message: str) -> None:
        self.found.append(f"{self.prefix}.{key}: {message}" if key else f"{self.prefix}: {message}")


def _parse_issuer(iss: str, config: Any, problems: _Problems) -> Issuer | None:
    if not iss:
        problems.add("", "the issuer must be a non-empty string")
        return None
    if not isinstance(config, Mapping):
        problems.add("", "must be a JSON object")
        return None
    for key in sorted(set(config) - set(KNOWN_KEYS)):
        problems.add(key, f"unknown key (known: {', '.join(KNOWN_KEYS)})")
    before = len(problems.found)
    jwks_url = _url(config.get("jwks_url"), "jwks_url", problems)
    jwks_file = _path(config.get("jwks_file"), "jwks_file", problems)
    jku_allow = frozenset(_urls(config.get("jku_allow"), problems))
    jku_files = _jku_files(config.get("jku_files"), problems)
    tenants = _strings(config.get("tenants"), "tenants", problems)
    for url in sorted(jku_allow & set(jku_files)):
        problems.add("jku_allow", f"{url!r} is also a key of jku_files (fetch or file: pick one)")
    if not (jwks_url or jwks_file or jku_allow or jku_files):
        problems.add("", "no key source: set jwks_url, jwks_file, jku_allow or jku_files")
    if len(problems.found) > before:
        return None
    return Issuer(iss, jwks_url, jwks_file, jku_allow, jku_files,
                  frozenset(tenants) if tenants is not None else None)


def _url(value: Any, key: str, problems: _Problems) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("https", "http") or not parts.netloc:
        problems.add(key, f"{value!r} is not an http(s) URL")
        return None
    return str(value)


def _urls(value: Any, problems: _Problems) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        problems.add("jku_allow", "must be a list of URLs")
        return []
    return [url for item in value if (url := _url(item, "jku_allow", problems)) is not None]


def _path(value: Any, key: str, problems: _Problems) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        problems.add(key, "must be a file path")
        return None
    return Path(value).expanduser().resolve()


def _jku_files(value: Any, problems: _Problems) -> dict[str, Path]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        problems.add("jku_files", 'must be an object {"<jku URL>": "<JWK Set file>"}')
        return {}
    files: dict[str, Path] = {}
    for url, path in value.items():
        where = f"jku_files[{url!r}]"
        checked_url = _url(url, where, problems)
        checked_path = _path(path, where, problems)
        if checked_url is not None and checked_path is not None:
            files[checked_url] = checked_path
    return files


def _strings(value: Any, key: str, problems: _Problems) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.add(key, "must be a list of strings")
        return None
    return list(value)
