"""OpenAI Chat Completions (``POST {base}/chat/completions``, ``Authorization: Bearer``).

The canonical model *is* Chat Completions' model, so this adapter mostly renames: content parts
become ``text`` / ``image_url`` / ``input_audio`` / ``file`` parts, assistant tool calls become
``tool_calls`` (content null when the turn only called tools), tool results ``role: tool``
messages with their ``tool_call_id``, and every request option the wire honours
(``capabilities.WIRE_OPTIONS``) is sent under its own field name. Nothing set is dropped.

Answers: tool calls (several, in order), ``refusal``, reasoning text from servers that return it
(``reasoning_content``, as DeepSeek and vLLM do, or ``reasoning``), ``logprobs.content``, usage with
cached, audio, image and reasoning tokens. OpenAI answers a call forced by name
(``tool_choice: {"type": "function"}``) with ``finish_reason: "stop"``; the canonical answer says
``tool_calls`` whenever the model called tools, so the adapter corrects that.

Images (``POST {base}/images/generations``): ``prompt``, ``n``, ``size``, ``quality``, ``user``;
DALL-E is asked for ``b64_json`` (GPT image models always answer base64 and reject the field);
GPT image models report token usage, which is what OpenAI bills them by. Embeddings take token
arrays as ``input`` as well as text.

``n`` > 1 is forwarded and billed in full (usage covers every choice) but only choice 0 is carried:
the canonical response and every door hold one answer.

Streams ask for ``stream_options.include_usage`` so the last event before ``data: [DONE]``
carries the usage block; the decoder holds usage back and emits it once, on the final chunk,
even from servers that repeat it on every event. Streamed tool calls keep OpenAI's
``delta.tool_calls`` contract (id and name once, on a call's first delta) even from servers
that repeat them or leave out ``index``. Azure OpenAI and OpenAI-compatible servers subclass
this adapter and override only what differs (URL, auth header, strictness, roles).
"""

from __future__ import annotations

from typing import Any, ClassVar, Final

import orjson

from gateway.providers.adapter import HttpAdapter, HttpCall, StreamDecoder
from gateway.providers.base import ProviderEndpoint
from gateway.providers.capabilities import WIRE_OPTIONS
from gateway.providers.errors import error_class_for_status, sanitise
from gateway.providers.sse import SseEvent
from gateway.providers.types import (
    AudioPart,
    ChatMessage,
    ChatRequest,
    ChatResponse,
    ContentPart,
    EmbeddingRequest,
    EmbeddingResponse,
    FilePart,
    GeneratedImage,
    ImagePart,
    ImageRequest,
    ImageResponse,
    ProviderError,
    ResponseFormat,
    StreamChunk,
    TextPart,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    Usage,
)

# Options sent as they are, under the same name, when the request sets them and the wire has the
# field (``capabilities.WIRE_OPTIONS``); the structured ones are mapped by ``build`` itself.
PASS_THROUGH: Final = (
    "parallel_tool_calls",
    "reasoning_effort",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "n",
    "service_tier",
    "metadata",
    "store",
    "top_k",
)


def openai_usage(block: dict[str, Any]) -> Usage:
    """``prompt_tokens`` already includes cached tokens, ``completion_tokens`` reasoning ones."""
    prompt_details = block.get("prompt_tokens_details") or {}
    completion_details = block.get("completion_tokens_details") or {}
    return Usage(
        input_tokens=int(block.get("prompt_tokens") or 0),
        output_tokens=int(block.get("completion_tokens") or 0),
        cached_input_tokens=int(prompt_details.get("cached_tokens") or 0),
        reasoning_tokens=int(completion_details.get("reasoning_tokens") or 0),
        cache_write_tokens=int(prompt_details.get("cache_write_tokens") or 0),
        audio_input_tokens=int(prompt_details.get("audio_tokens") or 0),
        image_input_tokens=int(prompt_details.get("image_tokens") or 0),
    )


