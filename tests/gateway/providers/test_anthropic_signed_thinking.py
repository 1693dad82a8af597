"""Anthropic's signed thinking through the adapter: extended thinking with tool use needs the
signed ``thinking`` / ``redacted_thinking`` blocks of the tool-calling turn back, unmodified.

Golden half: a documented turn-1 answer (thinking, redacted thinking, text, tool_use) is read
into ``thinking_blocks`` and the turn-2 request built from it is the documented body
(``tests/fixtures/providers/anthropic_thinking_tools.json``); the documented stream's blocks
come out signed. Then the rules: without signed state thinking is a *forced drop* the capability
check names, marker-signed blocks and thinking-off turns send no blocks. Last, the agent loop
against the simulator, which verifies signatures like the real API.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from gateway.api.anthropic_messages_output import StreamBlocks
from gateway.cache.answer import CachedAnswer
from gateway.pipeline.data_stages import DataStages
from gateway.pipeline.stream_state import StreamState
from gateway.providers.base import ProviderEndpoint, get_adapter
from gateway.providers.canonical_json import message_from_json, message_to_json, response_to_json
from gateway.providers.capabilities import check
from gateway.providers.http import UpstreamClient
from gateway.providers.thinking import MARKER_SIGNATURE, decode_blocks, encode_blocks
from gateway.providers.types import (
    ChatMessage,
    ChatRequest,
    ChatResponse,
    ProviderError,
    Tool,
    ToolCall,
    Usage,
)
from gateway.simulator import SimulatorServer
from gateway.simulator.wires.anthropic import signature
from tests.gateway.providers.test_adapter_wire_formats import SSE, Upstream, complete, reply, stream

ANTHROPIC = ProviderEndpoint("anthropic", "https://api.anthropic.com", "sk-ant-key")
MODEL = "claude-sonnet-4-5-20250929"
WEATHER = Tool(
    "get_weather",
    "Get current weather for a location",
    {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
)
TIME = Tool(
    "get_time", "Local time in a city.", {"type": "object", "properties": {"city": {"type": "string"}}}
)
SIGNED = {"type": "thinking", "thinking": "Check the weather.", "signature": "EqQBCgIYAhIM"}


def fixture(provider_fixture: Callable[[str], bytes], name: str) -> Any:
    return orjson.loads(provider_fixture("anthropic_thinking_tools.json"))[name]


def build(request: ChatRequest) -> dict[str, Any]:
    return get_adapter("anthropic").build(ANTHROPIC, request, stream=False).body  # type: ignore[attr-defined]


def as_turn(r: ChatResponse) -> ChatMessage:
    """An answer replayed as it came: text, tool calls, reasoning and signed blocks."""
    return ChatMessage(
        "assistant", r.text, tool_calls=r.tool_calls, reasoning=r.reasoning, thinking_blocks=r.thinking_blocks
    )


def continuation(reply_turn: ChatMessage, **changes: Any) -> ChatRequest:
    """Turn 2 of the documented loop: the assistant turn, then the tool's result."""
    call_id = reply_turn.tool_calls[0].id
    fields: dict[str, Any] = {"max_tokens": 16000, "thinking_budget": 10000, "tools": [WEATHER], **changes}
    messages = [
        ChatMessage("user", "What's the weather in Paris?"),
        reply_turn,
        ChatMessage("tool", "Current temperature: 88°F", tool_call_id=call_id),
    ]
    return ChatRequest(MODEL, messages, **fields)


def first_turn() -> ChatRequest:
    return ChatRequest(
        MODEL,
        [ChatMessage("user", "What's the weather in Paris?")],
        max_tokens=16000,
        thinking_budget=10000,
        tools=[WEATHER],
    )


def tool_turn(*blocks: dict[str, Any]) -> ChatMessage:
    call = ToolCall("toolu_01CswdEQBMshySk6Y9DFKrfq", "get_weather", '{"location": "Paris"}')
    return ChatMessage("assistant", None, tool_calls=[call], thinking_blocks=list(blocks))


