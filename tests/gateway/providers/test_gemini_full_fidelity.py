"""Gemini generateContent full fidelity: every role and content part, function declarations and
function-call history, structured output, thinking, logprobs and the generation options.

Golden wire tests first: the body the adapter builds is compared with a body shaped as the Gemini
API reference documents ``GenerateContentRequest`` (``tests/fixtures/providers/gemini_ff_requests.json``),
and documented answer and stream shapes (``gemini_ff_*``) are mapped. Then the adapter against
the running simulator, plain and streamed: forced, automatic and parallel function calls,
function results in history (and a result whose call is missing refused as Gemini's 400),
streamed calls assembled with ``ToolCallAssembler``, an image data URL counted as tokens, a
json_schema answer valid for its schema and a thinking model's reasoning tokens and thoughts.
Last, the simulator's own checks at the HTTP level (what Gemini rejects, and how it answers).
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
from gateway.providers.gemini import SKIP_SIGNATURE
from gateway.providers.http import UpstreamClient
from gateway.providers.types import (
    AudioPart,
    ChatMessage,
    ChatRequest,
    FilePart,
    ImagePart,
    ProviderError,
    ResponseFormat,
    TextPart,
    ToolCall,
    ToolCallAssembler,
    ToolCallDelta,
    ToolChoice,
    Usage,
)
from gateway.simulator import SimulatorServer
from gateway.simulator.toolgen import AUDIO_B64_PER_TOKEN, IMAGE_TOKENS
from gateway.simulator.wires.gemini import FUNCTION_RESPONSE_WITHOUT_CALL
from tests.gateway.providers.test_adapter_wire_formats import SSE, Upstream, complete, reply, stream
from tests.gateway.providers.test_openai_full_fidelity import (
    CALLS,
    CAPITAL,
    PIXEL,
    TIME,
    WEATHER,
    answer,
    assert_valid,
)

EndpointFactory = Callable[..., ProviderEndpoint]
GEMINI = ProviderEndpoint("gemini", "https://generativelanguage.googleapis.com", "AIza-gemini-key")
RESPONSE_ID = "3OJjaN7YCvDQz7IP-JXNqQE"
ANSWERED_CALLS = [
    ToolCall(f"call_{RESPONSE_ID}_0", "get_weather", '{"city":"Paris","unit":"celsius"}'),
    ToolCall(f"call_{RESPONSE_ID}_1", "get_time", '{"city":"Lisbon"}'),
]
FIXTURE_USAGE = Usage(
    input_tokens=1412,
    output_tokens=138,
    reasoning_tokens=100,
    image_input_tokens=1000,
    audio_input_tokens=23,
)


def agent_request(model: str = "gemini-2.5-flash", **options: Any) -> ChatRequest:
    """Every role and part kind, a function-call turn with both results, and a replayed refusal."""
    messages = [
        ChatMessage("system", "You are a travel agent."),
        ChatMessage("developer", "Answer in English."),
        ChatMessage(
            "user",
            [
                TextPart("What is in this picture, and what is the weather there?"),
                ImagePart(f"data:image/png;base64,{PIXEL}", "low"),
                ImagePart("https://example.com/paris.png"),
                AudioPart("UklGRiQAAABXQVZF", "wav"),
                FilePart("JVBERi0xLjQ=", "application/pdf", "itinerary.pdf"),
                FilePart(file_id="https://generativelanguage.googleapis.com/v1beta/files/abc-123"),
            ],
        ),
        ChatMessage("assistant", "Let me check.", tool_calls=CALLS),
        ChatMessage("tool", '{"temperature":18}', tool_call_id="call_12345xyz"),
        ChatMessage("tool", [TextPart("09:30")], tool_call_id="call_67890abc"),
        ChatMessage("assistant", None, refusal="I cannot book flights."),
        ChatMessage("user", "Then just summarise, as JSON."),
    ]
    return ChatRequest(
        model,
        messages,
        max_tokens=512,
        temperature=0.2,
        top_p=0.9,
        top_k=40,
        stop=["END"],
        user="end-user-7",
        tools=[WEATHER, TIME],
        tool_choice=ToolChoice("function", "get_weather"),
        response_format=ResponseFormat("json_schema", "capital", CAPITAL, True),
        reasoning_effort="low",
        seed=42,
        presence_penalty=0.5,
        frequency_penalty=-0.5,
        logprobs=True,
        top_logprobs=3,
        n=2,
        **options,
    )


def build(request: ChatRequest, *, stream: bool = False) -> dict[str, Any]:
    return get_adapter("gemini").build(GEMINI, request, stream=stream).body  # type: ignore[attr-defined]


def ask(text: str | list[Any], model: str = "gemini-2.5-flash", **options: Any) -> ChatRequest:
    return ChatRequest(model, [ChatMessage("user", text)], **options)


# -- golden request bodies --------------------------------------------------------------------------


def test_agent_request_matches_the_documented_body(provider_fixture: Callable[[str], bytes]) -> None:
    expected = orjson.loads(provider_fixture("gemini_ff_requests.json"))["agent"]
    body = build(agent_request())
    assert body == expected
    assert "end-user-7" not in orjson.dumps(body).decode()  # ``user`` has no Gemini field


# Where each option the Gemini wire honours lands in the body.
OPTION_FIELDS = {
    "temperature": ("generationConfig", "temperature"),
    "top_p": ("generationConfig", "topP"),
    "top_k": ("generationConfig", "topK"),
    "stop": ("generationConfig", "stopSequences"),
    "tools": ("tools",),
    "tool_choice": ("toolConfig", "functionCallingConfig"),
    "response_format": ("generationConfig", "responseJsonSchema"),
    "reasoning_effort": ("generationConfig", "thinkingConfig"),
    "thinking_budget": ("generationConfig", "thinkingConfig"),
    "seed": ("generationConfig", "seed"),
    "presence_penalty": ("generationConfig", "presencePenalty"),
    "frequency_penalty": ("generationConfig", "frequencyPenalty"),
    "logprobs": ("generationConfig", "responseLogprobs"),
    "top_logprobs": ("generationConfig", "logprobs"),
    "n": ("generationConfig", "candidateCount"),
}


def test_every_option_the_wire_honours_reaches_the_body() -> None:
    """Nothing the planner lets through is dropped: each option in Gemini's capability row has
    a field of its own in the body."""
    assert set(OPTION_FIELDS) == WIRE_OPTIONS["gemini"]
    request = agent_request(thinking_budget=2048)
    assert set(request.options_set()) >= set(OPTION_FIELDS)
    body = build(request)
    for option, path in OPTION_FIELDS.items():
        node: Any = body
        for key in path:
            assert key in node, (option, path)
            node = node[key]
    assert body["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 2048, "includeThoughts": True}


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (ToolChoice("auto"), {"mode": "AUTO"}),
        (ToolChoice("none"), {"mode": "NONE"}),
        (ToolChoice("required"), {"mode": "ANY"}),
        (ToolChoice("function", "get_time"), {"mode": "ANY", "allowedFunctionNames": ["get_time"]}),
    ],
)
def test_tool_choice_modes(choice: ToolChoice, expected: dict[str, Any]) -> None:
    body = build(ask("hi", tools=[TIME], tool_choice=choice))
    assert body["toolConfig"] == {"functionCallingConfig": expected}
    assert body["tools"] == [{"functionDeclarations": [{"name": "get_time"}]}]


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        (ResponseFormat("text"), None),
        (ResponseFormat("json_object"), {"responseMimeType": "application/json"}),
        (
            ResponseFormat("json_schema", schema=CAPITAL),
            {"responseMimeType": "application/json", "responseJsonSchema": CAPITAL},
        ),
    ],
)
def test_response_formats(fmt: ResponseFormat, expected: dict[str, Any] | None) -> None:
    assert build(ask("json please", response_format=fmt)).get("generationConfig") == expected


@pytest.mark.parametrize(
    ("model", "options", "expected"),
    [
        (
            "gemini-2.5-flash",
            {"reasoning_effort": "high"},
            {"thinkingBudget": 16384, "includeThoughts": True},
        ),
        ("gemini-2.5-flash", {"reasoning_effort": "none"}, {"thinkingBudget": 0}),
        ("gemini-2.5-flash", {"thinking_budget": 0}, {"thinkingBudget": 0}),
        ("gemini-2.5-pro", {"thinking_budget": 300}, {"thinkingBudget": 300, "includeThoughts": True}),
        ("gemini-2.0-flash", {"reasoning_effort": "none"}, None),  # cannot think: already "none"
    ],
)
def test_thinking_config(model: str, options: dict[str, Any], expected: dict[str, Any] | None) -> None:
    config = build(ask("think", model, **options)).get("generationConfig") or {}
    assert config.get("thinkingConfig") == expected


def test_tool_results_are_merged_named_and_wrapped() -> None:
    """Consecutive results share one user turn; a result that is not a JSON object is wrapped;
    a result whose call is not in the history keeps the message name (else its id) for Gemini
    to judge; a tool turn without a call id is a plain user turn."""
    request = ChatRequest(
        "gemini-2.5-flash",
        [
            ChatMessage("user", "Use both"),
            ChatMessage("assistant", None, tool_calls=CALLS),
            ChatMessage("tool", "[1, 2]", tool_call_id="call_12345xyz"),
            ChatMessage("tool", "not json", tool_call_id="call_67890abc"),
            ChatMessage("tool", "{}", name="legacy_fn", tool_call_id="call_fn_1"),
            ChatMessage("tool", "{}", tool_call_id="call_unknown"),
            ChatMessage("user", "Thanks"),
            ChatMessage("tool", "legacy output"),
        ],
    )
    contents = build(request)["contents"]
    assert contents[1] == {
        "role": "model",
        "parts": [
            {
                "functionCall": {
                    "id": "call_12345xyz",
                    "name": "get_weather",
                    "args": {"city": "Paris", "unit": "celsius"},
                }
            },
            {"functionCall": {"id": "call_67890abc", "name": "get_time", "args": {"city": "Paris"}}},
        ],
    }
    assert contents[2] == {
        "role": "user",
        "parts": [
            {
                "functionResponse": {
                    "id": "call_12345xyz",
                    "name": "get_weather",
                    "response": {"result": "[1, 2]"},
                }
            },
            {
                "functionResponse": {
                    "id": "call_67890abc",
                    "name": "get_time",
                    "response": {"result": "not json"},
                }
            },
            {"functionResponse": {"id": "call_fn_1", "name": "legacy_fn", "response": {}}},
            {"functionResponse": {"id": "call_unknown", "name": "call_unknown", "response": {}}},
        ],
    }
    assert contents[3:] == [
        {"role": "user", "parts": [{"text": "Thanks"}]},
        {"role": "user", "parts": [{"text": "legacy output"}]},
    ]


@pytest.mark.parametrize(
    ("url", "mime"),
    [
        ("https://example.com/a/photo.webp?size=large", "image/webp"),
        ("https://example.com/photo.PNG", "image/png"),
        ("https://example.com/render", "image/jpeg"),  # no extension: the documented default
        ("https://example.com/doc.pdf", "image/jpeg"),  # an image part is an image
    ],
)
def test_image_urls_are_file_data_with_a_guessed_type(url: str, mime: str) -> None:
    parts = build(ask([ImagePart(url)]))["contents"][0]["parts"]
    assert parts == [{"fileData": {"mimeType": mime, "fileUri": url}}]


def test_gemini_3_replays_calls_with_the_documented_signature_sentinel() -> None:
    """Gemini 3 refuses a replayed call without a thought signature; only the first call of a
    model turn carries one (as Gemini itself signs parallel calls). Gemini 2.5 gets none."""
    history = [ChatMessage("user", "Use both"), ChatMessage("assistant", None, tool_calls=CALLS)]
    three = build(ChatRequest("gemini-3-pro-preview", history))["contents"][1]["parts"]
    assert [p.get("thoughtSignature") for p in three] == [SKIP_SIGNATURE, None]
    two = build(ChatRequest("gemini-2.5-pro", history))["contents"][1]["parts"]
    assert all("thoughtSignature" not in p for p in two)


@pytest.mark.parametrize(
    ("message", "param"),
    [
        (ChatMessage("assistant", None, tool_calls=[ToolCall("c1", "get_time", "[1]")]), "messages"),
        (ChatMessage("assistant", None, tool_calls=[ToolCall("c1", "get_time", "{oops")]), "messages"),
        (ChatMessage("system", [TextPart("look"), ImagePart("https://x/y.png")]), "image_url"),
    ],
)
def test_what_gemini_cannot_take_is_a_clear_400_not_a_rewrite(message: ChatMessage, param: str) -> None:
    with pytest.raises(ProviderError) as info:
        build(ChatRequest("gemini-2.5-flash", [ChatMessage("user", "hi"), message]))
    assert (info.value.error_class, info.value.param) == ("bad_request", param)


def test_empty_arguments_are_an_empty_object() -> None:
    request = ChatRequest("m", [ChatMessage("assistant", None, tool_calls=[ToolCall("c1", "get_time", "")])])
    assert build(request)["contents"][0]["parts"][0]["functionCall"]["args"] == {}


# -- golden answers ---------------------------------------------------------------------------------


async def test_function_call_answer(provider_fixture: Callable[[str], bytes]) -> None:
    upstream = Upstream(reply(200, content=provider_fixture("gemini_ff_function_calls.json")))
    response = await complete("gemini", GEMINI, upstream, ask("weather and time"))
    assert response.tool_calls == ANSWERED_CALLS  # ids made from the response id, by position
    assert response.finish_reason == "tool_calls"  # Gemini says STOP
    assert response.text == "I'll look both up."
    assert response.reasoning == (
        "**Checking the forecast**\n\nThe user wants the weather and the time in Paris."
    )
    assert response.usage == FIXTURE_USAGE
    assert response.provider_request_id == RESPONSE_ID


async def test_ids_gemini_gives_are_kept_and_missing_response_ids_still_give_stable_ids() -> None:
    parts = [
        {"functionCall": {"id": "fc-1", "name": "get_time", "args": {}}},
        {"functionCall": {"name": "get_time", "args": {"city": "Oslo"}}},
    ]
    body = {
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 4},
    }
    first = await complete("gemini", GEMINI, Upstream(reply(200, json=body)), ask("x"))
    again = await complete("gemini", GEMINI, Upstream(reply(200, json=body)), ask("x"))
    assert first.tool_calls[0].id == "fc-1"
    assert first.tool_calls[1].id == again.tool_calls[1].id
    assert first.tool_calls[1].id.startswith("call_") and len(first.tool_calls[1].id) <= 40


async def test_logprobs_result_is_carried_in_openai_shape(provider_fixture: Callable[[str], bytes]) -> None:
    upstream = Upstream(reply(200, content=provider_fixture("gemini_ff_logprobs.json")))
    response = await complete("gemini", GEMINI, upstream, ask("hi", logprobs=True, top_logprobs=2))
    assert response.logprobs == [
        {
            "token": "Hello",
            "logprob": -0.31725305,
            "bytes": list(b"Hello"),
            "top_logprobs": [
                {"token": "Hello", "logprob": -0.31725305, "bytes": list(b"Hello")},
                {"token": "Hi", "logprob": -1.3169657, "bytes": list(b"Hi")},
            ],
        },
        {
            "token": "!",
            "logprob": -0.02380986,
            "bytes": list(b"!"),
            "top_logprobs": [
                {"token": "!", "logprob": -0.02380986, "bytes": list(b"!")},
                {"token": ",", "logprob": -3.7581468, "bytes": list(b",")},
            ],
        },
    ]
    assert response.finish_reason == "stop" and response.text == "Hello!"


async def test_streamed_function_calls(provider_fixture: Callable[[str], bytes]) -> None:
    sse = provider_fixture("gemini_ff_function_call_stream.sse")
    chunks, error = await stream("gemini", GEMINI, Upstream(reply(200, headers=SSE, content=sse)))
    assert error is None
    deltas = [d for c in chunks for d in c.tool_calls or ()]
    assert deltas == [  # each call whole, in one delta, indexed across the stream
        ToolCallDelta(0, ANSWERED_CALLS[0].id, "get_weather", '{"city":"Paris","unit":"celsius"}'),
        ToolCallDelta(1, ANSWERED_CALLS[1].id, "get_time", '{"city":"Lisbon"}'),
    ]
    assembler = ToolCallAssembler()
    for chunk in chunks:
        assembler.add(chunk.tool_calls)
    assert assembler.calls() == ANSWERED_CALLS  # the same ids as the plain answer's
    assert "".join(c.reasoning for c in chunks) == (
        "**Checking the forecast**\n\nThe user wants the weather and the time."
    )
    assert "".join(c.delta for c in chunks) == "I'll look both up."
    assert [c.finish_reason for c in chunks if c.finish_reason] == ["tool_calls"]
    assert [c.usage for c in chunks if c.usage] == [FIXTURE_USAGE]  # once, at the end


# -- against the simulator --------------------------------------------------------------------------

streaming = pytest.mark.parametrize("streaming", [False, True], ids=["plain", "stream"])


@streaming
async def test_forced_function_call(
    streaming: bool, sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    request = ask("Anything new?", tools=[WEATHER, TIME], tool_choice=ToolChoice("function", "get_time"))
    response = await answer(client, sim_endpoint("gemini"), request, streaming)
    assert_valid(response.tool_calls, ["get_time"], [WEATHER, TIME])
    assert response.finish_reason == "tool_calls"
    assert response.text == "" and response.usage.output_tokens > 0
    required = ask("Anything new?", tools=[WEATHER, TIME], tool_choice=ToolChoice("required"))
    assert_valid(
        (await answer(client, sim_endpoint("gemini"), required, streaming)).tool_calls,
        ["get_weather"],
        [WEATHER],
    )
    none = ask("Call get_weather", tools=[WEATHER], tool_choice=ToolChoice("none"))
    assert (await answer(client, sim_endpoint("gemini"), none, streaming)).tool_calls == []


@streaming
async def test_automatic_and_parallel_function_calls(
    streaming: bool, sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    endpoint = sim_endpoint("gemini")
    one = await answer(client, endpoint, ask("Call get_weather for Paris", tools=[WEATHER, TIME]), streaming)
    assert_valid(one.tool_calls, ["get_weather"], [WEATHER, TIME])
    assert one.finish_reason == "tool_calls"
    both = await answer(
        client, endpoint, ask("Use get_weather and get_time", tools=[WEATHER, TIME]), streaming
    )
    assert_valid(both.tool_calls, ["get_weather", "get_time"], [WEATHER, TIME])
    prose = await answer(client, endpoint, ask("Just say hello", tools=[WEATHER, TIME]), streaming)
    assert prose.tool_calls == [] and prose.finish_reason == "stop" and prose.text


def history(call_id: str = "call_1", model_calls: list[ToolCall] | None = None) -> list[ChatMessage]:
    calls = model_calls or [ToolCall("call_1", "get_weather", '{"city":"Oslo"}')]
    return [
        ChatMessage("developer", "You are a travel agent."),
        ChatMessage("user", "Use get_weather for Oslo"),
        ChatMessage("assistant", None, tool_calls=calls),
        ChatMessage("tool", '{"temperature": 4}', tool_call_id=call_id),
    ]


@streaming
@pytest.mark.parametrize("model", ["gemini-2.5-flash", "gemini-3-pro-preview"])
async def test_function_results_in_history_are_accepted(
    model: str, streaming: bool, sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    """The loop ends with a text answer (the last turn holds only results); on Gemini 3 the
    replayed call passes the simulator's thought-signature check thanks to the sentinel."""
    endpoint = sim_endpoint("gemini")
    request = ChatRequest(model, history(), tools=[WEATHER])
    response = await answer(client, endpoint, request, streaming)
    assert response.tool_calls == [] and response.finish_reason == "stop" and response.text
    shorter = await answer(client, endpoint, dataclasses.replace(request, messages=history()[:2]), streaming)
    assert response.usage.input_tokens > shorter.usage.input_tokens  # the call and its result were read


