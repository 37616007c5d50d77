"""Where imported value sets come from: FHIR ValueSet JSON files (a ValueSet, or a Bundle of
them) or a FHIR terminology server (`ValueSet/$expand?url=`, else `ValueSet?url=` with a
stored expansion). Each expansion keeps its provenance: where it came from and a checksum
of the exact bytes read."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from cds.errors import TerminologyError


@dataclass(frozen=True)
class Expansion:
    url: str
    version: str | None
    title: str
    timestamp: str | None
    codes: tuple[tuple[str, str, str], ...]  # (system, code, display)
    provenance: dict[str, Any] = field(default_factory=dict)


def _contains(items: Any) -> Iterator[tuple[str, str, str]]:
    """Codes of expansion.contains, nested `contains` included, abstract entries skipped."""
    for item in items or []:
        if not isinstance(item, dict):
            continue
        if item.get("code") and item.get("system") and not item.get("abstract"):
            yield str(item["system"]), str(item["code"]), str(item.get("display") or "")
        yield from _contains(item.get("contains"))


def expansion_of(resource: dict[str, Any], provenance: dict[str, Any]) -> Expansion:
    expansion = resource.get("expansion")
    if not isinstance(expansion, dict):
        raise TerminologyError(f"ValueSet {resource.get('url')} has no expansion "
                               "(import expanded value sets, or use a terminology server)")
    codes = tuple(sorted(set(_contains(expansion.get("contains"))), key=lambda c: (c[0], c[1])))
    return Expansion(
        url=str(resource.get("url") or ""),
        version=resource.get("version"),
        title=str(resource.get("title") or resource.get("name") or ""),
        timestamp=expansion.get("timestamp"),
        codes=codes,
        provenance=provenance,
    )


def _valuesets(doc: Any) -> Iterator[dict[str, Any]]:
    if not isinstance(doc, dict):
        return
    if doc.get("resourceType") == "ValueSet":
        yield doc
    elif doc.get("resourceType") == "Bundle":
        for entry in doc.get("entry") or []:
            if isinstance(entry, dict):
                yield from _valuesets(entry.get("resource"))


def _git(path: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(path.parent), *args], capture_output=True,
                             text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def file_provenance(path: Path, data: bytes, repository: str | None, commit: str | None,
                    source_path: str | None) -> dict[str, Any]:
    """Provenance of a file: the repository and commit it came from (given, or read from the
    git work tree it lies in), its path there, and the SHA-256 of its bytes."""
    return {
        "repository": repository or _git(path, "config", "--get", "remote.origin.url"),
        "commit": commit or _git(path, "rev-parse", "HEAD"),
        "path": source_path or path.name,
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def read_files(paths: list[Path], repository: str | None = None, commit: str | None = None,
               base: Path | None = None) -> list[Expansion]:
    """Expansions in ValueSet / Bundle JSON files (directories: every *.json inside)."""
    files: list[Path] = []
    for path in paths:
        files.extend(sorted(path.rglob("*.json")) if path.is_dir() else [path])
    out: list[Expansion] = []
    for path in files:
        try:
            data = path.read_bytes()
            doc = orjson.loads(data)
        except (OSError, orjson.JSONDecodeError) as exc:
            raise TerminologyError(f"{path}: cannot read ValueSet JSON: {exc}") from exc
        rel = str(path.relative_to(base)) if base and path.is_relative_to(base) else None
        provenance = file_provenance(path, data, repository, commit, rel)
        out.extend(expansion_of(vs, provenance) for vs in _valuesets(doc)
                   if isinstance(vs.get("expansion"), dict))
    return out


def fetch_from_server(server: str, urls: list[str], token: str | None = None
                      ) -> list[Expansion]:
    """Expand each canonical `url` on a FHIR terminology server (redirects not followed, so
    the token never leaves the server named)."""
    headers = {"Accept": "application/fhir+json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    base = server.rstrip("/")
    with httpx.Client(timeout=60.0, follow_redirects=False) as client:
        return [_fetch_one(client, base, url, headers) for url in urls]


def _fetch_one(client: httpx.Client, base: str, url: str, headers: dict[str, str]
               ) -> Expansion:
    attempts = ((f"{base}/ValueSet/$expand", "$expand"), (f"{base}/ValueSet", "search"))
    problems: list[str] = []
    for endpoint, how in attempts:
        try:
            response = client.get(endpoint, params={"url": url}, headers=headers)
        except httpx.HTTPError as exc:
            raise TerminologyError(f"{base}: {type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            problems.append(f"{how}: HTTP {response.status_code}")
            continue
        try:
            doc = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            problems.append(f"{how}: not JSON")
            continue
        found = [vs for vs in _valuesets(doc)
                 if vs.get("url", url) == url and isinstance(vs.get("expansion"), dict)]
        if not found:
            problems.append(f"{how}: no expansion of {url}")
            continue
        provenance = {"server": base, "request": how,
                      "sha256": hashlib.sha256(response.content).hexdigest()}
        return expansion_of(found[0], provenance)
    raise TerminologyError(f"{base}: cannot expand {url} ({'; '.join(problems)})")
