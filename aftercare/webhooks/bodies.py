"""Reading request bodies within a limit, and JSON within a depth.

A body over its endpoint's limit is refused with 413 before it is read: at once when `Content-Length` says
so, else (chunked) as soon as the bytes read pass the limit. So an unsigned 50 MB POST costs nothing but the
refusal. Parsing happens off the event loop (callers use `run_in_threadpool`), so one large body cannot
stall `/healthz`. JSON deeper than `MAX_JSON_DEPTH` is refused as malformed: Python's decoder raises
`RecursionError` (a 500) at about 1,000 levels, and no provider's body comes close to 64.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

from fastapi import Request

MAX_JSON_DEPTH = 64


class BodyTooLarge(Exception):
    """The request body is larger than the endpoint accepts."""


class BadLength(Exception):
    """`Content-Length` is not a number."""


def declared_length(request: Request) -> int | None:
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    if not raw.strip().isdigit():
        raise BadLength(raw[:20])
    return int(raw)


def refuse_declared(request: Request, limit: int) -> None:
    """Refuse on the header alone: no byte of the body is read."""
    length = declared_length(request)
    if length is not None and length > limit:
        raise BodyTooLarge(length)


async def read_limited(request: Request, limit: int) -> bytes:
    """The whole body, or `BodyTooLarge` once more than `limit` bytes arrived (whatever the header said)."""
    refuse_declared(request, limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(size)
        chunks.append(chunk)
    return b"".join(chunks)


class TooDeep(ValueError):
    """JSON nested deeper than MAX_JSON_DEPTH."""


_STRING = re.compile(r'"(?:[^"\\]+|\\.)*"')
_BRACKET = re.compile(r"[\[\]{}]")


def _depth_ok(text: str, limit: int) -> bool:
    """Bracket depth outside strings, without recursion (before the decoder recurses)."""
    steps = (1 if b in "[{" else -1 for b in _BRACKET.findall(_STRING.sub("", text)))
    return max(accumulate(steps, initial=0)) <= limit


def loads(text: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """`json.loads`, refusing (ValueError) what is nested deeper than `max_depth`."""
    if not _depth_ok(text, max_depth):
        raise TooDeep(f"JSON nested deeper than {max_depth}")
    try:
        return json.loads(text)
    except RecursionError as exc:  # belt and braces: the depth check should have caught it
        raise TooDeep("JSON nested too deeply") from exc
