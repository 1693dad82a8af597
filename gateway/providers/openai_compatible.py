"""Servers that speak OpenAI's Chat Completions wire (Ollama, vLLM, llama.cpp, LM Studio, ...).

Same wire as ``openai``, with the tolerance such servers need:

- ``max_tokens`` rather than ``max_completion_tokens`` (the older name is the one they know);
- ``developer`` turns go as ``system`` (most servers' chat templates know no other instruction
  role), a text-only parts list as one string (several servers take only string content), and
  a replayed refusal as the assistant turn's text (they have no ``refusal`` field);
- ``top_k`` is forwarded (vLLM, llama.cpp and Ollama read it); ``reasoning_content`` answers
  (DeepSeek, vLLM) become the canonical reasoning;
- a missing usage block (chat or ``/embeddings``) is estimated (about four characters per
  token) instead of failing the call, so the request is still costed; streams without usage
  leave it to the caller;
- a stream may end after its ``finish_reason`` without ``data: [DONE]``, or arrive as NDJSON;
- a server that rejects ``stream_options`` is retried once without it, and remembered;
- image generation asks for ``response_format: b64_json`` (DALL-E's wire answers URLs by default).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import ClassVar

from gateway.providers.base import ProviderEndpoint
from gateway.providers.http import UpstreamClient
from gateway.providers.openai import OpenAIAdapter
from gateway.providers.types import (
    ChatMessage,
    ChatRequest,
    EmbeddingRequest,
    ProviderError,
    StreamChunk,
    ToolCall,
    Usage,
)

CHARS_PER_TOKEN = 4


def estimate_tokens(text: str) -> int:
    return -(-len(text) // CHARS_PER_TOKEN) if text else 0


def message_text(message: ChatMessage) -> str:
    """What an estimate counts of a message: its text and the tool calls it replays."""
    return message.text + "".join(c.name + c.arguments for c in message.tool_calls)


class OpenAICompatibleAdapter(OpenAIAdapter):
    api_style: ClassVar[str] = "openai_compatible"
    max_tokens_field: ClassVar[str] = "max_tokens"
    done_required: ClassVar[bool] = False
    bare_json_lines: ClassVar[bool] = True
    developer_role: ClassVar[str] = "system"
    text_lists_as_strings: ClassVar[bool] = True
    send_refusal: ClassVar[bool] = False

    def __init__(self) -> None:
        self._no_stream_options: set[str] = set()  # base URLs that rejected stream_options

    def include_usage(self, endpoint: ProviderEndpoint) -> bool:
        return endpoint.base_url not in self._no_stream_options

    def missing_usage(self, request: ChatRequest, text: str, calls: list[ToolCall]) -> Usage:
        arguments = "".join(c.name + c.arguments for c in calls)
        return Usage(
            input_tokens=sum(estimate_tokens(message_text(m)) for m in request.messages),
            output_tokens=estimate_tokens(text) + estimate_tokens(arguments),
        )

    def missing_embedding_usage(self, request: EmbeddingRequest) -> Usage:
        if request.token_inputs is not None:
            return Usage(input_tokens=sum(len(tokens) for tokens in request.token_inputs))
        return Usage(input_tokens=sum(estimate_tokens(text) for text in request.inputs))

    def asks_for_base64(self, model: str) -> bool:
        # Such servers follow DALL-E's wire, whose default answer is a URL; one that serves a GPT
        # image model by its name follows that model's wire, which rejects ``response_format``.
        return not model.startswith(("gpt-image", "chatgpt-image"))

    async def stream(
        self, client: UpstreamClient, endpoint: ProviderEndpoint, request: ChatRequest
    ) -> AsyncIterator[StreamChunk]:
        delivered = False
        try:
            async for chunk in super().stream(client, endpoint, request):
                delivered = True
                yield chunk
            return
        except ProviderError as err:
            if delivered or not self.include_usage(endpoint) or not _rejects_stream_options(err):
                raise
            self._no_stream_options.add(endpoint.base_url)
        async for chunk in super().stream(client, endpoint, request):
            yield chunk


def _rejects_stream_options(err: ProviderError) -> bool:
    return err.error_class == "bad_request" and "stream_options" in err.message
