"""PII redaction and Anthropic's signed thinking blocks: the signature covers the text, so a block
holding personal data cannot be rewritten; ``redact`` leaves it out of what is sent, and the
Anthropic candidate, now continuing a tool turn without signed state, records the thinking drop."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from gateway.auth.principal import Principal
from gateway.pipeline.context import CallContext
from gateway.pipeline.data_policy import DataPolicy
from gateway.pipeline.data_stages import DataStages
from gateway.privacy.policy import screen
from gateway.providers.capabilities import check
from gateway.providers.types import ChatMessage, ChatRequest, Tool, ToolCall

CLEAN = {"type": "thinking", "thinking": "Look up the order.", "signature": "EqQBsig1"}
PERSONAL = {"type": "thinking", "thinking": "Mail ann@corp.io about it.", "signature": "EqQBsig2"}
REDACTED = {"type": "redacted_thinking", "data": "EmwK"}


def tool_turn(*blocks: dict[str, Any]) -> ChatRequest:
    call = ToolCall("toolu_1", "lookup", '{"order": 7}')
    messages = [
        ChatMessage("user", "Where is order 7?"),
        ChatMessage("assistant", None, tool_calls=[call], thinking_blocks=list(blocks)),
        ChatMessage("tool", "shipped", tool_call_id="toolu_1"),
    ]
    return ChatRequest("claude-sonnet-4-5", messages, tools=[Tool("lookup")], reasoning_effort="low")


def test_redact_leaves_out_a_signed_block_holding_personal_data() -> None:
    request = tool_turn(CLEAN, PERSONAL, REDACTED)
    redacted = screen(request.messages, "redact")
    assert redacted.found == ("email",)
    assert redacted.messages[1].thinking_blocks == [CLEAN, REDACTED]  # kept ones unmodified
    flagged = screen(request.messages, "flag")
    assert flagged.found == ("email",) and flagged.messages[1].thinking_blocks == [CLEAN, PERSONAL, REDACTED]
    assert screen(tool_turn(PERSONAL).messages, "block").blocked


async def test_a_thinking_drop_caused_by_redaction_is_recorded_for_the_candidate() -> None:
    planner: Any = SimpleNamespace(catalog=SimpleNamespace(routes={}))
    stages = DataStages(planner, pool=None, redis=None, keyring=None)  # type: ignore[arg-type]

    async def policy(customer: str) -> DataPolicy:
        return DataPolicy(retention="none", pii_mode="redact")

    stages.policies.get = policy  # type: ignore[method-assign]
    route: Any = SimpleNamespace(name="anthropic", gap=lambda model, r: check("anthropic", model, r))
    ctx = CallContext("req_1", Principal("acme", "k1", "ov_", None, None, None), "chat", "claude-sonnet-4-5")
    request = tool_turn(PERSONAL)
    assert check("anthropic", request.model, request).forced == ()  # signed: thinking can go on
    await stages.screen(ctx, request, [(route, request.model)])
    assert request.messages[1].thinking_blocks == []
    assert ctx.param_drops[("anthropic", "claude-sonnet-4-5")] == ("reasoning_effort",)
