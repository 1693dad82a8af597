"""``POST /v1/chat/completions``: OpenAI-compatible, so the official SDKs work unchanged.

The wire (body, canonical translation, response shapes) is gateway/api/openai_chat.py; this
module is the route. OneVault extras ride in OpenAI's ``metadata`` (``type``, ``priority``,
``max_cost``, ``provider``, ``tag.<key>``) or in ``x-onevault-*`` headers; other ``metadata``
keys are forwarded to providers that store it. The response carries the usual OpenAI fields plus
an ``onevault`` object (ignored by SDKs) with cost, route and the output validation verdict.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response, StreamingResponse

from gateway.api.completions import summary
from gateway.api.deps import base_context, principal, services
from gateway.api.door import apply_extras, extras_of, start
from gateway.api.openai_chat import (
    ONEVAULT_METADATA,
    ChatCompletionBody,
    delta_json,
    finish_reason_for,
    message_json,
    to_canonical,
)
from gateway.api.sse import DONE, SSE_HEADERS, sse
from gateway.auth.principal import Principal
from gateway.errors import ApiError
from gateway.pipeline import CallContext, Candidates, Outcome, StreamSummary
from gateway.providers.types import ChatRequest

router = APIRouter()


def _forwarded_metadata(body: ChatCompletionBody) -> dict[str, str]:
    """``metadata`` minus OneVault's own extras: what providers that store metadata get."""
    return {
        k: v
        for k, v in (body.metadata or {}).items()
        if k not in ONEVAULT_METADATA and not k.startswith(("tag.", "tag_"))
    }


def _usage(o: Outcome) -> dict[str, Any]:
    u = o.usage
    return {
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.total_tokens,
        "prompt_tokens_details": {
            "cached_tokens": u.cached_input_tokens,
            "audio_tokens": u.audio_input_tokens,
        },
        "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
    }


@router.post("/v1/chat/completions")
async def chat_completions(
    body: ChatCompletionBody, request: Request, who: Principal = Depends(principal)
) -> Response:
    svc = services(request).completions
    ctx = base_context(request, who, endpoint="/v1/chat/completions", model=body.model)
    ctx.end_user, ctx.stream = body.user, body.stream
    apply_extras(ctx, extras_of(request, body.metadata))
    chat = to_canonical(body, _forwarded_metadata(body))
    legacy = body.legacy_functions
    started = await start(svc, ctx, chat)
    headers = {**ctx.response_headers, "x-request-id": ctx.request_id}
    if isinstance(started, list):  # a stream's candidates: every refusal has passed
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return StreamingResponse(
            _stream(ctx, chat, started, request, include_usage, legacy),
            media_type="text/event-stream",
            headers={**SSE_HEADERS, **headers},
        )
    outcome = started
    await svc.record(ctx, outcome)
    payload = {
        "id": f"chatcmpl-{ctx.request_id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": outcome.model,
        "choices": [
            {
                "index": 0,
                "message": message_json(
                    outcome.text,
                    outcome.tool_calls,
                    outcome.refusal,
                    outcome.reasoning,
                    legacy=legacy,
                    thinking_blocks=outcome.thinking_blocks,
                ),
                "finish_reason": finish_reason_for(outcome.finish_reason, legacy=legacy),
                "logprobs": {"content": outcome.logprobs, "refusal": None} if outcome.logprobs else None,
            }
        ],
        "usage": _usage(outcome),
        "onevault": summary(ctx, outcome),
    }
    headers["x-onevault-customer-cost"] = str(outcome.cost.customer_cost)
    return Response(orjson.dumps(payload), media_type="application/json", headers=headers)


async def _stream(
    ctx: CallContext,
    chat: ChatRequest,
    candidates: Candidates,
    request: Request,
    include_usage: bool,
    legacy: bool,
) -> AsyncIterator[bytes]:
    svc = services(request).completions
    created = int(time.time())
    base = {
        "id": f"chatcmpl-{ctx.request_id}",
        "object": "chat.completion.chunk",
        "created": created,
        "model": chat.model,
    }
    yield sse(
        {
            **base,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
        }
    )
    try:
        async for item in svc.stream(ctx, chat, candidates):
            if isinstance(item, StreamSummary):
                o = item.outcome
                yield sse(
                    {
                        **base,
                        "model": o.model,
                        "choices": [
                            {
                                "index": 0,
                                "delta": {},
                                "finish_reason": finish_reason_for(o.finish_reason, legacy=legacy),
                            }
                        ],
                    }
                )
                if include_usage:
                    yield sse(
                        {
                            **base,
                            "model": o.model,
                            "choices": [],
                            "usage": _usage(o),
                            "onevault": summary(ctx, o),
                        }
                    )
            else:
                choice: dict[str, Any] = {
                    "index": 0,
                    "delta": delta_json(item, legacy=legacy),
                    "finish_reason": None,
                }
                if item.logprobs:
                    choice["logprobs"] = {"content": item.logprobs, "refusal": None}
                yield sse({**base, "choices": [choice]})
    except ApiError as err:
        yield sse({"error": err.body(ctx.request_id)})
    yield DONE
