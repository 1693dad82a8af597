"""Gemini ``models/{model}:generateContent`` and ``:streamGenerateContent`` (``alt=sse``).

What a request may hold is checked as the Gemini API reference defines it, and refused with a
400 in Google's ``{"error": {code, message, status: INVALID_ARGUMENT}}`` shape otherwise:

- ``contents``: roles ``user`` / ``model``, each part holding exactly one of ``text``,
  ``inlineData {mimeType, data}``, ``fileData {fileUri, mimeType}``, ``functionCall {name, args}``
  or ``functionResponse {name, response}``. Media parts are counted into the prompt by their MIME
  type (image / audio / anything else a file) with the rule in gateway/simulator/toolgen.py. A
  ``functionResponse`` must answer a ``functionCall`` of that name made earlier in the
  conversation. Gemini 3 models (``gemini-3``…) also demand a ``thoughtSignature`` on the first
  ``functionCall`` part of each replayed model turn, and sign the calls they make.
- ``tools[].functionDeclarations``: a valid name and either ``parametersJsonSchema`` (JSON
  Schema) or ``parameters`` (Gemini's OpenAPI subset: an unknown keyword such as
  ``additionalProperties`` or ``$schema`` is the API's "Unknown name" error), not both.
- ``toolConfig.functionCallingConfig``: ``mode`` ``AUTO | ANY | NONE | VALIDATED`` (only with
  declarations); ``allowedFunctionNames`` only with ``ANY`` / ``VALIDATED`` and naming declared
  functions (one name forces that function; several restrict the choice to them).
- ``generationConfig``: ``responseMimeType`` (``text/plain``, ``application/json``,
  ``text/x.enum``); ``responseSchema`` (OpenAPI subset) or ``responseJsonSchema``, not both, and
  only with ``application/json``; ``thinkingConfig`` (``thinkingBudget`` -1, 0 or more: 0 turns
  thinking off, anything else on; refused for models that cannot think; ``includeThoughts``
  returns ``reply.reasoning_text`` as a thought part); ``candidateCount`` 1-8; ``logprobs`` only
  with ``responseLogprobs``.

Answers: function calls as ``functionCall`` parts (no ids, as Gemini 2.x sends them) finished
with ``STOP``; ``usageMetadata`` with ``thoughtsTokenCount`` apart from ``candidatesTokenCount``
and ``promptTokensDetails`` per modality. Streams send thoughts first, then text deltas, then each
function call whole in its own event, then the finish reason and usage.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import orjson
from starlette.requests import Request

from gateway.simulator.textgen import SimReply
from gateway.simulator.toolgen import MediaTokens, SimTool, ToolSchemaError, check_schema, check_tool
from gateway.simulator.wires.base import (
    Dialect,
    Frame,
    SimCall,
    WireError,
    format_seconds,
    int_or_none,
    text_of,
)

_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
_METHODS = ("generateContent", "streamGenerateContent")
_REQ: Final = "* GenerateContentRequest"
_PROTO: Final = "type.googleapis.com/google.ai.generativelanguage.v1beta"
_DATA_FIELDS: Final = ("text", "inlineData", "fileData", "functionCall", "functionResponse")
FUNCTION_RESPONSE_WITHOUT_CALL: Final = (
    "Please ensure that function response turn comes immediately after a function call turn."
)
MISSING_SIGNATURE: Final = "Function call is missing a thought_signature in functionCall parts."
_MODES: Final = {
    "AUTO": "auto",
    "VALIDATED": "auto",
    "MODE_UNSPECIFIED": "auto",
    "ANY": "required",
    "NONE": "none",
}
_MIME_TYPES: Final = ("text/plain", "application/json", "text/x.enum")
# Gemini's ``Schema`` (the OpenAPI subset ``parameters`` and ``responseSchema`` take).
_OPENAPI_FIELDS: Final = frozenset(
    {
        *("type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems"),
        *("properties", "required", "minProperties", "maxProperties", "minLength", "maxLength"),
        *("pattern", "example", "anyOf", "propertyOrdering", "default", "items", "minimum", "maximum"),
    }
)
_OPENAPI_TYPES: Final = frozenset({"string", "number", "integer", "boolean", "array", "object", "null"})
_NO_THINKING = re.compile(r"gemini-(1\.|2\.0)")
_SIGNS = re.compile(r"gemini-([3-9]|\d{2,})")


@dataclass(slots=True)
class GeminiSimCall(SimCall):
    include_thoughts: bool = False  # thinkingConfig.includeThoughts: answer with thought parts
    signs_calls: bool = False  # a Gemini 3 model: its function calls carry thought signatures


def usage_metadata(reply: SimReply) -> dict[str, Any]:
    """``promptTokenCount`` includes the cached part; thoughts are counted apart from candidates."""
    meta: dict[str, Any] = {
        "promptTokenCount": reply.input_tokens,
        "candidatesTokenCount": reply.output_tokens,
        "totalTokenCount": reply.input_tokens + reply.output_tokens + reply.reasoning_tokens,
        "promptTokensDetails": prompt_details(reply),
    }
    if reply.cached_tokens:
        meta["cachedContentTokenCount"] = reply.cached_tokens
    if reply.reasoning_tokens:
        meta["thoughtsTokenCount"] = reply.reasoning_tokens
    return meta


def prompt_details(reply: SimReply) -> list[dict[str, Any]]:
    media = reply.media or MediaTokens()
    details = [{"modality": "TEXT", "tokenCount": reply.input_tokens - media.total}]
    for modality, count in (("IMAGE", media.image), ("AUDIO", media.audio), ("DOCUMENT", media.file)):
        if count:
            details.append({"modality": modality, "tokenCount": count})
    return details


# -- request checks -------------------------------------------------------------------------------
def openapi_schema(schema: Any, where: str) -> dict[str, Any]:
    """A Gemini ``Schema`` checked field by field, as the JSON Schema it stands for."""
    if not isinstance(schema, dict):
        raise WireError(400, f"Invalid value at '{where}': expected a Schema object.")
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key not in _OPENAPI_FIELDS:
            raise WireError(
                400, f"Invalid JSON payload received. Unknown name \"{key}\" at '{where}': Cannot find field."
            )
        if key == "type":
            kind = str(value).lower()
            if kind not in _OPENAPI_TYPES:
                raise WireError(
                    400,
                    f"Invalid value at '{where}.type' ({_PROTO}.Type), \"{value}\"",
                )
            value = kind
        elif key == "properties" and isinstance(value, dict):
            value = {
                name: openapi_schema(sub, f"{where}.properties[{name}].value") for name, sub in value.items()
            }
        elif key == "items":
            value = openapi_schema(value, f"{where}.items")
        elif key == "anyOf" and isinstance(value, list):
            value = [openapi_schema(sub, f"{where}.any_of[{i}]") for i, sub in enumerate(value)]
        out[key] = value
    if out.pop("nullable", False) is True and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


def _schema_error(exc: ToolSchemaError) -> WireError:
    return WireError(400, str(exc))


def _declaration(raw: Any, where: str) -> SimTool:
    if not isinstance(raw, dict):
        raise WireError(400, f"Invalid value at '{where}': expected a FunctionDeclaration.")
    name = raw.get("name")
    if not isinstance(name, str) or not re.match(r"[A-Za-z_]", name):
        raise WireError(
            400,
            f"{_REQ}.{where}.name: Invalid function name. Must start with a letter or an underscore.",
        )
    if "parameters" in raw and "parametersJsonSchema" in raw:
        raise WireError(
            400,
            f"{_REQ}.{where}: parameters and parameters_json_schema are mutually exclusive.",
        )
    schema = raw.get("parametersJsonSchema")
    if "parameters" in raw:
        schema = openapi_schema(raw["parameters"], f"{where}.parameters")
    try:
        return check_tool(name, schema)
    except ToolSchemaError as exc:
        raise _schema_error(exc) from None


def _tools(raw: Any) -> list[SimTool]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise WireError(400, "Invalid value at 'tools': expected a list of Tool.")
    tools: list[SimTool] = []
    for i, tool in enumerate(raw):
        if not isinstance(tool, dict):
            raise WireError(400, f"Invalid value at 'tools[{i}]': expected a Tool.")
        declarations = tool.get("functionDeclarations", tool.get("function_declarations"))
        if declarations is None:
            continue  # a server-side tool (googleSearch, codeExecution, ...): nothing to call here
        if not isinstance(declarations, list):
            raise WireError(400, f"Invalid value at 'tools[{i}].function_declarations': expected a list.")
        tools.extend(
            _declaration(d, f"tools[{i}].function_declarations[{j}]") for j, d in enumerate(declarations)
        )
    return tools


def _calling(raw: Any, tools: list[SimTool]) -> tuple[str, str | None, list[SimTool]]:
    """(auto | none | required, the function forced by name, the functions that may be called)."""
    config = (raw or {}).get("functionCallingConfig", (raw or {}).get("function_calling_config"))
    if config is None:
        return "auto", None, tools
    if not tools:
        raise WireError(400, "Function calling config is set without function_declarations.")
    mode = str(config.get("mode") or "AUTO").upper()
    if mode not in _MODES:
        raise WireError(
            400,
            "Invalid value at 'tool_config.function_calling_config.mode' "
            f'({_PROTO}.FunctionCallingConfig.Mode), "{mode}"',
        )
    names = config.get("allowedFunctionNames", config.get("allowed_function_names"))
    if names is None:
        return _MODES[mode], None, tools
    if mode not in ("ANY", "VALIDATED"):
        raise WireError(
            400, "allowed_function_names can only be set when function calling mode is ANY or VALIDATED."
        )
    declared = {t.name for t in tools}
    unknown = [n for n in names if n not in declared] if isinstance(names, list) else [names]
    if unknown or not names:
        raise WireError(400, f"allowed_function_names {unknown or names!r} must name declared functions.")
    if len(names) == 1 and mode == "ANY":
        return "required", names[0], tools
    return _MODES[mode], None, [t for t in tools if t.name in names]


def _response_format(config: dict[str, Any]) -> tuple[bool, dict[str, Any] | None]:
    """(json mode, the response schema as JSON Schema)."""
    mime = config.get("responseMimeType", config.get("response_mime_type"))
    if mime is not None and mime not in _MIME_TYPES:
        raise WireError(
            400,
            f"{_REQ}.generation_config.response_mime_type: allowed mimetypes are "
            f"{', '.join(_MIME_TYPES)}, got {mime!r}.",
        )
    openapi, json_schema = config.get("responseSchema"), config.get("responseJsonSchema")
    if openapi is not None and json_schema is not None:
        raise WireError(400, "response_schema and response_json_schema are mutually exclusive.")
    if openapi is None and json_schema is None:
        return mime == "application/json", None
    allowed = ("application/json",) if json_schema is not None else ("application/json", "text/x.enum")
    if mime not in allowed:
        raise WireError(
            400,
            f"{_REQ}.generation_config.response_mime_type: a response schema needs "
            "response_mime_type application/json.",
        )
    schema = (
        openapi_schema(openapi, "generation_config.response_schema") if openapi is not None else json_schema
    )
    try:
        check_schema(schema, "generation_config.response_schema")
    except ToolSchemaError as exc:
        raise _schema_error(exc) from None
    return mime == "application/json", schema if mime == "application/json" else None


def _thinking(config: dict[str, Any], model: str) -> tuple[bool | None, int | None, bool]:
    """(thinking on / off / model default, the budget asked for, include thoughts)."""
    raw = config.get("thinkingConfig", config.get("thinking_config"))
    if raw is None:
        return None, None, False
    if not isinstance(raw, dict):
        raise WireError(
            400, "Invalid value at 'generation_config.thinking_config': expected a ThinkingConfig."
        )
    budget = raw.get("thinkingBudget", raw.get("thinking_budget"))
    if budget != 0 and _NO_THINKING.search(model) and "thinking" not in model:
        raise WireError(400, "Thinking is not supported for this model.")
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int) or budget < -1):
        raise WireError(
            400,
            f"{_REQ}.generation_config.thinking_config.thinking_budget: must be -1, 0 or positive.",
        )
    reasoning = None if budget is None else budget != 0
    include = bool(raw.get("includeThoughts", raw.get("include_thoughts")))
    return reasoning, budget if budget is not None and budget > 0 else None, include


def _check_generation(config: dict[str, Any]) -> None:
    count = config.get("candidateCount")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 8):
        raise WireError(400, f"{_REQ}.generation_config.candidate_count: must be between 1 and 8.")
    if config.get("logprobs") is not None and not config.get("responseLogprobs"):
        raise WireError(400, "logprobs can only be set when response_logprobs is true.")


class _Conversation:
    """The checked contents: every prompt text, the last user text, the media, the tool history."""

    def __init__(self, contents: list[Any], signs_calls: bool) -> None:
        self.texts: list[str] = []
        self.prompt = ""
        self.media = MediaTokens()
        self.ends_with_user = False
        self._signs = signs_calls
        self._called: set[str] = set()
        for i, content in enumerate(contents):
            role = content.get("role", "user") if isinstance(content, dict) else None
            if role not in ("user", "model"):
                raise WireError(400, "Please use a valid role: user, model.")
            parts = content.get("parts")
            if not isinstance(parts, list) or not parts:
                raise WireError(400, f"{_REQ}.contents[{i}].parts: contents.parts must not be empty.")
            texts, only_results = self._parts(parts, role, i)
            text = "".join(texts)
            self.texts.append(text)
            if role == "user" and not only_results:
                self.prompt = text
            self.ends_with_user = role == "user" and not only_results

    def _parts(self, parts: list[Any], role: str, i: int) -> tuple[list[str], bool]:
        texts: list[str] = []
        only_results = True
        first_call = True
        for j, part in enumerate(parts):
            where = f"contents[{i}].parts[{j}]"
            kinds = [k for k in _DATA_FIELDS if isinstance(part, dict) and k in part]
            if len(kinds) != 1:
                raise WireError(
                    400,
                    f"{_REQ}.{where}.data: required oneof field 'data' must have one initialized field",
                )
            kind = kinds[0]
            value = part[kind]
            only_results = only_results and kind == "functionResponse"
            if kind == "text":
                if not isinstance(value, str):
                    raise WireError(400, f"Invalid value at '{where}.text': expected a string.")
                texts.append(value)
            elif kind in ("inlineData", "fileData"):
                self._media(kind, value, where)
            elif kind == "functionCall":
                texts.append(self._call(value, where, part, first_call))
                first_call = False
            else:
                texts.append(self._result(value, where))
        return texts, only_results

    def _media(self, kind: str, value: Any, where: str) -> None:
        field = "data" if kind == "inlineData" else "fileUri"
        if not isinstance(value, dict) or not isinstance(value.get(field), str) or not value[field]:
            raise WireError(400, f"{_REQ}.{where}.{kind}.{field}: required field is not set.")
        mime = str(value.get("mimeType") or "")
        if kind == "inlineData" and not mime:
            raise WireError(400, f"{_REQ}.{where}.inlineData.mimeType: required field is not set.")
        data = value[field] if kind == "inlineData" else ""
        if mime.startswith("image/"):
            self.media.add_image()
        elif mime.startswith("audio/"):
            self.media.add_audio(data)
        else:
            self.media.add_file(data)

    def _call(self, value: Any, where: str, part: dict[str, Any], first: bool) -> str:
        if not isinstance(value, dict) or not isinstance(value.get("name"), str):
            raise WireError(400, f"{_REQ}.{where}.function_call.name: name is not specified.")
        args = value.get("args", {})
        if not isinstance(args, dict):
            raise WireError(400, f"Invalid value at '{where}.function_call.args': expected a JSON object.")
        if self._signs and first and not part.get("thoughtSignature"):
            raise WireError(400, f"{MISSING_SIGNATURE} Position: {where}.")
        self._called.add(value["name"])
        return value["name"] + orjson.dumps(args).decode()

    def _result(self, value: Any, where: str) -> str:
        if not isinstance(value, dict) or not isinstance(value.get("name"), str):
            raise WireError(400, f"{_REQ}.{where}.function_response.name: name is not specified.")
        if not isinstance(value.get("response"), dict):
            raise WireError(400, f"{_REQ}.{where}.function_response.response: must be a JSON object.")
        if value["name"] not in self._called:
            raise WireError(400, FUNCTION_RESPONSE_WITHOUT_CALL)
        return value["name"] + orjson.dumps(value["response"]).decode()


def _signature(call: SimCall, reply: SimReply) -> str:
    digest = hashlib.sha256("".join(c.id for c in reply.tool_calls).encode() + call.model.encode()).digest()
    return base64.b64encode(digest).decode()


class GeminiDialect(Dialect):
    api_style: ClassVar[str] = "gemini"
    key_headers: ClassVar[tuple[str, ...]] = ("x-goog-api-key",)

    def api_key(self, request: Request) -> str | None:
        return super().api_key(request) or request.query_params.get("key") or None

    def parse(self, body: Any, request: Request) -> SimCall:
        model, _, method = request.path_params["target"].rpartition(":")
        if not model or method not in _METHODS:
            raise WireError(404, f"Method {method or request.path_params['target']!r} not found.")
        if not isinstance(body, dict):
            raise WireError(400, "Invalid JSON payload received.")
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            raise WireError(400, f"{_REQ}.contents: contents is not specified")
        texts: list[str] = []
        system = body.get("systemInstruction") or body.get("system_instruction")
        if isinstance(system, dict):
            texts.append(text_of(system.get("parts")))
        signs = bool(_SIGNS.search(model))
        conversation = _Conversation(contents, signs)
        tools = _tools(body.get("tools"))
        choice, forced, callable_tools = _calling(body.get("toolConfig") or body.get("tool_config"), tools)
        config = body.get("generationConfig") or body.get("generation_config") or {}
        _check_generation(config)
        json_mode, schema = _response_format(config)
        reasoning, budget, include = _thinking(config, model)
        # Function declarations are part of the prompt the model reads, so they count as input.
        tool_texts = [t.name + orjson.dumps(t.parameters).decode() for t in tools]
        return GeminiSimCall(
            api_style=self.api_style,
            model=model,
            prompt=conversation.prompt,
            input_texts=[*texts, *conversation.texts, *tool_texts],
            max_tokens=int_or_none(config.get("maxOutputTokens"), "maxOutputTokens"),
            stream=method == "streamGenerateContent",
            sse=request.query_params.get("alt") == "sse",
            tools=callable_tools,
            tool_choice=choice,
            forced_tool=forced,
            response_schema=schema,
            json_mode=json_mode,
            media=conversation.media,
            ends_with_user=conversation.ends_with_user,
            reasoning=reasoning,
            thinking_budget=budget,
            include_thoughts=include,
            signs_calls=signs,
        )

    def _thoughts(self, call: SimCall, reply: SimReply) -> list[dict[str, Any]]:
        if isinstance(call, GeminiSimCall) and call.include_thoughts and reply.reasoning_text:
            return [{"text": reply.reasoning_text, "thought": True}]
        return []

    def _function_parts(self, call: SimCall, reply: SimReply) -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = [
            {"functionCall": {"name": c.name, "args": c.args}} for c in reply.tool_calls
        ]
        if parts and isinstance(call, GeminiSimCall) and call.signs_calls:
            parts[0]["thoughtSignature"] = _signature(call, reply)
        return parts

    def _response(
        self,
        call: SimCall,
        request_id: str,
        parts: list[dict[str, Any]],
        finish: str | None,
        meta: dict[str, Any],
    ) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        return {
            "candidates": [candidate],
            "usageMetadata": meta,
            "modelVersion": call.model,
            "responseId": request_id,
        }

    def completion(self, call: SimCall, reply: SimReply, request_id: str) -> dict[str, Any]:
        parts = self._thoughts(call, reply)
        if reply.text or not reply.tool_calls:
            parts.append({"text": reply.text})
        parts.extend(self._function_parts(call, reply))
        return self._response(call, request_id, parts, _finish(reply), usage_metadata(reply))

    def stream_open(self, call: SimCall, reply: SimReply, request_id: str) -> list[Frame]:
        return []  # Gemini has no preamble: every event is a whole response

    def _partial(
        self, call: SimCall, reply_input: int, request_id: str, parts: list[dict[str, Any]]
    ) -> Frame:
        return (None, self._response(call, request_id, parts, None, {"promptTokenCount": reply_input}))

    def stream_reasoning(self, call: SimCall, reply: SimReply, request_id: str) -> list[Frame]:
        thoughts = self._thoughts(call, reply)
        return [self._partial(call, reply.input_tokens, request_id, thoughts)] if thoughts else []

    def stream_delta(self, call: SimCall, text: str, request_id: str) -> Frame:
        candidate = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
        return (None, {"candidates": [candidate], "modelVersion": call.model, "responseId": request_id})

    def stream_tool_calls(self, call: SimCall, reply: SimReply, request_id: str) -> list[Frame]:
        """Gemini sends each function call whole, in an event of its own."""
        return [
            self._partial(call, reply.input_tokens, request_id, [part])
            for part in self._function_parts(call, reply)
        ]

    def stream_close(self, call: SimCall, reply: SimReply, request_id: str) -> list[Frame]:
        return [
            (None, self._response(call, request_id, [{"text": ""}], _finish(reply), usage_metadata(reply)))
        ]

    def error_body(self, status: int, message: str, retry_after: float | None = None) -> dict[str, Any]:
        error: dict[str, Any] = {
            "code": status,
            "message": message,
            "status": _STATUSES.get(status, "INVALID_ARGUMENT" if status < 500 else "INTERNAL"),
        }
        if retry_after is not None and status == 429:
            error["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": f"{format_seconds(retry_after)}s",
                }
            ]
        return {"error": error}

    def error_headers(self, status: int, retry_after: float | None) -> dict[str, str]:
        return {}  # Gemini's retry hint is RetryInfo in the body, not a header


def _finish(reply: SimReply) -> str:
    """Gemini finishes a turn that called functions with ``STOP``, like any other."""
    return "MAX_TOKENS" if reply.truncated else "STOP"