# -- golden: the documented answer, the documented next request ------------------------------------------
async def test_signed_blocks_are_read_and_sent_back_first_unmodified(
    provider_fixture: Callable[[str], bytes],
) -> None:
    documented = fixture(provider_fixture, "turn1_response")
    turn1 = await complete("anthropic", ANTHROPIC, Upstream(reply(200, json=documented)), first_turn())
    assert turn1.thinking_blocks == documented["content"][:2]  # thinking and redacted, whole, in order
    assert turn1.reasoning == documented["content"][0]["thinking"]
    assert (turn1.finish_reason, [c.name for c in turn1.tool_calls]) == ("tool_calls", ["get_weather"])
    assert build(continuation(as_turn(turn1))) == fixture(provider_fixture, "turn2_request")


async def test_streamed_blocks_come_out_whole_with_their_signature(
    provider_fixture: Callable[[str], bytes],
) -> None:
    content = provider_fixture("anthropic_ff_thinking_stream.sse")
    chunks, error = await stream("anthropic", ANTHROPIC, Upstream(reply(200, headers=SSE, content=content)))
    assert error is None
    blocks = [b for c in chunks for b in c.thinking_blocks or ()]
    assert blocks == [
        {
            "type": "thinking",
            "thinking": "The order link joins the order and customer hubs.",
            "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds",
        },
        {
            "type": "redacted_thinking",
            "data": "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP",
        },
    ]
    # the signed block arrives after its text (as reasoning), before the answer's text
    kinds = [("blocks" if c.thinking_blocks else "reasoning" if c.reasoning else "text") for c in chunks[:5]]
    assert kinds == ["reasoning", "reasoning", "blocks", "blocks", "text"]


# -- the rules ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("turn", "forced"),
    [
        (tool_turn(), ("thinking_budget",)),  # another provider's turn, or the client dropped it
        (tool_turn({**SIGNED, "signature": MARKER_SIGNATURE}), ("thinking_budget",)),  # marker only
        (tool_turn(SIGNED), ()),
        (tool_turn({"type": "redacted_thinking", "data": "EmwK"}), ()),
    ],
    ids=["no-blocks", "marker-signed", "signed", "redacted"],
)
def test_thinking_without_signed_state_is_a_forced_drop(turn: ChatMessage, forced: tuple[str, ...]) -> None:
    request = continuation(turn)
    gap = check("anthropic", MODEL, request)
    assert gap.empty and gap.forced == forced  # never a refusal: served without, and recorded
    body = build(request)
    assert ("thinking" in body) is not forced
    first = body["messages"][1]["content"][0]
    assert first["type"] == ("tool_use" if forced else turn.thinking_blocks[0]["type"])
    assert check("openai", "o3-mini", request).forced == ()  # opaque to other providers
    assert check("anthropic", MODEL, continuation(turn, thinking_budget=None)).forced == ()


def test_blocks_are_not_sent_with_thinking_off() -> None:
    """Anthropic refuses thinking blocks in a final assistant turn without thinking on."""
    request = continuation(tool_turn(SIGNED), thinking_budget=None)
    assert "thinking" not in build(request)
    assert [b["type"] for b in build(request)["messages"][1]["content"]] == ["tool_use"]
    prefill = ChatRequest(
        MODEL, [ChatMessage("user", "hi"), ChatMessage("assistant", "Sure", thinking_blocks=[SIGNED])]
    )
    assert build(prefill)["messages"][1] == {"role": "assistant", "content": "Sure"}


def test_encrypted_content_round_trip_keeps_only_signed_blocks() -> None:
    blocks = [SIGNED, {"type": "thinking", "thinking": "x", "signature": MARKER_SIGNATURE}]
    encoded = encode_blocks(blocks)
    assert encoded is not None and decode_blocks(encoded) == [SIGNED]
    assert encode_blocks([]) is None
    assert decode_blocks("gAAAAABopenai-encrypted") == [] and decode_blocks("onevault.thinking.v1:%%") == []


# -- against the simulator, which verifies signatures as Anthropic does -----------------------------------
async def ask(
    client: UpstreamClient, endpoint: ProviderEndpoint, request: ChatRequest, streaming: bool
) -> ChatMessage:
    adapter = get_adapter("anthropic")
    if not streaming:
        return as_turn(await adapter.complete(client, endpoint, request))
    state = StreamState()  # the pipeline's own assembly of a stream
    async for chunk in adapter.stream(client, endpoint, request):
        state.add(chunk)
    assert state.usage is not None
    return as_turn(state.response(state.finish, state.usage, request.model))


