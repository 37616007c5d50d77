"""Reading a FHIR server's answer within a byte limit: streamed, decompressed as it goes,
abandoned as soon as it is over the limit.

The limit counts decoded bytes. Decompression is done here rather than by httpx so that no
single network chunk can expand past the limit (a 64 KiB gzip chunk may inflate to 64 MiB):
requests accept only gzip, and the inflater is never asked for more than the bytes left.
"""

from __future__ import annotations

import zlib

import httpx

ACCEPT_ENCODING = "gzip"
_GZIP_WBITS = 16 + zlib.MAX_WBITS


class BodyTooLarge(Exception):
    """The body is over the limit; what was read of it is discarded."""


class BodyUndecodable(Exception):
    """An encoding that was not asked for, or a corrupt gzip stream."""


async def read_body(response: httpx.Response, limit: int) -> bytearray:
    """The decoded body of a streamed response, at most `limit` bytes."""
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise BodyTooLarge
        inflater = None
    elif encoding in ("gzip", "x-gzip"):
        inflater = zlib.decompressobj(_GZIP_WBITS)
    else:
        raise BodyUndecodable
    body = bytearray()
    try:
        async for chunk in response.aiter_raw():
            # limit + 1 - len(body) >= 1 here: an inflater that fills it is over the limit
            body += inflater.decompress(chunk, limit + 1 - len(body)) if inflater else chunk
            if len(body) > limit:
                raise BodyTooLarge
        if inflater is not None:
            body += inflater.flush()
    except zlib.error as exc:
        raise BodyUndecodable from exc
    if len(body) > limit:
        raise BodyTooLarge
    return body
