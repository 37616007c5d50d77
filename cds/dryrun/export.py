"""A FHIR Bulk Data Access client (`$export`): kick-off, status polling, download.

    GET [base]/Patient/$export?_type=...   Accept: application/fhir+json, Prefer: respond-async
      -> 202 Accepted, Content-Location: <status URL>
    GET <status URL>  -> 202 (still running; Retry-After, X-Progress) ... -> 200 + manifest
    GET <manifest output[].url>  -> NDJSON, saved as <type>.<n>.ndjson

The bearer token is read from the environment variable named by --token-env, sent with the
kick-off and the polls, and with the downloads only when the manifest says
`requiresAccessToken`; it is never printed or logged. A finished export is kept in
`--out/export/` with its manifest (`export.json`, written last), so a rerun reuses it
instead of exporting again. Errors - a refused kick-off, a failed export, a file that cannot
be downloaded - stop the run with the server's words (its OperationOutcome diagnostics).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
import typer

from cds.dryrun import DryRunError

# The types a patient's chart is read from (the prefetch templates of rules/services.yaml).
TYPES = ("Patient", "Observation", "QuestionnaireResponse", "MedicationRequest",
         "MedicationStatement", "MedicationDispense", "Condition", "ServiceRequest",
         "Procedure", "Encounter", "EpisodeOfCare")
FHIR_JSON = "application/fhir+json"
MAX_WAIT_S = 24 * 3600.0
MAX_RETRY_AFTER_S = 120.0
_MAX_DIAGNOSTICS = 300


def _reason(response: httpx.Response) -> str:
    """The server's own words for a failure: OperationOutcome diagnostics, else the status."""
    text = f"HTTP {response.status_code}"
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return text
    for issue in body.get("issue") or [] if isinstance(body, dict) else []:
        if isinstance(issue, dict):
            words = issue.get("diagnostics") or (issue.get("details") or {}).get("text")
            if isinstance(words, str) and words:
                return f"{text}: {words[:_MAX_DIAGNOSTICS]}"
    return text


def _retry_after(response: httpx.Response, default: float) -> float:
    value = response.headers.get("Retry-After", "")
    try:
        return min(max(float(value), 0.1), MAX_RETRY_AFTER_S)
    except ValueError:
        return default


def _token(token_env: str | None) -> str | None:
    if token_env is None:
        return None
    token = os.environ.get(token_env)
    if not token:
        raise DryRunError(f"--token-env {token_env}: that environment variable is not set")
    return token


def bulk_export(base_url: str, dest: Path, *, token_env: str | None = None,
                progress: bool = False, poll_seconds: float = 2.0,
                types: tuple[str, ...] = TYPES,
                client: httpx.Client | None = None) -> Path:
    """Export every patient's resources of `types` from `base_url` into `dest`."""
    manifest_path = dest / "export.json"
    if manifest_path.exists():
        return dest
    token = _token(token_env)
    headers = {"Accept": FHIR_JSON, "Prefer": "respond-async"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    own = client is None
    http = client or httpx.Client(timeout=httpx.Timeout(60.0, connect=10.0))
    try:
        status_url = _kick_off(http, base_url.rstrip("/"), types, headers)
        manifest = _wait(http, status_url, headers, poll_seconds, progress)
        _download(http, manifest, dest, headers if manifest.get("requiresAccessToken") else {})
    except httpx.HTTPError as exc:
        raise DryRunError(f"$export from {base_url} failed: {type(exc).__name__}") from exc
    finally:
        if own:
            http.close()
    if manifest.get("error"):
        typer.echo(f"$export: the server reported {len(manifest['error'])} error file(s) "
                   "(OperationOutcome); the resources it did export are used", err=True)
    manifest_path.write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    return dest


def _kick_off(http: httpx.Client, base: str, types: tuple[str, ...],
              headers: dict[str, str]) -> str:
    url = f"{base}/Patient/$export?{urlencode({'_type': ','.join(types)})}"
    response = http.get(url, headers=headers)
    if response.status_code != 202:
        raise DryRunError(f"the FHIR server refused the $export kick-off ({_reason(response)})")
    location: str | None = response.headers.get("Content-Location")
    if not location:
        raise DryRunError("the FHIR server accepted $export but sent no Content-Location")
    return location


def _wait(http: httpx.Client, status_url: str, headers: dict[str, str], poll_seconds: float,
          progress: bool) -> dict[str, Any]:
    started = time.monotonic()
    while time.monotonic() - started < MAX_WAIT_S:
        response = http.get(status_url, headers={k: v for k, v in headers.items()
                                                 if k != "Prefer"})
        if response.status_code == 200:
            manifest = orjson.loads(response.content)
            if not isinstance(manifest, dict) or not isinstance(manifest.get("output"), list):
                raise DryRunError("the $export status answer is not a Bulk Data manifest")
            return manifest
        if response.status_code != 202:
            raise DryRunError(f"the FHIR server's export failed ({_reason(response)})")
        if progress:
            note = response.headers.get("X-Progress", "in progress")
            typer.echo(f"$export: {note[:80]}", err=True)
        time.sleep(_retry_after(response, poll_seconds))
    raise DryRunError("the FHIR server's export did not finish within a day")


def _download(http: httpx.Client, manifest: dict[str, Any], dest: Path,
              headers: dict[str, str]) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    headers = {**{k: v for k, v in headers.items() if k == "Authorization"},
               "Accept": "application/fhir+ndjson"}
    for n, entry in enumerate(manifest["output"]):
        rtype, url = entry.get("type"), entry.get("url")
        if not isinstance(rtype, str) or not rtype.isalpha() or not isinstance(url, str):
            raise DryRunError(f"$export manifest output {n} has no usable type and url")
        target = dest / f"{rtype}.{n:03d}.ndjson"
        staging = target.with_name(target.name + ".partial")
        with http.stream("GET", url, headers=headers) as response:
            if response.status_code != 200:
                response.read()
                raise DryRunError(f"$export file {n} ({rtype}) could not be downloaded "
                                  f"({_reason(response)})")
            with staging.open("wb") as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
        staging.replace(target)
