"""Test keys, token minting and a recording loopback HTTP server (JWKS host, off-list host)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from cds.auth import JWTVerifier
from cds.settings import Settings

ISSUER = "https://ehr.example.org"
AUDIENCE = "https://cds.example.org/cds-services/stress-pain"


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    private: Any

    @classmethod
    def es384(cls, kid: str = "ec-1") -> SigningKey:
        return cls(kid, "ES384", ec.generate_private_key(ec.SECP384R1()))

    @classmethod
    def rs384(cls, kid: str = "rsa-1") -> SigningKey:
        return cls(kid, "RS384", rsa.generate_private_key(public_exponent=65537, key_size=2048))

    def jwk(self) -> dict[str, Any]:
        algorithm = ECAlgorithm if self.alg.startswith("ES") else RSAAlgorithm
        data = json.loads(algorithm.to_jwk(self.private.public_key()))
        data.update({"kid": self.kid, "use": "sig", "alg": self.alg})
        return data

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def jwks(*keys: SigningKey) -> dict[str, Any]:
    return {"keys": [k.jwk() for k in keys]}


def verifier_for(key_host: RecordingServer, *keys: SigningKey, **issuer: Any) -> JWTVerifier:
    """A verifier trusting ISSUER, whose key set (these keys) key_host serves at /jwks."""
    url = key_host.serve_json("/jwks", jwks(*keys))
    return JWTVerifier(Settings(trusted_issuers={ISSUER: {"jwks_url": url, **issuer}}))


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    body: dict[str, Any] = {
        "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 300,
        "jti": str(uuid.uuid4()), "tenant": "tenant-a",
    }
    for name, value in overrides.items():
        if value is None:
            body.pop(name, None)
        else:
            body[name] = value
    return body


def mint(key: SigningKey, payload: dict[str, Any] | None = None, **header: Any) -> str:
    headers = {"kid": key.kid, "typ": "JWT", **header}
    headers = {k: v for k, v in headers.items() if v is not None}
    return jwt.encode(payload or claims(), key.private, algorithm=key.alg, headers=headers)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint_raw(header: dict[str, Any], payload: dict[str, Any], secret: bytes | None) -> str:
    """A token PyJWT would refuse to make: `alg: none`, or HS256 keyed with a public key."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    if secret is None:
        return signing_input + "."
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


@dataclass
class Hold:
    """A slow host: each request is answered after `seconds`, or as soon as the test sets
    `release`; `arrived` is set when a request comes in."""

    seconds: float = 10.0
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    hold: Hold | None = None


class RecordingServer:
    """A loopback HTTP server that answers fixed routes and records every request path."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append({"path": self.path, "headers": dict(self.headers)})
                route = server.routes.get(self.path.split("?")[0], Route(404, b"{}"))
                if route.hold is not None:
                    route.hold.arrived.set()
                    route.hold.release.wait(timeout=route.hold.seconds)
                try:
                    self.send_response(route.status)
                    for name, value in route.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(route.body)))
                    self.end_headers()
                    self.wfile.write(route.body)
                except (BrokenPipeError, ConnectionResetError):
                    return  # the client gave up waiting

            def log_message(self, *args: Any) -> None:
                return

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def url(self, path: str) -> str:
        return self.base + path

    def serve_json(self, path: str, body: Any, status: int = 200, *,
                   hold: Hold | None = None) -> str:
        self.routes[path] = Route(status, json.dumps(body).encode(),
                                  {"Content-Type": "application/json"}, hold)
        return self.url(path)

    def hits(self, path: str) -> int:
        return sum(1 for r in self.requests if r["path"].split("?")[0] == path)

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
