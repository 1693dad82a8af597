"""Google Gemini API (``POST {base}/v1beta/models/{model}:generateContent``, ``x-goog-api-key``).

Shapes follow the Gemini API reference as the ``google-genai`` SDK defines it (``Content``,
``Part``, ``FunctionDeclaration``, ``ToolConfig``, ``GenerationConfig``, ``ThinkingConfig``,
``GenerateContentResponse``; REST spells every field in camelCase):

- **Messages.** Roles are ``user`` and ``model``; system and developer turns are joined into
  ``systemInstruction`` (text only). Parts: text; an image data URL → ``inlineData {mimeType,
  data}``; an http(s) image URL → ``fileData {mimeType, fileUri}`` (the API fetches public and
  signed URLs itself since January 2026; the MIME type is guessed from the URL's extension,
  ``image/jpeg`` when it has none; the gateway never fetches it). Audio → ``inlineData`` with
  ``audio/<format>`` (Gemini's own names: ``audio/wav``, ``audio/mp3``); a file → ``inlineData``,
  or ``fileData`` for a ``file_id`` (a Files API URI). ``detail`` and a file's ``filename`` have
  no Gemini API field (``Blob.displayName`` is Vertex-only) and are not sent.
- **Tools.** Assistant tool calls → model ``functionCall {id, name, args}`` parts (``args`` the
  parsed JSON object; ``id`` is documented on ``FunctionCall`` / ``FunctionResponse`` for matching
  results to calls). Tool results → user-turn ``functionResponse {id, name, response}`` parts:
  ``name`` is looked up from the assistant call with that ``tool_call_id`` (else the message's
  ``name``, else the id, and Gemini judges it); ``response`` is the result parsed as a JSON
  object, or ``{"result": text}`` when it is not one. Consecutive results go in one user turn, as
  Gemini expects a parallel call's answers. A ``tool`` turn without ``tool_call_id`` answers no
  call and goes as a plain user turn. Gemini 3 refuses a replayed function call without a
  ``thoughtSignature``; the canonical model cannot carry Gemini's signatures through a client
  (OpenAI clients limit ids to 40 characters), so for Gemini 3 and later the first call of each
  model turn carries the sentinel the thought-signatures guide documents for calls it did not
  issue (``skip_thought_signature_validator``) — which also lets a conversation started on
  another provider fail over to Gemini.
- **Options.** ``tools`` → ``[{functionDeclarations: [{name, description, parametersJsonSchema}]}]``
  — ``parametersJsonSchema`` takes JSON Schema as written (the older ``parameters`` field takes an
  OpenAPI subset and would need lossy conversion), so no keyword is rewritten; ``strict`` has no
  Gemini field. ``tool_choice`` → ``toolConfig.functionCallingConfig`` (``auto`` → ``AUTO``,
  ``none`` → ``NONE``, ``required`` → ``ANY``, a named tool → ``ANY`` with
  ``allowedFunctionNames``). ``json_object`` → ``responseMimeType: application/json``;
  ``json_schema`` adds ``responseJsonSchema`` (JSON Schema as written, like the tools).
  Reasoning → ``thinkingConfig {thinkingBudget, includeThoughts: true}`` (effort ``none`` →
  ``thinkingBudget: 0``). ``seed``, ``presencePenalty``, ``frequencyPenalty``, ``topK``,
  ``candidateCount`` (``n``), ``stopSequences``, ``responseLogprobs`` and ``logprobs``
  (``top_logprobs``). ``user`` has no Gemini field (OneVault records it; it is not forwarded).
- **Answers.** Text parts are the text and thought parts (``thought: true``) the reasoning;
  ``functionCall`` parts are the tool calls in order. Gemini 2.x gives calls no id, so one is
  made deterministically: ``call_<responseId>_<n>`` (a digest of the parts when there is no
  response id), the same for a plain and a streamed answer. Gemini finishes a turn that called
  functions with ``STOP``; the canonical answer says ``tool_calls``. ``logprobsResult`` maps to
  OpenAI's ``logprobs.content`` shape. Only candidate 0 is carried (``n`` > 1 is billed in full).
- **Usage:** ``promptTokenCount`` already includes cached tokens; thinking models report
  ``thoughtsTokenCount`` apart from ``candidatesTokenCount``, so output = candidates + thoughts;
  ``promptTokensDetails`` by modality gives the image and audio input tokens.

Streams use ``:streamGenerateContent?alt=sse``: every event is a whole ``GenerateContentResponse``
and there is no terminal event, so a stream is complete once a candidate reports its
``finishReason``; usage is taken from the last ``usageMetadata`` seen and emitted at the end.
Gemini sends each function call whole, in one part: it becomes one ``ToolCallDelta`` with id,
name and all the arguments, indexed by its order across the stream.

Embeddings use ``:batchEmbedContents`` (one ``EmbedContentRequest`` per input, each naming its
model; answer ``{"embeddings": [{"values": [...]}]}``); the API reports no token counts for
embeddings unless ``usageMetadata`` is present, so input tokens are estimated then.

Images: Imagen models (``imagen-*``) generate through ``:predict`` (``{"instances": [{"prompt"}],
"parameters": {"sampleCount", "aspectRatio"}}`` → ``{"predictions": [{"bytesBase64Encoded",
"mimeType"}]}``). A ``size`` maps to the aspect ratio it has (1:1, 3:4, 4:3, 9:16, 16:9, within
3%); a size of another shape, a ``quality`` other than ``auto`` and ``n`` above 4 have no Imagen
field and are refused before the call. Other Gemini models have no image generation here
(``gemini-*-image`` models answer images inside ``generateContent``, which the canonical chat
answer cannot carry), so they are refused too. Predictions dropped by Imagen's safety filter
(``raiFilteredReason``, no bytes) are left out.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from typing import Any, ClassVar, Final
from urllib.parse import quote, urlsplit

import orjson

from gateway.providers.adapter import HttpAdapter, HttpCall, StreamDecoder
from gateway.providers.base import ProviderEndpoint
from gateway.providers.capabilities import model_features
from gateway.providers.errors import decode_error_body, error_class_for_status, error_from_response, sanitise
from gateway.providers.http import UpstreamResponse
from gateway.providers.openai import tool_finish
from gateway.providers.openai_compatible import estimate_tokens
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
    StreamChunk,
    TextPart,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    Usage,
)

_FILTERED: Final = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "LANGUAGE"}
)
_AUTH_STATUSES: Final = frozenset({"UNAUTHENTICATED", "PERMISSION_DENIED"})
_AUTH_REASONS: Final = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED", "API_KEY_SERVICE_BLOCKED"})
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")
_ASPECT_RATIOS: Final = {"1:1": 1.0, "3:4": 0.75, "4:3": 4 / 3, "9:16": 9 / 16, "16:9": 16 / 9}
IMAGEN_MAX_IMAGES: Final = 4
_TASK_TYPES: Final = {"query": "RETRIEVAL_QUERY", "document": "RETRIEVAL_DOCUMENT"}
_CALLING_MODES: Final = {"auto": "AUTO", "none": "NONE", "required": "ANY", "function": "ANY"}
_MODALITY_FIELDS: Final = {"IMAGE": "image_input_tokens", "AUDIO": "audio_input_tokens"}
_PART_NAMES: Final = {"image": "image_url", "audio": "input_audio", "file": "file"}
# The thought-signatures guide's sentinel for function calls the model did not issue itself.
SKIP_SIGNATURE: Final = "skip_thought_signature_validator"
_GEMINI_MAJOR = re.compile(r"gemini-(\d+)")
_ID_CHARS: Final = 24  # of a response id in a made-up call id (OpenAI clients take ids of up to 40)


# -- usage, finish, logprobs ------------------------------------------------------------------------
def gemini_usage(meta: dict[str, Any]) -> Usage:
    thoughts = int(meta.get("thoughtsTokenCount") or 0)
    usage = Usage(
        input_tokens=int(meta.get("promptTokenCount") or 0) + int(meta.get("toolUsePromptTokenCount") or 0),
        output_tokens=int(meta.get("candidatesTokenCount") or 0) + thoughts,
        cached_input_tokens=int(meta.get("cachedContentTokenCount") or 0),
        reasoning_tokens=thoughts,
    )
    for detail in meta.get("promptTokensDetails") or ():
        name = _MODALITY_FIELDS.get(detail.get("modality"))
        if name:
            setattr(usage, name, getattr(usage, name) + int(detail.get("tokenCount") or 0))
    return usage


def aspect_ratio(size: str | None) -> str | None:
    """``WIDTHxHEIGHT`` → the Imagen aspect ratio it has (within 3%), else None."""
    width, sep, height = (size or "").partition("x")
    if not (sep and width.isdigit() and height.isdigit() and int(width) and int(height)):
        return None
    ratio = int(width) / int(height)
    for name, value in _ASPECT_RATIOS.items():
        if abs(ratio - value) / value <= 0.03:
            return name
    return None


def finish_reason(reason: str | None) -> str | None:
    if reason is None:
        return None
    if reason == "STOP":
        return "stop"
    if reason == "MAX_TOKENS":
        return "length"
    if reason in _FILTERED:
        return "content_filter"
    return reason.lower()


def _parts(candidate: dict[str, Any]) -> list[dict[str, Any]]:
    return list((candidate.get("content") or {}).get("parts") or ())


def candidate_text(candidate: dict[str, Any]) -> str:
    return "".join(p.get("text", "") for p in _parts(candidate) if not p.get("thought"))


def candidate_reasoning(candidate: dict[str, Any]) -> str:
    return "".join(p.get("text", "") for p in _parts(candidate) if p.get("thought"))


def gemini_logprobs(candidate: dict[str, Any]) -> list[dict[str, Any]] | None:
    """``logprobsResult`` (chosen and top candidates per decoding step) in OpenAI's
    ``logprobs.content`` shape."""
    result = candidate.get("logprobsResult")
    if not isinstance(result, dict) or not result.get("chosenCandidates"):
        return None
    tops = result.get("topCandidates") or []
    out = []
    for step, chosen in enumerate(result["chosenCandidates"]):
        top = tops[step].get("candidates") or [] if step < len(tops) else []
        out.append({**_logprob(chosen), "top_logprobs": [_logprob(c) for c in top]})
    return out


def _logprob(candidate: dict[str, Any]) -> dict[str, Any]:
    token = str(candidate.get("token") or "")
    return {
        "token": token,
        "logprob": float(candidate.get("logProbability") or 0.0),
        "bytes": list(token.encode()),
    }


def call_id(response_id: str | None, parts: list[dict[str, Any]], position: int) -> str:
    """A deterministic id for a function call Gemini gave none (module docstring)."""
    stem = (response_id or "")[:_ID_CHARS] or hashlib.sha256(orjson.dumps(parts)).hexdigest()[:16]
    return f"call_{stem}_{position}"


def _tool_call(
    part: dict[str, Any], response_id: str | None, parts: list[dict[str, Any]], n: int
) -> ToolCall:
    call = part["functionCall"]
    arguments = orjson.dumps(call.get("args") or {}).decode()
    return ToolCall(str(call.get("id") or call_id(response_id, parts, n)), str(call["name"]), arguments)


# -- request --------------------------------------------------------------------------------------
def _unsupported(what: str, param: str) -> ProviderError:
    return ProviderError(
        "bad_request", f"gemini does not accept {what}", code="unsupported_parameter", param=param
    )


def _image_mime(url: str) -> str:
    guessed, _ = mimetypes.guess_type(urlsplit(url).path)
    return guessed if guessed and guessed.startswith("image/") else "image/jpeg"


def wire_part(part: ContentPart) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"text": part.text}
    if isinstance(part, ImagePart):
        inline = part.inline()
        if inline is not None:
            return {"inlineData": {"mimeType": inline[0], "data": inline[1]}}
        return {"fileData": {"mimeType": _image_mime(part.url), "fileUri": part.url}}
    if isinstance(part, AudioPart):
        return {"inlineData": {"mimeType": f"audio/{part.format}", "data": part.data}}
    if isinstance(part, FilePart):
        if part.data is not None:
            return {"inlineData": {"mimeType": part.media_type, "data": part.data}}
        if part.file_id is not None:
            return {"fileData": {"mimeType": part.media_type, "fileUri": part.file_id}}
        raise _unsupported("a file part with neither data nor a file id", "file")
    raise _unsupported(f"{type(part).__name__} content", "messages")


def _args(arguments: str, name: str) -> dict[str, Any]:
    """A call's JSON arguments as the object Gemini's ``functionCall.args`` must be."""
    if not arguments.strip():
        return {}
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise ProviderError(
            "bad_request",
            f"gemini needs the arguments of tool call {name!r} to be a JSON object",
            param="messages",
        )
    return value


def _response(content: str) -> dict[str, Any]:
    """A tool result as ``functionResponse.response``: its JSON object, else ``{"result": text}``."""
    try:
        value = orjson.loads(content)
    except orjson.JSONDecodeError:
        value = None
    return value if isinstance(value, dict) else {"result": content}


def signs_calls(model: str) -> bool:
    """Gemini 3 and later refuse replayed function calls without a thought signature."""
    match = _GEMINI_MAJOR.search(model.lower())
    return bool(match and int(match.group(1)) >= 3)


def _model_turn(message: ChatMessage, sign: bool) -> dict[str, Any]:
    parts = [wire_part(p) for p in message.parts()]
    if message.refusal:
        parts.append({"text": message.refusal})  # a replayed refusal is what the model said
    for i, call in enumerate(message.tool_calls):
        function: dict[str, Any] = {
            "id": call.id,
            "name": call.name,
            "args": _args(call.arguments, call.name),
        }
        part: dict[str, Any] = {"functionCall": function}
        if sign and i == 0:
            part["thoughtSignature"] = SKIP_SIGNATURE
        parts.append(part)
    return {"role": "model", "parts": parts or [{"text": ""}]}


def _system(messages: list[ChatMessage]) -> str:
    texts = []
    for m in messages:
        if not m.is_instruction:
            continue
        for part in m.parts():
            if not isinstance(part, TextPart):
                name = _PART_NAMES.get(part.type, part.type)
                raise _unsupported(f"{name} content in {m.role} messages", name)
        texts.append(m.text)
    return "\n\n".join(t for t in texts if t)


def wire_contents(request: ChatRequest) -> list[dict[str, Any]]:
    names = {c.id: c.name for m in request.messages for c in m.tool_calls}
    sign = signs_calls(request.model)
    contents: list[dict[str, Any]] = []
    results: list[dict[str, Any]] | None = None  # the open user turn of consecutive tool results
    for m in request.messages:
        if m.is_instruction:
            continue
        if m.role == "tool" and m.tool_call_id is not None:
            answer = {
                "id": m.tool_call_id,
                "name": names.get(m.tool_call_id) or m.name or m.tool_call_id,
                "response": _response(m.text),
            }
            if results is None:
                results = []
                contents.append({"role": "user", "parts": results})
            results.append({"functionResponse": answer})
            continue
        results = None
        if m.role == "assistant":
            contents.append(_model_turn(m, sign))
        else:
            contents.append({"role": "user", "parts": [wire_part(p) for p in m.parts()] or [{"text": ""}]})
    return contents


def wire_tool_config(choice: ToolChoice) -> dict[str, Any]:
    config: dict[str, Any] = {"mode": _CALLING_MODES[choice.mode]}
    if choice.mode == "function" and choice.name:
        config["allowedFunctionNames"] = [choice.name]
    return {"functionCallingConfig": config}


def wire_tools(request: ChatRequest) -> list[dict[str, Any]]:
    declarations = []
    for tool in request.tools:
        declaration: dict[str, Any] = {"name": tool.name}
        if tool.description:
            declaration["description"] = tool.description
        if tool.parameters is not None:
            declaration["parametersJsonSchema"] = tool.parameters
        declarations.append(declaration)
    return [{"functionDeclarations": declarations}]


def thinking_config(request: ChatRequest) -> dict[str, Any] | None:
    budget = request.thinking_tokens()
    if budget is None:
        if request.reasoning_effort != "none" or "reasoning" not in model_features(request.model):
            return None  # a model that cannot think already does what "none" asks
        return {"thinkingBudget": 0}
    if budget == 0:
        return {"thinkingBudget": 0}
    return {"thinkingBudget": budget, "includeThoughts": True}


def generation_config(request: ChatRequest) -> dict[str, Any]:
    config: dict[str, Any] = {}
    simple = (
        ("maxOutputTokens", request.max_tokens),
        ("temperature", request.temperature),
        ("topP", request.top_p),
        ("topK", request.top_k),
        ("stopSequences", request.stop or None),
        ("seed", request.seed),
        ("presencePenalty", request.presence_penalty),
        ("frequencyPenalty", request.frequency_penalty),
        ("candidateCount", request.n),
    )
    config.update((name, value) for name, value in simple if value is not None)
    if request.logprobs or request.top_logprobs is not None:
        config["responseLogprobs"] = True
        if request.top_logprobs is not None:
            config["logprobs"] = request.top_logprobs
    fmt = request.response_format
    if fmt is not None and fmt.type != "text":
        config["responseMimeType"] = "application/json"
        if fmt.type == "json_schema" and fmt.schema is not None:
            config["responseJsonSchema"] = fmt.schema
    thinking = thinking_config(request)
    if thinking is not None:
        config["thinkingConfig"] = thinking
    return config


class GeminiAdapter(HttpAdapter):
    api_style: ClassVar[str] = "gemini"

    def build(self, endpoint: ProviderEndpoint, request: ChatRequest, *, stream: bool) -> HttpCall:
        base = endpoint.base_url
        root = base if base.endswith(("/v1beta", "/v1")) else f"{base}/v1beta"
        model = quote(request.model.removeprefix("models/"), safe="")
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        body: dict[str, Any] = {"contents": wire_contents(request)}
        system = _system(request.messages)
        if system:
            body["systemInstruction"] = {"parts": [{"text": system}]}
        if request.tools:
            body["tools"] = wire_tools(request)
        if request.tool_choice is not None:
            body["toolConfig"] = wire_tool_config(request.tool_choice)
        config = generation_config(request)
        if config:
            body["generationConfig"] = config
        headers = {"content-type": "application/json", "x-goog-api-key": endpoint.api_key}
        return HttpCall(f"{root}/models/{model}:{method}", headers, body)

    def build_embedding(self, endpoint: ProviderEndpoint, request: EmbeddingRequest) -> HttpCall:
        base = endpoint.base_url
        root = base if base.endswith(("/v1beta", "/v1")) else f"{base}/v1beta"
        name = request.model.removeprefix("models/")
        one: dict[str, Any] = {"model": f"models/{name}"}
        if request.purpose in _TASK_TYPES:
            one["taskType"] = _TASK_TYPES[request.purpose]
        if request.dimensions is not None:
            one["outputDimensionality"] = request.dimensions
        body = {"requests": [{**one, "content": {"parts": [{"text": text}]}} for text in request.inputs]}
        headers = {"content-type": "application/json", "x-goog-api-key": endpoint.api_key}
        return HttpCall(f"{root}/models/{quote(name, safe='')}:batchEmbedContents", headers, body)

    def parse_embedding(self, data: Any, request: EmbeddingRequest) -> EmbeddingResponse:
        vectors = [[float(x) for x in item["values"]] for item in data["embeddings"]]
        meta = data.get("usageMetadata") or {}
        tokens = meta.get("promptTokenCount")
        if tokens is None:
            tokens = sum(estimate_tokens(text) for text in request.inputs)
        return EmbeddingResponse(vectors, Usage(input_tokens=int(tokens)), request.model)

    # -- images: Imagen's :predict ---------------------------------------------------------------
    def image_gaps(self, request: ImageRequest) -> list[str] | None:
        if not request.model.removeprefix("models/").startswith("imagen"):
            return None
        gaps = []
        if request.size not in (None, "auto") and aspect_ratio(request.size) is None:
            gaps.append("size")
        if request.quality not in (None, "auto"):
            gaps.append("quality")
        if request.n > IMAGEN_MAX_IMAGES:
            gaps.append("n")
        return gaps

    def build_image(self, endpoint: ProviderEndpoint, request: ImageRequest) -> HttpCall:
        base = endpoint.base_url
        root = base if base.endswith(("/v1beta", "/v1")) else f"{base}/v1beta"
        name = request.model.removeprefix("models/")
        parameters: dict[str, Any] = {"sampleCount": request.n}
        ratio = aspect_ratio(request.size) if request.size not in (None, "auto") else None
        if ratio is not None:
            parameters["aspectRatio"] = ratio
        body = {"instances": [{"prompt": request.prompt}], "parameters": parameters}
        headers = {"content-type": "application/json", "x-goog-api-key": endpoint.api_key}
        return HttpCall(f"{root}/models/{quote(name, safe='')}:predict", headers, body)

    def parse_image(self, data: Any, request: ImageRequest) -> ImageResponse:
        images = [
            GeneratedImage(p["bytesBase64Encoded"], media_type=p.get("mimeType") or "image/png")
            for p in data.get("predictions") or ()
            if p.get("bytesBase64Encoded")
        ]
        return ImageResponse(images, Usage(), request.model, request.size, request.quality)

    def parse(self, data: Any, request: ChatRequest) -> ChatResponse:
        candidates = data.get("candidates")
        calls: list[ToolCall] = []
        reasoning = logprobs = None
        if candidates:
            candidate = candidates[0]
            text = candidate_text(candidate)
            reasoning = candidate_reasoning(candidate) or None
            parts = _parts(candidate)
            calls = [
                _tool_call(p, data.get("responseId"), parts, n)
                for n, p in enumerate(p for p in parts if "functionCall" in p)
            ]
            finish = tool_finish(finish_reason(candidate.get("finishReason")), bool(calls))
            logprobs = gemini_logprobs(candidate)
        elif (data.get("promptFeedback") or {}).get("blockReason"):
            text, finish = "", "content_filter"  # the prompt itself was blocked
        else:
            raise KeyError("candidates")
        return ChatResponse(
            text=text,
            finish_reason=finish,
            usage=gemini_usage(data["usageMetadata"]),
            model=data.get("modelVersion") or request.model,
            provider_request_id=data.get("responseId"),
            tool_calls=calls,
            reasoning=reasoning,
            logprobs=logprobs,
        )

    def decoder(self, request: ChatRequest) -> StreamDecoder:
        return GeminiStreamDecoder()

    def error_for(self, response: UpstreamResponse, endpoint: ProviderEndpoint) -> ProviderError:
        """Gemini puts retry hints in ``RetryInfo`` and reports bad keys as 400 ``API_KEY_INVALID``."""
        body = decode_error_body(response.content)
        error = body.get("error") if isinstance(body, dict) else None
        error_class: str | None = None
        retry_after: float | None = None
        if isinstance(error, dict):
            details = [d for d in error.get("details") or () if isinstance(d, dict)]
            reasons = {d.get("reason") for d in details}
            if error.get("status") in _AUTH_STATUSES or reasons & _AUTH_REASONS:
                error_class = "auth"
            for detail in details:
                match = _DURATION.match(str(detail.get("retryDelay", "")))
                if match:
                    retry_after = float(match.group(1))
        return error_from_response(
            self.api_style,
            response,
            endpoint.api_key,
            error_class=error_class,
            retry_after=retry_after,
            body=body,
        )


class GeminiStreamDecoder(StreamDecoder):
    __slots__ = ("_calls", "_finish", "_usage")

    def __init__(self) -> None:
        self._finish: str | None = None
        self._usage: Usage | None = None
        self._calls = 0  # function calls seen so far: the next call's index

    @property
    def complete(self) -> bool:
        return self._finish is not None

    def feed(self, event: SseEvent) -> list[StreamChunk]:
        data = orjson.loads(event.data)
        error = data.get("error")
        if error:
            status = error.get("code") if isinstance(error.get("code"), int) else None
            message = f"gemini stream error {error.get('status') or ''}: {error.get('message') or ''}"
            error_class = error_class_for_status(status) if status else "server_error"
            raise ProviderError(error_class, sanitise(message, None), status=status)
        meta = data.get("usageMetadata")
        if meta:
            self._usage = gemini_usage(meta)
        candidates = data.get("candidates")
        if not candidates:
            if (data.get("promptFeedback") or {}).get("blockReason"):
                self._finish = "content_filter"
            return []
        candidate = candidates[0]
        deltas = self._tool_deltas(candidate, data.get("responseId"))
        reason = candidate.get("finishReason")
        if reason:
            self._finish = tool_finish(finish_reason(reason), self._calls > 0)
        chunk = StreamChunk(
            delta=candidate_text(candidate),
            tool_calls=deltas or None,
            reasoning=candidate_reasoning(candidate),
            logprobs=gemini_logprobs(candidate),
        )
        return [chunk] if chunk.has_content or chunk.logprobs else []

    def _tool_deltas(self, candidate: dict[str, Any], response_id: str | None) -> list[ToolCallDelta]:
        parts = _parts(candidate)
        deltas = []
        for part in parts:
            if "functionCall" in part:
                call = _tool_call(part, response_id, parts, self._calls)
                deltas.append(ToolCallDelta(self._calls, call.id, call.name, call.arguments))
                self._calls += 1
        return deltas

    def close(self) -> list[StreamChunk]:
        return [StreamChunk(finish_reason=self._finish, usage=self._usage)]
