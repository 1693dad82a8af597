"""What a stream carries through the pipeline: the attempt loop's primed stream (opened up to its
first content chunk, so failover is still possible until then) and what has been delivered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from gateway.providers.types import ChatResponse, StreamChunk, ToolCallAssembler, Usage


@dataclass(slots=True)
class PrimedStream:
    """A stream opened up to its first content chunk (what the attempt loop waits for)."""

    head: list[StreamChunk]
    chunks: AsyncIterator[StreamChunk]
    ended: bool


class StreamState:
    """What a stream has delivered so far: text, tool calls, reasoning, usage, finish reason."""

    __slots__ = ("finish", "logprobs", "reasoning", "refusal", "text", "thinking", "tools", "usage")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.refusal: list[str] = []
        self.tools = ToolCallAssembler()
        self.usage: Usage | None = None
        self.finish: str | None = None
        self.logprobs: list[dict[str, Any]] | None = None
        self.thinking: list[dict[str, Any]] = []  # Anthropic's signed thinking blocks, whole

    def add(self, chunk: StreamChunk) -> None:
        if chunk.usage is not None:
            self.usage = chunk.usage
        if chunk.finish_reason:
            self.finish = chunk.finish_reason
        if chunk.delta:
            self.text.append(chunk.delta)
        if chunk.reasoning:
            self.reasoning.append(chunk.reasoning)
        if chunk.refusal:
            self.refusal.append(chunk.refusal)
        if chunk.tool_calls:
            self.tools.add(chunk.tool_calls)
        if chunk.logprobs:
            self.logprobs = [*(self.logprobs or []), *chunk.logprobs]
        if chunk.thinking_blocks:
            self.thinking.extend(chunk.thinking_blocks)

    @property
    def delivered(self) -> bool:
        return bool(self.text or self.reasoning or self.refusal or self.tools.calls())

    def response(self, finish: str | None, usage: Usage, model: str) -> ChatResponse:
        return ChatResponse(
            "".join(self.text),
            finish,
            usage,
            model,
            tool_calls=self.tools.calls(),
            refusal="".join(self.refusal) or None,
            reasoning="".join(self.reasoning) or None,
            logprobs=self.logprobs,
            thinking_blocks=list(self.thinking),
        )
