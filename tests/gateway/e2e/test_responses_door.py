"""The OpenAI Responses API door (``POST /v1/responses``) with the official ``openai`` SDK:
plain and streamed responses, function tools with a tool-output turn, namespaced tools, JSON
schema output, media input — each through an OpenAI, an Anthropic and a Gemini model — plus
``previous_response_id`` read back from the vault under encrypted retention (and refused without
it, and across customers), what the door refuses rather than drops, and the vault rows."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

import asyncpg
import openai
import pytest
from jsonschema import validate
from openai import AsyncOpenAI
from pydantic import BaseModel

from gateway.admin.customers import update_customer
from gateway.simulator.textgen import PREFIX
from tests.gateway.e2e.conftest import Gateway, issue_key
from tests.gateway.e2e.test_recorded_in_vault import recorded

MODELS = ["gpt-4o-mini", "claude-3-5-sonnet-latest", "gemini-1.5-flash"]
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city", "unit"],
        "additionalProperties": False,
    },
    "strict": True,
}
CITY_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "people": {"type": "integer"}},
    "required": ["city", "people"],
    "additionalProperties": False,
}
PIXEL = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
).decode()
PDF = base64.b64encode(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF").decode()


def sdk(gw: Gateway, key: str | None = None) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=f"{gw.url}/v1", api_key=key or gw.key, max_retries=0)


def upstream(gw: Gateway, back: int = 1) -> str:
    """The body the provider last received (``back``: how many calls ago), as text."""
    return json.dumps(gw.sim.simulator.stats.snapshot()["recent"][-back]["body"])


async def assert_recorded(
    gw: Gateway, pool: asyncpg.Pool, request_id: str, usage: Any, *, stream: bool
) -> None:
    vault = await recorded(pool, request_id)
    req = vault["request"]
    assert (req["endpoint"], req["status"], req["stream"]) == ("/v1/responses", "success", stream)
    assert req["input_tokens"] == usage.input_tokens and req["output_tokens"] == usage.output_tokens
    (cost,) = vault["cost"]
    assert cost["is_priced"] and cost["customer_cost"] > 0


@pytest.mark.parametrize("model", MODELS)
async def test_plain_response(gateway: Gateway, vault_pool: asyncpg.Pool, model: str) -> None:
    raw = await sdk(gateway).responses.with_raw_response.create(
        model=model, instructions="Answer as a data vault expert.", input="What is a hub?", store=False
    )
    resp = raw.parse()
    request_id = raw.headers["x-request-id"]
    assert resp.id == f"resp_{request_id}" and resp.object == "response" and resp.status == "completed"
    assert resp.model == model and resp.instructions == "Answer as a data vault expert."
    (message,) = resp.output
    assert message.type == "message" and message.role == "assistant" and message.status == "completed"
    assert resp.output_text.startswith(PREFIX) and "What is a hub?" in resp.output_text
    assert resp.usage is not None and resp.usage.output_tokens == 64
    assert resp.usage.total_tokens == resp.usage.input_tokens + resp.usage.output_tokens
    assert "Answer as a data vault expert." in upstream(gateway)  # instructions reached the provider
    await assert_recorded(gateway, vault_pool, request_id, resp.usage, stream=False)
    vault = await recorded(vault_pool, request_id)
    assert vault["request"]["requested_model"] == model
    assert vault["cost"][0]["customer_cost"] == Decimal(raw.headers["x-onevault-customer-cost"])


@pytest.mark.parametrize("model", MODELS)
async def test_streamed_response_has_the_real_event_sequence(
    gateway: Gateway, vault_pool: asyncpg.Pool, model: str
) -> None:
    async with sdk(gateway).responses.stream(model=model, input="Tell me about satellites") as stream:
        events = [event async for event in stream]
        final = await stream.get_final_response()
    kinds = [e.type for e in events]
    assert kinds[:5] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
    ]
    deltas = [e for e in events if e.type == "response.output_text.delta"]
    assert kinds[2 + 2 + len(deltas) :] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert len(deltas) == 64 and "".join(d.delta for d in deltas) == final.output_text
    assert final.output_text.startswith(PREFIX) and final.status == "completed"
    assert final.usage is not None and final.usage.output_tokens == 64
    request_id = final.id.removeprefix("resp_")
    assert all(d.item_id == final.output[0].id for d in deltas)
    await assert_recorded(gateway, vault_pool, request_id, final.usage, stream=True)


@pytest.mark.parametrize("model", MODELS)
async def test_function_tool_then_a_tool_output_turn(gateway: Gateway, model: str) -> None:
    client = sdk(gateway)
    ask = {"role": "user", "content": "Call get_weather for Paris"}
    first = await client.responses.create(model=model, input=[ask], tools=[WEATHER], store=False)
    (call,) = first.output
    assert call.type == "function_call" and call.name == "get_weather" and call.status == "completed"
    assert call.call_id and call.id and first.output_text == ""
    validate(json.loads(call.arguments), WEATHER["parameters"])
    # The stateless next turn: the whole conversation again, the call as returned and its output.
    second = await client.responses.create(
        model=model,
        input=[
            ask,
            call.model_dump(exclude_none=True),
            {"type": "function_call_output", "call_id": call.call_id, "output": '{"temp_c": 21}'},
        ],
        tools=[WEATHER],
        store=False,
    )
    assert second.output[0].type == "message" and second.output_text.startswith(PREFIX)
    sent = upstream(gateway)
    assert "temp_c" in sent and "get_weather" in sent and call.call_id in sent


@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude-3-5-sonnet-latest"])
async def test_streamed_function_call_events(gateway: Gateway, model: str) -> None:
    stream = await sdk(gateway).responses.create(
        model=model, input="Call get_weather for Oslo", tools=[WEATHER], tool_choice="required", stream=True
    )
    events = [e async for e in stream]
    kinds = [e.type for e in events]
    added = next(e for e in events if e.type == "response.output_item.added")
    assert added.item.type == "function_call" and added.item.name == "get_weather"
    assert "response.function_call_arguments.delta" in kinds
    done = next(e for e in events if e.type == "response.function_call_arguments.done")
    pieces = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    assert done.arguments == pieces and kinds[-1] == "response.completed"
    validate(json.loads(pieces), WEATHER["parameters"])
    final = events[-1].response
    assert final.output[0].arguments == pieces and final.output[0].call_id == added.item.call_id


@pytest.mark.parametrize("model", MODELS)
async def test_json_schema_text_format(gateway: Gateway, vault_pool: asyncpg.Pool, model: str) -> None:
    fmt = {"type": "json_schema", "name": "city", "schema": CITY_SCHEMA, "strict": True}
    raw = await sdk(gateway).responses.with_raw_response.create(
        model=model, input="A city and its population", text={"format": fmt}
    )
    resp = raw.parse()
    validate(json.loads(resp.output_text), CITY_SCHEMA)
    assert resp.text is not None and resp.text.format.type == "json_schema"
    row = await recorded(vault_pool, raw.headers["x-request-id"])
    assert row["request"]["endpoint"] == "/v1/responses"


class City(BaseModel):
    city: str
    people: int


@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude-3-5-sonnet-latest"])
async def test_sdk_parse_with_a_pydantic_model(gateway: Gateway, model: str) -> None:
    parsed = await sdk(gateway).responses.parse(model=model, input="A city", text_format=City)
    assert isinstance(parsed.output_parsed, City)


@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude-3-5-sonnet-latest"])
async def test_namespaced_tools_are_flattened_and_split_back(gateway: Gateway, model: str) -> None:
    client = sdk(gateway)
    spawn = {
        "type": "function",
        "name": "spawn_agent",
        "description": "Start a sub-agent.",
        "parameters": {"type": "object", "properties": {"task": {"type": "string"}}, "required": ["task"]},
        "strict": False,
    }
    tools: Any = [{"type": "namespace", "name": "agents", "description": "Sub-agents.", "tools": [spawn]}]
    first = await client.responses.create(model=model, input="Delegate", tools=tools, tool_choice="required")
    (call,) = first.output
    assert (call.namespace, call.name) == ("agents", "spawn_agent")
    assert "agents__spawn_agent" in upstream(gateway)
    follow = [
        {"role": "user", "content": "Delegate"},
        call.model_dump(exclude_none=True),
        {"type": "function_call_output", "call_id": call.call_id, "output": "agent 7 started"},
    ]
    second = await client.responses.create(model=model, input=follow, tools=tools)
    assert second.output_text.startswith(PREFIX) and "agent 7 started" in upstream(gateway)


@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude-3-5-sonnet-latest"])
async def test_media_and_replayed_items_in_input(
    gateway: Gateway, vault_pool: asyncpg.Pool, model: str
) -> None:
    """What an agent replays (developer text, reasoning, an assistant message, a call and its
    output) next to an image and a PDF: all accepted and carried."""
    items: Any = [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Be terse."}]},
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "What is in these?"},
                {"type": "input_image", "image_url": f"data:image/png;base64,{PIXEL}", "detail": "low"},
                {
                    "type": "input_file",
                    "filename": "a.pdf",
                    "file_data": f"data:application/pdf;base64,{PDF}",
                },
            ],
        },
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Look first."}]},
        {
            "type": "message",
            "id": "msg_1",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": "Let me look.", "annotations": []}],
        },
        {"type": "function_call", "call_id": "call_9", "name": "get_weather", "arguments": '{"city":"Rome"}'},
        {"type": "function_call_output", "call_id": "call_9", "output": "sunny"},
        {"role": "user", "content": "And now?"},
    ]
    raw = await sdk(gateway).responses.with_raw_response.create(model=model, input=items, tools=[WEATHER])
    assert raw.parse().output_text.startswith(PREFIX)
    sent = upstream(gateway)
    assert "Be terse." in sent and "Let me look." in sent and "sunny" in sent and PIXEL in sent
    vault = await recorded(vault_pool, raw.headers["x-request-id"])
    details = await vault_pool.fetchrow(
        "select input_modalities from raw_vault.sat_api_request_details where api_request_hk = $1",
        vault["request"]["api_request_hk"],
    )
    assert list(details["input_modalities"]) == ["text", "image", "file"]


# -- previous_response_id ---------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude-3-5-sonnet-latest"])
async def test_previous_response_id_continues_from_the_vault(
    gateway: Gateway, vault_pool: asyncpg.Pool, model: str
) -> None:
    await update_customer(vault_pool, "acme", {"retention_mode": "encrypted"}, changed_by="t")
    client = sdk(gateway)
    first = await client.responses.create(
        model=model, instructions="Old rules.", input="My name is Ann and I like hubs."
    )
    # Sent at once: the door waits for the vault loader to land the first payload.
    second = await client.responses.create(
        model=model, instructions="New rules.", input="What is my name?", previous_response_id=first.id
    )
    assert second.previous_response_id == first.id and second.output_text.startswith(PREFIX)
    sent = upstream(gateway)
    assert "My name is Ann" in sent and first.output_text in sent and "What is my name?" in sent
    assert "New rules." in sent and "Old rules." not in sent  # instructions are not carried over
    # A tool call continued by its output alone.
    called = await client.responses.create(
        model=model, input="Call get_weather for Bern", tools=[WEATHER], previous_response_id=second.id
    )
    (call,) = called.output
    answered = await client.responses.create(
        model=model,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": '{"temp_c": 3}'}],
        tools=[WEATHER],
        previous_response_id=called.id,
    )
    assert answered.output[0].type == "message"
    sent = upstream(gateway)
    assert call.call_id in sent and "temp_c" in sent and "My name is Ann" in sent


@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude-3-5-sonnet-latest"])
async def test_a_stored_response_and_its_input_items_are_retrieved(
    gateway: Gateway, vault_pool: asyncpg.Pool, model: str
) -> None:
    await update_customer(vault_pool, "acme", {"retention_mode": "encrypted"}, changed_by="t")
    client = sdk(gateway)
    first = await client.responses.create(model=model, instructions="Be brief.", input="My name is Ann.")
    called = await client.responses.create(
        model=model,
        input=[
            {"role": "user", "content": [{"type": "input_text", "text": "Call get_weather for Bern"}]},
        ],
        tools=[WEATHER],
        tool_choice={"type": "function", "name": "get_weather"},
        previous_response_id=first.id,
        max_output_tokens=64,
    )
    got = await client.responses.retrieve(called.id)  # the SDK parses it as a Response
    assert (got.id, got.status, got.model) == (called.id, "completed", called.model)
    assert [i.model_dump() for i in got.output] == [i.model_dump() for i in called.output]
    assert got.usage is not None and called.usage is not None
    assert (got.usage.input_tokens, got.usage.output_tokens) == (
        called.usage.input_tokens,
        called.usage.output_tokens,
    )
    assert got.tools[0].name == "get_weather" and got.max_output_tokens == 64
    assert got.tool_choice.name == "get_weather"  # type: ignore[union-attr]

    items = await client.responses.input_items.list(called.id, order="asc")
    kinds = [(i.type, getattr(i, "role", None)) for i in items.data]
    # first's input, first's answer, then this request's input (instructions are not items)
    assert kinds == [("message", "user"), ("message", "assistant"), ("message", "user")]
    assert items.data[0].content[0].text == "My name is Ann."  # type: ignore[union-attr]
    assert items.data[1].content[0].text == first.output_text  # type: ignore[union-attr]
    newest = await client.responses.input_items.list(called.id, limit=1)  # desc by default
    assert newest.data[0].id == items.data[-1].id and newest.has_more

    other_key, _ = await issue_key(vault_pool, "globex", retention_mode="encrypted")
    with pytest.raises(openai.NotFoundError):
        await sdk(gateway, other_key).responses.retrieve(called.id)
    with pytest.raises(openai.NotFoundError):
        await sdk(gateway, other_key).responses.input_items.list(called.id)


async def test_retrieving_without_encrypted_retention_says_why(gateway: Gateway) -> None:
    client = sdk(gateway)
    first = await client.responses.create(model="gpt-4o-mini", input="hello")
    with pytest.raises(openai.NotFoundError) as refused:
        await client.responses.retrieve(first.id)
    assert "'encrypted'" in refused.value.message


async def test_previous_response_id_without_encrypted_retention_is_a_clear_400(gateway: Gateway) -> None:
    client = sdk(gateway)
    first = await client.responses.create(model="gpt-4o-mini", input="hello")
    with pytest.raises(openai.BadRequestError) as refused:
        await client.responses.create(model="gpt-4o-mini", input="again", previous_response_id=first.id)
    assert refused.value.code == "previous_response_unavailable"
    assert refused.value.param == "previous_response_id" and "'encrypted'" in refused.value.message


async def test_another_customers_response_id_is_not_found(gateway: Gateway, vault_pool: asyncpg.Pool) -> None:
    await update_customer(vault_pool, "acme", {"retention_mode": "encrypted"}, changed_by="t")
    other_key, _ = await issue_key(vault_pool, "globex", retention_mode="encrypted")
    first = await sdk(gateway).responses.create(model="gpt-4o-mini", input="acme's secret plan")
    await recorded(vault_pool, first.id.removeprefix("resp_"))  # it is in the vault, for acme
    calls = gateway.sim.simulator.stats.snapshot()["total"]
    with pytest.raises(openai.NotFoundError) as refused:
        await sdk(gateway, other_key).responses.create(
            model="gpt-4o-mini", input="continue", previous_response_id=first.id
        )
    assert refused.value.code == "response_not_found"
    with pytest.raises(openai.NotFoundError):  # an unknown, old id answers at once
        await sdk(gateway).responses.create(
            model="gpt-4o-mini", input="x", previous_response_id="resp_req_000000000001deadbeefdeadbeef"
        )
    assert gateway.sim.simulator.stats.snapshot()["total"] == calls  # no provider was called


# -- refused, never dropped ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("extra", "code", "param"),
    [
        ({"tools": [{"type": "web_search"}]}, "unsupported_parameter", "tools[0].type"),
        (
            {"tools": [WEATHER, {"type": "file_search", "vector_store_ids": ["v"]}]},
            "unsupported_parameter",
            "tools[1].type",
        ),
        ({"include": ["file_search_call.results"]}, "unsupported_parameter", "include[0]"),
        ({"truncation": "auto"}, "unsupported_parameter", "truncation"),
        ({"text": {"verbosity": "high"}}, "unsupported_parameter", "text.verbosity"),
        ({"max_tool_calls": 3}, "validation_error", "max_tool_calls"),
        (
            {"tool_choice": {"type": "function", "name": "nope"}, "tools": [WEATHER]},
            "invalid_tool_choice",
            "tool_choice",
        ),
    ],
)
async def test_what_the_door_cannot_carry_is_a_400_naming_it(
    gateway: Gateway, extra: dict[str, Any], code: str, param: str
) -> None:
    calls = gateway.sim.simulator.stats.snapshot()["total"]
    with pytest.raises(openai.BadRequestError) as refused:
        await sdk(gateway).responses.create(model="gpt-4o-mini", input="hi", extra_body=extra)
    assert (refused.value.code, refused.value.param) == (code, param)
    assert gateway.sim.simulator.stats.snapshot()["total"] == calls


async def test_upstream_down_on_a_stream_is_an_http_error_and_a_broken_one_is_response_failed(
    gateway: Gateway,
) -> None:
    client = sdk(gateway)
    gateway.sim.simulator.inject("http_503", retry_after=0)
    with pytest.raises(openai.APIStatusError) as down:
        await client.responses.create(model="gpt-4o", input="hi", stream=True)
    assert down.value.status_code == 502
    gateway.sim.simulator.faults.clear()
    gateway.sim.simulator.inject("broken_stream", count=1)
    stream = await client.responses.create(model="gpt-4o-mini", input="go", stream=True)
    events = [e async for e in stream]
    assert events[0].type == "response.created" and events[-1].type == "response.failed"
    assert any(e.type == "response.output_text.delta" for e in events)
    assert events[-1].response.error.code == "server_error"


@pytest.mark.parametrize("model", ["claude-3-7-sonnet-thinking", "gemini-2.5-flash-thinking"])
async def test_reasoning_summary_plain_streamed_and_replayed(gateway: Gateway, model: str) -> None:
    client = sdk(gateway)
    reasoning: Any = {"effort": "low", "summary": "auto"}
    resp = await client.responses.create(model=model, input="Plan a vault", reasoning=reasoning)
    thought, message = resp.output
    assert thought.type == "reasoning" and thought.summary[0].text.startswith("Thinking about:")
    assert message.type == "message" and resp.reasoning is not None and resp.reasoning.effort == "low"
    async with client.responses.stream(model=model, input="Plan a vault", reasoning=reasoning) as stream:
        events = [e async for e in stream]
        final = await stream.get_final_response()
    kinds = [e.type for e in events]
    assert kinds[2:5] == [
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
    ]
    summary = "".join(e.delta for e in events if e.type == "response.reasoning_summary_text.delta")
    assert summary == final.output[0].summary[0].text == thought.summary[0].text
    assert kinds.index("response.reasoning_summary_part.done") < kinds.index("response.content_part.added")
    # What a stateless agent sends next: the reasoning item and the message as they came back.
    replay = [
        {"role": "user", "content": "Plan a vault"},
        *[item.model_dump(exclude_none=True) for item in final.output],
        {"role": "user", "content": "Go on"},
    ]
    again = await client.responses.create(model=model, input=replay, reasoning=reasoning)
    assert again.status == "completed" and final.output_text in upstream(gateway)


async def test_reasoning_tokens_are_reported(gateway: Gateway) -> None:
    resp = await sdk(gateway).responses.create(model="o3-mini", input="Think", reasoning={"effort": "low"})
    assert resp.usage is not None and resp.usage.output_tokens_details.reasoning_tokens > 0
