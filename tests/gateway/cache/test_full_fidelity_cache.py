"""The caches see the whole request (tools, formats, reasoning, every part) and give back the
whole answer: a tool-calling answer replays with its tool calls, plain and streamed."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from gateway.auth.principal import Principal
from gateway.cache.answer import CachedAnswer, exact_key, semantic_scope, semantic_split
from gateway.pipeline.context import CallContext
from gateway.pipeline.data_policy import DataPolicy
from gateway.pipeline.data_stages import DataStages, RequestData
from gateway.providers.types import (
    AudioPart,
    ChatMessage,
    ChatRequest,
    FilePart,
    ImagePart,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCall,
    ToolCallAssembler,
    ToolChoice,
    Usage,
)

WEATHER = Tool("get_weather", "Weather.", {"type": "object", "properties": {"city": {"type": "string"}}})
CALLS = [
    ToolCall("call_1", "get_weather", '{"city": "Paris"}'),
    ToolCall("call_2", "get_time", '{"tz": "CET"}'),
]


def req(*messages: ChatMessage, **options: Any) -> ChatRequest:
    return ChatRequest("gpt-4o-mini", list(messages) or [ChatMessage("user", "weather?")], **options)


def key(request: ChatRequest) -> str:
    return exact_key(request, "gpt-4o-mini", None)


def agent(arguments: str = '{"city": "Paris"}', result: str = '{"temp_c": 21}') -> ChatRequest:
    return req(
        ChatMessage("user", "weather?"),
        ChatMessage("assistant", None, tool_calls=[ToolCall("call_1", "get_weather", arguments)]),
        ChatMessage("tool", result, tool_call_id="call_1"),
    )


def image(url: str) -> ChatRequest:
    return req(ChatMessage("user", [TextPart("what is this?"), ImagePart(url)]))


@pytest.mark.parametrize(
    ("variant", "base"),
    [
        (req(tools=[WEATHER]), req()),
        (req(tools=[WEATHER], tool_choice=ToolChoice("required")), req(tools=[WEATHER])),
        (req(tools=[WEATHER], tool_choice=ToolChoice("function", "get_weather")), req(tools=[WEATHER])),
        (req(tools=[WEATHER], parallel_tool_calls=False), req(tools=[WEATHER])),
        (req(response_format=ResponseFormat("json_object")), req()),
        (
            req(response_format=ResponseFormat("json_schema", "a", {"type": "object"})),
            req(response_format=ResponseFormat("json_schema", "a", {"type": "array"})),
        ),
        (req(reasoning_effort="high"), req(reasoning_effort="low")),
        (req(thinking_budget=2048), req()),
        (req(seed=1), req(seed=2)),
        (req(presence_penalty=0.5), req()),
        (req(logprobs=True), req()),
        (req(n=2), req()),
        (agent('{"city": "Lyon"}'), agent()),
        (agent(result='{"temp_c": 22}'), agent()),
        (image("data:image/png;base64,AAAB"), image("data:image/png;base64,AAAA")),
        (image("https://example.com/b.png"), image("https://example.com/a.png")),
        (
            req(ChatMessage("user", [TextPart("listen"), AudioPart("UklGRg==", "wav")])),
            req(ChatMessage("user", [TextPart("listen"), AudioPart("UklGRh==", "wav")])),
        ),
        (
            req(ChatMessage("user", [TextPart("read"), FilePart("JVBERi0x")])),
            req(ChatMessage("user", [TextPart("read"), FilePart("JVBERi0y")])),
        ),
        (req(ChatMessage("user", [TextPart("weather?")])), req()),  # parts and a string are kept apart
    ],
)
def test_the_exact_key_covers_every_option_and_part(variant: ChatRequest, base: ChatRequest) -> None:
    assert key(variant) != key(base)
    assert key(variant) == key(variant)  # and is deterministic


def test_the_exact_key_ignores_what_cannot_change_the_answer() -> None:
    base = key(req(tools=[WEATHER]))
    same = req(tools=[WEATHER], user="bob", stream=True, metadata={"team": "a"}, service_tier="flex")
    same.model = "gpt-4o-mini-2024-07-18"  # the serving candidate's name: the requested model counts
    assert key(same) == base


def test_a_text_only_last_turn_is_split_for_the_semantic_cache() -> None:
    r = req(
        ChatMessage("system", "be brief"),
        ChatMessage("user", [ImagePart("https://example.com/a.png"), TextPart("earlier")]),
        ChatMessage("user", [TextPart("capital of "), TextPart("France?")]),
        tools=[WEATHER],
    )
    context, turn = semantic_split(r)  # type: ignore[misc]
    assert turn == "capital of France?" and [m.role for m in context] == ["system", "user"]
    scope = semantic_scope(r, "gpt-4o-mini", None, context, "text-embedding-3-small")
    other = req(*r.messages, tools=[WEATHER], tool_choice=ToolChoice("required"))
    assert semantic_scope(other, "gpt-4o-mini", None, context, "text-embedding-3-small") != scope
    changed_image = [
        context[0],
        ChatMessage("user", [ImagePart("https://example.com/b.png"), TextPart("earlier")]),
    ]
    assert semantic_scope(r, "gpt-4o-mini", None, changed_image, "text-embedding-3-small") != scope


@pytest.mark.parametrize(
    "request_",
    [
        image("data:image/png;base64,AAAA"),  # media in the last turn
        req(ChatMessage("user", [TextPart("listen"), AudioPart("UklGRg==", "wav")])),
        agent(),  # tool results after the last user turn
        req(ChatMessage("user", "")),  # nothing to embed
    ],
)
def test_media_or_tool_results_in_the_last_turn_use_the_exact_cache_only(request_: ChatRequest) -> None:
    assert semantic_split(request_) is None


def test_a_cached_answer_keeps_tool_calls_refusal_reasoning_and_logprobs() -> None:
    answer = CachedAnswer(
        "",
        "tool_calls",
        Usage(10, 5, 2, 1, cache_write_tokens=3, audio_input_tokens=4, image_input_tokens=5),
        "openai",
        "gpt-4o-mini",
        "req_1",
        CALLS,
        refusal="partly",
        reasoning="two calls",
        logprobs=[{"token": "x", "logprob": -0.5}],
    )
    assert CachedAnswer.from_bytes(answer.to_bytes()) == answer


def test_entries_written_before_tool_calls_were_cached_still_read() -> None:
    old = orjson.dumps(
        {
            "text": "hello",
            "finish_reason": "stop",
            "usage": [10, 5, 2, 1],
            "provider": "openai",
            "model": "gpt-4o-mini",
            "source": "req_0",
        }
    )
    answer = CachedAnswer.from_bytes(old)
    assert (answer.text, answer.usage, answer.tool_calls, answer.refusal) == (
        "hello",
        Usage(10, 5, 2, 1),
        [],
        None,
    )


# -- the hit as the pipeline sees it ---------------------------------------------------------------
ROUTE = SimpleNamespace(name="openai")


def stages() -> DataStages:
    planner: Any = SimpleNamespace(catalog=SimpleNamespace(routes={"openai": ROUTE}))
    return DataStages(planner, pool=None, redis=None, keyring=None)  # type: ignore[arg-type]


def hit(answer: CachedAnswer) -> Any:
    principal = Principal("acme", "k1", "ov_", None, None, None)
    ctx = CallContext("req_2", principal, "chat", "gpt-4o-mini")
    data = RequestData(DataPolicy(cache_price_per_request=Decimal("0.001")), hit="cache_exact")
    return stages()._hit(ctx, data, answer, [])


TOOL_ANSWER = CachedAnswer("", "tool_calls", Usage(10, 5), "openai", "gpt-4o-mini", "req_1", CALLS)


def test_a_tool_calling_hit_answers_with_its_tool_calls() -> None:
    outcome = hit(TOOL_ANSWER)
    assert (outcome.tool_calls, outcome.finish_reason, outcome.route) == (CALLS, "tool_calls", ROUTE)
    assert outcome.cost.provider_cost == 0 and outcome.cost.customer_cost == Decimal("0.001")
    assert outcome.attempts == [] and outcome.route_reason == "cache hit (exact)"


def test_a_tool_calling_hit_replays_as_tool_call_deltas() -> None:
    chunks = stages().replay(hit(TOOL_ANSWER))
    deltas = [d for c in chunks for d in c.tool_calls or ()]
    assert [(d.index, d.id, d.name) for d in deltas] == [
        (0, "call_1", "get_weather"),
        (1, "call_2", "get_time"),
    ]
    assembled = ToolCallAssembler()
    for c in chunks:
        assembled.add(c.tool_calls)
    assert assembled.calls() == CALLS
    assert [c.finish_reason for c in chunks] == [None] * (len(chunks) - 1) + ["tool_calls"]
    assert "".join(c.delta for c in chunks) == ""


def test_a_text_hit_replays_reasoning_text_and_refusal_in_order() -> None:
    text = "one two three four five six seven"
    answer = CachedAnswer(
        text, "stop", Usage(1, 7), "openai", "gpt-4o-mini", "r", reasoning="hmm", logprobs=[{"token": "one"}]
    )
    chunks = stages().replay(hit(answer))
    assert chunks[0].reasoning == "hmm" and "".join(c.delta for c in chunks) == text
    assert [c.delta for c in chunks[1:]] == ["one two three four", " five six seven"]
    assert chunks[1].logprobs == [{"token": "one"}] and chunks[-1].finish_reason == "stop"
    assert not any(c.tool_calls for c in chunks)
