"""Cohere Chat v2 full fidelity: tools, tool history, image parts, structured output, thinking.

Two halves. Golden wire tests: the bodies the adapter builds are compared with bodies shaped as
Cohere's v2 reference documents them (``tests/fixtures/providers/cohere_ff_requests.json``), and
documented response and stream shapes (``cohere_ff_*``) are mapped. Then the adapter against the
running simulator, plain and streamed: forced, automatic and parallel tool calls, tool results in
history (and a result for an unknown call refused as Cohere's 400), image input counted as
tokens, a json_schema answer valid for its schema and a thinking model's reasoning.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator

from gateway.providers.base import ProviderEndpoint, get_adapter
from gateway.providers.http import UpstreamClient
from gateway.providers.types import (
    AudioPart,
    ChatMessage,
    ChatRequest,
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
from gateway.simulator.toolgen import IMAGE_TOKENS, IMAGE_TOKENS_LOW
from tests.gateway.providers.test_adapter_wire_formats import SSE, Upstream, complete, reply, stream

EndpointFactory = Callable[..., ProviderEndpoint]
COHERE = ProviderEndpoint("cohere", "https://api.cohere.com", "co-key")

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


def golden(provider_fixture: Callable[[str], bytes], name: str) -> Any:
    return orjson.loads(provider_fixture("cohere_ff_requests.json"))[name]


def tool_use_request(**changes: Any) -> ChatRequest:
    calls = [
        ToolCall("get_weather_k88p0m8504w5", "get_weather", '{"city":"Paris"}'),
        ToolCall("get_time_nsz5zm3w56q3", "get_time", "{}"),
    ]
    messages = [
        ChatMessage("system", "You are a careful data vault modeller."),
        ChatMessage("developer", "Answer in English."),
        ChatMessage(
            "user",
            [
                TextPart("What is in this picture? And the weather in Paris and the time in Lisbon?"),
                ImagePart(PNG, detail="low"),
                ImagePart("https://example.com/chart.png"),
            ],
        ),
        ChatMessage(
            "assistant", "I will look up the weather in Paris and the time in Lisbon.", tool_calls=calls
        ),
        ChatMessage("tool", '{"temperature_c": 21}', tool_call_id="get_weather_k88p0m8504w5"),
        ChatMessage("tool", [TextPart('{"time": "09:30"}')], tool_call_id="get_time_nsz5zm3w56q3"),
        ChatMessage("assistant", "It is 21°C in Paris and 09:30 in Lisbon."),
        ChatMessage("user", "Thanks. Check Paris again."),
    ]
    fields: dict[str, Any] = {
        "max_tokens": 512,
        "tools": [WEATHER, TIME],
        "tool_choice": ToolChoice("required"),
        "reasoning_effort": "high",
        **changes,
    }
    return ChatRequest("command-a-reasoning-08-2025", messages, **fields)


def structured_request() -> ChatRequest:
    return ChatRequest(
        "command-a-03-2025",
        [ChatMessage("user", "Generate a JSON object describing a hub.")],
        max_tokens=256,
        temperature=0.3,
        top_p=0.9,
        top_k=40,
        stop=["END"],
        response_format=ResponseFormat("json_schema", "hub", HUB_SCHEMA, strict=True),
        seed=7,
        presence_penalty=0.1,
        frequency_penalty=0.2,
        logprobs=True,
    )


def build(request: ChatRequest) -> dict[str, Any]:
    return get_adapter("cohere").build(COHERE, request, stream=False).body  # type: ignore[attr-defined]


# -- golden request bodies ----------------------------------------------------------------------------------
def test_tool_use_request_matches_the_documented_body(provider_fixture: Callable[[str], bytes]) -> None:
    assert build(tool_use_request()) == golden(provider_fixture, "tool_use")


def test_structured_output_and_sampling_options_match_the_documented_body(
    provider_fixture: Callable[[str], bytes],
) -> None:
    assert build(structured_request()) == golden(provider_fixture, "structured")


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"reasoning_effort": "low"}, {"type": "enabled", "token_budget": 1024}),
        ({"reasoning_effort": "low", "thinking_budget": 3000}, {"type": "enabled", "token_budget": 3000}),
        ({"reasoning_effort": None, "thinking_budget": 2048}, {"type": "enabled", "token_budget": 2048}),
        ({"reasoning_effort": "none"}, {"type": "disabled"}),
        ({"reasoning_effort": None}, None),
    ],
)
def test_thinking_from_effort_and_budget(changes: dict[str, Any], expected: dict[str, Any] | None) -> None:
    assert build(tool_use_request(**changes)).get("thinking") == expected


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (ToolChoice("required"), "REQUIRED"),
        (ToolChoice("none"), "NONE"),
        (ToolChoice("auto"), None),
        (None, None),
    ],
)
def test_tool_choice_values(choice: ToolChoice | None, expected: str | None) -> None:
    body = build(tool_use_request(tool_choice=choice))
    assert body.get("tool_choice") == expected


def test_json_object_and_unstrict_tools() -> None:
    request = ChatRequest(
        "command-r",
        [ChatMessage("user", "JSON please")],
        tools=[TIME],
        response_format=ResponseFormat("json_object"),
    )
    body = build(request)
    assert body["response_format"] == {"type": "json_object"}
    assert "strict_tools" not in body  # only asked for when a tool is strict


def test_a_named_tool_choice_is_refused_not_dropped() -> None:
    with pytest.raises(ProviderError) as info:
        build(tool_use_request(tool_choice=ToolChoice("function", "get_weather")))
    assert (info.value.error_class, info.value.param) == ("bad_request", "tool_choice")


def test_audio_is_refused_not_dropped() -> None:
    request = ChatRequest("command-x", [ChatMessage("user", [TextPart("hi"), AudioPart("AAAA", "wav")])])
    with pytest.raises(ProviderError) as info:
        build(request)
    assert (info.value.error_class, info.value.param) == ("bad_request", "input_audio")


def test_replayed_refusal_and_tool_turn_without_call_id() -> None:
    request = ChatRequest(
        "command-r",
        [
            ChatMessage("user", "a"),
            ChatMessage("assistant", None, refusal="I can't help with that."),
            ChatMessage("tool", "orphan output"),
            ChatMessage("user", "b"),
        ],
    )
    assert build(request)["messages"][1:3] == [
        {"role": "assistant", "content": "I can't help with that."},
        {"role": "user", "content": "orphan output"},
    ]


# -- documented responses and streams ------------------------------------------------------------------------
async def test_tool_call_response(provider_fixture: Callable[[str], bytes]) -> None:
    upstream = Upstream(reply(200, content=provider_fixture("cohere_ff_tool_calls.json")))
    response = await complete("cohere", COHERE, upstream, tool_use_request())
    assert response.tool_calls == [
        ToolCall("get_weather_k88p0m8504w5", "get_weather", '{"city":"Paris"}'),
        ToolCall("get_time_nsz5zm3w56q3", "get_time", '{"city":"Lisbon"}'),
    ]
    assert response.finish_reason == "tool_calls"
    # the tool plan is the turn's text (replayed as tool_plan), not reasoning
    assert response.text == "I will look up the weather in Paris and the time in Lisbon."
    assert response.reasoning is None
    assert response.usage == Usage(input_tokens=37, output_tokens=28)


async def test_thinking_and_logprobs_response(provider_fixture: Callable[[str], bytes]) -> None:
    upstream = Upstream(reply(200, content=provider_fixture("cohere_ff_thinking.json")))
    response = await complete("cohere", COHERE, upstream, structured_request())
    assert (response.text, response.finish_reason) == ("Three sisters.", "stop")
    assert response.reasoning == "Alice's brothers have Alice plus her 2 sisters."
    assert response.logprobs == [
        {"token": "Three", "logprob": -0.25, "bytes": list(b"Three"), "top_logprobs": []},
        {"token": " sisters.", "logprob": -0.625, "bytes": list(b" sisters."), "top_logprobs": []},
    ]


async def test_streamed_tool_calls(provider_fixture: Callable[[str], bytes]) -> None:
    upstream = Upstream(reply(200, headers=SSE, content=provider_fixture("cohere_ff_tool_stream.sse")))
    chunks, error = await stream("cohere", COHERE, upstream, tool_use_request())
    assert error is None
    deltas = [d for c in chunks for d in c.tool_calls or ()]
    # id and name on each call's first delta, argument pieces after
    assert [(d.index, d.id, d.name) for d in deltas if d.id] == [
        (0, "get_weather_nsz5zm3w56q3", "get_weather"),
        (1, "get_time_4n2c8x1d9k0p", "get_time"),
    ]
    assembler = ToolCallAssembler()
    for chunk in chunks:
        assembler.add(chunk.tool_calls)
    assert assembler.calls() == [
        ToolCall("get_weather_nsz5zm3w56q3", "get_weather", '{\n    "city": "Paris"\n}'),
        ToolCall("get_time_4n2c8x1d9k0p", "get_time", '{"city": "Lisbon"}'),
    ]
    assert "".join(c.delta for c in chunks) == "I will check both."
    assert not any(c.reasoning for c in chunks)
    assert chunks[-1].finish_reason == "tool_calls"
    assert chunks[-1].usage == Usage(input_tokens=37, output_tokens=28)


async def test_streamed_thinking_text_and_logprobs(provider_fixture: Callable[[str], bytes]) -> None:
    upstream = Upstream(reply(200, headers=SSE, content=provider_fixture("cohere_ff_thinking_stream.sse")))
    chunks, error = await stream("cohere", COHERE, upstream, structured_request())
    assert error is None
    assert "".join(c.reasoning for c in chunks) == "Alice's brothers have 3 sisters."
    assert "".join(c.delta for c in chunks) == "Three sisters."
    assert [lp["logprob"] for c in chunks for lp in c.logprobs or ()] == [-0.25, -0.625]
    assert chunks[-1].finish_reason == "stop"


async def test_a_stream_error_in_message_end_is_raised(provider_fixture: Callable[[str], bytes]) -> None:
    upstream = Upstream(reply(200, headers=SSE, content=provider_fixture("cohere_ff_stream_error.sse")))
    chunks, error = await stream("cohere", COHERE, upstream, structured_request())
    assert "".join(c.delta for c in chunks) == "Partial"  # what arrived is yielded first
    assert error is not None and error.error_class == "server_error"
    assert "internal error while generating" in str(error)


async def test_tool_call_indexes_map_to_call_order() -> None:
    """Cohere's ``index`` is the event's, not a call counter: calls are numbered 0, 1 as they start."""

    def event(kind: str, index: int, tool_calls: dict[str, Any]) -> dict[str, Any]:
        return {"type": kind, "index": index, "delta": {"message": {"tool_calls": tool_calls}}}

    start = {"type": "function", "function": {"name": "get_time", "arguments": ""}}
    events = [
        event("tool-call-start", 3, {"id": "a", **start}),
        event("tool-call-start", 5, {"id": "b", **start}),
        event("tool-call-delta", 5, {"function": {"arguments": "{}"}}),
        event("tool-call-delta", 3, {"function": {"arguments": "{}"}}),
        {"type": "message-end", "delta": {"finish_reason": "TOOL_CALL"}},
    ]
    body = b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events)
    chunks, error = await stream("cohere", COHERE, Upstream(reply(200, headers=SSE, content=body)))
    assert error is None
    deltas = [d for c in chunks for d in c.tool_calls or ()]
    assert [(d.index, d.id, d.arguments) for d in deltas] == [
        (0, "a", ""),
        (1, "b", ""),
        (1, None, "{}"),
        (0, None, "{}"),
    ]


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
    adapter = get_adapter("cohere")
    if not streaming:
        r = await adapter.complete(client, endpoint, request)
        return Answer(r.text, r.reasoning or "", r.tool_calls, r.finish_reason, r.usage)
    chunks: list[StreamChunk] = [c async for c in adapter.stream(client, endpoint, request)]
    assembler = ToolCallAssembler()
    for chunk in chunks:
        assembler.add(chunk.tool_calls)
    assert [i for i, c in enumerate(chunks) if c.usage] == [len(chunks) - 1]
    return Answer(
        "".join(c.delta for c in chunks),
        "".join(c.reasoning for c in chunks),
        assembler.calls(),
        chunks[-1].finish_reason,
        chunks[-1].usage,
    )


def sent(sim: SimulatorServer) -> dict[str, Any]:
    return sim.simulator.stats.snapshot()["recent"][-1]["body"]


def user(text: str, *parts: Any, **changes: Any) -> ChatRequest:
    content: Any = [TextPart(text), *parts] if parts else text
    return ChatRequest("command-a-03-2025", [ChatMessage("user", content)], **changes)


def valid_for(tool: Tool, call: ToolCall) -> bool:
    return Draft202012Validator(tool.parameters or {}).is_valid(orjson.loads(call.arguments))


STREAMING = pytest.mark.parametrize("streaming", [False, True], ids=["complete", "stream"])


@STREAMING
async def test_forced_tool_call(
    streaming: bool, sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    request = user("Say hello.", tools=[WEATHER, TIME], tool_choice=ToolChoice("required"))
    answer = await ask(client, sim_endpoint("cohere"), request, streaming)
    assert sent(sim)["tool_choice"] == "REQUIRED"
    assert [c.name for c in answer.tool_calls] == ["get_weather"]  # no tool named: the first
    assert valid_for(WEATHER, answer.tool_calls[0])
    assert answer.tool_calls[0].id.startswith("get_weather_")  # Cohere's id style
    assert (answer.text, answer.finish_reason) == ("I will call get_weather to answer this.", "tool_calls")
    assert answer.reasoning == ""
    assert answer.usage is not None
    plan_and_arguments = count_tokens(answer.text) + count_tokens(answer.tool_calls[0].arguments)
    assert answer.usage.output_tokens == plan_and_arguments


@STREAMING
async def test_automatic_tool_call_when_the_prompt_names_the_tool(
    streaming: bool, sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    endpoint = sim_endpoint("cohere")
    called = await ask(client, endpoint, user("Use get_time for Lisbon.", tools=[WEATHER, TIME]), streaming)
    assert "tool_choice" not in sent(sim)  # auto is Cohere's default
    assert [c.name for c in called.tool_calls] == ["get_time"]
    assert called.finish_reason == "tool_calls"
    plain = await ask(client, endpoint, user("Say hello.", tools=[WEATHER, TIME]), streaming)
    assert plain.tool_calls == [] and plain.finish_reason == "stop" and plain.text
    refused = await ask(
        client, endpoint, user("Use get_time.", tools=[TIME], tool_choice=ToolChoice("none")), streaming
    )
    assert sent(sim)["tool_choice"] == "NONE" and refused.tool_calls == []


@STREAMING
async def test_parallel_tool_calls(
    streaming: bool, sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    request = user("Call get_weather for Paris and get_time for Lisbon.", tools=[TIME, WEATHER])
    answer = await ask(client, sim_endpoint("cohere"), request, streaming)
    assert [c.name for c in answer.tool_calls] == ["get_weather", "get_time"]  # in the order named
    assert len({c.id for c in answer.tool_calls}) == 2
    assert valid_for(WEATHER, answer.tool_calls[0]) and valid_for(TIME, answer.tool_calls[1])
    assert answer.text == "I will call get_weather, get_time to answer this."


def history(call_id: str) -> ChatRequest:
    call = ToolCall("get_weather_abc123", "get_weather", '{"city":"Paris"}')
    return ChatRequest(
        "command-a-03-2025",
        [
            ChatMessage("user", "What is the weather in Paris? Use get_weather."),
            ChatMessage("assistant", "I will call get_weather to answer this.", tool_calls=[call]),
            ChatMessage("tool", '{"temperature_c": 21}', tool_call_id=call_id),
        ],
        tools=[WEATHER],
    )


@STREAMING
async def test_tool_results_in_history(
    streaming: bool, sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    endpoint = sim_endpoint("cohere")
    answer = await ask(client, endpoint, history("get_weather_abc123"), streaming)
    assert sent(sim)["messages"][1]["tool_plan"] == "I will call get_weather to answer this."
    assert answer.tool_calls == [] and answer.finish_reason == "stop"  # the agent loop ends
    assert answer.text.startswith("Simulated reply to: What is the weather in Paris?")

    with pytest.raises(ProviderError) as info:
        await ask(client, endpoint, history("get_weather_missing"), streaming)
    assert (info.value.error_class, info.value.status) == ("bad_request", 400)
    assert "tool_call_id" in info.value.message


@STREAMING
async def test_an_invalid_tool_schema_is_cohere_400(
    streaming: bool, sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    broken = Tool("lookup", parameters={"type": "object", "properties": {"q": {"type": "strnig"}}})
    with pytest.raises(ProviderError) as info:
        await ask(client, sim_endpoint("cohere"), user("hi", tools=[broken]), streaming)
    assert (info.value.error_class, info.value.status) == ("bad_request", 400)


@STREAMING
async def test_image_data_url_is_accepted_and_counted(
    streaming: bool, sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    endpoint = sim_endpoint("cohere")
    text_only = await ask(client, endpoint, user("Describe the image."), streaming)
    with_images = await ask(
        client,
        endpoint,
        user("Describe the image.", ImagePart(PNG), ImagePart(PNG, detail="low")),
        streaming,
    )
    assert sent(sim)["messages"][0]["content"][1] == {"type": "image_url", "image_url": {"url": PNG}}
    assert text_only.usage is not None and with_images.usage is not None
    assert with_images.usage.input_tokens - text_only.usage.input_tokens == IMAGE_TOKENS + IMAGE_TOKENS_LOW


@STREAMING
async def test_json_schema_answer_is_valid(
    streaming: bool, sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    answer = await ask(client, sim_endpoint("cohere"), structured_request(), streaming)
    assert sent(sim)["response_format"] == {"type": "json_object", "json_schema": HUB_SCHEMA}
    Draft202012Validator(HUB_SCHEMA).validate(orjson.loads(answer.text))


@STREAMING
async def test_reasoning_model_thinks_and_bills_it_as_output(
    streaming: bool, sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    sim.simulator.configure(output_tokens=40, reasoning_ratio=0.5)
    endpoint = sim_endpoint("cohere")
    request = user("Why are satellites insert-only?", reasoning_effort="medium")
    request.model = "command-a-reasoning-08-2025"
    thought = await ask(client, endpoint, request, streaming)
    assert sent(sim)["thinking"] == {"type": "enabled", "token_budget": 4096}
    assert thought.reasoning == "Thinking about: Why are satellites insert-only?"
    assert thought.text.startswith("Simulated reply to: Why are satellites")
    # Cohere reports no reasoning tokens apart: the 20 thinking tokens are inside the output.
    assert thought.usage is not None and thought.usage.output_tokens == 40 + 20
    assert thought.usage.reasoning_tokens == 0

    request.reasoning_effort = "none"
    plain = await ask(client, endpoint, request, streaming)
    assert sent(sim)["thinking"] == {"type": "disabled"}
    assert plain.reasoning == "" and plain.usage is not None and plain.usage.output_tokens == 40
