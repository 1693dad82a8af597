"""The canonical JSON keeps a whole conversation and reads it back exactly, always as the same
bytes; with media by digest it names each image, clip and file without carrying it."""

from __future__ import annotations

import hashlib

import orjson

from gateway.providers.canonical_json import (
    dumps,
    messages_from_json,
    messages_to_json,
    request_from_json,
    request_to_json,
    response_to_json,
)
from gateway.providers.types import (
    AudioPart,
    ChatMessage,
    ChatRequest,
    ChatResponse,
    FilePart,
    ImagePart,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
    Usage,
)

PNG = "data:image/png;base64,iVBORw0KGgo="
SCHEMA = {"type": "object", "properties": {"zeta": {"type": "string"}, "alpha": {"type": "integer"}}}

CONVERSATION = [
    ChatMessage("system", "be brief"),
    ChatMessage("developer", [TextPart("answer in French")]),
    ChatMessage(
        "user",
        [
            TextPart("what is in these?"),
            ImagePart(PNG, detail="high"),
            ImagePart("https://example.com/cat.jpg"),
            AudioPart("UklGRg==", "wav"),
            FilePart("JVBERi0=", "application/pdf", "report.pdf"),
            FilePart(file_id="file-abc"),
        ],
        name="ann",
    ),
    ChatMessage(
        "assistant",
        None,
        tool_calls=[
            ToolCall("call_1", "get_weather", '{"city": "Paris"}'),
            ToolCall("call_2", "get_time", "{}"),
        ],
        reasoning="two lookups are needed",
    ),
    ChatMessage("tool", '{"temp_c": 21}', tool_call_id="call_1"),
    ChatMessage("tool", [TextPart("12:00")], tool_call_id="call_2"),
    ChatMessage("assistant", "", refusal="I can't help with that."),
    ChatMessage("user", "ok"),
]


def test_every_message_and_part_kind_round_trips_exactly() -> None:
    doc = messages_to_json(CONVERSATION)
    assert messages_from_json(orjson.loads(dumps(doc))) == CONVERSATION
    # content None (only tool calls) and "" stay distinct; unset fields are left out
    assert doc[3]["content"] is None and doc[6]["content"] == ""
    assert doc[0] == {"content": "be brief", "role": "system"}
    assert doc[2]["content"][1] == {"detail": "high", "type": "image", "url": PNG}
    assert doc[2]["content"][5] == {"file_id": "file-abc", "media_type": "application/pdf", "type": "file"}
    assert doc[3]["tool_calls"][0] == {
        "arguments": '{"city": "Paris"}',
        "id": "call_1",
        "name": "get_weather",
    }


def full_request(**overrides: object) -> ChatRequest:
    fields: dict = {
        "max_tokens": 50,
        "temperature": 0.2,
        "stream": True,
        "user": "u1",
        "stop": ["END"],
        "top_p": 0.9,
        "top_k": 40,
        "tools": [Tool("get_weather", "Weather.", SCHEMA, strict=True), Tool("noop", parameters={})],
        "tool_choice": ToolChoice("function", "get_weather"),
        "parallel_tool_calls": False,
        "response_format": ResponseFormat("json_schema", "out", SCHEMA, strict=True, description="d"),
        "reasoning_effort": "low",
        "thinking_budget": 2048,
        "seed": 7,
        "presence_penalty": 0.5,
        "frequency_penalty": -0.5,
        "logit_bias": {"50256": -100.0, "11": 5.0},
        "logprobs": True,
        "top_logprobs": 3,
        "n": 2,
        "service_tier": "flex",
        "metadata": {"b": "2", "a": "1"},
    }
    return ChatRequest("gpt-4o", list(CONVERSATION), **{**fields, **overrides})


def test_a_request_with_every_option_round_trips_exactly() -> None:
    request = full_request()
    assert request_from_json(orjson.loads(dumps(request_to_json(request)))) == request
    bare = ChatRequest("m", [ChatMessage("user", "hi")])
    assert request_to_json(bare) == {"messages": [{"content": "hi", "role": "user"}], "model": "m"}
    assert request_from_json(request_to_json(bare)) == bare
    assert request_to_json(ChatRequest("m", [], logprobs=False, parallel_tool_calls=False)) == {
        "logprobs": False,
        "messages": [],
        "model": "m",
        "parallel_tool_calls": False,
    }


def test_the_same_request_is_always_the_same_bytes_and_schemas_keep_their_order() -> None:
    a = dumps(request_to_json(full_request()))
    b = dumps(
        request_to_json(full_request(metadata={"a": "1", "b": "2"}, logit_bias={"11": 5.0, "50256": -100.0}))
    )
    assert a == b  # maps whose order means nothing are sorted
    doc = request_to_json(full_request())
    assert list(doc) == sorted(doc)
    assert list(doc["tools"][0]["parameters"]["properties"]) == ["zeta", "alpha"]  # as the client wrote it
    assert list(doc["response_format"]["schema"]["properties"]) == ["zeta", "alpha"]
    assert doc["tools"][1] == {"name": "noop", "parameters": {}}


def test_media_by_digest_names_the_data_without_carrying_it() -> None:
    doc = messages_to_json(CONVERSATION, media="digest")
    parts = doc[2]["content"]
    assert parts[1] == {
        "detail": "high",
        "type": "image",
        "url_sha256": hashlib.sha256(PNG.encode()).hexdigest(),
    }
    assert parts[3]["data_sha256"] == hashlib.sha256(b"UklGRg==").hexdigest() and "data" not in parts[3]
    assert (
        parts[4]["data_sha256"] == hashlib.sha256(b"JVBERi0=").hexdigest()
        and parts[4]["filename"] == "report.pdf"
    )
    assert parts[5] == {"file_id": "file-abc", "media_type": "application/pdf", "type": "file"}
    raw = dumps(doc).decode()
    assert "iVBORw0KGgo" not in raw and "UklGRg" not in raw and "JVBERi0" not in raw
    assert parts[0] == {"text": "what is in these?", "type": "text"}  # text is kept as it is


def test_an_answer_keeps_text_tool_calls_refusal_reasoning_and_finish() -> None:
    calls = [ToolCall("call_1", "get_weather", '{"city":"Paris"}')]
    answer = ChatResponse("", "tool_calls", Usage(1, 2), "gpt-4o", tool_calls=calls, reasoning="think")
    assert response_to_json(answer) == {
        "finish_reason": "tool_calls",
        "reasoning": "think",
        "text": "",
        "tool_calls": [{"arguments": '{"city":"Paris"}', "id": "call_1", "name": "get_weather"}],
    }
    refused = ChatResponse(
        "", "stop", Usage(), "m", refusal="no", logprobs=[{"token": "no", "logprob": -0.1}]
    )
    assert response_to_json(refused) == {
        "finish_reason": "stop",
        "logprobs": [{"logprob": -0.1, "token": "no"}],
        "refusal": "no",
        "text": "",
    }
