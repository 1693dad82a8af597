"""OpenAI Chat Completions full fidelity (OpenAI, Azure OpenAI, OpenAI-compatible): every role and
content part, tools and tool history, structured output, reasoning, logprobs and the options.

Golden wire tests first: the bodies the adapters build are compared with bodies shaped as the
Chat Completions API reference documents them (``tests/fixtures/providers/openai_ff_requests.json``),
and documented answer and stream shapes (``openai_ff_*``) are mapped. Then the adapters against the
running simulator, plain and streamed: forced, automatic and parallel tool calls, tool results in
history (and a tool message whose call is missing refused as OpenAI's 400), streamed tool calls
assembled with ``ToolCallAssembler``, an image data URL counted as tokens, a json_schema answer
valid for its schema and a reasoning model's reasoning tokens. Last, the simulator's own checks
at the HTTP level (what OpenAI rejects, and how it streams tool calls).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
from jsonschema import Draft202012Validator

from gateway.providers.base import ProviderEndpoint, get_adapter
from gateway.providers.capabilities import WIRE_OPTIONS
from gateway.providers.http import UpstreamClient
from gateway.providers.openai import PASS_THROUGH
from gateway.providers.types import (
    AudioPart,
    ChatMessage,
    ChatRequest,
    ChatResponse,
    FilePart,
    ImagePart,
    ProviderError,
    ResponseFormat,
    StreamChunk,
    TextPart,
    Tool,
    ToolCall,
    ToolCallAssembler,
    ToolCallDelta,
    ToolChoice,
    Usage,
)
from gateway.simulator import SimulatorServer
from gateway.simulator.toolgen import IMAGE_TOKENS, IMAGE_TOKENS_LOW
from gateway.simulator.wires.openai import TOOL_WITHOUT_CALL
from tests.gateway.providers.test_adapter_wire_formats import SSE, Upstream, complete, reply, stream

EndpointFactory = Callable[..., ProviderEndpoint]
STYLES = ("openai", "azure_openai", "openai_compatible")
ENDPOINTS = {
    "openai": ProviderEndpoint("openai", "https://api.openai.com/v1", "sk-openai-key"),
    "azure_openai": ProviderEndpoint("azure_openai", "https://contoso.openai.azure.com", "azure-key"),
    "openai_compatible": ProviderEndpoint("openai_compatible", "http://localhost:8000/v1", "vllm"),
}
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgAAIAAAUAAaJPXQAAAABJRU5ErkJggg=="
WEATHER = Tool(
    "get_weather",
    "Current weather in a city.",
    {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city", "unit"],
        "additionalProperties": False,
    },
    strict=True,
)
TIME = Tool("get_time")  # no description, no parameters: sent without them
CAPITAL = {
    "type": "object",
    "properties": {"country": {"type": "string"}, "capital": {"type": "string"}},
    "required": ["country", "capital"],
    "additionalProperties": False,
}
CALLS = [
    ToolCall("call_12345xyz", "get_weather", '{"city":"Paris","unit":"celsius"}'),
    ToolCall("call_67890abc", "get_time", '{"city":"Paris"}'),
]


def agent_request(model: str = "gpt-4o", **options: Any) -> ChatRequest:
    """Every role and part kind, a tool-call turn with its results, and a replayed refusal."""
    messages = [
        ChatMessage("system", "You are a travel agent."),
        ChatMessage("developer", "Answer in English."),
        ChatMessage(
            "user",
            [
                TextPart("What is in this picture, and what is the weather there?"),
                ImagePart(f"data:image/png;base64,{PIXEL}", "low"),
                ImagePart("https://example.com/paris.jpg"),
                AudioPart("UklGRiQAAABXQVZF", "wav"),
                FilePart("JVBERi0xLjQ=", "application/pdf", "itinerary.pdf"),
                FilePart(file_id="file-6F2ksmvXxt4VdoqmHRw6kL"),
            ],
            name="alice",
        ),
        ChatMessage("assistant", None, tool_calls=CALLS),
        ChatMessage("tool", '{"temperature":18}', tool_call_id="call_12345xyz"),
        ChatMessage("tool", [TextPart("09:30")], tool_call_id="call_67890abc"),
        ChatMessage("assistant", None, refusal="I cannot book flights."),
        ChatMessage("user", [TextPart("Then just "), TextPart("summarise, as JSON.")]),
    ]
    return ChatRequest(
        model,
        messages,
        max_tokens=512,
        temperature=0.2,
        top_p=0.9,
        stop=["END"],
        user="end-user-7",
        tools=[WEATHER, TIME],
        tool_choice=ToolChoice("function", "get_weather"),
        parallel_tool_calls=False,
        response_format=ResponseFormat("json_schema", "capital", CAPITAL, True, "A country and its capital."),
        reasoning_effort="low",
        seed=42,
        presence_penalty=0.5,
        frequency_penalty=-0.5,
        logit_bias={"50256": -100},
        logprobs=True,
        top_logprobs=3,
        n=2,
        metadata={"team": "travel"},
        **options,
    )


def build(style: str, request: ChatRequest, *, stream: bool = False) -> dict[str, Any]:
    return get_adapter(style).build(ENDPOINTS[style], request, stream=stream).body  # type: ignore[attr-defined]


# -- golden request bodies --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("style", "options"),
    [
        ("openai", {"service_tier": "flex"}),
        ("azure_openai", {"service_tier": "flex"}),
        ("openai_compatible", {"top_k": 40}),
    ],
)
def test_agent_request_matches_the_documented_body(
    style: str, options: dict[str, Any], provider_fixture: Callable[[str], bytes]
) -> None:
    expected = orjson.loads(provider_fixture("openai_ff_requests.json"))[style]
    assert build(style, agent_request(**options)) == expected


@pytest.mark.parametrize("style", STYLES)
def test_every_option_the_wire_honours_reaches_the_body(style: str) -> None:
    """Nothing the planner lets through is dropped: each option in the wire's capability row
    that ``ChatRequest`` can set lands in the body under a field of its own."""
    request = agent_request(service_tier="flex", top_k=40)
    body = build(style, request)
    honoured = WIRE_OPTIONS[style] & set(request.options_set())
    assert honoured - {"thinking_budget"} <= set(body)
    for name in PASS_THROUGH:  # and nothing outside the row is sent
        assert (name in body) == (name in honoured), name


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (ToolChoice("auto"), "auto"),
        (ToolChoice("none"), "none"),
        (ToolChoice("required"), "required"),
        (ToolChoice("function", "get_time"), {"type": "function", "function": {"name": "get_time"}}),
    ],
)
def test_tool_choice_values(choice: ToolChoice, expected: Any) -> None:
    request = ChatRequest("gpt-4o", [ChatMessage("user", "hi")], tools=[TIME], tool_choice=choice)
    assert build("openai", request)["tool_choice"] == expected


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        (ResponseFormat("text"), {"type": "text"}),
        (ResponseFormat("json_object"), {"type": "json_object"}),
        (  # OpenAI requires a name: an unnamed schema gets one
            ResponseFormat("json_schema", schema=CAPITAL),
            {"type": "json_schema", "json_schema": {"name": "response", "schema": CAPITAL}},
        ),
    ],
)
def test_response_format_values(fmt: ResponseFormat, expected: dict[str, Any]) -> None:
    request = ChatRequest("gpt-4o", [ChatMessage("user", "json please")], response_format=fmt)
    assert build("openai", request)["response_format"] == expected


def test_a_tool_turn_without_call_id_is_a_user_turn_and_text_parts_stay_parts() -> None:
    request = ChatRequest(
        "gpt-4o",
        [ChatMessage("tool", "legacy output"), ChatMessage("user", [TextPart("a"), TextPart("b")])],
    )
    assert build("openai", request)["messages"] == [
        {"role": "user", "content": "legacy output"},
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
    ]


def test_an_assistant_turn_with_text_and_tool_calls_keeps_its_text() -> None:
    request = ChatRequest("gpt-4o", [ChatMessage("assistant", "Checking.", tool_calls=CALLS[:1])])
    assert build("openai", request)["messages"] == [
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "call_12345xyz",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris","unit":"celsius"}'},
                }
            ],
        }
    ]


# -- golden answers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("style", STYLES)
async def test_tool_call_answer(style: str, provider_fixture: Callable[[str], bytes]) -> None:
    upstream = Upstream(reply(200, content=provider_fixture("openai_ff_tool_calls.json")))
    response = await complete(
        style, ENDPOINTS[style], upstream, ChatRequest("gpt-4o", [ChatMessage("user", "x")])
    )
    assert response.tool_calls == [
        ToolCall("call_12345xyz", "get_weather", '{"city":"Paris","unit":"celsius"}'),
        ToolCall("call_67890abc", "get_time", '{"city":"Lisbon"}'),
    ]
    assert (response.text, response.finish_reason, response.refusal) == ("", "tool_calls", None)
    assert response.usage == Usage(
        input_tokens=1210, output_tokens=40, cached_input_tokens=1024, audio_input_tokens=12
    )


async def test_refusal_is_carried_apart_and_only_choice_zero_is_read(
    provider_fixture: Callable[[str], bytes],
) -> None:
    upstream = Upstream(reply(200, content=provider_fixture("openai_ff_refusal_logprobs.json")))
    response = await complete("openai", ENDPOINTS["openai"], upstream, ChatRequest("gpt-4o", [], n=2))
    assert response.refusal == "I'm sorry, I cannot help with that."
    assert response.text == "" and response.finish_reason == "stop"
    assert response.logprobs is None  # logprobs.content is null for a refusal
    assert response.usage.output_tokens == 18  # usage covers both choices: n=2 is billed in full


async def test_logprobs_content_is_carried(provider_fixture: Callable[[str], bytes]) -> None:
    upstream = Upstream(reply(200, content=provider_fixture("openai_ff_logprobs.json")))
    response = await complete("openai", ENDPOINTS["openai"], upstream, ChatRequest("gpt-4o-mini", []))
    assert response.logprobs is not None
    assert [(t["token"], t["logprob"]) for t in response.logprobs] == [
        ("Hello", -0.31725305),
        ("!", -0.02380986),
    ]
    assert response.logprobs[0]["top_logprobs"][1]["token"] == "Hi"


async def test_reasoning_content_from_a_compatible_server(provider_fixture: Callable[[str], bytes]) -> None:
    upstream = Upstream(reply(200, content=provider_fixture("openai_ff_reasoning_content.json")))
    endpoint = ENDPOINTS["openai_compatible"]
    response = await complete("openai_compatible", endpoint, upstream, ChatRequest("deepseek-reasoner", []))
    assert response.reasoning == "Compare the tenths: 1 is less than 8, so 9.11 < 9.8."
    assert response.text == "9.11 is smaller than 9.8."
    assert response.usage == Usage(input_tokens=18, output_tokens=120, reasoning_tokens=104)


async def test_a_forced_call_answered_with_stop_is_tool_calls(
    provider_fixture: Callable[[str], bytes],
) -> None:
    """OpenAI finishes a call forced by name with ``stop``; the canonical answer says tool_calls."""
    data = orjson.loads(provider_fixture("openai_ff_tool_calls.json"))
    data["choices"][0]["finish_reason"] = "stop"
    upstream = Upstream(reply(200, json=data))
    response = await complete("openai", ENDPOINTS["openai"], upstream, ChatRequest("m", []))
    assert response.finish_reason == "tool_calls"


async def test_compatible_server_quirks_in_tool_calls() -> None:
    """Arguments sent as an object and a missing id still make a usable call; missing usage
    is estimated from the calls too."""
    body = {
        "model": "llama3.1",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [{"function": {"name": "get_time", "arguments": {"city": "Oslo"}}}],
                },
                "finish_reason": "stop",
            }
        ],
    }
    request = ChatRequest("llama3.1", [ChatMessage("user", [TextPart("what time is it")])])
    upstream = Upstream(reply(200, json=body))
    response = await complete("openai_compatible", ENDPOINTS["openai_compatible"], upstream, request)
    assert response.tool_calls == [ToolCall("call_0", "get_time", '{"city":"Oslo"}')]
    assert response.finish_reason == "tool_calls"
    assert response.usage == Usage(input_tokens=4, output_tokens=6)  # 15 chars; 8 + 15 chars


# -- golden streams ---------------------------------------------------------------------------------


@pytest.mark.parametrize("style", STYLES)
async def test_streamed_tool_calls(style: str, provider_fixture: Callable[[str], bytes]) -> None:
    upstream = Upstream(reply(200, headers=SSE, content=provider_fixture("openai_ff_tool_stream.sse")))
    chunks, error = await stream(style, ENDPOINTS[style], upstream, ChatRequest("gpt-4o", []))
    assert error is None
    deltas = [d for c in chunks for d in c.tool_calls or ()]
    assert deltas[0] == ToolCallDelta(0, "call_12345xyz", "get_weather", "")
    assert all(d.id is None and d.name is None for d in deltas if d not in (deltas[0], deltas[10]))
    assert deltas[10] == ToolCallDelta(1, "call_67890abc", "get_time", "")
    assembler = ToolCallAssembler()
    for chunk in chunks:
        assembler.add(chunk.tool_calls)
    assert assembler.calls() == [
        ToolCall("call_12345xyz", "get_weather", '{"city":"Paris","unit":"celsius"}'),
        ToolCall("call_67890abc", "get_time", '{"city":"Lisbon"}'),
    ]
    assert [c.finish_reason for c in chunks if c.finish_reason] == ["tool_calls"]
    assert chunks[-1].usage == Usage(input_tokens=1210, output_tokens=40, cached_input_tokens=1024)


async def test_streamed_reasoning_content(provider_fixture: Callable[[str], bytes]) -> None:
    sse = provider_fixture("openai_ff_reasoning_stream.sse")
    chunks, error = await stream(
        "openai_compatible", ENDPOINTS["openai_compatible"], Upstream(reply(200, headers=SSE, content=sse))
    )
    assert error is None
    assert "".join(c.reasoning for c in chunks) == "Compare the tenths."
    assert "".join(c.delta for c in chunks) == "9.11 is smaller."
    assert chunks[-1].usage == Usage(input_tokens=18, output_tokens=60, reasoning_tokens=50)


async def test_streamed_refusal_and_logprobs() -> None:
    events = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": None, "refusal": ""}}]},
        {"choices": [{"index": 0, "delta": {"refusal": "I can't "}}]},
        {"choices": [{"index": 0, "delta": {"refusal": "help."}}]},
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {"content": "Hi"},
                    "logprobs": {"content": [{"token": "Hi", "logprob": -0.1, "bytes": [72, 105]}]},
                },
                {"index": 1, "delta": {"content": "second choice"}},
            ]
        },
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    ]
    sse = b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events) + b"data: [DONE]\n\n"
    chunks, error = await stream(
        "openai", ENDPOINTS["openai"], Upstream(reply(200, headers=SSE, content=sse))
    )
    assert error is None
    assert "".join(c.refusal for c in chunks) == "I can't help."
    assert "".join(c.delta for c in chunks) == "Hi"  # choice 1 is not carried
    assert [lp["token"] for c in chunks for lp in c.logprobs or ()] == ["Hi"]


async def test_a_server_that_repeats_ids_and_omits_indexes_still_streams_each_call_once() -> None:
    """Some compatible servers repeat id and name on every delta and leave out ``index``; the
    canonical stream still names each call once (clients concatenate names otherwise)."""
    events = [
        {"id": "a", "function": {"name": "get_weather", "arguments": '{"city":'}},
        {"id": "a", "function": {"name": "get_weather", "arguments": '"Rome"}'}},
        {"id": "b", "function": {"name": "get_time", "arguments": "{}"}},
    ]
    sse = b"".join(
        b"data: " + orjson.dumps({"choices": [{"index": 0, "delta": {"tool_calls": [e]}}]}) + b"\n\n"
        for e in events
    )
    sse += b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}\n\n'
    chunks, error = await stream(
        "openai_compatible", ENDPOINTS["openai_compatible"], Upstream(reply(200, headers=SSE, content=sse))
    )
    assert error is None
    deltas = [d for c in chunks for d in c.tool_calls or ()]
    assert deltas == [
        ToolCallDelta(0, "a", "get_weather", '{"city":'),
        ToolCallDelta(0, None, None, '"Rome"}'),
        ToolCallDelta(1, "b", "get_time", "{}"),
    ]


async def test_a_compatible_server_that_ignores_stream_answers_whole_with_its_tool_calls(
    provider_fixture: Callable[[str], bytes],
) -> None:
    json_type = {"content-type": "application/json"}
    upstream = Upstream(reply(200, headers=json_type, content=provider_fixture("openai_ff_tool_calls.json")))
    chunks, error = await stream("openai_compatible", ENDPOINTS["openai_compatible"], upstream)
    assert error is None and len(chunks) == 1
    assembler = ToolCallAssembler()
    assembler.add(chunks[0].tool_calls)
    assert [c.name for c in assembler.calls()] == ["get_weather", "get_time"]
    assert chunks[0].finish_reason == "tool_calls"


# -- against the simulator --------------------------------------------------------------------------

FULL = ("openai", "azure_openai", "openai_compatible")


async def answer(
    client: UpstreamClient, endpoint: ProviderEndpoint, request: ChatRequest, streaming: bool
) -> ChatResponse:
    """A plain answer, or a streamed one assembled back into a ``ChatResponse``."""
    adapter = get_adapter(endpoint.api_style)
    if not streaming:
        return await adapter.complete(client, endpoint, request)
    chunks: list[StreamChunk] = [c async for c in adapter.stream(client, endpoint, request)]
    assembler = ToolCallAssembler()
    for chunk in chunks:
        assembler.add(chunk.tool_calls)
    for chunk in chunks:  # each call's id and name come once, on its first delta
        for delta in chunk.tool_calls or ():
            first = next(d for c in chunks for d in c.tool_calls or () if d.index == delta.index)
            assert (delta.id is not None) == (delta is first) and (delta.name is not None) == (delta is first)
    return ChatResponse(
        text="".join(c.delta for c in chunks),
        finish_reason=next((c.finish_reason for c in chunks if c.finish_reason), None),
        usage=chunks[-1].usage or Usage(),
        model=request.model,
        tool_calls=assembler.calls(),
        reasoning="".join(c.reasoning for c in chunks) or None,
    )


def assert_valid(calls: list[ToolCall], names: list[str], tools: list[Tool]) -> None:
    assert [c.name for c in calls] == names
    assert len({c.id for c in calls}) == len(calls) and all(c.id.startswith("call_") for c in calls)
    schemas = {t.name: t.parameters or {"type": "object"} for t in tools}
    for call in calls:
        Draft202012Validator(schemas[call.name]).validate(orjson.loads(call.arguments))


def ask(text: str | list[Any], model: str = "gpt-4o-mini", **options: Any) -> ChatRequest:
    return ChatRequest(model, [ChatMessage("user", text)], **options)


streaming = pytest.mark.parametrize("streaming", [False, True], ids=["plain", "stream"])
styles = pytest.mark.parametrize("style", FULL)


@streaming
@styles
async def test_forced_tool_call(
    style: str, streaming: bool, sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    request = ask("Anything new?", tools=[WEATHER, TIME], tool_choice=ToolChoice("function", "get_time"))
    response = await answer(client, sim_endpoint(style), request, streaming)
    assert_valid(response.tool_calls, ["get_time"], [WEATHER, TIME])
    assert response.finish_reason == "tool_calls"  # the simulator, like OpenAI, says stop
    assert response.text == "" and response.usage.output_tokens > 0


@streaming
@styles
async def test_automatic_and_parallel_tool_calls(
    style: str, streaming: bool, sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    endpoint = sim_endpoint(style)
    one = await answer(client, endpoint, ask("Call get_weather for Paris", tools=[WEATHER, TIME]), streaming)
    assert_valid(one.tool_calls, ["get_weather"], [WEATHER, TIME])
    assert one.finish_reason == "tool_calls"
    both = await answer(
        client, endpoint, ask("Use get_weather and get_time", tools=[WEATHER, TIME]), streaming
    )
    assert_valid(both.tool_calls, ["get_weather", "get_time"], [WEATHER, TIME])
    serial = ask("Use get_weather and get_time", tools=[WEATHER, TIME], parallel_tool_calls=False)
    assert [c.name for c in (await answer(client, endpoint, serial, streaming)).tool_calls] == ["get_weather"]
    prose = await answer(client, endpoint, ask("Just say hello", tools=[WEATHER, TIME]), streaming)
    assert prose.tool_calls == [] and prose.finish_reason == "stop" and prose.text


def history(call_id: str = "call_1") -> list[ChatMessage]:
    return [
        ChatMessage("developer", "You are a travel agent."),
        ChatMessage("user", "Use get_weather for Oslo"),
        ChatMessage("assistant", None, tool_calls=[ToolCall("call_1", "get_weather", '{"city":"Oslo"}')]),
        ChatMessage("tool", '{"temperature": 4}', tool_call_id=call_id),
    ]


@streaming
@styles
async def test_tool_results_in_history_are_accepted(
    style: str, streaming: bool, sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    endpoint = sim_endpoint(style)
    request = ChatRequest("gpt-4o-mini", history(), tools=[WEATHER])
    response = await answer(client, endpoint, request, streaming)
    assert response.tool_calls == [] and response.finish_reason == "stop" and response.text
    shorter = await answer(client, endpoint, dataclasses.replace(request, messages=history()[:2]), streaming)
    assert response.usage.input_tokens > shorter.usage.input_tokens  # the call and its result were read


@streaming
@styles
async def test_a_tool_message_whose_call_is_missing_is_openais_400(
    style: str, streaming: bool, sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    request = ChatRequest("gpt-4o-mini", history(call_id="call_unknown"), tools=[WEATHER])
    with pytest.raises(ProviderError) as info:
        await answer(client, sim_endpoint(style), request, streaming)
    assert (info.value.error_class, info.value.status) == ("bad_request", 400)
    assert TOOL_WITHOUT_CALL in info.value.message


@streaming
@styles
async def test_an_invalid_tool_schema_is_a_400(
    style: str, streaming: bool, sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    bad = Tool("get_weather", parameters={"type": "object", "properties": {"city": {"type": "strng"}}})
    loose = dataclasses.replace(
        WEATHER, parameters={**(WEATHER.parameters or {}), "additionalProperties": True}
    )
    for tool, needle in ((bad, "Invalid schema for tool 'get_weather'"), (loose, "'additionalProperties'")):
        with pytest.raises(ProviderError) as info:
            await answer(client, sim_endpoint(style), ask("hi", tools=[tool]), streaming)
        assert info.value.status == 400 and needle in info.value.message


@streaming
@styles
async def test_an_image_data_url_is_accepted_and_counted(
    style: str, streaming: bool, sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    endpoint = sim_endpoint(style)
    text = await answer(client, endpoint, ask([TextPart("What is this?")]), streaming)
    image = ImagePart(f"data:image/png;base64,{PIXEL}")
    high = await answer(client, endpoint, ask([TextPart("What is this?"), image]), streaming)
    low = ask([TextPart("What is this?"), dataclasses.replace(image, detail="low")])
    assert high.usage.input_tokens == text.usage.input_tokens + IMAGE_TOKENS
    assert (await answer(client, endpoint, low, streaming)).usage.input_tokens == (
        text.usage.input_tokens + IMAGE_TOKENS_LOW
    )
    assert high.text.startswith("Simulated reply to: What is this?")


@styles
async def test_audio_input_tokens_are_reported(
    style: str, sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    request = ask([TextPart("Transcribe"), AudioPart("A" * 640, "wav")], "gpt-4o-audio-preview")
    response = await answer(client, sim_endpoint(style), request, False)
    assert response.usage.audio_input_tokens == 10  # 640 base64 characters, 64 a token


@streaming
@styles
async def test_a_json_schema_answer_is_valid_for_the_schema(
    style: str, streaming: bool, sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    fmt = ResponseFormat("json_schema", "capital", CAPITAL, strict=True)
    response = await answer(
        client, sim_endpoint(style), ask("The capital of France", response_format=fmt), streaming
    )
    Draft202012Validator(CAPITAL).validate(orjson.loads(response.text))


@streaming
@styles
async def test_a_reasoning_model_reports_reasoning_tokens(
    style: str, streaming: bool, sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    endpoint = sim_endpoint(style)
    thinking = await answer(
        client, endpoint, ask("Plan a trip", "o3-mini", reasoning_effort="low"), streaming
    )
    assert thinking.usage.reasoning_tokens > 0
    assert thinking.usage.output_tokens == 64 + thinking.usage.reasoning_tokens
    off = await answer(client, endpoint, ask("Plan a trip", "o3-mini", reasoning_effort="none"), streaming)
    assert off.usage.reasoning_tokens == 0
    tools = await answer(
        client,
        endpoint,
        ask("Call get_weather for Bern", "o3-mini", tools=[WEATHER], reasoning_effort="low"),
        streaming,
    )
    assert tools.finish_reason == "tool_calls" and tools.usage.reasoning_tokens > 0


@styles
async def test_the_whole_agent_request_is_accepted(
    style: str, sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    """Every part kind, the tool turn, the refusal and every option, as the simulator checks them."""
    options = {"top_k": 40} if style == "openai_compatible" else {"service_tier": "flex"}
    request = dataclasses.replace(agent_request("gpt-4o", **options), n=None)
    response = await answer(client, sim_endpoint(style), request, False)
    assert_valid(response.tool_calls, ["get_weather"], [WEATHER, TIME])  # forced by name
    assert response.usage.input_tokens > IMAGE_TOKENS + IMAGE_TOKENS_LOW


# -- the simulator's own checks, at the HTTP level ----------------------------------------------------

AUTH = {"authorization": "Bearer sk-sim"}
TOOLS = [
    {
        "type": "function",
        "function": {"name": "get_weather", "parameters": WEATHER.parameters, "strict": True},
    },
    {"type": "function", "function": {"name": "get_time"}},
]


@pytest.fixture
async def http(sim: SimulatorServer):
    async with httpx.AsyncClient(base_url=sim.url, trust_env=False, timeout=10) as client:
        yield client


def body(messages: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": messages, **extra}


USER = {"role": "user", "content": "Call get_weather and get_time"}
CALLED = {
    "role": "assistant",
    "content": None,
    "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}],
}


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        (body([USER, CALLED]), "did not have response messages: call_1"),
        (body([USER, {"role": "tool", "content": "x"}]), "'messages[1].tool_call_id'"),
        (body([USER, CALLED, {"role": "tool", "tool_call_id": "call_2", "content": "x"}]), "preceeding"),
        (body([USER], tool_choice="auto"), "only allowed when 'tools' are specified"),
        (body([USER], parallel_tool_calls=False), "'parallel_tool_calls' is only allowed"),
        (body([USER], tools=TOOLS, tool_choice={"type": "function", "function": {"name": "x"}}), "'x'"),
        (body([USER], tools=[{"type": "function", "function": {"name": "bad name"}}]), "Invalid tool name"),
        (body([USER], response_format={"type": "json_object"}), "the word 'json'"),
        (body([USER], response_format={"type": "json_schema", "json_schema": {"schema": {}}}), ".name'"),
        (body([USER], reasoning_effort="max"), "reasoning_effort"),
        (
            body(
                [
                    {
                        "role": "system",
                        "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}],
                    }
                ]
            ),
            "only allowed for messages with role 'user'",
        ),
        (
            body([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}]}]),
            "image_url.url",
        ),
        (
            body(
                [
                    {
                        "role": "user",
                        "content": [{"type": "input_audio", "input_audio": {"data": "AA", "format": "ogg"}}],
                    }
                ]
            ),
            "'wav' and 'mp3'",
        ),
        (body([{"role": "user", "content": None}]), "got null"),
    ],
)
async def test_what_openai_rejects_is_a_400(
    payload: dict[str, Any], needle: str, http: httpx.AsyncClient
) -> None:
    response = await http.post("/v1/chat/completions", headers=AUTH, json=payload)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and needle in error["message"]


async def test_a_tool_call_answer_and_stream_as_openai_sends_them(http: httpx.AsyncClient) -> None:
    payload = body([USER], tools=TOOLS)
    plain = (await http.post("/v1/chat/completions", headers=AUTH, json=payload)).json()
    choice = plain["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    calls = choice["message"]["tool_calls"]
    assert [(c["type"], c["function"]["name"]) for c in calls] == [
        ("function", "get_weather"),
        ("function", "get_time"),
    ]

    streamed = await http.post(
        "/v1/chat/completions",
        headers=AUTH,
        json={**payload, "stream": True, "stream_options": {"include_usage": True}},
    )
    events = [orjson.loads(line[6:]) for line in streamed.text.split("\n\n") if line.startswith("data: {")]
    deltas = [e["choices"][0]["delta"] for e in events if e["choices"]]
    pieces = [tc for d in deltas for tc in d.get("tool_calls", ())]
    firsts = [tc for tc in pieces if "id" in tc]
    assert firsts == [
        {
            "index": i,
            "id": c["id"],
            "type": "function",
            "function": {"name": c["function"]["name"], "arguments": ""},
        }
        for i, c in enumerate(calls)
    ]
    for i, call in enumerate(calls):
        joined = "".join(tc["function"]["arguments"] for tc in pieces if tc["index"] == i)
        assert joined == call["function"]["arguments"]
        pieces_of_call = sum(1 for tc in pieces if tc["index"] == i) - 1
        assert pieces_of_call == -(-len(joined) // 4)  # the arguments came in pieces of a few characters
    assert [e["choices"][0]["finish_reason"] for e in events if e["choices"]][-1] == "tool_calls"
    assert events[-1]["usage"]["completion_tokens"] == plain["usage"]["completion_tokens"]

    forced = {**payload, "tool_choice": {"type": "function", "function": {"name": "get_time"}}}
    answer_ = (await http.post("/v1/chat/completions", headers=AUTH, json=forced)).json()
    assert answer_["choices"][0]["finish_reason"] == "stop"  # OpenAI's answer to a call forced by name
    assert [c["function"]["name"] for c in answer_["choices"][0]["message"]["tool_calls"]] == ["get_time"]


async def test_azure_tool_calls_keep_azures_shape(http: httpx.AsyncClient) -> None:
    path = "/openai/deployments/dep-1/chat/completions?api-version=2024-10-21"
    payload = {"messages": [USER], "tools": TOOLS}
    plain = (await http.post(path, headers={"api-key": "k"}, json=payload)).json()
    assert plain["model"] == "dep-1" and "prompt_filter_results" in plain
    assert plain["choices"][0]["finish_reason"] == "tool_calls"
    streamed = await http.post(path, headers={"api-key": "k"}, json={**payload, "stream": True})
    first = orjson.loads(streamed.text.split("\n\n")[0][6:])
    assert first["choices"] == [] and "prompt_filter_results" in first
