"""``POST /v1/responses``: the OpenAI Responses API, so Codex CLI, the OpenAI Agents SDK and
``client.responses.create()`` work unchanged against OneVault — on any provider.

The wire is gateway/api/openai_responses.py (request) and openai_responses_output.py (response
and stream events); this module is the route. Behind it the request is
the same canonical request as ``/v1/chat/completions`` (auth, limits, budgets, routing, caches,
PII, costing, the vault), recorded with endpoint ``/v1/responses``.

Statelessness is the default: the client sends the whole conversation (``store: false``, what
Codex does). ``previous_response_id`` continues a conversation OneVault kept — only when the
customer's retention is ``encrypted``, where the previous request's sealed payload (its
conversation and answer) is read back from the vault. A response id is ``resp_<request id>``;
the payload query is scoped to the calling customer, so another customer's id is a 404. The vault
loads asynchronously, so a just-answered response is waited for briefly (its id carries its time).

A stream is refused with a proper HTTP status while no byte is sent: the route waits for the
first piece of the answer before it starts the event stream. After that, a broken upstream is a
``response.failed`` event (what was delivered is billed), and an error an ``error`` event.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import orjson
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response, StreamingResponse

from gateway.api.completions import summary
from gateway.api.deps import base_context, principal, services
from gateway.api.door import apply_extras, extras_of, start
from gateway.api.openai_chat import ONEVAULT_METADATA
from gateway.api.openai_responses import ResponsesBody, ToolNames, prior_turn, to_canonical
from gateway.api.openai_responses_output import (
    Envelope,
    ItemIds,
    ResponseStream,
    echo,
    output_items,
    request_id_of_response,
    response_id,
    status_of,
)
from gateway.api.sse import SSE_HEADERS
from gateway.auth.principal import Principal
from gateway.crypto.data_keys import PayloadUnreadable
from gateway.errors import ApiError
from gateway.pipeline import CallContext, Outcome, StreamSummary
from gateway.privacy.payloads import StoredPayload, read_payload
from gateway.providers.types import ChatMessage, StreamChunk
from warehouse.hashing import hash_key

router = APIRouter()
LOAD_GRACE_S = 10.0  # how long after a request its payload may still be on its way to the vault
POLL_S = 0.05
_LOADED = "select true from raw_vault.hub_api_request where api_request_hk = $1"


def forwarded_metadata(metadata: dict[str, str] | None) -> dict[str, str]:
    """``metadata`` minus OneVault's own extras: what providers that store metadata get."""
    return {
        k: v
        for k, v in (metadata or {}).items()
        if k not in ONEVAULT_METADATA and not k.startswith(("tag.", "tag_"))
    }


@router.post("/v1/responses")
async def create_response(
    body: ResponsesBody, request: Request, who: Principal = Depends(principal)
) -> Response:
    svc = services(request).completions
    ctx = base_context(request, who, endpoint="/v1/responses", model=body.model)
    ctx.door, ctx.stream = "responses", body.stream
    ctx.end_user = body.user or body.safety_identifier
    apply_extras(ctx, extras_of(request, body.metadata))
    prior = await previous_conversation(request, who, body.previous_response_id)
    chat, names = to_canonical(body, prior, forwarded_metadata(body.metadata))
    started = await start(svc, ctx, chat)
    envelope = Envelope(response_id(ctx.request_id), int(time.time()), echo(body))
    headers = {**ctx.response_headers, "x-request-id": ctx.request_id}
    if body.stream:
        renderer = ResponseStream(ItemIds(ctx.request_id), names, envelope, chat.model)
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
    return Response(
        orjson.dumps(_whole(ctx, envelope, names, outcome)), media_type="application/json", headers=headers
    )


def _whole(ctx: CallContext, envelope: Envelope, names: ToolNames, o: Outcome) -> dict[str, Any]:
    status, incomplete = status_of(o.finish_reason)
    output = output_items(
        ItemIds(ctx.request_id), o.text, o.tool_calls, o.refusal, o.reasoning, o.logprobs, names
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


# -- previous_response_id -----------------------------------------------------------------------------
async def previous_conversation(request: Request, who: Principal, resp_id: str | None) -> list[ChatMessage]:
    """The conversation ``resp_id`` answered, with its answer, as history for the new input."""
    if resp_id is None:
        return []
    data = services(request).completions.data
    retention = (await data.policies.get(who.customer)).retention if data is not None else "none"
    if retention != "encrypted":
        raise ApiError(
            400,
            "previous_response_unavailable",
            f"previous_response_id needs the customer's retention to be 'encrypted' (it is {retention!r}): "
            "OneVault keeps no conversation otherwise. Send the whole conversation in 'input' "
            "(store: false), or have an admin set retention_mode to 'encrypted'.",
            param="previous_response_id",
        )
    request_id = request_id_of_response(resp_id)
    if request_id is None:
        raise _not_found(resp_id)
    stored = await _read_when_loaded(data, who.customer, resp_id, request_id)
    return prior_turn(stored.messages, stored.answer)


async def _read_when_loaded(data: Any, customer: str, resp_id: str, request_id: str) -> StoredPayload:
    """The payload, waiting while the request may still be on its way to the vault (the loader
    lands a request and its payload in one transaction, so once it is there, waiting is over)."""
    deadline = _issued_at(request_id) + LOAD_GRACE_S
    while True:
        loaded = time.time() >= deadline or await _loaded(data.pool, request_id)  # asked first: no race
        try:
            return await read_payload(data.pool, data.keys, customer, request_id)
        except PayloadUnreadable:
            if loaded:
                raise _not_found(resp_id) from None
        except (asyncpg.PostgresError, OSError) as exc:
            raise _vault_unavailable() from exc
        await asyncio.sleep(POLL_S)


async def _loaded(pool: asyncpg.Pool, request_id: str) -> bool:
    """Whether the request (anyone's: the answer is a 404 either way) is in the vault yet."""
    try:
        return bool(await pool.fetchval(_LOADED, hash_key(request_id)))
    except (asyncpg.PostgresError, OSError) as exc:
        raise _vault_unavailable() from exc


def _vault_unavailable() -> ApiError:
    return ApiError(
        503, "vault_unavailable", "The stored conversation cannot be read right now; retry shortly."
    )


def _issued_at(request_id: str) -> float:
    """Request ids start with their creation time in milliseconds (``new_request_id``)."""
    try:
        return int(request_id[4:16], 16) / 1000
    except ValueError:
        return 0.0


def _not_found(resp_id: str) -> ApiError:
    return ApiError(
        404,
        "response_not_found",
        f"No stored response {resp_id!r} for this key's customer: the id is unknown, belongs to "
        "another customer, was answered before retention was 'encrypted', or its payload was erased.",
        param="previous_response_id",
    )
