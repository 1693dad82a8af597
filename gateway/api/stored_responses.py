"""Responses OneVault kept: ``previous_response_id``, ``GET /v1/responses/{id}`` and
``GET /v1/responses/{id}/input_items``.

OneVault keeps a conversation only where the customer's retention is ``encrypted``: the vault's
sealed payload (the canonical request and answer) is the stored response, and the request's
details row gives its model, usage and time. A response id is ``resp_<request id>``; every query
is scoped to the calling customer, so another customer's id is a 404. The vault loads
asynchronously, so a just-answered response is waited for briefly (its id carries its time).

A retrieved response is rebuilt from what the canonical request holds: its output items carry
the same ids as when it was answered; of the echoed settings, those the canonical request keeps
(instructions, tools, tool choice, sampling, limits) are filled, the rest take their defaults.
Input items are the stored conversation without the instructions, oldest first unless
``order=desc``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal

import asyncpg
from fastapi import Request

from gateway.api.deps import services
from gateway.api.openai_responses import NAMESPACE_SEPARATOR, ToolNames, prior_turn
from gateway.api.openai_responses_output import (
    Envelope,
    ItemIds,
    call_item,
    message_item,
    output_items,
    request_id_of_response,
    status_of,
)
from gateway.auth.principal import Principal
from gateway.crypto.data_keys import PayloadUnreadable
from gateway.errors import ApiError
from gateway.privacy.payloads import StoredPayload, read_payload
from gateway.providers.types import (
    AudioPart,
    ChatMessage,
    ChatRequest,
    ContentPart,
    FilePart,
    ImagePart,
    TextPart,
    ToolCall,
    Usage,
)
from warehouse.hashing import hash_key

LOAD_GRACE_S = 10.0  # how long after a request its payload may still be on its way to the vault
POLL_S = 0.05
_LOADED = "select true from raw_vault.hub_api_request where api_request_hk = $1"
_DETAILS = """
select d.request_ts, d.finish_reason, d.input_tokens, d.output_tokens, d.cached_input_tokens,
       d.reasoning_tokens, m.model_bk
from raw_vault.sat_api_request_details d
join raw_vault.lnk_api_request_context l on l.api_request_hk = d.api_request_hk
join raw_vault.hub_model m on m.model_hk = l.model_hk
where d.api_request_hk = $1 and l.customer_hk = $2
order by d.load_dts desc limit 1
"""


async def previous_conversation(request: Request, who: Principal, resp_id: str | None) -> list[ChatMessage]:
    """The conversation ``resp_id`` answered, with its answer, as history for the new input."""
    if resp_id is None:
        return []
    stored = await _stored(request, who, resp_id, param="previous_response_id")
    return prior_turn(stored.messages, stored.answer)


async def retrieve(request: Request, who: Principal, resp_id: str) -> dict[str, Any]:
    """The response object of a stored response, as ``POST /v1/responses`` answered it."""
    stored = await _stored(request, who, resp_id)
    data = services(request).completions.data
    request_id = request_id_of_response(resp_id)
    assert data is not None and request_id is not None
    try:
        row = await data.pool.fetchrow(_DETAILS, hash_key(request_id), hash_key(who.customer))
    except (asyncpg.PostgresError, OSError) as exc:
        raise _vault_unavailable() from exc
    if row is None:
        raise _not_found(resp_id)
    answer, chat = stored.answer, stored.request
    names = _tool_names(chat)
    calls = [ToolCall(c["id"], c["name"], c["arguments"]) for c in answer.get("tool_calls") or ()]
    output = output_items(
        ItemIds(request_id),
        answer.get("text") or "",
        calls,
        answer.get("refusal"),
        answer.get("reasoning"),
        None,
        names,
    )
    status, incomplete = status_of(row["finish_reason"] or answer.get("finish_reason"))
    usage = Usage(
        input_tokens=row["input_tokens"] or 0,
        output_tokens=row["output_tokens"] or 0,
        cached_input_tokens=row["cached_input_tokens"] or 0,
        reasoning_tokens=row["reasoning_tokens"] or 0,
    )
    envelope = Envelope(resp_id, int(row["request_ts"].timestamp()), _settings(chat))
    doc = envelope.render(
        model=row["model_bk"], status=status, output=output, usage=usage, incomplete=incomplete
    )
    return {**doc, "completed_at": doc["created_at"] if status != "in_progress" else None}


async def input_items(
    request: Request,
    who: Principal,
    resp_id: str,
    *,
    order: Literal["asc", "desc"] = "desc",
    limit: int = 20,
    after: str | None = None,
) -> dict[str, Any]:
    """A page of the stored response's input items, in OpenAI's list shape."""
    stored = await _stored(request, who, resp_id)
    request_id = request_id_of_response(resp_id)
    assert request_id is not None
    items = input_items_of(request_id, stored.messages, _tool_names(stored.request))
    if order == "desc":
        items.reverse()
    if after is not None:
        ids = [i["id"] for i in items]
        if after not in ids:
            raise ApiError(
                400, "invalid_request_error", f"No input item {after!r} in {resp_id}.", param="after"
            )
        items = items[ids.index(after) + 1 :]
    page = items[:limit]
    return {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": len(items) > len(page),
    }


def input_items_of(request_id: str, messages: list[ChatMessage], names: ToolNames) -> list[dict[str, Any]]:
    """The conversation as Responses input items (the instructions are the response's own field)."""
    items: list[dict[str, Any]] = []
    for n, message in enumerate(_without_instructions(messages)):
        item_id = f"msg_{request_id}_in{n}"
        if message.role == "tool":
            output = message.text if isinstance(message.content, str) or message.content is None else None
            items.append(
                {
                    "type": "function_call_output",
                    "id": f"fco_{request_id}_in{n}",
                    "call_id": message.tool_call_id,
                    "output": output if output is not None else [_part_json(p) for p in message.parts()],
                    "status": "completed",
                }
            )
        elif message.role == "assistant":
            content = (
                [{"type": "output_text", "text": message.text, "annotations": []}] if message.text else []
            )
            if message.refusal:
                content.append({"type": "refusal", "refusal": message.refusal})
            if content:
                items.append(message_item(item_id, content))
            items += [
                call_item(f"fc_{request_id}_in{n}_{i}", c, names) for i, c in enumerate(message.tool_calls)
            ]
        else:
            content = [_part_json(p) for p in message.parts()]
            items.append(
                {
                    "type": "message",
                    "id": item_id,
                    "role": message.role,
                    "status": "completed",
                    "content": content,
                }
            )
    return items


def _part_json(part: ContentPart) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "input_text", "text": part.text}
    if isinstance(part, ImagePart):
        return {"type": "input_image", "image_url": part.url, "detail": part.detail or "auto"}
    if isinstance(part, FilePart):
        doc: dict[str, Any] = {"type": "input_file", "filename": part.filename}
        if part.file_id:
            doc["file_id"] = part.file_id
        else:
            doc["file_data"] = f"data:{part.media_type};base64,{part.data}"
        return doc
    assert isinstance(part, AudioPart)
    return {"type": "input_audio", "input_audio": {"data": part.data, "format": part.format}}


