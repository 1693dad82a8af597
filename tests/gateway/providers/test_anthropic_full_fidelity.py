"""Anthropic Messages full fidelity: tools, tool history, image and document blocks, structured
output through a forced tool, extended thinking.

Two halves. Golden wire tests: the bodies the adapter builds are compared with bodies shaped as
Anthropic's API reference documents them (``tests/fixtures/providers/anthropic_ff_requests.json``),
and documented response and stream shapes (``anthropic_ff_*``) are mapped. Then the adapter
against the running simulator, plain and streamed: forced, automatic and parallel tool calls,
tool results in history (and a result for an unknown call refused as Anthropic's 400), images
and a PDF counted as tokens, a json_schema answer valid for its schema and a thinking model's
reasoning.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from jsonschema import Draft202012Validator

from gateway.providers.anthropic import FORMAT_TOOL_DESCRIPTION
from gateway.providers.base import ProviderEndpoint, get_adapter
from gateway.providers.http import UpstreamClient
from gateway.providers.types import (
    AudioPart,
    ChatMessage,
    ChatRequest,
    FilePart,
    ImagePart,
    ProviderError,
    ResponseFormat,
    StreamChunk,
    TextPart,
    Tool,
    ToolCall,
    ToolCallAssembler,
    ToolChoice,
    Usage,
)
from gateway.simulator import SimulatorServer
from gateway.simulator.textgen import count_tokens
from gateway.simulator.toolgen import FILE_B64_PER_TOKEN, IMAGE_TOKENS
from tests.gateway.providers.test_adapter_wire_formats import SSE, Upstream, complete, reply, stream

EndpointFactory = Callable[..., ProviderEndpoint]
ANTHROPIC = ProviderEndpoint("anthropic", "https://api.anthropic.com", "sk-ant-key")

WEATHER = Tool(
    "get_weather",
    "Current weather for a city.",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    strict=True,
)
TIME = Tool("get_time")  # no description, no parameters: sent as an empty object schema
HUB_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "business_keys": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["name", "business_keys"],
}
PNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUg=="
PDF = "JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PC9UeXBlL0NhdGFsb2c+PgplbmRvYmoK"
CALL_A = "toolu_01A09q90qw90lq917835lq9"
CALL_B = "toolu_01B7hc3xk2m5ZpdQ8rW4vN1e"


def golden(provider_fixture: Callable[[str], bytes], name: str) -> Any:
    return orjson.loads(provider_fixture("anthropic_ff_requests.json"))[name]


def tool_use_request(**changes: Any) -> ChatRequest:
    calls = [ToolCall(CALL_A, "get_weather", '{"city":"Paris"}'), ToolCall(CALL_B, "get_time", "")]
    messages = [
        ChatMessage("system", "You are a careful data vault modeller."),
        ChatMessage("developer", "Answer in English."),
        ChatMessage(
            "user",
            [
                TextPart(
                    "What is in this picture and this report? "
                    "And the weather in Paris and the time in Lisbon?"
                ),
                ImagePart(PNG, detail="low"),
                ImagePart("https://example.com/chart.png"),
                FilePart(PDF, filename="report.pdf"),
            ],
        ),
        ChatMessage(
            "assistant", "I will look up the weather in Paris and the time in Lisbon.", tool_calls=calls
        ),
        ChatMessage("tool", '{"temperature_c": 21}', tool_call_id=CALL_A),
        ChatMessage("tool", [TextPart('{"time": "09:30"}')], tool_call_id=CALL_B),
        ChatMessage("user", "Thanks. Check Paris again."),
    ]
    fields: dict[str, Any] = {
        "max_tokens": 512,
        "tools": [WEATHER, TIME],
        "tool_choice": ToolChoice("required"),
        "parallel_tool_calls": False,
        "temperature": 0.5,
        "top_k": 40,
        "stop": ["END"],
        "user": "end-user-7",
        "service_tier": "default",
        **changes,
    }
    return ChatRequest("claude-sonnet-4-5-20250929", messages, **fields)


def thinking_request(**changes: Any) -> ChatRequest:
    fields: dict[str, Any] = {
        "tools": [TIME],
        "parallel_tool_calls": False,
        "reasoning_effort": "medium",
        **changes,
    }
    messages = [ChatMessage("user", "Which hub should the order link reference?")]
    return ChatRequest("claude-sonnet-4-5-20250929", messages, **fields)


def structured_request(**changes: Any) -> ChatRequest:
    fields: dict[str, Any] = {
        "max_tokens": 256,
        "temperature": 0.3,
        "top_p": 0.9,
        "response_format": ResponseFormat("json_schema", "hub", HUB_SCHEMA, strict=True),
        **changes,
    }
    messages = [ChatMessage("user", "Generate a JSON object describing a hub.")]
    return ChatRequest("claude-3-5-haiku-20241022", messages, **fields)


def build(request: ChatRequest) -> dict[str, Any]:
    return get_adapter("anthropic").build(ANTHROPIC, request, stream=False).body  # type: ignore[attr-defined]


def refused(request: ChatRequest) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        build(request)
    assert info.value.error_class == "bad_request"
    return info.value


# -- golden request bodies ----------------------------------------------------------------------------------
def test_tool_use_request_matches_the_documented_body(provider_fixture: Callable[[str], bytes]) -> None:
    """System + developer joined; image (base64, url) and PDF blocks; text before tool_use blocks
    with parsed input; both tool results and the next user text in one user turn, results first."""
    assert build(tool_use_request()) == golden(provider_fixture, "tool_use")


def test_thinking_request_matches_the_documented_body(provider_fixture: Callable[[str], bytes]) -> None:
    """Effort medium → 4096 budget tokens, max_tokens raised to budget + 1024; parallel off on auto."""
    assert build(thinking_request()) == golden(provider_fixture, "thinking")


def test_structured_request_matches_the_documented_body(provider_fixture: Callable[[str], bytes]) -> None:
    """json_schema → a tool named after the format carrying the schema, forced by name."""
    assert build(structured_request()) == golden(provider_fixture, "structured")


@pytest.mark.parametrize(
    ("changes", "max_tokens", "thinking"),
    [
        ({"reasoning_effort": "low"}, 2048, {"type": "enabled", "budget_tokens": 1024}),
        ({"thinking_budget": 3000, "max_tokens": 8000}, 8000, {"type": "enabled", "budget_tokens": 3000}),
        (
            {"reasoning_effort": None, "thinking_budget": 2048},
            3072,
            {"type": "enabled", "budget_tokens": 2048},
        ),
        # the client's max_tokens wins over the effort's default budget
        ({"reasoning_effort": "high", "max_tokens": 4000}, 4000, {"type": "enabled", "budget_tokens": 3999}),
        ({"reasoning_effort": "none"}, 1024, None),
        ({"reasoning_effort": None}, 1024, None),
    ],
)
def test_thinking_budget_and_max_tokens(
    changes: dict[str, Any], max_tokens: int, thinking: dict[str, Any] | None
) -> None:
    body = build(thinking_request(**changes))
    assert (body["max_tokens"], body.get("thinking")) == (max_tokens, thinking)


@pytest.mark.parametrize(
    ("changes", "param"),
    [
        ({"reasoning_effort": "low", "max_tokens": 1024}, "max_tokens"),
        ({"thinking_budget": 5000, "max_tokens": 4000}, "thinking_budget"),
        ({"thinking_budget": 500}, "thinking_budget"),
        ({"tool_choice": ToolChoice("required")}, "tool_choice"),  # thinking cannot force a call
        ({"tool_choice": ToolChoice("function", "get_time")}, "tool_choice"),
    ],
)
def test_impossible_thinking_requests_are_refused(changes: dict[str, Any], param: str) -> None:
    error = refused(thinking_request(**changes))
    assert error.param == param and "anthropic" in error.message


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        (ToolChoice("auto"), None, {"type": "auto"}),
        (ToolChoice("required"), None, {"type": "any"}),
        (ToolChoice("function", "get_time"), None, {"type": "tool", "name": "get_time"}),
        (ToolChoice("none"), None, {"type": "none"}),
        (ToolChoice("none"), False, {"type": "none"}),  # nothing to run in parallel
        (None, None, None),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        (
            ToolChoice("function", "get_time"),
            False,
            {"type": "tool", "name": "get_time", "disable_parallel_tool_use": True},
        ),
    ],
)
def test_tool_choice_values(choice: ToolChoice | None, parallel: bool | None, expected: Any) -> None:
    body = build(tool_use_request(tool_choice=choice, parallel_tool_calls=parallel))
    assert body.get("tool_choice") == expected


def test_json_object_is_a_forced_object_tool() -> None:
    body = build(structured_request(response_format=ResponseFormat("json_object")))
    assert body["tools"] == [
        {"name": "json_response", "description": FORMAT_TOOL_DESCRIPTION, "input_schema": {"type": "object"}}
    ]
    assert body["tool_choice"] == {"type": "tool", "name": "json_response"}


def test_structured_output_next_to_client_tools_and_thinking() -> None:
    # the client's own tools: the format tool joins them and the client's choice stands
    body = build(structured_request(tools=[TIME]))
    assert [t["name"] for t in body["tools"]] == ["get_time", "hub"] and "tool_choice" not in body
    # tool_choice none: the client's tools may not be called, so the answer is forced
    body = build(structured_request(tools=[TIME], tool_choice=ToolChoice("none")))
    assert body["tool_choice"] == {"type": "tool", "name": "hub"}
    # thinking forbids forcing a tool: the format tool is offered on auto
    body = build(structured_request(max_tokens=None, reasoning_effort="low"))
    assert "tool_choice" not in body and body["thinking"]["budget_tokens"] == 1024
    # a format named like a client tool would be ambiguous
    assert refused(structured_request(tools=[Tool("hub")])).param == "response_format"
    array = ResponseFormat("json_schema", "rows", {"type": "array", "items": {"type": "string"}})
    assert refused(structured_request(response_format=array)).param == "response_format"


def test_tool_history_without_tools_declares_them_uncallable() -> None:
    """Anthropic refuses tool blocks in a request without tools: the used tools are declared,
    with tool_choice none (the client offered no tools this turn)."""
    request = tool_use_request(tools=[], tool_choice=None, parallel_tool_calls=None)
    body = build(request)
    assert body["tools"] == [
        {"name": "get_weather", "input_schema": {"type": "object"}},
        {"name": "get_time", "input_schema": {"type": "object"}},
    ]
    assert body["tool_choice"] == {"type": "none"}


def test_thinking_is_not_sent_when_continuing_a_tool_calling_turn() -> None:
    """The last assistant turn called tools without signed thinking blocks: Anthropic would need them."""
    request = tool_use_request(tool_choice=None, max_tokens=None, reasoning_effort="high")
    request.messages = request.messages[:-1]  # ends with the tool results
    body = build(request)
    assert "thinking" not in body and body["max_tokens"] == 1024


def test_replayed_refusal_and_tool_turn_without_call_id() -> None:
    request = ChatRequest(
        "claude-3-5-haiku-latest",
        [
            ChatMessage("user", "a"),
            ChatMessage("assistant", None, refusal="I can't help with that."),
            ChatMessage("tool", "orphan output"),
            ChatMessage("user", [TextPart("b"), TextPart("")]),  # empty text blocks are refused upstream
        ],
    )
    assert build(request)["messages"] == [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "I can't help with that."},
        {
            "role": "user",
            "content": [{"type": "text", "text": "orphan output"}, {"type": "text", "text": "b"}],
        },
    ]


def test_tool_results_open_the_user_turn_that_follows_the_calls() -> None:
    request = tool_use_request()
    note = ChatMessage("user", "Here are the results.")
    request.messages = [*request.messages[:4], note, *request.messages[4:6]]
    turn = build(request)["messages"][2]
    assert [b["type"] for b in turn["content"]] == ["tool_result", "tool_result", "text"]


@pytest.mark.parametrize(
    ("message", "param"),
    [
        (ChatMessage("user", [TextPart("hi"), AudioPart("AAAA", "wav")]), "input_audio"),
        (ChatMessage("user", [FilePart(file_id="file-abc")]), "file"),
        (ChatMessage("user", [FilePart("AAAA", media_type="application/zip")]), "file"),
        (ChatMessage("user", [ImagePart("ftp://example.com/x.png")]), "image_url"),
        (
            ChatMessage("assistant", None, tool_calls=[ToolCall("toolu_1", "get_time", '{"city": ')]),
            "messages",
        ),
        (ChatMessage("assistant", None, tool_calls=[ToolCall("toolu_1", "get_time", "[1]")]), "messages"),
    ],
)
def test_what_anthropic_cannot_take_is_refused_not_dropped(message: ChatMessage, param: str) -> None:
    error = refused(ChatRequest("claude-x", [ChatMessage("user", "hi"), message]))
    assert error.param == param
    if param == "messages":
        assert "toolu_1" in error.message and "get_time" in error.message


def test_plain_text_document_and_service_tiers() -> None:
    text = FilePart("aHViIHJvd3M=", media_type="text/plain")
    body = build(ChatRequest("claude-x", [ChatMessage("user", [text])], service_tier="priority"))
    assert body["messages"][0]["content"] == [
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "hub rows"}}
    ]
    assert body["service_tier"] == "auto"
    assert refused(ChatRequest("claude-x", [ChatMessage("user", "hi")], service_tier="flex")).param == (
        "service_tier"
    )


# -- documented responses and streams ------------------------------------------------------------------------
async def test_tool_call_response(provider_fixture: Callable[[str], bytes]) -> None:
    upstream = Upstream(reply(200, content=provider_fixture("anthropic_ff_tool_calls.json")))
    response = await complete("anthropic", ANTHROPIC, upstream, tool_use_request())
    assert response.tool_calls == [
        ToolCall(CALL_A, "get_weather", '{"city":"Paris"}'),
        ToolCall(CALL_B, "get_time", '{"city":"Lisbon"}'),
    ]
    assert response.finish_reason == "tool_calls"
    assert response.text == "I'll check the weather in Paris and the time in Lisbon."
    assert response.reasoning is None
    # cache reads and writes are added back into the whole prompt and reported apart
    assert response.usage == Usage(
        input_tokens=472 + 1024 + 2048, output_tokens=89, cached_input_tokens=2048, cache_write_tokens=1024
    )


async def test_thinking_response(provider_fixture: Callable[[str], bytes]) -> None:
    upstream = Upstream(reply(200, content=provider_fixture("anthropic_ff_thinking.json")))
    response = await complete("anthropic", ANTHROPIC, upstream, thinking_request())
    assert (response.text, response.finish_reason) == ("The order hub and the customer hub.", "stop")
    # thinking blocks joined, the redacted one skipped
    assert (
        response.reasoning == "The order link joins the order hub and the customer hub. It references both."
    )
    assert response.usage == Usage(input_tokens=40, output_tokens=310, reasoning_tokens=290)


async def test_structured_answer_from_the_format_tool(provider_fixture: Callable[[str], bytes]) -> None:
    upstream = Upstream(reply(200, content=provider_fixture("anthropic_ff_structured.json")))
    response = await complete("anthropic", ANTHROPIC, upstream, structured_request())
    assert orjson.loads(response.text) == {"name": "hub_customer", "business_keys": ["customer_id"]}
    assert (response.tool_calls, response.finish_reason) == ([], "stop")


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("refusal", "content_filter"),
        ("max_tokens", "length"),
        ("pause_turn", "stop"),
        ("tool_use", "tool_calls"),
    ],
)
async def test_stop_reasons(stop_reason: str, finish: str) -> None:
    body = {
        "id": "msg_1",
        "content": [{"type": "text", "text": "x"}],
        "stop_reason": stop_reason,
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }
    response = await complete("anthropic", ANTHROPIC, Upstream(reply(200, json=body)))
    assert response.finish_reason == finish


def assembled(chunks: list[StreamChunk]) -> list[ToolCall]:
    assembler = ToolCallAssembler()
    for chunk in chunks:
        assembler.add(chunk.tool_calls)
    return assembler.calls()


async def test_streamed_tool_calls(provider_fixture: Callable[[str], bytes]) -> None:
    upstream = Upstream(reply(200, headers=SSE, content=provider_fixture("anthropic_ff_tool_stream.sse")))
    chunks, error = await stream("anthropic", ANTHROPIC, upstream, tool_use_request())
    assert error is None
    deltas = [d for c in chunks for d in c.tool_calls or ()]
    # id and name on each call's first delta (numbered among the calls, not by block), pieces after
    assert [(d.index, d.id, d.name) for d in deltas if d.id] == [
        (0, "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather"),
        (1, "toolu_01E4fPq8Vb2yHw6ZcQ3mRt9x", "get_time"),
    ]
    assert assembled(chunks) == [
        ToolCall("toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather", '{"city": "Paris"}'),
        ToolCall("toolu_01E4fPq8Vb2yHw6ZcQ3mRt9x", "get_time", '{"city": "Lisbon"}'),
    ]
    assert "".join(c.delta for c in chunks) == "Okay, let me check both."
    assert chunks[-1].finish_reason == "tool_calls"
    assert [c.usage for c in chunks if c.usage] == [
        Usage(
            input_tokens=472 + 1024 + 2048,
            output_tokens=89,
            cached_input_tokens=2048,
            cache_write_tokens=1024,
        )
    ]


async def test_streamed_thinking(provider_fixture: Callable[[str], bytes]) -> None:
    upstream = Upstream(reply(200, headers=SSE, content=provider_fixture("anthropic_ff_thinking_stream.sse")))
    chunks, error = await stream("anthropic", ANTHROPIC, upstream, thinking_request())
    assert error is None
    assert "".join(c.reasoning for c in chunks) == "The order link joins the order and customer hubs."
    assert "".join(c.delta for c in chunks) == "The order hub and the customer hub."
    assert not any("EqQB" in c.delta + c.reasoning for c in chunks)  # the signature is not content
    assert chunks[-1].finish_reason == "stop"
    assert chunks[-1].usage == Usage(input_tokens=40, output_tokens=310, reasoning_tokens=290)


async def test_streamed_structured_answer(provider_fixture: Callable[[str], bytes]) -> None:
    content = provider_fixture("anthropic_ff_structured_stream.sse")
    chunks, error = await stream(
        "anthropic", ANTHROPIC, Upstream(reply(200, headers=SSE, content=content)), structured_request()
    )
    assert error is None
    # the format tool's input arrives as text; the preamble before it is not part of the JSON
    assert orjson.loads("".join(c.delta for c in chunks)) == {
        "name": "hub_customer",
        "business_keys": ["customer_id"],
    }
    assert not any(c.tool_calls for c in chunks)
    assert chunks[-1].finish_reason == "stop"


async def test_structured_stream_answered_in_text_keeps_the_text() -> None:
    """With thinking on the format tool is not forced: a text answer still comes through."""
    events = [
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": '{"name": '}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": '"h"}'}},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 5}},
        {"type": "message_stop"},
    ]
    body = b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events)
    chunks, error = await stream(
        "anthropic", ANTHROPIC, Upstream(reply(200, headers=SSE, content=body)), structured_request()
    )
    assert error is None
    assert "".join(c.delta for c in chunks) == '{"name": "h"}' and chunks[-1].finish_reason == "stop"


# -- against the simulator ----------------------------------------------------------------------------------
@dataclass
class Answer:
    """A plain answer, or a streamed one put back together."""

    text: str
    reasoning: str
    tool_calls: list[ToolCall]
    finish_reason: str | None
    usage: Usage | None


async def ask(
    client: UpstreamClient, endpoint: ProviderEndpoint, request: ChatRequest, streaming: bool
) -> Answer:
    adapter = get_adapter("anthropic")
    if not streaming:
        r = await adapter.complete(client, endpoint, request)
        return Answer(r.text, r.reasoning or "", r.tool_calls, r.finish_reason, r.usage)
    chunks: list[StreamChunk] = [c async for c in adapter.stream(client, endpoint, request)]
    assert [i for i, c in enumerate(chunks) if c.usage] == [len(chunks) - 1]
    return Answer(
        "".join(c.delta for c in chunks),
        "".join(c.reasoning for c in chunks),
        assembled(chunks),
        chunks[-1].finish_reason,
        chunks[-1].usage,
    )


def sent(sim: SimulatorServer) -> dict[str, Any]:
    return sim.simulator.stats.snapshot()["recent"][-1]["body"]


def user(text: str, *parts: Any, **changes: Any) -> ChatRequest:
    content: Any = [TextPart(text), *parts] if parts else text
    return ChatRequest("claude-3-5-sonnet-latest", [ChatMessage("user", content)], **changes)


def valid_for(tool: Tool, call: ToolCall) -> bool:
    return Draft202012Validator(tool.parameters or {}).is_valid(orjson.loads(call.arguments))


STREAMING = pytest.mark.parametrize("streaming", [False, True], ids=["complete", "stream"])


@STREAMING
async def test_forced_tool_call(
    streaming: bool, sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    endpoint = sim_endpoint("anthropic")
    request = user("Say hello.", tools=[WEATHER, TIME], tool_choice=ToolChoice("required"))
    answer = await ask(client, endpoint, request, streaming)
    assert sent(sim)["tool_choice"] == {"type": "any"}
    assert [c.name for c in answer.tool_calls] == ["get_weather"]  # no tool named: the first
    assert valid_for(WEATHER, answer.tool_calls[0])
    assert answer.tool_calls[0].id.startswith("toolu_")  # Anthropic's id style
    assert (answer.text, answer.finish_reason, answer.reasoning) == ("", "tool_calls", "")
    assert answer.usage is not None
    assert answer.usage.output_tokens == count_tokens(answer.tool_calls[0].arguments)

    named = await ask(
        client,
        endpoint,
        user("Say hello.", tools=[WEATHER, TIME], tool_choice=ToolChoice("function", "get_time")),
        streaming,
    )
    assert sent(sim)["tool_choice"] == {"type": "tool", "name": "get_time"}
    assert [c.name for c in named.tool_calls] == ["get_time"]


@STREAMING
async def test_automatic_tool_call_when_the_prompt_names_the_tool(
    streaming: bool, sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    endpoint = sim_endpoint("anthropic")
    called = await ask(client, endpoint, user("Use get_time for Lisbon.", tools=[WEATHER, TIME]), streaming)
    assert "tool_choice" not in sent(sim)  # auto is Anthropic's default
    assert [c.name for c in called.tool_calls] == ["get_time"]
    assert called.finish_reason == "tool_calls"
    plain = await ask(client, endpoint, user("Say hello.", tools=[WEATHER, TIME]), streaming)
    assert plain.tool_calls == [] and plain.finish_reason == "stop" and plain.text
    refused_call = await ask(
        client, endpoint, user("Use get_time.", tools=[TIME], tool_choice=ToolChoice("none")), streaming
    )
    assert sent(sim)["tool_choice"] == {"type": "none"} and refused_call.tool_calls == []


@STREAMING
async def test_parallel_tool_calls(
    streaming: bool, sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    endpoint = sim_endpoint("anthropic")
    prompt = "Call get_weather for Paris and get_time for Lisbon."
    answer = await ask(client, endpoint, user(prompt, tools=[TIME, WEATHER]), streaming)
    assert [c.name for c in answer.tool_calls] == ["get_weather", "get_time"]  # in the order named
    assert len({c.id for c in answer.tool_calls}) == 2
    assert valid_for(WEATHER, answer.tool_calls[0]) and valid_for(TIME, answer.tool_calls[1])

    one = await ask(
        client, endpoint, user(prompt, tools=[TIME, WEATHER], parallel_tool_calls=False), streaming
    )
    assert sent(sim)["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    assert [c.name for c in one.tool_calls] == ["get_weather"]


def history(result_id: str, *, second_result: bool = True) -> ChatRequest:
    calls = [
        ToolCall("toolu_abc123", "get_weather", '{"city":"Paris"}'),
        ToolCall("toolu_def456", "get_time", "{}"),
    ]
    messages = [
        ChatMessage("user", "What is the weather in Paris and the time? Use get_weather and get_time."),
        ChatMessage("assistant", "I will call both.", tool_calls=calls),
        ChatMessage("tool", '{"temperature_c": 21}', tool_call_id=result_id),
    ]
    if second_result:
        messages.append(ChatMessage("tool", '{"time": "09:30"}', tool_call_id="toolu_def456"))
    return ChatRequest("claude-3-5-sonnet-latest", messages, tools=[WEATHER, TIME])


@STREAMING
async def test_tool_results_in_history(
    streaming: bool, sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    endpoint = sim_endpoint("anthropic")
    answer = await ask(client, endpoint, history("toolu_abc123"), streaming)
    results = sent(sim)["messages"][2]  # both results in the one user turn after the calls
    assert [b["tool_use_id"] for b in results["content"]] == ["toolu_abc123", "toolu_def456"]
    assert answer.tool_calls == [] and answer.finish_reason == "stop"  # the agent loop ends
    assert answer.text.startswith("Simulated reply to: What is the weather in Paris")

    for broken, needle in (
        (history("toolu_missing"), "tool_use_id"),
        (history("toolu_abc123", second_result=False), "toolu_def456"),
    ):
        with pytest.raises(ProviderError) as info:
            await ask(client, endpoint, broken, streaming)
        assert (info.value.error_class, info.value.status) == ("bad_request", 400)
        assert needle in info.value.message


@STREAMING
async def test_tool_history_without_tools_is_accepted(
    streaming: bool, sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    request = history("toolu_abc123")
    request.tools = []
    answer = await ask(client, sim_endpoint("anthropic"), request, streaming)
    assert sent(sim)["tool_choice"] == {"type": "none"}
    assert answer.tool_calls == [] and answer.finish_reason == "stop"


@STREAMING
async def test_an_invalid_tool_schema_is_anthropic_400(
    streaming: bool, sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    broken = Tool("lookup", parameters={"type": "object", "properties": {"q": {"type": "strnig"}}})
    with pytest.raises(ProviderError) as info:
        await ask(client, sim_endpoint("anthropic"), user("hi", tools=[broken]), streaming)
    assert (info.value.error_class, info.value.status) == ("bad_request", 400)
    assert "tools.0" in info.value.message


@STREAMING
async def test_image_and_pdf_are_accepted_and_counted(
    streaming: bool, sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    endpoint = sim_endpoint("anthropic")
    text_only = await ask(client, endpoint, user("Describe the image."), streaming)
    with_media = await ask(
        client,
        endpoint,
        user("Describe the image.", ImagePart(PNG), ImagePart("https://example.com/a.png"), FilePart(PDF)),
        streaming,
    )
    blocks = sent(sim)["messages"][0]["content"]
    assert blocks[1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": PNG[22:]},
    }
    assert text_only.usage is not None and with_media.usage is not None
    media = 2 * IMAGE_TOKENS + len(PDF) // FILE_B64_PER_TOKEN
    assert with_media.usage.input_tokens - text_only.usage.input_tokens == media

    bmp = "data:image/bmp;base64,Qk0eAAAAAAAAABoAAAAMAAAAAQABAAEAGAAAAP8A"
    with pytest.raises(ProviderError) as info:
        await ask(client, endpoint, user("Describe.", ImagePart(bmp)), streaming)
    assert info.value.status == 400 and "media_type" in info.value.message


@STREAMING
async def test_json_schema_answer_is_valid(
    streaming: bool, sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    endpoint = sim_endpoint("anthropic")
    answer = await ask(client, endpoint, structured_request(), streaming)
    assert sent(sim)["tool_choice"] == {"type": "tool", "name": "hub"}
    Draft202012Validator(HUB_SCHEMA).validate(orjson.loads(answer.text))
    assert (answer.tool_calls, answer.finish_reason) == ([], "stop")

    loose = await ask(
        client, endpoint, structured_request(response_format=ResponseFormat("json_object")), streaming
    )
    assert isinstance(orjson.loads(loose.text), dict) and loose.finish_reason == "stop"


@STREAMING
async def test_reasoning_model_thinks_and_bills_it_as_output(
    streaming: bool, sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    sim.simulator.configure(output_tokens=40, reasoning_ratio=0.5)
    endpoint = sim_endpoint("anthropic")
    request = user("Why are satellites insert-only?", reasoning_effort="medium")
    request.model = "claude-sonnet-4-5"
    thought = await ask(client, endpoint, request, streaming)
    assert sent(sim)["thinking"] == {"type": "enabled", "budget_tokens": 4096}
    assert sent(sim)["max_tokens"] == 4096 + 1024
    assert thought.reasoning == "Thinking about: Why are satellites insert-only?"
    assert thought.text.startswith("Simulated reply to: Why are satellites")
    # the simulator, like Anthropic's older usage, reports thinking inside the output tokens only
    assert thought.usage is not None and thought.usage.output_tokens == 40 + 20
    assert thought.usage.reasoning_tokens == 0

    request.reasoning_effort = "none"
    plain = await ask(client, endpoint, request, streaming)
    assert "thinking" not in sent(sim)
    assert plain.reasoning == "" and plain.usage is not None and plain.usage.output_tokens == 40


@STREAMING
async def test_thinking_agent_loop_continues_without_thinking(
    streaming: bool, sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    """Anthropic refuses thinking when the last assistant turn called tools without its signed
    thinking block; with no signed state in the history the adapter leaves thinking off for that
    turn (the pipeline records it as a forced drop: test_anthropic_signed_thinking.py)."""
    request = history("toolu_abc123")
    request.reasoning_effort = "high"
    answer = await ask(client, sim_endpoint("anthropic"), request, streaming)
    assert "thinking" not in sent(sim) and answer.finish_reason == "stop"

    body = {**sent(sim), "max_tokens": 4096, "thinking": {"type": "enabled", "budget_tokens": 2048}}
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    async with httpx.AsyncClient(base_url=sim.url, trust_env=False) as http:
        direct = await http.post("/v1/messages", headers=headers, json=body)
    assert direct.status_code == 400 and "must start with a thinking block" in direct.text
