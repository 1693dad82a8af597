"""``POST /v1/messages`` and ``POST /v1/messages/count_tokens``: Anthropic's Messages API, so the
``anthropic`` SDKs and Claude Code point at OneVault with a base URL and a OneVault key
(``x-api-key``) and reach any provider.

The wire (body, canonical translation, answer, stream events, error shape) is
gateway/api/anthropic_messages.py; this module is the routes. Errors on these paths — those
raised before the route runs too (a missing key, a body that fails validation) — are rendered in
Anthropic's shape through the renderer registered with gateway/errors.py.

Token counting is not a model call: it is planned like one (the key's models, the customer's
rules) but not rate-limited, billed or recorded. An Anthropic candidate counts with Anthropic's
own ``/v1/messages/count_tokens`` (the provider adapter's ``count_tokens``); any other provider,
or an Anthropic count that fails for a reason other than the request itself, gets the documented
estimate (gateway/pricing/tokens.py). ``x-onevault-token-count`` says which it was.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response, StreamingResponse

from gateway.api import anthropic_messages as wire
from gateway.api import anthropic_messages_output as out
from gateway.api.completions import summary
from gateway.api.deps import base_context, principal, services
from gateway.api.door import apply_extras, extras_of, start
from gateway.api.sse import SSE_HEADERS
from gateway.auth.principal import Principal
from gateway.errors import ApiError, register_error_renderer
from gateway.pipeline import CallContext, Candidates, CompletionService, StreamSummary
from gateway.pipeline.context import final_error
from gateway.pipeline.upstream import endpoint_for, with_model
from gateway.pricing import estimate_prompt_tokens
from gateway.providers.base import get_adapter
from gateway.providers.types import ChatRequest, ProviderError

ENDPOINT = "/v1/messages"
router = APIRouter()
register_error_renderer(ENDPOINT, out.error_response)


def _context(request: Request, who: Principal, body: wire.MessagesBody) -> CallContext:
    ctx = base_context(request, who, endpoint=ENDPOINT, model=body.model)
    ctx.door, ctx.stream = "messages", body.stream
    ctx.end_user = body.metadata.user_id if body.metadata is not None else None
    apply_extras(ctx, extras_of(request))
    return ctx


def _headers(ctx: CallContext) -> dict[str, str]:
    return {**ctx.response_headers, "request-id": ctx.request_id, "x-request-id": ctx.request_id}


@router.post(ENDPOINT)
async def messages(
    body: wire.MessagesBody, request: Request, who: Principal = Depends(principal)
) -> Response:
    svc = services(request).completions
    ctx = _context(request, who, body)
    chat = wire.to_canonical(body, request.headers)
    started = await start(svc, ctx, chat)
    headers = _headers(ctx)
    if isinstance(started, list):  # a stream's candidates: every refusal has passed
        return StreamingResponse(
            _stream(svc, ctx, chat, started),
            media_type="text/event-stream",
            headers={**SSE_HEADERS, **headers},
        )
    await svc.record(ctx, started)
    payload = {**out.message_json(f"msg_{ctx.request_id}", started), "onevault": summary(ctx, started)}
    headers["x-onevault-customer-cost"] = str(started.cost.customer_cost)
    return Response(orjson.dumps(payload), media_type="application/json", headers=headers)


async def _stream(
    svc: CompletionService, ctx: CallContext, chat: ChatRequest, candidates: Candidates
) -> AsyncIterator[bytes]:
    estimate = estimate_prompt_tokens(chat.messages, chat.tools)
    yield out.message_start(f"msg_{ctx.request_id}", chat.model, estimate)
    yield out.event("ping", {})
    blocks = out.StreamBlocks()
    try:
        async for item in svc.stream(ctx, chat, candidates):
            if isinstance(item, StreamSummary):
                for piece in blocks.close():
                    yield piece
                yield out.message_end(item.outcome)
                return
            for piece in blocks.feed(item):
                yield piece
    except ApiError as err:
        yield out.event("error", _error(err.status, err.code, err.message, ctx.request_id, err.param))
        return
    # The provider's stream broke after content reached the client (recorded as an error).
    message = "The provider's stream ended before the answer was complete."
    yield out.event("error", _error(502, "stream_broken", message, ctx.request_id))


def _error(status: int, code: str, message: str, request_id: str, param: str | None = None) -> dict[str, Any]:
    body = out.error_json(status, code, message, request_id, param)
    return {"error": body["error"], "request_id": request_id}


@router.post(f"{ENDPOINT}/count_tokens")
async def count_tokens(
    body: wire.CountTokensBody, request: Request, who: Principal = Depends(principal)
) -> Response:
    svc = services(request).completions
    ctx = _context(request, who, body)
    chat = wire.to_canonical(body, request.headers)
    candidates = await svc.plan(ctx, chat, [])
    counted, source = await _count(svc, ctx, chat, candidates)
    headers = {**_headers(ctx), "x-onevault-token-count": source}
    return Response(orjson.dumps({"input_tokens": counted}), media_type="application/json", headers=headers)


async def _count(
    svc: CompletionService, ctx: CallContext, chat: ChatRequest, candidates: Candidates
) -> tuple[int, str]:
    """(input tokens, "provider" | "estimate") for the first candidate (module docstring)."""
    route, model = candidates[0]
    adapter = get_adapter(route.api_style)
    counter = getattr(adapter, "count_tokens", None)
    if counter is not None:
        await svc.own_keys(ctx, chat, candidates)
        try:
            return await counter(svc.http, endpoint_for(ctx, route), with_model(chat, model)), "provider"
        except ProviderError as err:
            if err.error_class == "bad_request":
                raise final_error(err) from None
    return estimate_prompt_tokens(chat.messages, chat.tools), "estimate"
