"""Extended thinking across tool calls on an Anthropic model, through every door, with the official
SDKs: the client replays the assistant turn as it received it and the next turn keeps thinking on,
because the signed thinking blocks make the round trip (gateway/providers/thinking.py). The
simulator verifies signatures and refuses a thinking tool turn without them, as Anthropic does.
A continuation that lost its signed state is served without thinking, and the drop is recorded.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg
from anthropic import AsyncAnthropic
from openai import AsyncOpenAI

from gateway.simulator.wires.anthropic import signature
from tests.gateway.e2e.conftest import Gateway, wait_for_rows

CLAUDE = "claude-3-7-sonnet-latest"
ASK = "Use get_time for Lisbon."
TIME_TOOL = {
    "name": "get_time",
    "description": "Local time in a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
TIME_FUNCTION = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": TIME_TOOL["description"],
        "parameters": TIME_TOOL["input_schema"],
    },
}
THINKING: Any = {"type": "enabled", "budget_tokens": 2048}
DETAILS_SQL = """
select d.dropped_params from raw_vault.sat_api_request_details d
join raw_vault.hub_api_request h using (api_request_hk) where h.api_request_bk = $1
"""


def sent(gw: Gateway) -> dict[str, Any]:
    """The body the simulated Anthropic received last."""
    recent = [r for r in gw.sim.simulator.stats.snapshot()["recent"] if r["path"] == "/v1/messages"]
    return recent[-1]["body"]


def openai_sdk(gw: Gateway) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=f"{gw.url}/v1", api_key=gw.key, max_retries=0)


async def dropped_params(pool: asyncpg.Pool, request_id: str) -> list[str]:
    sql = f"select count(*) from raw_vault.hub_api_request where api_request_bk = '{request_id}'"
    assert await wait_for_rows(pool, sql, 1) == 1, f"{request_id} never reached the vault"
    return list(await pool.fetchval(DETAILS_SQL, request_id))


async def test_messages_door_agent_loop_keeps_thinking_on(gateway: Gateway) -> None:
    """Claude Code's loop: a streamed thinking + tool_use turn, replayed as received with the tool
    result; the next turn is accepted with thinking still on."""
    client = AsyncAnthropic(base_url=gateway.url, api_key=gateway.key, max_retries=0)
    question = {"role": "user", "content": ASK}
    ask: Any = {"model": CLAUDE, "max_tokens": 4096, "thinking": THINKING, "tools": [TIME_TOOL]}
    async with client.messages.stream(messages=[question], **ask) as stream:
        turn1 = await stream.get_final_message()
    thought, use = turn1.content
    assert (thought.type, use.type, turn1.stop_reason) == ("thinking", "tool_use", "tool_use")
    assert thought.signature == signature(thought.thinking)  # Anthropic's own, not a marker

    result = {"type": "tool_result", "tool_use_id": use.id, "content": '{"time": "09:30"}'}
    replay = [
        question,
        {"role": "assistant", "content": turn1.content},
        {"role": "user", "content": [result]},
    ]
    raw = await client.messages.with_raw_response.create(messages=replay, **ask)
    turn2 = await raw.parse()
    body = sent(gateway)
    assert body["thinking"] == THINKING
    assert body["messages"][1]["content"][0] == thought.model_dump()
    assert [b.type for b in turn2.content] == ["thinking", "text"] and turn2.stop_reason == "end_turn"
    assert turn2.content[0].signature == signature(turn2.content[0].thinking)
    assert json.loads(raw.http_response.text)["onevault"]["dropped_params"] == []


async def test_chat_door_agent_loop_replays_thinking_blocks(gateway: Gateway) -> None:
    """The same loop with the openai SDK: ``choices[0].message`` replayed as the SDK returns it
    carries ``thinking_blocks`` beside ``reasoning_content``; streams deliver the blocks too."""
    client = openai_sdk(gateway)
    history: list[Any] = [{"role": "user", "content": ASK}]
    ask: Any = {"model": CLAUDE, "reasoning_effort": "low", "tools": [TIME_FUNCTION]}
    turn1 = await client.chat.completions.create(messages=history, **ask)
    message = turn1.choices[0].message
    extra = message.model_extra or {}
    [block] = extra["thinking_blocks"]
    assert block == {
        "type": "thinking",
        "thinking": extra["reasoning_content"],
        "signature": signature(block["thinking"]),
    }
    assert turn1.choices[0].finish_reason == "tool_calls"

    history += [message, {"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": "09:30"}]
    turn2 = await client.chat.completions.create(messages=history, **ask)
    body = sent(gateway)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert body["messages"][1]["content"][0] == block
    assert turn2.choices[0].finish_reason == "stop" and turn2.choices[0].message.content

    stream = await client.chat.completions.create(messages=history[:1], stream=True, **ask)
    deltas = [c.choices[0].delta.model_extra or {} async for c in stream if c.choices]
    streamed = [b for d in deltas for b in d.get("thinking_blocks") or ()]
    text = "".join(d.get("reasoning_content") or "" for d in deltas)
    assert streamed == [{"type": "thinking", "thinking": text, "signature": signature(text)}]


async def test_responses_door_carries_the_blocks_in_encrypted_content(gateway: Gateway) -> None:
    """Codex's stateless loop: ``include: ["reasoning.encrypted_content"]`` with ``store: false``;
    the output items go back as input with the function call's output."""
    client = openai_sdk(gateway)
    ask: Any = {
        "model": CLAUDE,
        "reasoning": {"effort": "low"},
        "tools": [{"type": "function", **TIME_FUNCTION["function"]}],
        "include": ["reasoning.encrypted_content"],
        "store": False,
    }
    turn1 = await client.responses.create(input=ASK, **ask)
    reasoning, call = turn1.output
    assert reasoning.type == "reasoning" and reasoning.encrypted_content
    assert call.type == "function_call"
    replay = [
        {"role": "user", "content": ASK},
        *[item.model_dump(exclude_none=True) for item in turn1.output],
        {"type": "function_call_output", "call_id": call.call_id, "output": "09:30"},
    ]
    turn2 = await client.responses.create(input=replay, **ask)
    body = sent(gateway)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert body["messages"][1]["content"][0]["signature"] == signature(reasoning.summary[0].text)
    assert turn2.status == "completed" and turn2.output_text
    async with client.responses.stream(input=ASK, **ask) as stream:
        streamed = await stream.get_final_response()
    assert streamed.output[0].encrypted_content == reasoning.encrypted_content  # same text, same signature
    plain = await client.responses.create(input=ASK, **{**ask, "include": []})
    assert plain.output[0].encrypted_content is None  # only when asked for, as at OpenAI


