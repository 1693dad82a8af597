"""The Anthropic Messages door (``POST /v1/messages``, ``/v1/messages/count_tokens``) with the
official ``anthropic`` SDK: plain and streamed messages, forced and automatic tool use, a
tool-result turn, thinking, token counts — through an Anthropic, an OpenAI and a Gemini model —
plus Anthropic's error shape (for errors raised before the route too), the ``anthropic-*``
headers reaching an Anthropic upstream only, and the vault rows the requests leave."""

from __future__ import annotations

from typing import Any

import anthropic
import asyncpg
import httpx
import pytest
from anthropic import AsyncAnthropic
from jsonschema import validate

from gateway.pricing import estimate_prompt_tokens
from gateway.providers.types import ChatMessage, Tool
from tests.gateway.e2e.conftest import Gateway, wait_for_rows

CLAUDE, GPT, GEMINI = "claude-3-5-sonnet-latest", "gpt-4o-mini", "gemini-1.5-flash"
PREFIX = "Simulated reply to:"  # gateway/simulator/textgen.py
WEATHER = {
    "name": "get_weather",
    "description": "Current weather in a city.",
    "input_schema": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city", "unit"],
    },
}
TIME = {
    "name": "get_time",
    "description": "Local time in a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    "cache_control": {"type": "ephemeral"},
}
SCHEMAS = {t["name"]: t["input_schema"] for t in (WEATHER, TIME)}
WIRE = {CLAUDE: "anthropic", GPT: "openai", GEMINI: "gemini"}

ROW_SQL = """
select d.endpoint, d.requested_model, d.stream, d.status, d.input_tokens, d.output_tokens,
       d.cached_input_tokens, d.finish_reason, c.customer_cost, c.provider_cost, c.is_priced
from raw_vault.hub_api_request h
join raw_vault.sat_api_request_details d using (api_request_hk)
join raw_vault.lnk_cost_event_api_request l using (api_request_hk)
join raw_vault.sat_cost_event_details c using (cost_event_hk)
where h.api_request_bk = $1
"""


def sdk(gw: Gateway) -> AsyncAnthropic:
    return AsyncAnthropic(base_url=gw.url, api_key=gw.key, max_retries=0)


async def vault_row(pool: asyncpg.Pool, request_id: str) -> asyncpg.Record:
    sql = (
        "select count(*) from raw_vault.hub_api_request h join raw_vault.lnk_cost_event_api_request l "
        f"using (api_request_hk) where h.api_request_bk = '{request_id}'"
    )
    assert await wait_for_rows(pool, sql, 1) == 1, f"{request_id} never reached the vault"
    return await pool.fetchrow(ROW_SQL, request_id)


def upstream(gw: Gateway, path: str = "/v1/messages") -> list[dict[str, Any]]:
    """What the simulated providers received (newest last)."""
    return [r for r in gw.sim.simulator.stats.snapshot()["recent"] if path is None or r["path"] == path]


def last_upstream(gw: Gateway) -> dict[str, Any]:
    return gw.sim.simulator.stats.snapshot()["recent"][-1]


def assert_billed(row: asyncpg.Record, model: str, usage: Any, *, stream: bool = False) -> None:
    assert row["endpoint"] == "/v1/messages" and row["requested_model"] == model
    assert row["stream"] is stream and row["status"] == "success"
    cached = usage.cache_read_input_tokens or 0
    assert row["input_tokens"] == usage.input_tokens + cached + (usage.cache_creation_input_tokens or 0)
    assert row["output_tokens"] == usage.output_tokens > 0
    assert row["is_priced"] and row["provider_cost"] > 0 and row["customer_cost"] >= row["provider_cost"]


@pytest.mark.parametrize("model", [CLAUDE, GPT, GEMINI])
async def test_a_message_through_any_provider_is_answered_and_billed(
    gateway: Gateway, vault_pool: asyncpg.Pool, model: str
) -> None:
    raw = await sdk(gateway).messages.with_raw_response.create(
        model=model,
        max_tokens=256,
        system=[
            {"type": "text", "text": "You are terse."},
            {"type": "text", "text": "Answer in English.", "cache_control": {"type": "ephemeral"}},
        ],
        messages=[
            {
                "role": "user",
                "content": [{"type": "text", "text": "Say hello", "cache_control": {"type": "ephemeral"}}],
            }
        ],
        metadata={"user_id": "user-42"},
        extra_body={"temperature": 0.5},  # this SDK release dropped the keyword; the API takes it
    )
    message = await raw.parse()
    assert isinstance(message, anthropic.types.Message)
    assert message.role == "assistant" and message.stop_reason == "end_turn"
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text.startswith(f"{PREFIX} Say hello")
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    request_id = raw.headers["request-id"]
    assert message.id == f"msg_{request_id}"
    sent = last_upstream(gateway)
    assert sent["api_style"] == WIRE[model]  # any door reaches any provider
    if model == CLAUDE:  # the system blocks became Anthropic's system prompt, the end user its user_id
        assert "You are terse." in sent["body"]["system"] and "Answer in English." in sent["body"]["system"]
        assert sent["body"]["metadata"] == {"user_id": "user-42"} and "cache_control" not in str(sent["body"])
    assert_billed(await vault_row(vault_pool, request_id), model, message.usage)


