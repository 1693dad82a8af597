"""``POST /v1/ai/completions``: the OneVault API (seed 003)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response, StreamingResponse

from gateway.api.deps import base_context, principal, services
from gateway.api.openai_chat import canonical_messages, message_json
from gateway.api.schemas import CompletionBody
from gateway.api.sse import DONE, SSE_HEADERS, sse
from gateway.auth.principal import Principal
from gateway.errors import ApiError
from gateway.pipeline import CallContext, Candidates, Outcome, StreamSummary
from gateway.providers.types import ChatMessage, ChatRequest

router = APIRouter()


def _chat_request(body: CompletionBody) -> ChatRequest:
    messages = (
        [ChatMessage("user", body.prompt)]
        if body.prompt is not None
        else canonical_messages(body.messages or [])
    )
    return ChatRequest(
        model=body.model or "",
        messages=messages,
        max_tokens=body.max_tokens,
        temperature=body.temperature,
        stream=body.stream,
        user=body.user,
    )


def cost_block(o: Outcome) -> dict[str, Any]:
    return {
        "provider_cost": str(o.cost.provider_cost),
        "markup": str(o.cost.markup_amount),
        "customer_cost": str(o.cost.customer_cost),
        "currency": o.cost.currency,
        "priced": o.cost.priced,
    }


def usage_block(o: Outcome) -> dict[str, int]:
    u = o.usage
    return {
        "input_tokens": u.input_tokens,
        "output_tokens": u.output_tokens,
        "cached_input_tokens": u.cached_input_tokens,
        "reasoning_tokens": u.reasoning_tokens,
        "cache_write_tokens": u.cache_write_tokens,
        "audio_input_tokens": u.audio_input_tokens,
        "image_input_tokens": u.image_input_tokens,
        "total_tokens": u.total_tokens,
    }


def summary(ctx: CallContext, o: Outcome) -> dict[str, Any]:
    return {
        "id": ctx.request_id,
        "provider": o.route.name,
        "model": o.model,
        "usage": usage_block(o),
        "cost": cost_block(o),
        "route": {
            "rule": ctx.routing_rule.rule_id if ctx.routing_rule else None,
            "rule_name": ctx.routing_rule.name if ctx.routing_rule else None,
            "reason": o.route_reason,
        },
        "latency_ms": round(o.latency_ms, 3),
        "validation": {"status": o.validation_status, "errors": o.validation_errors},
        "dropped_params": ctx.dropped_params,
        "attempts": [
            {
                "provider": a.provider,
                "model": a.model,
                "outcome": a.outcome,
                "latency_ms": a.latency_ms,
                "error_class": a.error_class,
            }
            for a in o.attempts
        ],
    }


@router.post("/v1/ai/completions")
async def completions(
    body: CompletionBody, request: Request, who: Principal = Depends(principal)
) -> Response:
    svc = services(request).completions
    ctx = base_context(request, who, endpoint="/v1/ai/completions", model=body.model)
    ctx.requested_provider, ctx.request_type, ctx.priority = body.provider, body.type, body.priority
    ctx.max_cost, ctx.end_user, ctx.tags, ctx.stream = body.max_cost, body.user, body.tags, body.stream
    ctx.cache_request = body.cache.model_dump() if body.cache is not None else None
    chat = _chat_request(body)
    try:
        if body.stream:
            candidates = await svc.prepare(ctx, chat)  # refuse before any bytes are sent
        else:
            outcome = await svc.complete(ctx, chat)
    except ApiError as err:
        if err.status in (402, 403, 404, 429) or err.code == "pii_blocked":
            await svc.record_rejection(ctx, err)
        raise
    if body.stream:
        return StreamingResponse(
            _stream(ctx, chat, candidates, request),
            media_type="text/event-stream",
            headers={**SSE_HEADERS, **ctx.response_headers, "x-request-id": ctx.request_id},
        )
    await svc.record(ctx, outcome)
    payload = summary(ctx, outcome)
    payload.update(
        object="onevault.completion",
        created=int(time.time()),
        output={
            "text": outcome.text,
            "message": message_json(
                outcome.text,
                outcome.tool_calls,
                outcome.refusal,
                outcome.reasoning,
                legacy=False,
                thinking_blocks=outcome.thinking_blocks,
            ),
            "finish_reason": outcome.finish_reason,
        },
    )
    return Response(
        orjson.dumps(payload),
        media_type="application/json",
        headers={**ctx.response_headers, "x-request-id": ctx.request_id},
    )


async def _stream(
    ctx: CallContext, chat: ChatRequest, candidates: Candidates, request: Request
) -> AsyncIterator[bytes]:
    svc = services(request).completions
    try:
        async for item in svc.stream(ctx, chat, candidates):
            if isinstance(item, StreamSummary):
                yield sse(
                    {**summary(ctx, item.outcome), "done": True, "finish_reason": item.outcome.finish_reason}
                )
            else:
                yield sse({"id": ctx.request_id, "delta": item.delta})
    except ApiError as err:
        yield sse({"error": err.body(ctx.request_id)})
    yield DONE
