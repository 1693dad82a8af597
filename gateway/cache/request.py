"""A request's own cache choice: ``cache: {"mode", "ttl"}`` in the native body, or on the
OpenAI-compatible route ``metadata.cache`` / ``x-onevault-cache`` (a mode, or that JSON object)
with ``metadata.cache_ttl`` / ``x-onevault-cache-ttl``."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.errors import ApiError

MODES = ("off", "exact", "semantic")
MAX_TTL_S = 30 * 86400


def cache_request(mode: str | None, ttl: str | None) -> dict[str, Any] | None:
    """The choice as ``{"mode", "ttl"}`` (either may be None), or None when none was made."""
    if mode is None and ttl is None:
        return None
    choice: dict[str, Any] = {"mode": None, "ttl": None}
    if mode is not None and mode.lstrip().startswith("{"):
        try:
            given = orjson.loads(mode)
        except orjson.JSONDecodeError:
            given = None
        if not isinstance(given, dict) or set(given) - {"mode", "ttl"}:
            raise ApiError(
                400,
                "validation_error",
                'cache must be a mode or {"mode": ..., "ttl": seconds}.',
                param="cache",
            )
        mode, ttl = given.get("mode"), given.get("ttl", ttl)
    if mode is not None and mode not in MODES:
        raise ApiError(
            400, "validation_error", f"cache mode must be one of {', '.join(MODES)}.", param="cache"
        )
    choice["mode"] = mode
    if ttl is not None:
        try:
            seconds = int(ttl)
        except (TypeError, ValueError):
            seconds = 0
        if not 1 <= seconds <= MAX_TTL_S or isinstance(ttl, bool):
            raise ApiError(
                400,
                "validation_error",
                f"cache ttl must be whole seconds from 1 to {MAX_TTL_S}.",
                param="cache",
            )
        choice["ttl"] = seconds
    return choice
