"""Server-sent events framing shared by both completion endpoints."""

from __future__ import annotations

from typing import Any

import orjson

DONE = b"data: [DONE]\n\n"


def sse(payload: Any) -> bytes:
    return b"data: " + orjson.dumps(payload, default=str) + b"\n\n"


SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
