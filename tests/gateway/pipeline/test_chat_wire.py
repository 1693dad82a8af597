"""The Chat Completions door's translation: every field lands on the canonical request, the
legacy function-calling shapes become tools, and the answer goes back in the client's shape."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.api.openai_chat import ChatCompletionBody, delta_json, message_json, to_canonical
from gateway.errors import ApiError
from gateway.providers.types import (
    AudioPart,
    FilePart,
    ImagePart,
    StreamChunk,
    TextPart,
    ToolCall,
    ToolCallDelta,
)

WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}


def body(**fields: object) -> ChatCompletionBody:
    return ChatCompletionBody.model_validate(
        {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]} | fields
    )


def test_parts_tool_history_and_options_reach_the_canonical_request() -> None:
    b = body(
        messages=[
            {"role": "developer", "content": "be brief"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"},
                    },
                    {"type": "input_audio", "input_audio": {"data": "UklG", "format": "wav"}},
                    {
                        "type": "file",
                        "file": {"file_data": "data:application/pdf;base64,JVBE", "filename": "a.pdf"},
                    },
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        ],
        tools=[WEATHER],
        tool_choice="required",
        parallel_tool_calls=False,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "x", "schema": {"type": "object"}, "strict": True},
        },
        reasoning_effort="high",
        seed=3,
        logprobs=True,
        top_logprobs=2,
        logit_bias={"42": -100},
        service_tier="flex",
    )
    r = to_canonical(b, {"trace": "t1"})
    assert [m.role for m in r.messages] == ["developer", "user", "assistant", "tool"]
    assert r.messages[1].content == [
        TextPart("look"),
        ImagePart("data:image/png;base64,AAAA", "low"),
        AudioPart("UklG", "wav"),
        FilePart(data="JVBE", media_type="application/pdf", filename="a.pdf"),
    ]
    assert r.messages[2].content is None and r.messages[2].tool_calls == [ToolCall("c1", "get_weather", "{}")]
    assert r.messages[3].tool_call_id == "c1"
    assert r.tool_choice.mode == "required" and r.parallel_tool_calls is False
    assert r.response_format.schema == {"type": "object"} and r.response_format.strict
    assert (r.reasoning_effort, r.seed, r.logprobs, r.top_logprobs) == ("high", 3, True, 2)
    assert r.logit_bias == {"42": -100.0} and r.service_tier == "flex" and r.metadata == {"trace": "t1"}
    assert r.input_modalities() == ["text", "image", "audio", "file"]


def test_legacy_functions_become_tools_and_come_back_legacy() -> None:
    b = body(
        messages=[
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": None,
                "function_call": {"name": "get_weather", "arguments": "{}"},
            },
            {"role": "function", "name": "get_weather", "content": "sunny"},
        ],
        functions=[WEATHER["function"]],
        function_call={"name": "get_weather"},
    )
    r = to_canonical(b, None)
    assert r.tools[0].name == "get_weather" and r.tool_choice.mode == "function"
    assert r.messages[2].role == "tool" and r.messages[2].tool_call_id == r.messages[1].tool_calls[0].id
    message = message_json("", [ToolCall("x", "get_weather", "{}")], None, None, legacy=True)
    assert (
        message["function_call"] == {"name": "get_weather", "arguments": "{}"} and "tool_calls" not in message
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"messages": [{"role": "tool", "content": "x"}]},  # a tool result without its call id
        {"messages": [{"role": "assistant"}]},  # an empty assistant turn
        {
            "messages": [
                {
                    "role": "system",
                    "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}],
                }
            ]
        },
        {"web_search_options": {}},  # an OpenAI field OneVault does not carry: refused, never ignored
        {"top_logprobs": 3},
        {"n": 2},
    ],
)
def test_what_cannot_be_honoured_is_refused(fields: dict) -> None:
    with pytest.raises(ValidationError):
        body(**fields)


def test_tool_choice_must_name_an_offered_tool_and_data_urls_must_decode() -> None:
    with pytest.raises(ApiError) as err:
        to_canonical(
            body(tools=[WEATHER], tool_choice={"type": "function", "function": {"name": "nope"}}), None
        )
    assert (err.value.status, err.value.param) == (400, "tool_choice")
    bad = body(
        messages=[
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,%%%"}}],
            }
        ]
    )
    with pytest.raises(ApiError) as err:
        to_canonical(bad, None)
    assert err.value.param == "messages[0].content[0]"


def test_stream_deltas_follow_openai() -> None:
    chunk = StreamChunk(
        tool_calls=[ToolCallDelta(0, "c1", "get_weather", ""), ToolCallDelta(1, arguments='{"a')]
    )
    assert delta_json(chunk, legacy=False) == {
        "tool_calls": [
            {
                "index": 0,
                "id": "c1",
                "type": "function",
                "function": {"arguments": "", "name": "get_weather"},
            },
            {"index": 1, "function": {"arguments": '{"a'}},
        ]
    }
    assert delta_json(StreamChunk(delta="hi", reasoning="hm"), legacy=False) == {
        "content": "hi",
        "reasoning_content": "hm",
    }