# -- request pieces -----------------------------------------------------------------------------
def wire_part(part: ContentPart) -> dict[str, Any]:
    """One canonical content part as a Chat Completions content part."""
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if isinstance(part, ImagePart):
        image: dict[str, Any] = {"url": part.url}
        if part.detail is not None:
            image["detail"] = part.detail
        return {"type": "image_url", "image_url": image}
    if isinstance(part, AudioPart):
        return {"type": "input_audio", "input_audio": {"data": part.data, "format": part.format}}
    if isinstance(part, FilePart):
        file: dict[str, Any] = {}
        if part.file_id is not None:
            file["file_id"] = part.file_id
        else:
            file["file_data"] = f"data:{part.media_type};base64,{part.data or ''}"
        if part.filename is not None:
            file["filename"] = part.filename
        return {"type": "file", "file": file}
    raise TypeError(f"unknown content part {type(part).__name__}")


def wire_tool_call(call: ToolCall) -> dict[str, Any]:
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}


def wire_tool(tool: Tool) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        function["description"] = tool.description
    if tool.parameters is not None:
        function["parameters"] = tool.parameters
    if tool.strict is not None:
        function["strict"] = tool.strict
    return {"type": "function", "function": function}


def wire_tool_choice(choice: ToolChoice) -> str | dict[str, Any]:
    if choice.mode == "function":
        return {"type": "function", "function": {"name": choice.name}}
    return choice.mode


def wire_response_format(fmt: ResponseFormat) -> dict[str, Any]:
    if fmt.type != "json_schema":
        return {"type": fmt.type}
    spec: dict[str, Any] = {"name": fmt.name or "response"}  # OpenAI requires a name
    if fmt.description is not None:
        spec["description"] = fmt.description
    if fmt.schema is not None:
        spec["schema"] = fmt.schema
    if fmt.strict is not None:
        spec["strict"] = fmt.strict
    return {"type": "json_schema", "json_schema": spec}


