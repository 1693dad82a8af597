"""Retention keeps the whole conversation as sent (after redaction) and the whole answer; the
``hash`` mode hashes exactly those texts; stored payloads of both generations read back."""

from __future__ import annotations

import hashlib
import os
from types import SimpleNamespace
from typing import Any

import orjson

from gateway.auth.principal import Principal
from gateway.crypto.data_keys import DataKey
from gateway.pipeline.context import CallContext
from gateway.pipeline.data_policy import DataPolicy
from gateway.pipeline.data_stages import DataStages
from gateway.privacy.payloads import parse_payload
from gateway.providers.canonical_json import dumps, request_to_json
from gateway.providers.types import (
    ChatMessage,
    ChatRequest,
    ImagePart,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
)

KEY = DataKey("dk_1", os.urandom(32))
TOOL = Tool("refund", "Refund a card.", {"type": "object", "properties": {"to": {"type": "string"}}})
CALL = ToolCall("call_1", "refund", '{"to": "ann@corp.io"}')


class Keys:
    async def current(self, customer: str) -> DataKey:
        return KEY


def stages() -> DataStages:
    planner: Any = SimpleNamespace(catalog=SimpleNamespace(routes={}))
    s = DataStages(planner, pool=None, redis=None, keyring=None)  # type: ignore[arg-type]
    s.keys = Keys()  # type: ignore[assignment]
    return s


def conversation() -> ChatRequest:
    return ChatRequest(
        "gpt-4o",
        [
            ChatMessage("user", [TextPart("refund ann@corp.io"), ImagePart("data:image/png;base64,AAAA")]),
            ChatMessage("assistant", None, tool_calls=[CALL]),
            ChatMessage("tool", '{"ok": true, "to": "ann@corp.io"}', tool_call_id="call_1"),
        ],
        tools=[TOOL],
        tool_choice=ToolChoice("required"),
        response_format=ResponseFormat("json_object"),
    )


async def screened_payload(retention: str, request: ChatRequest) -> tuple[Any, CallContext]:
    s = stages()
    s.policies.get = _policy(DataPolicy(retention=retention, pii_mode="redact"))  # type: ignore[method-assign]
    ctx = CallContext("req_1", Principal("acme", "k1", "ov_", None, None, None), "chat", "gpt-4o")
    await s.screen(ctx, request)
    answer = SimpleNamespace(
        text="",
        finish_reason="tool_calls",
        tool_calls=[ToolCall("call_2", "refund", '{"to": "[EMAIL]"}')],
        refusal=None,
        reasoning="one refund",
        logprobs=None,
    )
    return await s._payload(ctx, ctx.data, answer), ctx  # type: ignore[arg-type]


def _policy(policy: DataPolicy) -> Any:
    async def get(customer: str) -> DataPolicy:
        return policy

    return get


async def test_encrypted_retention_seals_the_whole_redacted_conversation_and_answer() -> None:
    payload, ctx = await screened_payload("encrypted", conversation())
    prompt = KEY.open(payload.prompt_nonce, payload.prompt_ciphertext, "req_1:prompt")
    completion = KEY.open(payload.completion_nonce, payload.completion_ciphertext, "req_1:completion")
    assert "ann@corp.io" not in prompt  # what was sent: after redaction
    stored = parse_payload(prompt, completion)
    sent = ctx.data.sent
    assert stored.messages == sent and stored.request.tools == [TOOL]
    assert stored.request.tool_choice == ToolChoice("required")
    assert stored.request.response_format == ResponseFormat("json_object")
    assert orjson.loads(stored.messages[1].tool_calls[0].arguments) == {"to": "[EMAIL]"}
    assert stored.messages[0].content[1] == ImagePart("data:image/png;base64,AAAA")  # type: ignore[index]
    assert (stored.messages[2].role, stored.messages[2].tool_call_id) == ("tool", "call_1")
    assert stored.answer == {
        "finish_reason": "tool_calls",
        "reasoning": "one refund",
        "text": "",
        "tool_calls": [{"arguments": '{"to": "[EMAIL]"}', "id": "call_2", "name": "refund"}],
    }
    assert payload.data_key_id == "dk_1"
    assert payload.prompt_sha256 == hashlib.sha256(prompt.encode()).digest()


async def test_hash_retention_hashes_the_same_json_and_stores_no_text() -> None:
    hashed, _ = await screened_payload("hash", conversation())
    sealed, ctx = await screened_payload("encrypted", conversation())
    assert hashed.prompt_ciphertext is None and hashed.completion_ciphertext is None
    assert hashed.prompt_sha256 == sealed.prompt_sha256
    expected = dumps(request_to_json(ChatRequest(**{**vars_of(conversation()), "messages": ctx.data.sent})))
    assert hashed.prompt_sha256 == hashlib.sha256(expected).digest()
    assert hashed.completion_sha256 == sealed.completion_sha256


def vars_of(request: ChatRequest) -> dict[str, Any]:
    return {f: getattr(request, f) for f in request.__slots__}  # type: ignore[attr-defined]


def test_payloads_stored_before_the_canonical_json_still_read() -> None:
    stored = parse_payload(orjson.dumps([["system", "be brief"], ["user", "hi"]]).decode(), "Hello there")
    assert stored.messages == [ChatMessage("system", "be brief"), ChatMessage("user", "hi")]
    assert stored.answer == {"text": "Hello there"}