def sent(sim: SimulatorServer) -> dict[str, Any]:
    return sim.simulator.stats.snapshot()["recent"][-1]["body"]


@pytest.mark.parametrize("streaming", [False, True], ids=["complete", "stream"])
async def test_agent_loop_keeps_thinking_on_against_the_simulator(
    streaming: bool,
    sim: SimulatorServer,
    sim_endpoint: Callable[..., ProviderEndpoint],
    client: UpstreamClient,
) -> None:
    endpoint = sim_endpoint("anthropic")
    question = [ChatMessage("user", "Use get_time for Lisbon.")]
    first = ChatRequest("claude-sonnet-4-5", question, tools=[TIME], reasoning_effort="low")
    turn1 = await ask(client, endpoint, first, streaming)
    assert [c.name for c in turn1.tool_calls] == ["get_time"] and turn1.reasoning
    assert turn1.thinking_blocks == [
        {"type": "thinking", "thinking": turn1.reasoning, "signature": signature(turn1.reasoning)}
    ]

    result = ChatMessage("tool", '{"time": "09:30"}', tool_call_id=turn1.tool_calls[0].id)
    second = replace(first, messages=[*question, turn1, result])
    turn2 = await ask(client, endpoint, second, streaming)
    body = sent(sim)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 1024}  # still on
    assert body["messages"][1]["content"][0] == turn1.thinking_blocks[0]
    assert turn2.text and not turn2.tool_calls and turn2.thinking_blocks

    changed = {**turn1.thinking_blocks[0], "thinking": f"{turn1.reasoning} (edited)"}
    tampered = replace(turn1, thinking_blocks=[changed])
    with pytest.raises(ProviderError) as info:
        await ask(client, endpoint, replace(first, messages=[*question, tampered, result]), streaming)
    assert info.value.status == 400 and "signature" in info.value.message


# -- the state survives storage, caches and a cached stream's replay ----------------------------------------
BLOCKS = [SIGNED, {"type": "redacted_thinking", "data": "EmwK"}]


def test_canonical_json_and_the_answer_cache_keep_the_blocks() -> None:
    turn = tool_turn(*BLOCKS)
    assert message_from_json(message_to_json(turn)).thinking_blocks == BLOCKS
    response = ChatResponse(
        "", "tool_calls", Usage(), MODEL, tool_calls=turn.tool_calls, thinking_blocks=BLOCKS
    )
    assert response_to_json(response)["thinking_blocks"] == BLOCKS
    cached = CachedAnswer("", "tool_calls", Usage(), "anthropic", MODEL, "req_1", thinking_blocks=BLOCKS)
    assert CachedAnswer.from_bytes(cached.to_bytes()).thinking_blocks == BLOCKS


def test_a_cached_answer_streams_its_blocks_like_anthropic() -> None:
    """Replayed from the cache through the Messages door: each block's text, then its signature."""
    planner: Any = SimpleNamespace(catalog=SimpleNamespace(routes={}))
    stages = DataStages(planner, pool=None, redis=None, keyring=None)  # type: ignore[arg-type]
    outcome: Any = SimpleNamespace(
        thinking_blocks=BLOCKS,
        reasoning="Check the weather.",
        text="Hi",
        logprobs=None,
        refusal=None,
        tool_calls=[],
        finish_reason="stop",
    )
    blocks = StreamBlocks()
    events = [e for chunk in stages.replay(outcome) for e in blocks.feed(chunk)] + list(blocks.close())
    data = [orjson.loads(e.split(b"data: ", 1)[1]) for e in events]
    deltas = [d["delta"] for d in data if d["type"] == "content_block_delta"]
    assert deltas[:2] == [
        {"type": "thinking_delta", "thinking": "Check the weather."},
        {"type": "signature_delta", "signature": "EqQBCgIYAhIM"},
    ]
    starts = [d["content_block"]["type"] for d in data if d["type"] == "content_block_start"]
    assert starts == ["thinking", "redacted_thinking", "text"]
