"""HTTP/1.1 keep-alive load generator, run as its own process.

    python -m bench.load --port 8123 --path /cds-services/x --body req.json \
        --concurrency 16 --count 5000 --duration 20 --warmup 200

Opens `concurrency` persistent connections, each sending the same POST back to back
(closed loop), first `warmup` untimed requests, then up to `count` timed requests or until
`duration` seconds pass. Prints one JSON object: latencies (ms), status counts, errors,
elapsed seconds. A raw asyncio client keeps the generator's own CPU cost far below an HTTP
library's, which matters when client and server share two cores.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter, perf_counter_ns

import orjson


@dataclass
class Tally:
    remaining: int
    deadline: float
    record: bool
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    first_error: str | None = None

    def take(self) -> bool:
        if self.remaining <= 0 or perf_counter() >= self.deadline:
            return False
        self.remaining -= 1
        return True

    def fail(self, reason: str) -> None:
        self.errors += 1
        self.first_error = self.first_error or reason


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
        self.reader = self.writer = None

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        """Send one request, read one response; returns (status, body)."""
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if b":" in line:
                key, _, value = line.partition(b":")
                headers[key.strip().lower()] = value.strip().lower()
        if headers.get(b"transfer-encoding") == b"chunked":
            body = await self._chunked()
        else:
            body = await self.reader.readexactly(int(headers.get(b"content-length", b"0")))
        if headers.get(b"connection") == b"close":
            await self.close()
        return status, body

    async def _chunked(self) -> bytes:
        assert self.reader is not None
        parts: list[bytes] = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)


def build_request(host: str, port: int, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Accept: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _drive(conn: Connection, request: bytes, tally: Tally) -> None:
    while tally.take():
        start = perf_counter_ns()
        try:
            status, _body = await conn.exchange(request)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ValueError, IndexError) as exc:
            tally.fail(f"{type(exc).__name__}: {exc}")
            await conn.close()
            continue
        elapsed_ms = (perf_counter_ns() - start) / 1e6
        key = str(status)
        tally.statuses[key] = tally.statuses.get(key, 0) + 1
        if status != 200:
            tally.fail(f"HTTP {status}")
        if tally.record:
            tally.latencies_ms.append(elapsed_ms)


async def run(args: argparse.Namespace) -> dict[str, object]:
    body = Path(args.body).read_bytes()
    request = build_request(args.host, args.port, args.path, body)
    conns = [Connection(args.host, args.port) for _ in range(args.concurrency)]
    await asyncio.gather(*(c.open() for c in conns))
    warm = Tally(args.warmup, perf_counter() + args.duration, record=False)
    await asyncio.gather(*(_drive(c, request, warm) for c in conns))
    tally = Tally(args.count, perf_counter() + args.duration, record=True)
    started = perf_counter()
    await asyncio.gather(*(_drive(c, request, tally) for c in conns))
    elapsed = perf_counter() - started
    await asyncio.gather(*(c.close() for c in conns))
    return {
        "concurrency": args.concurrency,
        "completed": len(tally.latencies_ms),
        "elapsed_s": elapsed,
        "errors": tally.errors + warm.errors,
        "first_error": tally.first_error or warm.first_error,
        "statuses": tally.statuses,
        "latencies_ms": tally.latencies_ms,
    }


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--body", required=True, help="file holding the JSON request body")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--count", type=int, default=1000, help="timed requests at most")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds at most")
    parser.add_argument("--warmup", type=int, default=100, help="untimed requests first")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(run(args))
    else:
        result = uvloop.run(run(args))
    sys.stdout.buffer.write(orjson.dumps(result))
    sys.stdout.buffer.write(b"\n")


if __name__ == "__main__":
    main()
