"""Full-fidelity traffic through the gateway with the official ``openai`` SDK (current major):
tools (forced, automatic, parallel), agent loops with tool results, streamed tool calls the SDK
assembles, vision by data URL, ``chat.completions.parse()`` with a pydantic model — each through
an OpenAI, an Anthropic, a Gemini and a Cohere model — plus failover in the middle of an agent
loop, refusals of what a provider cannot honour, the errors the SDK must understand, and the
vault rows those requests leave."""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import openai
import pytest
from jsonschema import validate
from openai import AsyncOpenAI
from pydantic import BaseModel

from gateway.admin.rules import create_rule
from tests.gateway.e2e.conftest import REAL_REQUESTS, Gateway, run, wait_for_rows

# One model per wire format (each served by the simulator in that provider's own format).
MODELS = ["gpt-4o-mini", "claude-3-5-sonnet-latest", "gemini-1.5-flash", "command-r-plus"]
VISION_MODELS = ["gpt-4o-mini", "claude-3-5-sonnet-latest", "gemini-1.5-flash", "command-a-vision-07-2025"]

WEATHER = {
    "type": "function",
    "function": {
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
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Local time in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}
SCHEMAS = {"get_weather": WEATHER["function"]["parameters"], "get_time": TIME["function"]["parameters"]}
# A 1x1 PNG.
PIXEL = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
).decode()

DETAILS_SQL = """
select d.* from raw_vault.sat_api_request_details d
join raw_vault.hub_api_request h using (api_request_hk) where h.api_request_bk = $1
"""


async def each(models: list[str], check: Callable[[str], Awaitable[None]]) -> None:
    """Run ``check`` for every model on one gateway (a gateway per model would cost its start-up
    each time); a failure names the model."""
    for model in models:
        try:
            await check(model)
        except AssertionError as exc:
            raise AssertionError(f"{model}: {exc}") from exc


def sdk(gw: Gateway, **kwargs: Any) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=f"{gw.url}/v1", api_key=gw.key, max_retries=0, **kwargs)


def assert_valid_calls(calls: list[Any], names: list[str]) -> None:
    assert [c.function.name for c in calls] == names
    assert len({c.id for c in calls}) == len(calls) and all(c.id for c in calls)
    for call in calls:
        validate(json.loads(call.function.arguments), SCHEMAS[call.function.name])


async def details(pool: asyncpg.Pool, request_id: str) -> asyncpg.Record:
    sql = f"select count(*) from raw_vault.hub_api_request where api_request_bk = '{request_id}'"
    assert await wait_for_rows(pool, sql, 1) == 1, f"{request_id} never reached the vault"
    return await pool.fetchrow(DETAILS_SQL, request_id)


async def _forced_tool_call(gateway: Gateway, model: str) -> None:
    completion = await sdk(gateway).chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Anything new?"}],
        tools=[WEATHER, TIME],
        tool_choice={"type": "function", "function": {"name": "get_time"}}
        if not model.startswith("command")
        else "required",
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert_valid_calls(
        choice.message.tool_calls, ["get_time" if not model.startswith("command") else "get_weather"]
    )


async def _automatic_and_parallel_tool_calls(gateway: Gateway, model: str) -> None:
    client = sdk(gateway)
    one = await client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Call get_weather for Paris"}],
        tools=[WEATHER, TIME],
    )
    assert_valid_calls(one.choices[0].message.tool_calls, ["get_weather"])
    both = await client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Call get_weather and get_time for Lisbon"}],
        tools=[WEATHER, TIME],
    )
    assert both.choices[0].finish_reason == "tool_calls"
    assert_valid_calls(both.choices[0].message.tool_calls, ["get_weather", "get_time"])
    prose = await client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Just say hello"}], tools=[WEATHER, TIME]
    )
    assert prose.choices[0].finish_reason == "stop" and prose.choices[0].message.content
    assert not prose.choices[0].message.tool_calls


async def agent_turn(client: AsyncOpenAI, model: str, history: list[dict[str, Any]]) -> Any:
    """One turn of an agent loop: ask, and run every tool the model calls."""
    completion = await client.chat.completions.create(model=model, messages=history, tools=[WEATHER, TIME])
    message = completion.choices[0].message
    history.append(message.model_dump(exclude_none=True, exclude={"audio", "annotations", "function_call"}))
    for call in message.tool_calls or ():
        args = json.loads(call.function.arguments)
        history.append(
            {
                "role": "tool",
                "tool_call_id": call.id,
                "content": json.dumps({"city": args["city"], "ok": True}),
            }
        )
    return completion


