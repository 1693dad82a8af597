"""``POST /v1/completions``: OpenAI's legacy text completion, served by chat models.

Older clients, IDE plugins (autocomplete) and eval harnesses still call it. The prompt becomes
one user message of the canonical chat request, so the call gets the same auth, limits, budgets,
routing, failover, caches, PII screening, costing and vault rows as ``/v1/chat/completions`` (the
event's endpoint is ``/v1/completions``) and reaches any provider; the answer comes back in the
``text_completion`` shape (``choices[0].text``, ``finish_reason``, ``usage``), streamed as
``text_completion`` chunks ending with ``data: [DONE]`` (usage in a last chunk with
``stream_options.include_usage``).

What a chat model cannot honour is refused with a 400 naming the field, never dropped:

- ``prompt`` must be one string (or a list holding one string): several prompts would need
  several answers, and token arrays need the model's own tokenizer, which only a provider's
  completion endpoint has;
- ``suffix`` (insert mode) is refused when set: no provider OneVault routes to serves the
  legacy completion endpoint (OpenAI keeps it for gpt-3.5-turbo-instruct and base models only)
  and chat models have no insertion point;
- ``n`` and ``best_of`` may only be 1, ``echo`` only false, ``logprobs`` only null (the legacy
  per-token logprobs shape has no chat equivalent).

``max_tokens`` left out is the provider's default, not the legacy API's 16. OneVault extras
(type, priority, max_cost, tags, cache) ride in ``x-onevault-*`` headers: this wire has no
``metadata``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response, StreamingResponse

from gateway.api.completions import summary
from gateway.api.deps import base_context, principal, services
from gateway.api.door import apply_extras, extras_of, start
from gateway.api.fields import PRINTABLE
from gateway.api.sse import DONE, SSE_HEADERS, sse
from gateway.auth.principal import Principal
from gateway.errors import ApiError
from gateway.pipeline import CallContext, Candidates, Outcome, StreamSummary
from gateway.providers.types import ChatMessage, ChatRequest

router = APIRouter()
ENDPOINT = "/v1/completions"
FINISH_REASONS = frozenset({"stop", "length", "content_filter"})
_Stop = Annotated[str, Field(min_length=1, max_length=1000)]


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    include_usage: bool | None = None


class LegacyCompletionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(min_length=1, max_length=200)
    prompt: str | list[Any]
    suffix: str | None = None
    max_tokens: int | None = Field(None, ge=1, le=1_000_000)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    stop: _Stop | Annotated[list[_Stop], Field(max_length=4)] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: Literal[1] | None = None
    best_of: Literal[1] | None = None
    echo: Literal[False] | None = None
    logprobs: None = None
    logit_bias: dict[str, float] | None = Field(None, max_length=300)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    seed: int | None = None
    user: str | None = Field(None, max_length=256, pattern=PRINTABLE)


def is_tokens(prompt: list[Any]) -> bool:
    """A token array (``list[int]``) or several (``list[list[int]]``)."""
    if any(isinstance(p, list) for p in prompt):
        return True
    return bool(prompt) and all(isinstance(p, int) and not isinstance(p, bool) for p in prompt)


def prompt_text(prompt: str | list[Any]) -> str:
    """The one prompt a chat model can answer; a 400 naming ``prompt`` for anything else."""
    if isinstance(prompt, list):
        if is_tokens(prompt):
            raise ApiError(
                400,
                "unsupported_parameter",
                "prompt: token arrays are not supported; chat models take text, and only a provider's "
                "own completion endpoint could decode token ids. Send the prompt as a string.",
                param="prompt",
            )
        if len(prompt) != 1 or not isinstance(prompt[0], str):
            raise ApiError(
                400,
                "unsupported_parameter",
                "prompt: send one prompt (a string, or a list of one string); several prompts would "
                "need several answers, which this endpoint serves one at a time.",
                param="prompt",
            )
        prompt = prompt[0]
    if not prompt.strip():
        raise ApiError(400, "validation_error", "prompt must not be empty.", param="prompt")
    return prompt


def to_canonical(body: LegacyCompletionBody) -> ChatRequest:
    if body.suffix:
        raise ApiError(
            400,
            "unsupported_parameter",
            "suffix (insert mode) is not supported: OneVault serves legacy completions with chat "
            "models, which have no insertion point. Put the surrounding text in the prompt instead.",
            param="suffix",
        )
    stop = [body.stop] if isinstance(body.stop, str) else body.stop
    return ChatRequest(
        model=body.model,
        messages=[ChatMessage("user", prompt_text(body.prompt))],
        max_tokens=body.max_tokens,
        temperature=body.temperature,
        stream=body.stream,
        user=body.user,
        stop=stop,
        top_p=body.top_p,
        seed=body.seed,
        presence_penalty=body.presence_penalty,
        frequency_penalty=body.frequency_penalty,
        logit_bias=body.logit_bias,
    )


def finish_reason(reason: str | None) -> str:
    """The legacy vocabulary: stop, length or content_filter (a chat answer's others are stops)."""
    return reason if reason in FINISH_REASONS else "stop"


def usage_json(o: Outcome) -> dict[str, int]:
    u = o.usage
    return {
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.total_tokens,
    }


def choice(text: str, reason: str | None) -> dict[str, Any]:
    return {"text": text, "index": 0, "logprobs": None, "finish_reason": reason}


@router.post(ENDPOINT)
async def legacy_completions(
    body: LegacyCompletionBody, request: Request, who: Principal = Depends(principal)
) -> Response:
    svc = services(request).completions
    ctx = base_context(request, who, endpoint=ENDPOINT, model=body.model)
    ctx.end_user, ctx.stream = body.user, body.stream
    apply_extras(ctx, extras_of(request))
    chat = to_canonical(body)
    started = await start(svc, ctx, chat)
    headers = {**ctx.response_headers, "x-request-id": ctx.request_id}
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return StreamingResponse(
            _stream(ctx, chat, started, request, include_usage),  # type: ignore[arg-type]
            media_type="text/event-stream",
            headers={**SSE_HEADERS, **headers},
        )
    outcome: Outcome = started  # type: ignore[assignment]
    await svc.record(ctx, outcome)
    payload = {
        "id": f"cmpl-{ctx.request_id}",
        "object": "text_completion",
        "created": int(time.time()),
        "model": outcome.model,
        "choices": [choice(outcome.text or outcome.refusal or "", finish_reason(outcome.finish_reason))],
        "usage": usage_json(outcome),
        "onevault": summary(ctx, outcome),
    }
    headers["x-onevault-customer-cost"] = str(outcome.cost.customer_cost)
    return Response(orjson.dumps(payload), media_type="application/json", headers=headers)


async def _stream(
    ctx: CallContext, chat: ChatRequest, candidates: Candidates, request: Request, include_usage: bool
) -> AsyncIterator[bytes]:
    svc = services(request).completions
    base = {
        "id": f"cmpl-{ctx.request_id}",
        "object": "text_completion",
        "created": int(time.time()),
        "model": chat.model,
    }
    try:
        async for item in svc.stream(ctx, chat, candidates):
            if isinstance(item, StreamSummary):
                o = item.outcome
                yield sse({**base, "model": o.model, "choices": [choice("", finish_reason(o.finish_reason))]})
                if include_usage:
                    yield sse(
                        {
                            **base,
                            "model": o.model,
                            "choices": [],
                            "usage": usage_json(o),
                            "onevault": summary(ctx, o),
                        }
                    )
            elif item.delta or item.refusal:
                yield sse({**base, "choices": [choice(item.delta + item.refusal, None)]})
    except ApiError as err:
        yield sse({"error": err.body(ctx.request_id)})
    yield DONE