class OpenAIAdapter(HttpAdapter):
    api_style: ClassVar[str] = "openai"
    max_tokens_field: ClassVar[str] = "max_completion_tokens"  # max_tokens is rejected by o-series
    send_model: ClassVar[bool] = True
    done_required: ClassVar[bool] = True  # a stream must end with data: [DONE]
    developer_role: ClassVar[str] = "developer"  # what a developer turn is sent as
    text_lists_as_strings: ClassVar[bool] = False  # send a text-only parts list as one string
    send_refusal: ClassVar[bool] = True  # the wire has an assistant ``refusal`` field
    token_inputs: ClassVar[bool] = True  # embeddings ``input`` may be token ids (list[int] / list[list[int]])

    def url(self, endpoint: ProviderEndpoint, request: ChatRequest) -> str:
        return f"{endpoint.base_url}/chat/completions"

    def auth_headers(self, endpoint: ProviderEndpoint) -> dict[str, str]:
        return {"authorization": f"Bearer {endpoint.api_key}"}

    def include_usage(self, endpoint: ProviderEndpoint) -> bool:
        return True

    # -- building --------------------------------------------------------------------------------
    def wire_content(self, content: str | list[ContentPart] | None) -> str | list[dict[str, Any]]:
        if content is None:
            return ""
        if isinstance(content, str):
            return content
        if self.text_lists_as_strings and all(isinstance(p, TextPart) for p in content):
            return "".join(p.text for p in content)  # type: ignore[union-attr]
        return [wire_part(p) for p in content]

    def wire_message(self, message: ChatMessage) -> dict[str, Any]:
        role = message.role
        if role == "tool":
            if message.tool_call_id is None:  # a result with no call to answer: a plain user turn
                return {"role": "user", "content": self.wire_content(message.content)}
            return {
                "role": "tool",
                "tool_call_id": message.tool_call_id,
                "content": self.wire_content(message.content),
            }
        if role == "developer":
            role = self.developer_role
        out: dict[str, Any] = {"role": role, "content": self.wire_content(message.content)}
        if message.name is not None:
            out["name"] = message.name
        if role == "assistant":
            empty = message.content is None or message.content == "" or message.content == []
            if message.refusal is not None and not self.send_refusal:  # replayed as the turn's text
                out["content"] = "\n".join(t for t in (message.text, message.refusal) if t)
            elif message.refusal is not None:
                out["refusal"] = message.refusal
                if empty:
                    out["content"] = None
            if message.tool_calls:
                out["tool_calls"] = [wire_tool_call(c) for c in message.tool_calls]
                if empty:
                    out["content"] = None
        return out

    def build(self, endpoint: ProviderEndpoint, request: ChatRequest, *, stream: bool) -> HttpCall:
        body: dict[str, Any] = {"messages": [self.wire_message(m) for m in request.messages]}
        if self.send_model:
            body["model"] = request.model
        if request.max_tokens is not None:
            body[self.max_tokens_field] = request.max_tokens
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.stop:
            body["stop"] = request.stop
        if request.user is not None:
            body["user"] = request.user
        if request.tools:
            body["tools"] = [wire_tool(t) for t in request.tools]
        if request.tool_choice is not None:
            body["tool_choice"] = wire_tool_choice(request.tool_choice)
        if request.response_format is not None:
            body["response_format"] = wire_response_format(request.response_format)
        honoured = WIRE_OPTIONS[self.api_style]
        for name in PASS_THROUGH:
            value = getattr(request, name)
            if value is not None and name in honoured:
                body[name] = value
        if stream:
            body["stream"] = True
            if self.include_usage(endpoint):
                body["stream_options"] = {"include_usage": True}
        headers = {"content-type": "application/json", **self.auth_headers(endpoint)}
        return HttpCall(self.url(endpoint, request), headers, body)

    # -- parsing ---------------------------------------------------------------------------------
    def parse(self, data: Any, request: ChatRequest) -> ChatResponse:
        choice = data["choices"][0]
        message = choice.get("message") or {}
        text = message.get("content") or ""
        refusal = message.get("refusal")
        if not isinstance(text, str) or not isinstance(refusal, str | None):
            raise TypeError("message content is not text")
        calls = [parse_tool_call(raw, i) for i, raw in enumerate(message.get("tool_calls") or ())]
        block = data.get("usage")
        usage = openai_usage(block) if block is not None else self.missing_usage(request, text, calls)
        return ChatResponse(
            text=text,
            finish_reason=tool_finish(choice.get("finish_reason"), bool(calls)),
            usage=usage,
            model=data.get("model") or request.model,
            provider_request_id=data.get("id"),
            tool_calls=calls,
            refusal=refusal,
            reasoning=reasoning_of(message) or None,
            logprobs=logprobs_of(choice),
        )

    def missing_usage(self, request: ChatRequest, text: str, calls: list[ToolCall]) -> Usage:
        """OpenAI always reports usage on a complete answer; its absence means a broken reply."""
        raise KeyError("usage")

    # -- embeddings: POST {base}/embeddings ----------------------------------------------------
    def embeddings_url(self, endpoint: ProviderEndpoint, request: EmbeddingRequest) -> str:
        return f"{endpoint.base_url}/embeddings"

    def build_embedding(self, endpoint: ProviderEndpoint, request: EmbeddingRequest) -> HttpCall:
        inputs = request.token_inputs if request.token_inputs is not None else request.inputs
        body: dict[str, Any] = {"input": inputs, "encoding_format": "float"}
        if self.send_model:
            body["model"] = request.model
        if request.dimensions is not None:
            body["dimensions"] = request.dimensions
        if request.user is not None:
            body["user"] = request.user
        headers = {"content-type": "application/json", **self.auth_headers(endpoint)}
        return HttpCall(self.embeddings_url(endpoint, request), headers, body)

    def parse_embedding(self, data: Any, request: EmbeddingRequest) -> EmbeddingResponse:
        items = sorted(data["data"], key=lambda item: int(item.get("index", 0)))
        vectors = [[float(x) for x in item["embedding"]] for item in items]
        block = data.get("usage")
        usage = (
            Usage(input_tokens=int(block.get("prompt_tokens") or block.get("total_tokens") or 0))
            if block is not None
            else self.missing_embedding_usage(request)
        )
        return EmbeddingResponse(vectors, usage, data.get("model") or request.model)

    def missing_embedding_usage(self, request: EmbeddingRequest) -> Usage:
        raise KeyError("usage")

    # -- images: POST {base}/images/generations -----------------------------------------------
    def images_url(self, endpoint: ProviderEndpoint, request: ImageRequest) -> str:
        return f"{endpoint.base_url}/images/generations"

    def image_gaps(self, request: ImageRequest) -> list[str] | None:
        return []  # the wire carries every field; the provider judges sizes and qualities

    def asks_for_base64(self, model: str) -> bool:
        """DALL-E answers URLs unless asked for ``b64_json``; GPT image models always answer
        base64 and reject ``response_format``."""
        return model.startswith("dall-e")

    def build_image(self, endpoint: ProviderEndpoint, request: ImageRequest) -> HttpCall:
        body: dict[str, Any] = {"prompt": request.prompt, "n": request.n}
        if self.send_model:
            body["model"] = request.model
        for name in ("size", "quality", "user"):
            value = getattr(request, name)
            if value is not None:
                body[name] = value
        if self.asks_for_base64(request.model):
            body["response_format"] = "b64_json"
        headers = {"content-type": "application/json", **self.auth_headers(endpoint)}
        return HttpCall(self.images_url(endpoint, request), headers, body)

    def parse_image(self, data: Any, request: ImageRequest) -> ImageResponse:
        media_type = f"image/{data.get('output_format') or 'png'}"
        images = []
        for item in data["data"]:
            if not (item.get("b64_json") or item.get("url")):
                raise KeyError("b64_json")
            images.append(
                GeneratedImage(item.get("b64_json"), item.get("url"), media_type, item.get("revised_prompt"))
            )
        block = data.get("usage") or {}
        details = block.get("input_tokens_details") or {}
        usage = Usage(
            input_tokens=int(block.get("input_tokens") or 0),
            output_tokens=int(block.get("output_tokens") or 0),
            image_input_tokens=int(details.get("image_tokens") or 0),
        )
        return ImageResponse(
            images,
            usage,
            data.get("model") or request.model,
            data.get("size") or request.size,
            data.get("quality") or request.quality,
        )

    def decoder(self, request: ChatRequest) -> StreamDecoder:
        return OpenAIStreamDecoder(self.api_style, self.done_required)