async def test_a_continuation_without_signed_state_drops_thinking_and_records_it(
    gateway: Gateway, vault_pool: asyncpg.Pool
) -> None:
    """The tool turn came from another provider (no signed blocks): Anthropic would refuse thinking
    with it, so the turn is served without, and ``dropped_params`` says so."""
    client = openai_sdk(gateway)
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_time", "arguments": '{"city": "Lisbon"}'},
    }
    history: Any = [
        {"role": "user", "content": ASK},
        {"role": "assistant", "content": None, "tool_calls": [call], "reasoning_content": "From GPT."},
        {"role": "tool", "tool_call_id": "call_1", "content": "09:30"},
    ]
    raw = await client.chat.completions.with_raw_response.create(
        model=CLAUDE, messages=history, reasoning_effort="low", tools=[TIME_FUNCTION]
    )
    assert raw.parse().choices[0].message.content
    assert "thinking" not in sent(gateway)
    assert json.loads(raw.http_response.text)["onevault"]["dropped_params"] == ["reasoning_effort"]
    assert await dropped_params(vault_pool, raw.headers["x-request-id"]) == ["reasoning_effort"]

    # Through the Messages door: Gemini's reasoning comes back as a marker-signed thinking block,
    # which is never sent to Anthropic, so Claude continues that tool turn without thinking.
    claude = AsyncAnthropic(base_url=gateway.url, api_key=gateway.key, max_retries=0)
    question = {"role": "user", "content": ASK}
    ask: Any = {"max_tokens": 4096, "thinking": THINKING, "tools": [TIME_TOOL]}
    gemini = await claude.messages.create(model="gemini-2.5-flash-thinking", messages=[question], **ask)
    thought, use = gemini.content
    assert (thought.type, thought.signature, use.type) == ("thinking", "onevault", "tool_use")
    result = {"type": "tool_result", "tool_use_id": use.id, "content": "09:30"}
    replay = [
        question,
        {"role": "assistant", "content": gemini.content},
        {"role": "user", "content": [result]},
    ]
    answer = await claude.messages.with_raw_response.create(model=CLAUDE, messages=replay, **ask)
    body = sent(gateway)
    assert "thinking" not in body and body["messages"][1]["content"][0]["type"] == "tool_use"
    summary = json.loads(answer.http_response.text)["onevault"]
    assert sorted(summary["dropped_params"]) == ["reasoning_effort", "thinking_budget"]