EVENTS_OF_A_TEXT_STREAM = [
    "message_start",
    "ping",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
]


@pytest.mark.parametrize("model", [CLAUDE, GPT])
async def test_a_streamed_message_has_anthropics_event_sequence(
    gateway: Gateway, vault_pool: asyncpg.Pool, model: str
) -> None:
    client = sdk(gateway)
    async with client.messages.stream(
        model=model, max_tokens=256, messages=[{"role": "user", "content": "Stream a greeting"}]
    ) as stream:
        text = "".join([piece async for piece in stream.text_stream])
        final = await stream.get_final_message()
        request_id = stream.response.headers["request-id"]
    assert text.startswith(f"{PREFIX} Stream a greeting") and final.content[0].text == text
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0
    assert_billed(await vault_row(vault_pool, request_id), model, final.usage, stream=True)

    kinds = await raw_event_names(gateway, model)  # the SDK hides ping: read the wire itself
    deltas = kinds.count("content_block_delta")
    assert deltas > 1
    assert kinds == [
        *EVENTS_OF_A_TEXT_STREAM[:3],
        *["content_block_delta"] * deltas,
        *EVENTS_OF_A_TEXT_STREAM[-3:],
    ]


async def raw_event_names(gw: Gateway, model: str) -> list[str]:
    body = {
        "model": model,
        "max_tokens": 64,
        "stream": True,
        "messages": [{"role": "user", "content": "Once more"}],
    }
    names = []
    async with (
        httpx.AsyncClient(base_url=gw.url, headers={"x-api-key": gw.key}) as raw,
        raw.stream("POST", "/v1/messages", json=body) as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                names.append(line.removeprefix("event: "))
    return names


@pytest.mark.parametrize("model", [CLAUDE, GPT, GEMINI])
async def test_a_forced_tool_use(gateway: Gateway, model: str) -> None:
    message = await sdk(gateway).messages.create(
        model=model,
        max_tokens=256,
        messages=[{"role": "user", "content": "Anything new?"}],
        tools=[WEATHER, TIME],
        tool_choice={"type": "tool", "name": "get_time"},
    )
    assert message.stop_reason == "tool_use"
    uses = [b for b in message.content if b.type == "tool_use"]
    assert [u.name for u in uses] == ["get_time"] and uses[0].id
    validate(uses[0].input, SCHEMAS["get_time"])


@pytest.mark.parametrize("model", [CLAUDE, GPT])
async def test_automatic_tool_use_then_a_tool_result_turn(gateway: Gateway, model: str) -> None:
    client = sdk(gateway)
    history: list[dict[str, Any]] = [{"role": "user", "content": "Call get_weather for Paris"}]
    first = await client.messages.create(model=model, max_tokens=256, messages=history, tools=[WEATHER, TIME])
    assert first.stop_reason == "tool_use"
    (use,) = [b for b in first.content if b.type == "tool_use"]
    assert use.name == "get_weather"
    validate(use.input, SCHEMAS["get_weather"])
    history.append({"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]})
    history.append(
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": use.id, "content": "city not found", "is_error": True},
                {"type": "text", "text": "Then just say hello"},
            ],
        }
    )
    second = await client.messages.create(
        model=model, max_tokens=256, messages=history, tools=[WEATHER, TIME]
    )
    assert second.stop_reason == "end_turn" and second.content[0].text.startswith(PREFIX)
    sent = last_upstream(gateway)["body"]["messages"]
    if model == CLAUDE:  # the tool result reached Anthropic as one, flagged as an error
        result = sent[-1]["content"][0]
        assert result == {
            "type": "tool_result",
            "tool_use_id": use.id,
            "content": "city not found",
            "is_error": True,
        }
    else:  # OpenAI: an assistant tool call answered by a tool message
        assert sent[-3]["tool_calls"][0]["id"] == use.id
        assert (sent[-2]["role"], sent[-2]["tool_call_id"], sent[-2]["content"]) == (
            "tool",
            use.id,
            "city not found",
        )


async def test_streamed_tool_use_is_assembled_by_the_sdk(gateway: Gateway) -> None:
    async with sdk(gateway).messages.stream(
        model=GPT,
        max_tokens=256,
        messages=[{"role": "user", "content": "Call get_weather and get_time for Lisbon"}],
        tools=[WEATHER, TIME],
    ) as stream:
        final = await stream.get_final_message()
    uses = [b for b in final.content if b.type == "tool_use"]
    assert final.stop_reason == "tool_use" and [u.name for u in uses] == ["get_weather", "get_time"]
    for use in uses:
        validate(use.input, SCHEMAS[use.name])


async def test_thinking_is_carried_to_budget_and_effort_providers(gateway: Gateway) -> None:
    client = sdk(gateway)
    ask = {"max_tokens": 4096, "thinking": {"type": "enabled", "budget_tokens": 2048}}
    message = await client.messages.create(
        model="claude-3-7-sonnet-latest",
        messages=[{"role": "user", "content": "Think, then answer"}],
        extra_headers={"x-onevault-provider": "anthropic"},
        **ask,
    )
    assert [b.type for b in message.content] == ["thinking", "text"] and message.content[0].thinking
    assert last_upstream(gateway)["body"]["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    # The thinking block is replayed as the SDK returned it; the next turn is accepted.
    replay = [
        {"role": "user", "content": "Think, then answer"},
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in message.content]},
        {"role": "user", "content": "And again"},
    ]
    again = await client.messages.create(model="o3-mini", messages=replay, **ask)
    assert again.content[-1].type == "text"
    assert last_upstream(gateway)["body"]["reasoning_effort"] == "medium"  # OpenAI takes the budget's effort