def parse_tool_call(raw: dict[str, Any], position: int) -> ToolCall:
    """A ``message.tool_calls`` entry. Arguments a server sent as a JSON object rather than JSON
    text are serialised; a server that leaves out the id gets one by position."""
    function = raw["function"]
    arguments = function.get("arguments")
    if not isinstance(arguments, str):
        arguments = orjson.dumps(arguments if arguments is not None else {}).decode()
    return ToolCall(str(raw.get("id") or f"call_{position}"), str(function["name"]), arguments)


def tool_finish(finish: str | None, called: bool) -> str | None:
    """``tool_calls`` when the model called tools and stopped on its own (OpenAI says ``stop``
    for a call forced by name, and so do some compatible servers for every call)."""
    return "tool_calls" if called and finish == "stop" else finish


def reasoning_of(message: dict[str, Any]) -> str:
    """Visible reasoning from servers that return it (``reasoning_content``: DeepSeek, vLLM;
    ``reasoning``: newer vLLM, OpenRouter). OpenAI itself returns none."""
    for key in ("reasoning_content", "reasoning"):
        value = message.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def logprobs_of(choice: dict[str, Any]) -> list[dict[str, Any]] | None:
    block = choice.get("logprobs")
    if not isinstance(block, dict):
        return None
    content = block.get("content")
    return list(content) if isinstance(content, list) else None