async def _agent_loop_of_three_turns_with_tool_results(gateway: Gateway, model: str) -> None:
    client = sdk(gateway)
    history: list[dict[str, Any]] = [
        {"role": "developer", "content": "You are a travel agent."},
        {"role": "user", "content": "Use get_weather for Paris"},
    ]
    first = await agent_turn(client, model, history)
    assert first.choices[0].finish_reason == "tool_calls" and history[-1]["role"] == "tool"
    second = await agent_turn(client, model, history)  # tool results in: the model answers in prose
    assert second.choices[0].finish_reason == "stop" and second.choices[0].message.content
    history.append({"role": "user", "content": "Now use get_time for Paris"})
    third = await agent_turn(client, model, history)
    assert_valid_calls(third.choices[0].message.tool_calls, ["get_time"])
    final = await agent_turn(client, model, history)
    assert final.choices[0].finish_reason == "stop"
    # Every tool result reached the provider: its input grew with the conversation.
    assert final.usage.prompt_tokens > first.usage.prompt_tokens


async def _streamed_tool_calls_are_assembled_by_the_sdk(gateway: Gateway, model: str) -> None:
    async with sdk(gateway).chat.completions.stream(
        model=model,
        messages=[{"role": "user", "content": "Call get_weather and get_time for Rome"}],
        tools=[WEATHER, TIME],
        stream_options={"include_usage": True},
    ) as stream:
        events = [event.type async for event in stream]
        final = await stream.get_final_completion()
    assert "tool_calls.function.arguments.delta" in events
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert_valid_calls(choice.message.tool_calls, ["get_weather", "get_time"])
    assert [c.function.parsed_arguments["city"] for c in choice.message.tool_calls] == [
        "Rome",
        "Rome",
    ] or all(isinstance(c.function.parsed_arguments, dict) for c in choice.message.tool_calls)
    assert final.usage is not None and final.usage.completion_tokens > 0


async def _vision_request_with_a_data_url(gateway: Gateway, vault_pool: asyncpg.Pool, model: str) -> None:
    client = sdk(gateway)
    text_only = await client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": [{"type": "text", "text": "What is this?"}]}]
    )
    raw = await client.chat.completions.with_raw_response.create(
        model=model,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}},
                ],
            }
        ],
    )
    with_image = raw.parse()
    assert with_image.choices[0].message.content
    assert with_image.usage.prompt_tokens > text_only.usage.prompt_tokens  # the image was counted
    row = await details(vault_pool, raw.headers["x-request-id"])
    assert list(row["input_modalities"]) == ["text", "image"]


class Capital(BaseModel):
    country: str
    capital: str
    population_millions: float


async def _parse_with_a_pydantic_model(gateway: Gateway, vault_pool: asyncpg.Pool, model: str) -> None:
    raw = await sdk(gateway).chat.completions.with_raw_response.parse(
        model=model,
        messages=[{"role": "user", "content": "The capital of France, as JSON"}],
        response_format=Capital,
    )
    parsed = raw.parse().choices[0].message.parsed
    assert isinstance(parsed, Capital)
    row = await details(vault_pool, raw.headers["x-request-id"])
    assert (row["response_format"], row["validation_status"]) == ("json_schema", "passed")


async def test_failover_in_the_middle_of_an_agent_loop_keeps_the_conversation(
    gateway: Gateway, vault_pool: asyncpg.Pool
) -> None:
    """Turn one is served by OpenAI; OpenAI breaks; turn two fails over to Anthropic, which gets
    the whole conversation — the assistant's tool call and the tool's result — in its own format."""
    await create_rule(
        vault_pool,
        "acme",
        changed_by="t",
        name="agents",
        target="openai/gpt-4o-mini",
        fallback=["anthropic/claude-3-5-sonnet-latest"],
    )
    client = sdk(gateway)
    history: list[dict[str, Any]] = [{"role": "user", "content": "Use get_weather for Oslo"}]
    await agent_turn(client, "gpt-4o-mini", history)
    call_id = history[-1]["tool_call_id"]
    gateway.sim.simulator.inject("http_500", match={"api_style": "openai"})
    raw = await client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=history, tools=[WEATHER, TIME]
    )
    answer = raw.parse()
    assert answer.choices[0].finish_reason == "stop" and answer.choices[0].message.content
    sent = [e for e in gateway.sim.simulator.stats.snapshot()["recent"] if e["status"] == 200][-1]["body"]
    assert sent["model"] == "claude-3-5-sonnet-latest"
    blocks = [b for m in sent["messages"] for b in (m["content"] if isinstance(m["content"], list) else [])]
    assert any(b.get("type") == "tool_use" and b.get("id") == call_id for b in blocks)
    assert any(b.get("type") == "tool_result" and b.get("tool_use_id") == call_id for b in blocks)
    row = await details(vault_pool, raw.headers["x-request-id"])
    assert row["attempt_count"] >= 2 and row["tools_offered"] == 2


