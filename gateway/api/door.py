"""What every front door shares once it has translated its wire into the canonical request:
OneVault's extras (from the body's metadata and ``x-onevault-*`` headers — agent CLIs cannot add
body fields), and starting the call (refusals recorded, streams refused before any byte is sent).

A door module then only parses its wire, calls ``start``, and renders the outcome or the stream
in its own shapes (gateway/api/chat.py, completions.py, ...).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import Request

from gateway.api.fields import PRINTABLE, TAG_KEY
from gateway.cache.request import cache_request
from gateway.errors import ApiError
from gateway.pipeline import CallContext, Candidates, CompletionService, Outcome
from gateway.providers.types import ChatRequest

_PRIORITIES = {"low", "standard", "high"}
_MAX_COST_LIMIT = Decimal(10) ** 12  # numeric(24,12) in the vault: anything larger cannot be recorded
_TAG_KEY, _PRINTABLE = re.compile(TAG_KEY), re.compile(PRINTABLE)
RECORDED_REFUSALS = frozenset({402, 403, 404, 429})


def extras_of(request: Request, metadata: dict[str, Any] | None = None) -> dict[str, str]:
    """OneVault's extras: ``metadata`` keys, then ``x-onevault-<name>`` headers."""
    extras = {k: v for k, v in (metadata or {}).items() if isinstance(v, str)}
    for name, value in request.headers.items():
        if name.startswith("x-onevault-"):
            extras.setdefault(name.removeprefix("x-onevault-").replace("-", "_"), value)
    return extras


def apply_extras(ctx: CallContext, extras: dict[str, str]) -> None:
    """Type, provider, priority, max_cost, tags and the cache choice onto the context."""
    for name in ("type", "provider"):
        value = extras.get(name)
        if value is not None and not (0 < len(value) <= 100 and _TAG_KEY.match(value)):
            raise ApiError(
                400,
                "validation_error",
                f"metadata.{name} is 1-100 characters of A-Z a-z 0-9 _ . : -.",
                param=f"metadata.{name}",
            )
    ctx.request_type = extras.get("type")
    ctx.requested_provider = extras.get("provider")
    priority = extras.get("priority", "standard")
    if priority not in _PRIORITIES:
        raise ApiError(
            400,
            "validation_error",
            "metadata.priority must be low, standard or high.",
            param="metadata.priority",
        )
    ctx.priority = priority
    if "max_cost" in extras:
        try:
            ctx.max_cost = Decimal(extras["max_cost"])
        except InvalidOperation as exc:
            raise ApiError(
                400,
                "validation_error",
                "metadata.max_cost must be a decimal number of USD.",
                param="metadata.max_cost",
            ) from exc
        if not ctx.max_cost.is_finite() or ctx.max_cost <= 0 or ctx.max_cost >= _MAX_COST_LIMIT:
            raise ApiError(
                400,
                "validation_error",
                "metadata.max_cost must be a positive number of USD below 10^12.",
                param="metadata.max_cost",
            )
    ctx.tags = {
        k.split(".", 1)[1]: v for k, v in extras.items() if k.startswith(("tag.", "tag_")) and len(k) > 4
    } | {k: v for k, v in extras.items() if k in ("team", "project", "cost_center")}
    for key, value in ctx.tags.items():
        if not (_TAG_KEY.match(key) and len(key) <= 64 and len(value) <= 256 and _PRINTABLE.match(value)):
            raise ApiError(
                400,
                "validation_error",
                "tags: keys are 1-64 of A-Z a-z 0-9 _ . : -, values up to 256 printable characters.",
                param="metadata",
            )
    ctx.cache_request = cache_request(extras.get("cache"), extras.get("cache_ttl"))


async def start(svc: CompletionService, ctx: CallContext, chat: ChatRequest) -> Outcome | Candidates:
    """A whole answer, or — for a stream — the candidates that passed every refusal, so the door
    can refuse with a proper status before it sends any byte. Refusals that are the customer's
    (budgets, limits, models, PII) are recorded like answers."""
    try:
        if ctx.stream:
            return await svc.prepare(ctx, chat)
        return await svc.complete(ctx, chat)
    except ApiError as err:
        if err.status in RECORDED_REFUSALS or err.code == "pii_blocked":
            await svc.record_rejection(ctx, err)
        raise
