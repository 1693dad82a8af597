"""``POST /v1/responses``: the OpenAI Responses API, so Codex CLI, the OpenAI Agents SDK and
``client.responses.create()`` work unchanged against OneVault — on any provider.

The wire is gateway/api/openai_responses.py (request) and openai_responses_output.py (response
and stream events); this module is the route. Behind it the request is
the same canonical request as ``/v1/chat/completions`` (auth, limits, budgets, routing, caches,
PII, costing, the vault), recorded with endpoint ``/v1/responses``.

Statelessness is the default: the client sends the whole conversation (``store: false``, what
Codex does). ``previous_response_id``, ``GET /v1/responses/{id}`` and its ``input_items`` read a
response OneVault kept — only when the customer's retention is ``encrypted``
(gateway/api/stored_responses.py).

A stream is refused with a proper HTTP status while no byte is sent: the route waits for the
first piece of the answer before it starts the event stream. After that, a broken upstream is a
``response.failed`` event (what was delivered is billed), and an error an ``error`` event.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response, StreamingResponse

from gateway.api import stored_responses as stored
from gateway.api.completions import summary
from gateway.api.deps import base_context, principal, services
from gateway.api.door import apply_extras, extras_of, start
from gateway.api.openai_chat import ONEVAULT_METADATA
from gateway.api.openai_responses import ResponsesBody, ToolNames, to_canonical
from gateway.api.openai_responses_output import (
    Envelope,
    ItemIds,
    ResponseStream,
    echo,
    output_items,
    response_id,
    status_of,
)
from gateway.api.sse import SSE_HEADERS
from gateway.auth.principal import Principal
from gateway.errors import ApiError
from gateway.pipeline import CallContext, Outcome, StreamSummary
from gateway.providers.thinking import encode_blocks
from gateway.providers.types import StreamChunk

router = APIRouter()


def forwarded_metadata(metadata: dict[str, str] | None) -> dict[str, str]:
    """``metadata`` minus OneVault's own extras: what providers that store metadata get."""
    return {
        k: v
        for k, v in (metadata or {}).items()
        if k not in ONEVAULT_METADATA and not k.startswith(("tag.", "tag_"))
    }


@router.get("/v1/responses/{response_id}")
async def get_response(response_id: str, request: Request, who: Principal = Depends(principal)) -> Response:
    """A stored response (retention ``encrypted``), rebuilt from the vault (stored_responses.py)."""
    doc = await stored.retrieve(request, who, response_id)
    return Response(orjson.dumps(doc), media_type="application/json")


@router.get("/v1/responses/{response_id}/input_items")
async def list_input_items(
    response_id: str,
    request: Request,
    order: Literal["asc", "desc"] = "desc",
    limit: int = Query(20, ge=1, le=100),
    after: str | None = None,
    who: Principal = Depends(principal),
) -> Response:
    page = await stored.input_items(request, who, response_id, order=order, limit=limit, after=after)
    return Response(orjson.dumps(page), media_type="application/json")


@router.post("/v1/responses")
async def create_response(
    body: ResponsesBody, request: Request, who: Principal = Depends(principal)
) -> Response:
    svc = services(request).completions
    ctx = base_context(request, who, endpoint="/v1/responses", model=body.model)
    ctx.door, ctx.stream = "responses", body.stream
    ctx.end_user = body.user or body.safety_identifier
    apply_extras(ctx, extras_of(request, body.metadata))
    prior = await stored.previous_conversation(request, who, body.previous_response_id)
    chat, names = to_canonical(body, prior, forwarded_metadata(body.metadata))
    started = await start(svc, ctx, chat)
    envelope = Envelope(response_id(ctx.request_id), int(time.time()), echo(body))
    headers = {**ctx.response_headers, "x-request-id": ctx.request_id}
    if body.stream:
        renderer = ResponseStream(
            ItemIds(ctx.request_id), names, envelope, chat.model, encrypted=body.encrypted_reasoning
        )
        items = svc.stream(ctx, chat, started)  # type: ignore[arg-type]
        first = await anext(items, None)  # an ApiError here is still a proper HTTP status
        return StreamingResponse(
            _events(ctx, items, first, renderer),
            media_type="text/event-stream",
            headers={**SSE_HEADERS, **headers},
        )
    outcome: Outcome = started  # type: ignore[assignment]
    await svc.record(ctx, outcome)
    headers["x-onevault-customer-cost"] = str(outcome.cost.customer_cost)
    doc = _whole(ctx, envelope, names, outcome, encrypted=body.encrypted_reasoning)
    return Response(orjson.dumps(doc), media_type="application/json", headers=headers)


def _whole(
    ctx: CallContext, envelope: Envelope, names: ToolNames, o: Outcome, *, encrypted: bool
) -> dict[str, Any]:
    status, incomplete = status_of(o.finish_reason)
    output = output_items(
        ItemIds(ctx.request_id),
        o.text,
        o.tool_calls,
        o.refusal,
        o.reasoning,
        o.logprobs,
        names,
        encode_blocks(o.thinking_blocks) if encrypted else None,
    )
    doc = envelope.render(model=o.model, status=status, output=output, usage=o.usage, incomplete=incomplete)
    return {**doc, "onevault": summary(ctx, o)}


async def _events(
    ctx: CallContext,
    items: AsyncIterator[StreamChunk | StreamSummary],
    first: StreamChunk | StreamSummary | None,
    out: ResponseStream,
) -> AsyncIterator[bytes]:
    for event in out.start():
        yield event
    finished = False
    try:
        item = first
        while item is not None:
            if isinstance(item, StreamSummary):
                o = item.outcome
                for event in out.finish(o.model, o.usage, o.finish_reason, {"onevault": summary(ctx, o)}):
                    yield event
                finished = True
            else:
                for event in out.chunk(item):
                    yield event
            item = await anext(items, None)
        if not finished:  # the pipeline recorded the broken stream and ended without a summary
            message = (
                "The provider's stream broke after part of the answer was sent; "
                "what was sent is billed. Retry the request."
            )
            for event in out.failed("server_error", message):
                yield event
    except ApiError as err:
        for event in out.error(err.code, err.message, err.param):
            yield event
    finally:
        await items.aclose()  # type: ignore[attr-defined]