async def test_an_unsupported_parameter_is_a_400_naming_it(gateway: Gateway) -> None:
    client = sdk(gateway)
    with pytest.raises(openai.BadRequestError) as refused:
        await client.chat.completions.create(
            model="claude-3-5-sonnet-latest",
            messages=[{"role": "user", "content": "hi"}],
            logit_bias={"1234": 5},
        )
    assert refused.value.code == "unsupported_parameter" and refused.value.param == "logit_bias"
    assert "anthropic" in refused.value.message
    with pytest.raises(openai.BadRequestError) as no_audio:
        await client.chat.completions.create(
            model="claude-3-5-sonnet-latest",
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}],
                }
            ],
        )
    assert no_audio.value.param == "input_audio"
    with pytest.raises(openai.BadRequestError) as unknown:
        await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], extra_body={"web_search": True}
        )
    assert unknown.value.param == "web_search"
    assert gateway.sim.simulator.stats.snapshot()["total"] == 0  # nothing reached a provider


async def test_drop_unsupported_params_drops_and_records(gateway: Gateway, vault_pool: asyncpg.Pool) -> None:
    await create_rule(
        vault_pool,
        "acme",
        changed_by="t",
        name="lenient",
        conditions={"type": "lenient"},
        target="anthropic/claude-3-5-sonnet-latest",
        options={"drop_unsupported_params": True},
    )
    raw = await sdk(gateway).chat.completions.with_raw_response.create(
        model="claude-3-5-sonnet-latest",
        messages=[{"role": "user", "content": "hi"}],
        seed=7,
        logit_bias={"1234": 5},
        metadata={"type": "lenient"},
    )
    assert raw.parse().choices[0].message.content
    sent = gateway.sim.simulator.stats.snapshot()["recent"][-1]["body"]
    assert "seed" not in sent and "logit_bias" not in sent
    row = await details(vault_pool, raw.headers["x-request-id"])
    assert sorted(row["dropped_params"]) == ["logit_bias", "seed"]


async def test_errors_raise_the_sdk_exception_the_provider_would(gateway: Gateway) -> None:
    client = sdk(gateway)
    messages = [{"role": "user", "content": "hi"}]
    gateway.sim.simulator.inject("http_429", retry_after=3)
    with pytest.raises(openai.RateLimitError) as limited:
        await client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    assert limited.value.response.headers["retry-after"] == "3"
    gateway.sim.simulator.reset()
    gateway.sim.simulator.inject("context_length", count=1)
    with pytest.raises(openai.BadRequestError) as too_long:
        await client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    assert too_long.value.code == "context_length_exceeded" and too_long.value.param == "messages"
    gateway.sim.simulator.reset()
    with pytest.raises(openai.BadRequestError) as bad_choice:
        await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=messages,
            tools=[WEATHER],
            tool_choice={"type": "function", "function": {"name": "nope"}},
        )
    assert bad_choice.value.param == "tool_choice"


async def test_vault_rows_carry_what_the_request_used(gateway: Gateway, vault_pool: asyncpg.Pool) -> None:
    raw = await sdk(gateway).chat.completions.with_raw_response.create(
        model="o3-mini",
        messages=[{"role": "user", "content": "Call get_weather and get_time for Bern"}],
        tools=[WEATHER, TIME],
        reasoning_effort="low",
    )
    row = await details(vault_pool, raw.headers["x-request-id"])
    assert (row["tools_offered"], row["tool_calls_returned"]) == (2, 2)
    # Defaults are stored as NULL (warehouse/hashing.py, "Late columns"); staging shows them.
    assert row["reasoning_effort"] == "low" and row["validation_status"] is None
    assert row["finish_reason"] == "tool_calls" and row["reasoning_tokens"] > 0


CITY_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "people": {"type": "integer"}},
    "required": ["city", "people"],
    "additionalProperties": False,
}
CITY_FORMAT = {"type": "json_schema", "json_schema": {"name": "city", "schema": CITY_SCHEMA, "strict": True}}