@streaming
async def test_a_gemini_3_agent_loop_replays_its_own_calls(
    streaming: bool, sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    endpoint = sim_endpoint("gemini")
    first = await answer(
        client,
        endpoint,
        ask("Use get_weather and get_time", "gemini-3-flash-preview", tools=[WEATHER, TIME]),
        streaming,
    )
    assert [c.name for c in first.tool_calls] == ["get_weather", "get_time"]
    messages = [
        ChatMessage("user", "Use get_weather and get_time"),
        ChatMessage("assistant", None, tool_calls=first.tool_calls),
        *(ChatMessage("tool", '{"ok": true}', tool_call_id=c.id) for c in first.tool_calls),
    ]
    second = await answer(
        client, endpoint, ChatRequest("gemini-3-flash-preview", messages, tools=[WEATHER, TIME]), streaming
    )
    assert second.tool_calls == [] and second.text


@streaming
async def test_a_result_whose_call_is_missing_is_geminis_400(
    streaming: bool, sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    request = ChatRequest("gemini-2.5-flash", history(call_id="call_unknown"), tools=[WEATHER])
    with pytest.raises(ProviderError) as info:
        await answer(client, sim_endpoint("gemini"), request, streaming)
    assert (info.value.error_class, info.value.status) == ("bad_request", 400)
    assert FUNCTION_RESPONSE_WITHOUT_CALL in info.value.message


@streaming
async def test_an_image_data_url_is_accepted_and_counted(
    streaming: bool, sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    endpoint = sim_endpoint("gemini")
    text = await answer(client, endpoint, ask([TextPart("What is this?")]), streaming)
    image = ImagePart(f"data:image/png;base64,{PIXEL}")
    with_image = await answer(client, endpoint, ask([TextPart("What is this?"), image]), streaming)
    assert with_image.usage.input_tokens == text.usage.input_tokens + IMAGE_TOKENS
    assert with_image.usage.image_input_tokens == IMAGE_TOKENS  # promptTokensDetails IMAGE
    assert with_image.text.startswith("Simulated reply to: What is this?")


async def test_audio_files_and_image_urls_are_counted(
    sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    parts = [
        TextPart("Transcribe"),
        AudioPart("A" * 640, "wav"),
        ImagePart("https://example.com/p.png"),
        FilePart("B" * 160),
    ]
    response = await answer(client, sim_endpoint("gemini"), ask(parts), False)
    assert response.usage.audio_input_tokens == 640 // AUDIO_B64_PER_TOKEN
    assert response.usage.image_input_tokens == IMAGE_TOKENS


@streaming
async def test_a_json_schema_answer_is_valid_for_the_schema(
    streaming: bool, sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    fmt = ResponseFormat("json_schema", "capital", CAPITAL, strict=True)
    response = await answer(
        client, sim_endpoint("gemini"), ask("The capital of France", response_format=fmt), streaming
    )
    Draft202012Validator(CAPITAL).validate(orjson.loads(response.text))
    plain_json = await answer(
        client,
        sim_endpoint("gemini"),
        ask("Say hi", response_format=ResponseFormat("json_object")),
        streaming,
    )
    assert isinstance(orjson.loads(plain_json.text), dict)


@streaming
async def test_a_thinking_model_reports_reasoning_tokens_and_thoughts(
    streaming: bool, sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    endpoint = sim_endpoint("gemini")
    thinking = await answer(client, endpoint, ask("Plan a trip", reasoning_effort="low"), streaming)
    assert thinking.usage.reasoning_tokens > 0
    assert thinking.usage.output_tokens == 64 + thinking.usage.reasoning_tokens
    assert thinking.reasoning == "Thinking about: Plan a trip"  # includeThoughts: a thought part
    assert "Thinking" not in thinking.text
    off = await answer(client, endpoint, ask("Plan a trip", reasoning_effort="none"), streaming)
    assert off.usage.reasoning_tokens == 0 and off.reasoning is None
    tools = await answer(
        client, endpoint, ask("Call get_weather for Bern", tools=[WEATHER], reasoning_effort="low"), streaming
    )
    assert tools.finish_reason == "tool_calls" and tools.usage.reasoning_tokens > 0


async def test_the_whole_agent_request_is_accepted(
    sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    """Every part kind, the function-call turn, the refusal and every option, as the simulator checks them."""
    response = await answer(client, sim_endpoint("gemini"), agent_request(), False)
    assert_valid(response.tool_calls, ["get_weather"], [WEATHER, TIME])  # forced by name
    assert response.usage.image_input_tokens == 2 * IMAGE_TOKENS
    three = await answer(client, sim_endpoint("gemini"), agent_request("gemini-3-pro-preview"), True)
    assert [c.name for c in three.tool_calls] == ["get_weather"]


# -- the simulator's own checks, at the HTTP level ----------------------------------------------------

AUTH = {"x-goog-api-key": "AIza-sim"}
PATH = "/v1beta/models/gemini-2.5-flash:generateContent"
USER = {"role": "user", "parts": [{"text": "Call get_weather and get_time"}]}
DECLARATIONS = [
    {
        "functionDeclarations": [
            {"name": "get_weather", "parametersJsonSchema": WEATHER.parameters},
            {
                "name": "get_time",
                "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}},
            },
        ]
    }
]


@pytest.fixture
async def http(sim: SimulatorServer):
    async with httpx.AsyncClient(base_url=sim.url, trust_env=False, timeout=10) as client:
        yield client


def body(contents: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    return {"contents": contents or [USER], **extra}


def declare(**declaration: Any) -> list[dict[str, Any]]:
    return [{"functionDeclarations": [{"name": "f", **declaration}]}]


CALLED = {"role": "model", "parts": [{"functionCall": {"name": "get_time", "args": {}}}]}


@pytest.mark.parametrize(
    ("path", "payload", "needle"),
    [
        (
            PATH,
            body(
                [
                    USER,
                    CALLED,
                    {"role": "user", "parts": [{"functionResponse": {"name": "x", "response": {}}}]},
                ]
            ),
            "function response turn",
        ),
        (
            PATH,
            body([USER, {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": "ok"}}]}]),
            "must be a JSON object",
        ),
        (PATH, body([{"role": "user", "parts": []}]), "must not be empty"),
        (
            PATH,
            body(
                [
                    {
                        "role": "user",
                        "parts": [{"text": "a", "inlineData": {"mimeType": "image/png", "data": "AA"}}],
                    }
                ]
            ),
            "oneof field 'data'",
        ),
        (PATH, body([{"role": "user", "parts": [{"inlineData": {"data": "AA"}}]}]), "inlineData.mimeType"),
        (
            PATH,
            body(tools=declare(parameters={"type": "object", "additionalProperties": False})),
            'Unknown name "additionalProperties"',
        ),
        (
            PATH,
            body(tools=declare(parameters={"type": "OBJECT", "properties": {"a": {"type": "STRNG"}}})),
            'Type), "STRNG"',
        ),
        (
            PATH,
            body(
                tools=declare(parametersJsonSchema={"type": "object", "properties": {"a": {"type": "strng"}}})
            ),
            "Invalid schema for tool 'f'",
        ),
        (PATH, body(tools=declare(parameters={}, parametersJsonSchema={})), "mutually exclusive"),
        (PATH, body(tools=[{"functionDeclarations": [{"name": "1f"}]}]), "Must start with a letter"),
        (PATH, body(toolConfig={"functionCallingConfig": {"mode": "ANY"}}), "without function_declarations"),
        (
            PATH,
            body(
                tools=DECLARATIONS,
                toolConfig={"functionCallingConfig": {"mode": "AUTO", "allowedFunctionNames": ["get_time"]}},
            ),
            "only be set when",
        ),
        (
            PATH,
            body(
                tools=DECLARATIONS,
                toolConfig={"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["nope"]}},
            ),
            "must name declared functions",
        ),
        (
            PATH,
            body(tools=DECLARATIONS, toolConfig={"functionCallingConfig": {"mode": "SOMETIMES"}}),
            "SOMETIMES",
        ),
        (PATH, body(generationConfig={"responseMimeType": "text/html"}), "allowed mimetypes"),
        (PATH, body(generationConfig={"responseJsonSchema": CAPITAL}), "needs response_mime_type"),
        (
            PATH,
            body(
                generationConfig={
                    "responseMimeType": "application/json",
                    "responseSchema": {"type": "OBJECT"},
                    "responseJsonSchema": CAPITAL,
                }
            ),
            "mutually exclusive",
        ),
        (
            PATH,
            body(
                generationConfig={
                    "responseMimeType": "application/json",
                    "responseSchema": {"type": "object", "$schema": "x"},
                }
            ),
            'Unknown name "$schema"',
        ),
        (PATH, body(generationConfig={"thinkingConfig": {"thinkingBudget": -5}}), "thinking_budget"),
        (
            "/v1beta/models/gemini-2.0-flash:generateContent",
            body(generationConfig={"thinkingConfig": {"thinkingBudget": 512}}),
            "Thinking is not supported",
        ),
        (PATH, body(generationConfig={"candidateCount": 9}), "candidate_count"),
        (PATH, body(generationConfig={"logprobs": 3}), "response_logprobs"),
        (
            "/v1beta/models/gemini-3-pro-preview:generateContent",
            body(
                [
                    USER,
                    CALLED,
                    {"role": "user", "parts": [{"functionResponse": {"name": "get_time", "response": {}}}]},
                ]
            ),
            "thought_signature",
        ),
    ],
)
async def test_what_gemini_rejects_is_a_400(
    path: str, payload: dict[str, Any], needle: str, http: httpx.AsyncClient
) -> None:
    response = await http.post(path, headers=AUTH, json=payload)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    assert needle in error["message"]


def events(response: httpx.Response) -> list[dict[str, Any]]:
    return [orjson.loads(line[6:]) for line in response.text.split("\n\n") if line.startswith("data: {")]


async def test_function_calls_answer_and_stream_as_gemini_sends_them(http: httpx.AsyncClient) -> None:
    payload = body(tools=DECLARATIONS)
    plain = (await http.post(PATH, headers=AUTH, json=payload)).json()
    candidate = plain["candidates"][0]
    assert candidate["finishReason"] == "STOP"
    calls = [p["functionCall"] for p in candidate["content"]["parts"]]
    assert [c["name"] for c in calls] == ["get_weather", "get_time"]
    assert all(set(c) == {"name", "args"} and isinstance(c["args"], dict) for c in calls)  # no ids: 2.x
    Draft202012Validator(WEATHER.parameters or {}).validate(calls[0]["args"])
    meta = plain["usageMetadata"]
    assert meta["promptTokensDetails"] == [{"modality": "TEXT", "tokenCount": meta["promptTokenCount"]}]

    streamed = await http.post(
        PATH.replace(":generateContent", ":streamGenerateContent?alt=sse"), headers=AUTH, json=payload
    )
    frames = events(streamed)
    call_frames = [f for f in frames if "functionCall" in f["candidates"][0]["content"]["parts"][0]]
    assert [f["candidates"][0]["content"]["parts"] for f in call_frames] == [
        [{"functionCall": c}] for c in calls
    ]
    assert frames[-1]["candidates"][0]["finishReason"] == "STOP"
    assert frames[-1]["usageMetadata"]["candidatesTokenCount"] == meta["candidatesTokenCount"]

    forced = {
        **payload,
        "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_time"]}},
    }
    only = (await http.post(PATH, headers=AUTH, json=forced)).json()
    assert [p["functionCall"]["name"] for p in only["candidates"][0]["content"]["parts"]] == ["get_time"]
    some = {
        **payload,
        "toolConfig": {
            "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_time", "get_weather"]}
        },
    }
    both = (await http.post(PATH, headers=AUTH, json=some)).json()
    assert len(both["candidates"][0]["content"]["parts"]) == 2


async def test_gemini_3_signs_its_first_call_and_thoughts_come_first(http: httpx.AsyncClient) -> None:
    path = "/v1beta/models/gemini-3-pro-preview:generateContent"
    config = {"thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": True}}
    plain = (
        await http.post(path, headers=AUTH, json=body(tools=DECLARATIONS, generationConfig=config))
    ).json()
    parts = plain["candidates"][0]["content"]["parts"]
    assert parts[0]["thought"] is True and parts[0]["text"].startswith("Thinking about:")
    assert [bool(p.get("thoughtSignature")) for p in parts[1:]] == [True, False]
    assert plain["usageMetadata"]["thoughtsTokenCount"] > 0
    off = (
        await http.post(
            path, headers=AUTH, json=body(generationConfig={"thinkingConfig": {"thinkingBudget": 0}})
        )
    ).json()
    assert "thoughtsTokenCount" not in off["usageMetadata"]
    assert all(not p.get("thought") for p in off["candidates"][0]["content"]["parts"])


async def test_media_counts_by_mime_type_in_prompt_details(http: httpx.AsyncClient) -> None:
    user = {
        "role": "user",
        "parts": [
            {"text": "Describe"},
            {"inlineData": {"mimeType": "image/png", "data": PIXEL}},
            {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/a.jpg"}},
            {"inlineData": {"mimeType": "audio/mp3", "data": "A" * 128}},
            {"inlineData": {"mimeType": "application/pdf", "data": "B" * 64}},
        ],
    }
    meta = (await http.post(PATH, headers=AUTH, json=body([user]))).json()["usageMetadata"]
    details = {d["modality"]: d["tokenCount"] for d in meta["promptTokensDetails"]}
    assert details["IMAGE"] == 2 * IMAGE_TOKENS and details["AUDIO"] == 2 and details["DOCUMENT"] == 4
    assert sum(details.values()) == meta["promptTokenCount"]