class OpenAIStreamDecoder(StreamDecoder):
    __slots__ = ("_api_style", "_done", "_done_required", "_finished", "_ids", "_named", "_seen", "_usage")

    def __init__(self, api_style: str, done_required: bool) -> None:
        self._api_style = api_style
        self._done_required = done_required
        self._done = False
        self._finished = False
        self._usage: Usage | None = None
        self._seen = False  # a tool call has been streamed
        self._ids: dict[str, int] = {}  # tool-call ids emitted -> their index
        self._named: set[int] = set()  # tool-call indexes whose name has been emitted

    @property
    def complete(self) -> bool:
        return self._done or (self._finished and not self._done_required)

    def feed(self, event: SseEvent) -> list[StreamChunk]:
        if self._done:
            return []
        if event.data.strip() == "[DONE]":
            self._done = True
            return self._final()
        data = orjson.loads(event.data)
        error = data.get("error")
        if error:
            raise _stream_error(self._api_style, error)
        chunks: list[StreamChunk] = []
        for choice in data.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            chunk = self._chunk(choice)
            if chunk is not None:
                chunks.append(chunk)
        block = data.get("usage")
        if block:
            self._usage = openai_usage(block)
        return chunks

    def _chunk(self, choice: dict[str, Any]) -> StreamChunk | None:
        delta = choice.get("delta") or {}
        text = delta.get("content") or ""
        refusal = delta.get("refusal") or ""
        if not isinstance(text, str) or not isinstance(refusal, str):
            raise TypeError("delta content is not text")
        calls = [self._tool_delta(raw) for raw in delta.get("tool_calls") or ()]
        finish = choice.get("finish_reason")
        if finish:
            self._finished = True
            finish = tool_finish(finish, self._seen)
        chunk = StreamChunk(
            delta=text,
            finish_reason=finish,
            tool_calls=calls or None,
            reasoning=reasoning_of(delta),
            refusal=refusal,
            logprobs=logprobs_of(choice),
        )
        return chunk if chunk.has_content or finish or chunk.logprobs else None

    def _tool_delta(self, raw: dict[str, Any]) -> ToolCallDelta:
        """A ``delta.tool_calls`` entry, with id and name only the first time they appear."""
        call_id = raw.get("id") or None
        index = raw.get("index")
        if not isinstance(index, int):  # servers that omit it: a new id starts the next call
            if call_id is not None and call_id not in self._ids:
                index = len(self._ids)
            else:
                index = self._ids.get(call_id, len(self._ids) - 1) if call_id else max(len(self._ids) - 1, 0)
        function = raw.get("function") or {}
        arguments = function.get("arguments")
        if arguments is not None and not isinstance(arguments, str):
            arguments = orjson.dumps(arguments).decode()
        name = function.get("name") or None
        if call_id is not None:
            if call_id in self._ids:
                call_id = None
            else:
                self._ids[call_id] = index
        if name is not None:
            if index in self._named:
                name = None
            else:
                self._named.add(index)
        self._seen = True
        return ToolCallDelta(index, call_id, name, arguments or "")

    def close(self) -> list[StreamChunk]:
        return [] if self._done else self._final()

    def _final(self) -> list[StreamChunk]:
        return [StreamChunk(usage=self._usage)] if self._usage is not None else []


def _stream_error(api_style: str, error: Any) -> ProviderError:
    """An error event sent after a 200 (``data: {"error": {...}}``)."""
    if not isinstance(error, dict):
        error = {"message": str(error)}
    code = str(error.get("code") or error.get("type") or "")
    status = error.get("status") if isinstance(error.get("status"), int) else None
    if "rate_limit" in code:
        error_class = "rate_limited"
    elif status is not None:
        error_class = error_class_for_status(status)
    else:
        error_class = "server_error"
    message = f"{api_style} stream error {code}: {error.get('message') or ''}".strip()
    return ProviderError(error_class, sanitise(message, None), status=status)