def _without_instructions(messages: list[ChatMessage]) -> list[ChatMessage]:
    start = 0
    while start < len(messages) and messages[start].is_instruction:
        start += 1
    return messages[start:]


def _instructions(chat: ChatRequest) -> str | None:
    texts = [m.text for m in chat.messages[: len(chat.messages) - len(_without_instructions(chat.messages))]]
    return "\n\n".join(texts) or None


def _tool_names(chat: ChatRequest) -> ToolNames:
    """Namespaced tools were flattened to ``<namespace>__<name>``; split them back the same way."""
    namespaced = {}
    for tool in chat.tools:
        namespace, sep, name = tool.name.partition(NAMESPACE_SEPARATOR)
        if sep and namespace and name:
            namespaced[tool.name] = (namespace, name)
    return ToolNames(namespaced)


def _settings(chat: ChatRequest) -> dict[str, Any]:
    """The echoed settings the canonical request keeps; the others take their defaults."""
    choice = chat.tool_choice
    if choice is None:
        tool_choice: Any = "auto"
    elif choice.mode == "function":
        tool_choice = {"type": "function", "name": choice.name}
    else:
        tool_choice = choice.mode
    fmt = chat.response_format
    text_format: dict[str, Any] = {"type": "text"}
    if fmt is not None and fmt.type == "json_schema":
        text_format = {"type": "json_schema", "name": fmt.name, "schema": fmt.schema, "strict": fmt.strict}
    elif fmt is not None:
        text_format = {"type": fmt.type}
    return {
        "instructions": _instructions(chat),
        "tools": [
            {
                "type": "function",
                "name": t.name,
                "description": t.description,
                "parameters": t.parameters,
                "strict": t.strict,
            }
            for t in chat.tools
        ],
        "tool_choice": tool_choice,
        "parallel_tool_calls": chat.parallel_tool_calls if chat.parallel_tool_calls is not None else True,
        "text": {"format": text_format, "verbosity": "medium"},
        "reasoning": {"effort": chat.reasoning_effort, "summary": None},
        "temperature": chat.temperature,
        "top_p": chat.top_p,
        "top_logprobs": chat.top_logprobs,
        "max_output_tokens": chat.max_tokens,
        "previous_response_id": None,
        "metadata": chat.metadata or {},
        "store": True,
        "truncation": "disabled",
        "user": chat.user,
        "safety_identifier": None,
        "service_tier": chat.service_tier,
        "background": False,
    }


async def _stored(
    request: Request, who: Principal, resp_id: str, *, param: str | None = None
) -> StoredPayload:
    data = services(request).completions.data
    retention = (await data.policies.get(who.customer)).retention if data is not None else "none"
    if retention != "encrypted":
        raise ApiError(
            400 if param else 404,
            "previous_response_unavailable" if param else "response_not_found",
            f"{param or 'Retrieving a response'} needs the customer's retention to be 'encrypted' "
            f"(it is {retention!r}): OneVault keeps no conversation otherwise. Send the whole "
            "conversation in 'input' (store: false), or have an admin set retention_mode to 'encrypted'.",
            param=param,
        )
    request_id = request_id_of_response(resp_id)
    if request_id is None:
        raise _not_found(resp_id, param)
    return await _read_when_loaded(data, who.customer, resp_id, request_id, param)


async def _read_when_loaded(
    data: Any, customer: str, resp_id: str, request_id: str, param: str | None
) -> StoredPayload:
    """The payload, waiting while the request may still be on its way to the vault (the loader
    lands a request and its payload in one transaction, so once it is there, waiting is over)."""
    deadline = _issued_at(request_id) + LOAD_GRACE_S
    while True:
        loaded = time.time() >= deadline or await _loaded(data.pool, request_id)  # asked first: no race
        try:
            return await read_payload(data.pool, data.keys, customer, request_id)
        except PayloadUnreadable:
            if loaded:
                raise _not_found(resp_id, param) from None
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


def _not_found(resp_id: str, param: str | None = None) -> ApiError:
    return ApiError(
        404,
        "response_not_found",
        f"No stored response {resp_id!r} for this key's customer: the id is unknown, belongs to "
        "another customer, was answered before retention was 'encrypted', or its payload was erased.",
        param=param,
    )