async def test_an_invalid_structured_answer_is_retried_and_every_try_billed(
    gateway: Gateway, vault_pool: asyncpg.Pool
) -> None:
    await create_rule(
        vault_pool,
        "acme",
        changed_by="t",
        name="extraction",
        conditions={"type": "extract"},
        target="openai/gpt-4o-mini",
        options={"on_invalid_output": "retry", "max_output_retries": 2},
    )
    gateway.sim.simulator.inject("bad_output", count=1)
    raw = await sdk(gateway).chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Which city?"}],
        response_format=CITY_FORMAT,
        metadata={"type": "extract"},
    )
    answer = raw.parse()
    validate(json.loads(answer.choices[0].message.content), CITY_SCHEMA)
    assert answer.model_extra["onevault"]["validation"]["status"] == "passed"
    request_id = raw.headers["x-request-id"]
    row = await details(vault_pool, request_id)
    assert row["validation_status"] == "passed" and row["attempt_count"] == 2
    attempts = await vault_pool.fetch(
        "select a.error_class, a.output_tokens from raw_vault.sat_api_request_attempt a"
        " join raw_vault.hub_api_request h using (api_request_hk)"
        " where h.api_request_bk = $1 order by attempt_no",
        request_id,
    )
    assert [a["error_class"] for a in attempts] == ["invalid_output", None]
    # Both answers were paid for: the request's output tokens are the two tries' together.
    assert row["output_tokens"] == sum(a["output_tokens"] for a in attempts)


async def test_a_strict_format_that_stays_invalid_is_a_422_with_the_errors(
    gateway: Gateway, vault_pool: asyncpg.Pool
) -> None:
    gateway.sim.simulator.inject("bad_output")
    client = sdk(gateway)
    with pytest.raises(openai.UnprocessableEntityError) as refused:
        await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "Which city?"}],
            response_format=CITY_FORMAT,
        )
    error = refused.value.body
    assert error["code"] == "output_validation_failed" and error["param"] == "response_format"
    assert error["details"][0]["path"] == "$" and "not JSON" in error["details"][0]["message"]
    row = await details(vault_pool, error["request_id"])
    assert (row["http_status"], row["validation_status"]) == (422, "failed")
    cost = await vault_pool.fetchval(
        "select c.provider_cost from raw_vault.lnk_cost_event_api_request l "
        "join raw_vault.hub_api_request h using (api_request_hk) "
        "join raw_vault.sat_cost_event_details c using (cost_event_hk) where h.api_request_bk = $1",
        error["request_id"],
    )
    assert cost > 0  # the provider was paid for the answer the client did not get
    # Not strict: the answer is the client's, marked failed.
    loose = {**CITY_FORMAT, "json_schema": {**CITY_FORMAT["json_schema"], "strict": False}}
    answer = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Which city?"}], response_format=loose
    )
    assert answer.model_extra["onevault"]["validation"]["status"] == "failed"


async def test_a_wrong_own_key_is_a_502_the_sdk_does_not_retry(
    gateway: Gateway, cli: Any, vault_pool: asyncpg.Pool
) -> None:
    added = await run(cli, "provider-keys", "add", "acme", "openai", "--api-style", "openai", stdin="invalid")
    assert added.exit_code == 0, added.output
    retrying = AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key=gateway.key, max_retries=2)
    with pytest.raises(openai.InternalServerError) as failed:
        await retrying.chat.completions.create(model="o3-mini", messages=[{"role": "user", "content": "hi"}])
    assert failed.value.status_code == 502 and failed.value.code == "upstream_auth_failed"
    assert failed.value.response.headers["x-should-retry"] == "false"
    row = await details(vault_pool, failed.value.body["request_id"])
    assert (row["http_status"], row["attempt_count"]) == (502, 1)  # auth is not retried upstream...
    assert await vault_pool.fetchval(REAL_REQUESTS) == 1  # ...and the SDK did not send it again


async def test_forced_tool_call(gateway: Gateway) -> None:
    await each(MODELS, lambda model: _forced_tool_call(gateway, model))


async def test_automatic_and_parallel_tool_calls(gateway: Gateway) -> None:
    await each(MODELS, lambda model: _automatic_and_parallel_tool_calls(gateway, model))


async def test_agent_loop_of_three_turns_with_tool_results(gateway: Gateway) -> None:
    await each(MODELS, lambda model: _agent_loop_of_three_turns_with_tool_results(gateway, model))


async def test_streamed_tool_calls_are_assembled_by_the_sdk(gateway: Gateway) -> None:
    await each(MODELS, lambda model: _streamed_tool_calls_are_assembled_by_the_sdk(gateway, model))


async def test_vision_request_with_a_data_url(gateway: Gateway, vault_pool: asyncpg.Pool) -> None:
    await each(VISION_MODELS, lambda model: _vision_request_with_a_data_url(gateway, vault_pool, model))


async def test_parse_with_a_pydantic_model(gateway: Gateway, vault_pool: asyncpg.Pool) -> None:
    await each(MODELS, lambda model: _parse_with_a_pydantic_model(gateway, vault_pool, model))