async def test_count_tokens_asks_anthropic_and_estimates_elsewhere(gateway: Gateway) -> None:
    client = sdk(gateway)
    ask: dict[str, Any] = {
        "system": "You are terse.",
        "messages": [{"role": "user", "content": "How many tokens is this?"}],
        "tools": [WEATHER],
    }
    raw = await client.messages.with_raw_response.count_tokens(model=CLAUDE, **ask)
    counted = await raw.parse()
    assert raw.headers["x-onevault-token-count"] == "provider"
    assert upstream(gateway, "/v1/messages/count_tokens")[-1]["body"]["tools"][0]["name"] == "get_weather"
    billed = await client.messages.create(model=CLAUDE, max_tokens=64, **ask)
    assert counted.input_tokens == billed.usage.input_tokens  # the simulator counts as it bills

    raw = await client.messages.with_raw_response.count_tokens(model=GPT, **ask)
    assert raw.headers["x-onevault-token-count"] == "estimate"
    messages = [ChatMessage("system", "You are terse."), ChatMessage("user", "How many tokens is this?")]
    tools = [Tool(WEATHER["name"], WEATHER["description"], WEATHER["input_schema"])]  # type: ignore[arg-type]
    assert (await raw.parse()).input_tokens == estimate_prompt_tokens(messages, tools)


async def test_anthropic_headers_reach_an_anthropic_upstream_only(gateway: Gateway) -> None:
    client = sdk(gateway)
    beta = {"anthropic-beta": "prompt-caching-2024-07-31,claude-code-20250219"}
    ask: dict[str, Any] = {
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "hi"}],
        "extra_headers": beta,
    }
    raw = await client.messages.with_raw_response.create(model=CLAUDE, **ask)
    headers = last_upstream(gateway)["headers"]
    assert headers["anthropic-beta"] == beta["anthropic-beta"]
    # The client's API version decides what its request means (2026-10-21 has no temperature).
    assert headers["anthropic-version"] == raw.http_request.headers["anthropic-version"]
    await client.messages.create(model=GPT, **ask)
    assert "anthropic-beta" not in last_upstream(gateway)["headers"]


async def test_errors_come_in_anthropics_shape(gateway: Gateway) -> None:
    client = sdk(gateway)
    with pytest.raises(anthropic.BadRequestError) as unknown:
        await client.messages.create(
            model=CLAUDE, max_tokens=64, messages=[{"role": "user", "content": "hi"}], extra_body={"bogus": 1}
        )
    assert unknown.value.body["type"] == "error"
    assert unknown.value.body["error"]["type"] == "invalid_request_error"
    assert "bogus" in unknown.value.body["error"]["message"]
    assert unknown.value.response.headers["request-id"] == unknown.value.body["request_id"]
    with pytest.raises(anthropic.BadRequestError) as server_tool:
        await client.messages.create(
            model=CLAUDE,
            max_tokens=64,
            messages=[{"role": "user", "content": "search"}],
            tools=[{"type": "web_search_20250305", "name": "web_search"}],
        )
    assert "web_search_20250305" in server_tool.value.body["error"]["message"]
    assert server_tool.value.body["error"]["param"].startswith("tools[0]")
    with pytest.raises(anthropic.AuthenticationError) as denied:
        await AsyncAnthropic(base_url=gateway.url, api_key="ov-wrong", max_retries=0).messages.create(
            model=CLAUDE, max_tokens=64, messages=[{"role": "user", "content": "hi"}]
        )
    assert denied.value.body["error"]["type"] == "authentication_error"
    async with httpx.AsyncClient(base_url=gateway.url) as raw:  # no key at all: still Anthropic's shape
        missing = await raw.post("/v1/messages", json={})
    assert missing.status_code == 401 and missing.json()["error"]["type"] == "authentication_error"


async def test_a_stream_that_breaks_midway_ends_with_an_error_event(gateway: Gateway) -> None:
    gateway.sim.simulator.inject("broken_stream", count=1, match={"api_style": "anthropic"})
    with pytest.raises(anthropic.APIStatusError) as broken:
        async with sdk(gateway).messages.stream(
            model=CLAUDE, max_tokens=256, messages=[{"role": "user", "content": "Break please"}]
        ) as stream:
            async for _ in stream.text_stream:
                pass
    assert broken.value.body["error"]["type"] == "api_error"
