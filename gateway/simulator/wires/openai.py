"""OpenAI Chat Completions, and Azure OpenAI's per-deployment variant of it.

What a request may hold is checked as OpenAI's API reference and its live validation define it,
and refused with a 400 in OpenAI's ``{"error": {message, type, param, code}}`` shape otherwise:

- ``tools`` of ``type: function`` with a valid name and JSON Schema ``parameters``; with
  ``strict: true`` every object must set ``additionalProperties: false`` and require every
  property (Structured Outputs' rule). ``tool_choice`` (``auto | none | required`` or
  ``{"type": "function", "function": {"name"}}`` naming one of the tools) and
  ``parallel_tool_calls`` only with ``tools``.
- ``response_format`` ``text | json_object | json_schema`` (a named, valid schema, held to the
  strict rule when ``strict``); ``json_object`` needs the word "json" somewhere in the messages.
- Content parts: ``text`` anywhere, ``refusal`` in assistant turns, ``image_url`` (http(s) or a
  base64 image data URL, ``detail`` auto/low/high), ``input_audio`` (wav/mp3) and ``file``
  (``file_data`` data URL or ``file_id``) in user turns only; media are counted into the prompt
  by the rule in gateway/simulator/toolgen.py.
- An assistant turn with ``tool_calls`` may have ``content: null`` and must be followed by a
  ``tool`` message for each of its call ids; a ``tool`` message must answer one of them.

Answers: tool calls as ``message.tool_calls`` with ``content: null`` and ``finish_reason:
tool_calls`` — except a call forced by name, which OpenAI finishes with ``stop``. Streams send
each call as OpenAI does: a first delta with ``index``, ``id``, ``type`` and ``function.name``
(``arguments: ""``), then argument pieces under the same ``index``. Usage reports audio input
tokens and reasoning tokens (``reasoning_effort`` turns thinking on, ``none`` off). OpenAI's
Chat Completions returns no reasoning text, so neither does the simulator.

Azure keeps its differences: the deployment in the path names the model, ``api-version`` is
mandatory, answers carry content-filter results and streams open with a prompt-filter chunk.
"""

from __future__ import annotations

import re
import time
from typing import Any, ClassVar, Final

from starlette.requests import Request

from gateway.simulator.textgen import SimReply
from gateway.simulator.toolgen import (
    MediaTokens,
    SimTool,
    ToolSchemaError,
    check_schema,
    check_tool,
    json_pieces,
)
from gateway.simulator.wires.base import Dialect, Frame, SimCall, WireError, int_or_none

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("server_error", "server_overloaded"),
}
TOOL_WITHOUT_CALL: Final = (
    "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with "
    "'tool_calls'."
)
REASONING_EFFORTS: Final = ("none", "minimal", "low", "medium", "high", "xhigh")
_MEDIA_PARTS: Final = {"image_url": "an image URL", "input_audio": "audio", "file": "a file"}
_SCHEMA_NAME = re.compile(r"[A-Za-z0-9_\-]{1,64}")
_DATA_URL = re.compile(r"data:([\w.+\-]+/[\w.+\-]+);base64,(.*)", re.DOTALL)


def openai_usage(call: SimCall, reply: SimReply) -> dict[str, Any]:
    completion = reply.output_tokens + reply.reasoning_tokens
    audio = reply.media.audio if reply.media is not None else 0
    return {
        "prompt_tokens": reply.input_tokens,
        "completion_tokens": completion,
        "total_tokens": reply.input_tokens + completion,
        "prompt_tokens_details": {"cached_tokens": reply.cached_tokens, "audio_tokens": audio},
        "completion_tokens_details": {
            "reasoning_tokens": reply.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def finish_reason(call: SimCall, reply: SimReply) -> str:
    """OpenAI's finish reason: ``stop`` (not ``tool_calls``) for a call forced by name."""
    if reply.tool_calls and call.forced_tool is not None:
        return "stop"
    return reply.finish


# -- request checks -------------------------------------------------------------------------------
def strict_violation(schema: Any, path: tuple[str, ...] = ()) -> str | None:
    """Why ``schema`` breaks Structured Outputs' strict rule (every object closed, every property
    required), or None; ``path`` names where, as OpenAI's ``context=(...)`` does."""
    if not isinstance(schema, dict):
        return None
    props = schema.get("properties")
    if schema.get("type") == "object" or isinstance(props, dict):
        if schema.get("additionalProperties") is not False:
            return f"In context={path}, 'additionalProperties' is required to be supplied and to be false."
        missing = [name for name in props or {} if name not in (schema.get("required") or [])]
        if missing:
            return (
                f"In context={path}, 'required' is required to be supplied and to be an array including "
                f"every key in properties. Missing '{missing[0]}'."
            )
    subs: list[tuple[tuple[str, ...], Any]] = []
    for key in ("properties", "$defs", "definitions"):
        subs.extend(((*path, key, name), sub) for name, sub in (schema.get(key) or {}).items())
    if isinstance(schema.get("items"), dict):
        subs.append(((*path, "items"), schema["items"]))
    for key in ("anyOf", "allOf", "oneOf"):
        subs.extend(((*path, key, str(i)), sub) for i, sub in enumerate(schema.get(key) or ()))
    return next((found for where, sub in subs if (found := strict_violation(sub, where))), None)


def _tools(raw: Any) -> list[SimTool]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not raw:
        raise WireError(400, "Invalid 'tools': expected a non-empty array of tools.")
    tools: list[SimTool] = []
    for i, tool in enumerate(raw):
        if not isinstance(tool, dict) or tool.get("type") != "function":
            raise WireError(400, f"Invalid value for 'tools[{i}].type': expected 'function'.")
        function = tool.get("function")
        if not isinstance(function, dict):
            raise WireError(400, f"Missing required parameter: 'tools[{i}].function'.")
        try:
            sim_tool = check_tool(function.get("name"), function.get("parameters"))
        except ToolSchemaError as exc:
            raise WireError(400, str(exc)) from None
        if function.get("strict") is True:
            problem = strict_violation(sim_tool.parameters)
            if problem:
                raise WireError(400, f"Invalid schema for function '{sim_tool.name}': {problem}")
        tools.append(sim_tool)
    return tools


def _tool_choice(raw: Any, tools: list[SimTool]) -> tuple[str, str | None]:
    """(auto | none | required, the tool forced by name)."""
    if raw is None:
        return "auto", None
    if not tools:
        raise WireError(
            400, "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified."
        )
    if raw in ("auto", "none", "required"):
        return raw, None
    function = raw.get("function") if isinstance(raw, dict) and raw.get("type") == "function" else None
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(name, str):
        raise WireError(
            400,
            "Invalid value for 'tool_choice': expected 'none', 'auto', 'required' or "
            '{"type": "function", "function": {"name": ...}}.',
        )
    if name not in {t.name for t in tools}:
        raise WireError(400, f"Invalid value for 'tool_choice': function '{name}' is not one of the 'tools'.")
    return "required", name


def _response_format(raw: Any) -> tuple[bool, dict[str, Any] | None]:
    """(json mode, the json_schema's schema)."""
    if raw is None:
        return False, None
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind == "text":
        return False, None
    if kind == "json_object":
        return True, None
    if kind != "json_schema":
        raise WireError(
            400,
            "Invalid value for 'response_format.type': supported values are 'text', 'json_object' and "
            "'json_schema'.",
        )
    spec = raw.get("json_schema")
    if not isinstance(spec, dict):
        raise WireError(400, "Missing required parameter: 'response_format.json_schema'.")
    if not isinstance(spec.get("name"), str) or not _SCHEMA_NAME.fullmatch(spec["name"]):
        raise WireError(400, "Missing required parameter: 'response_format.json_schema.name'.")
    schema = spec.get("schema")
    if schema is None:
        return True, None
    try:
        check_schema(schema, f"response_format '{spec['name']}'")
    except ToolSchemaError as exc:
        raise WireError(400, str(exc)) from None
    if spec.get("strict") is True:
        problem = strict_violation(schema)
        if problem:
            raise WireError(400, f"Invalid schema for response_format '{spec['name']}': {problem}")
    return True, schema


def _media_part(part: dict[str, Any], where: str, media: MediaTokens) -> None:
    """Check one image / audio / file part and count it."""
    kind = part["type"]
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else None
        if not isinstance(url, str) or not (url.startswith(("http://", "https://")) or _image_data_url(url)):
            raise WireError(
                400,
                f"Invalid '{where}.image_url.url'. Expected a valid URL or a base64-encoded data URL with "
                "an image MIME type (e.g. 'data:image/png;base64,aW1n').",
            )
        detail = image.get("detail")  # type: ignore[union-attr]
        if detail not in (None, "auto", "low", "high"):
            raise WireError(400, f"Invalid value for '{where}.image_url.detail': expected auto, low or high.")
        media.add_image(detail)
    elif kind == "input_audio":
        audio = part.get("input_audio")
        if not isinstance(audio, dict) or not isinstance(audio.get("data"), str):
            raise WireError(400, f"Missing required parameter: '{where}.input_audio.data'.")
        if audio.get("format") not in ("wav", "mp3"):
            raise WireError(
                400, f"Invalid value for '{where}.input_audio.format': supported values are 'wav' and 'mp3'."
            )
        media.add_audio(audio["data"])
    else:
        file = part.get("file")
        data = file.get("file_data") if isinstance(file, dict) else None
        if isinstance(data, str):
            match = _DATA_URL.fullmatch(data)
            media.add_file(match.group(2) if match else data)
        elif isinstance(file, dict) and isinstance(file.get("file_id"), str):
            media.add_file("")
        else:
            raise WireError(400, f"Invalid '{where}.file': one of 'file_data' or 'file_id' is required.")


def _image_data_url(url: str) -> bool:
    match = _DATA_URL.fullmatch(url)
    return bool(match and match.group(1).startswith("image/") and match.group(2))


def _content_text(message: dict[str, Any], i: int, media: MediaTokens) -> str:
    """The text of a message's content (string or parts), counting and checking media parts."""
    role = message["role"]
    content = message.get("content")
    if content is None:
        if role == "assistant" and (message.get("tool_calls") or message.get("refusal")):
            return ""
        raise WireError(400, f"Invalid value for 'messages[{i}].content': expected a string, got null.")
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise WireError(400, f"Invalid type for 'messages[{i}].content': expected a string or an array.")
    texts = []
    for j, part in enumerate(content):
        where = f"messages[{i}].content[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "refusal" and role == "assistant":
            texts.append(str(part.get("refusal") or ""))
        elif kind in _MEDIA_PARTS:
            if role != "user":
                raise WireError(
                    400,
                    f"Invalid 'messages[{i}]'. {_MEDIA_PARTS[kind].capitalize()} is only allowed for "
                    f"messages with role 'user', but this message with role '{role}' contains "
                    f"{_MEDIA_PARTS[kind]}.",
                )
            _media_part(part, where, media)
        else:
            raise WireError(400, f"Invalid value for '{where}.type': {kind!r} is not a supported part type.")
    return "".join(texts)


def _tool_call_ids(message: dict[str, Any], i: int) -> tuple[list[str], str]:
    """(ids, name + arguments text) of an assistant turn's ``tool_calls``."""
    calls = message.get("tool_calls")
    if calls is None:
        return [], ""
    if not isinstance(calls, list):
        raise WireError(400, f"Invalid type for 'messages[{i}].tool_calls': expected an array.")
    ids, text = [], []
    for j, call in enumerate(calls):
        function = call.get("function") if isinstance(call, dict) else None
        if (
            not isinstance(function, dict)
            or not isinstance(call.get("id"), str)
            or not isinstance(function.get("name"), str)
            or not isinstance(function.get("arguments"), str)
        ):
            raise WireError(
                400,
                f"Invalid 'messages[{i}].tool_calls[{j}]': expected an id and a function with a name and "
                "arguments.",
            )
        ids.append(call["id"])
        text.append(function["name"] + function["arguments"])
    return ids, "".join(text)


class _Conversation:
    """The checked messages: every prompt text, the last user turn, the media they hold."""

    def __init__(self, messages: list[Any]) -> None:
        self.texts: list[str] = []
        self.prompt = ""
        self.media = MediaTokens()
        self.last_role = ""
        calls: list[str] = []  # the call ids of the assistant turn the tool messages answer
        unanswered: list[str] = []
        for i, message in enumerate(messages):
            if not isinstance(message, dict) or message.get("role") not in _ROLES:
                raise WireError(400, "each message needs a valid 'role'")
            role = message["role"]
            if role == "tool":
                call_id = message.get("tool_call_id")
                if not isinstance(call_id, str) or not call_id:
                    raise WireError(400, f"Missing required parameter: 'messages[{i}].tool_call_id'.")
                if call_id not in calls:
                    raise WireError(400, TOOL_WITHOUT_CALL)
                unanswered = [c for c in unanswered if c != call_id]
            else:
                self._check_answered(unanswered)
                calls = unanswered = []
            text = _content_text(message, i, self.media)
            if role == "assistant":
                calls, called = _tool_call_ids(message, i)
                unanswered = list(calls)
                text += called
            self.texts.append(text)
            if role == "user":
                self.prompt = text
            self.last_role = role
        self._check_answered(unanswered)

    @staticmethod
    def _check_answered(unanswered: list[str]) -> None:
        if unanswered:
            raise WireError(
                400,
                "An assistant message with 'tool_calls' must be followed by tool messages responding to "
                f"each 'tool_call_id'. The following tool_call_ids did not have response messages: "
                f"{', '.join(unanswered)}",
            )


def _reasoning(body: dict[str, Any]) -> bool | None:
    effort = body.get("reasoning_effort")
    if effort is None:
        return None
    if effort not in REASONING_EFFORTS:
        raise WireError(
            400, f"Invalid value for 'reasoning_effort': supported values are {', '.join(REASONING_EFFORTS)}."
        )
    return effort != "none"


class OpenAIDialect(Dialect):
    api_style: ClassVar[str] = "openai"
    key_headers: ClassVar[tuple[str, ...]] = ("authorization",)
    id_prefix: ClassVar[str] = "chatcmpl-sim"

    def model_of(self, body: dict[str, Any], request: Request) -> str:
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise WireError(400, "you must provide a model parameter")
        return model

    def parse(self, body: Any, request: Request) -> SimCall:
        if not isinstance(body, dict):
            raise WireError(400, "the request body must be a JSON object")
        model = self.model_of(body, request)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise WireError(400, "'messages' must be a non-empty array")
        conversation = _Conversation(messages)
        tools = _tools(body.get("tools"))
        choice, forced = _tool_choice(body.get("tool_choice"), tools)
        parallel = body.get("parallel_tool_calls")
        if parallel is not None and not tools:
            raise WireError(
                400,
                "Invalid value for 'parallel_tool_calls': 'parallel_tool_calls' is only allowed when 'tools' "
                "are specified.",
            )
        json_mode, schema = _response_format(body.get("response_format"))
        if json_mode and schema is None and "json" not in " ".join(conversation.texts).lower():
            raise WireError(
                400,
                "'messages' must contain the word 'json' in some form, to use 'response_format' of type "
                "'json_object'.",
            )
        stream = bool(body.get("stream"))
        options = body.get("stream_options")
        if options is not None and not stream:
            raise WireError(400, "The 'stream_options' parameter is only allowed when 'stream' is enabled.")
        max_tokens = body.get("max_completion_tokens")
        name = "max_completion_tokens"
        if max_tokens is None:
            max_tokens, name = body.get("max_tokens"), "max_tokens"
        # Tool definitions are part of the prompt the model reads, so they count as input.
        tool_texts = [t.name + str(t.parameters) for t in tools]
        return SimCall(
            api_style=self.api_style,
            model=model,
            prompt=conversation.prompt or conversation.texts[-1],
            input_texts=[*conversation.texts, *tool_texts],
            max_tokens=int_or_none(max_tokens, name),
            stream=stream,
            include_usage=bool(isinstance(options, dict) and options.get("include_usage")),
            tools=tools,
            tool_choice=choice,
            forced_tool=forced,
            parallel_tool_calls=parallel is not False,
            response_schema=schema,
            json_mode=json_mode,
            media=conversation.media,
            ends_with_user=conversation.last_role == "user",
            reasoning=_reasoning(body),
        )

    def _base(self, call: SimCall, request_id: str, kind: str) -> dict[str, Any]:
        return {
            "id": request_id,
            "object": kind,
            "created": int(time.time()),
            "model": call.model,
            "system_fingerprint": "fp_simulator",
        }

    def completion(self, call: SimCall, reply: SimReply, request_id: str) -> dict[str, Any]:
        body = self._base(call, request_id, "chat.completion")
        message: dict[str, Any] = {"role": "assistant", "content": reply.text, "refusal": None}
        if reply.tool_calls:
            message["content"] = None
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in reply.tool_calls
            ]
        body["choices"] = [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason(call, reply)}
        ]
        body["usage"] = openai_usage(call, reply)
        return body

    def _chunk(self, call: SimCall, request_id: str, delta: dict[str, Any], finish: str | None) -> Any:
        body = self._base(call, request_id, "chat.completion.chunk")
        body["choices"] = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        return body

    def stream_open(self, call: SimCall, reply: SimReply, request_id: str) -> list[Frame]:
        delta = {"role": "assistant", "content": None if reply.tool_calls else ""}
        return [(None, self._chunk(call, request_id, delta, None))]

    def stream_delta(self, call: SimCall, text: str, request_id: str) -> Frame:
        return (None, self._chunk(call, request_id, {"content": text}, None))

    def stream_tool_calls(self, call: SimCall, reply: SimReply, request_id: str) -> list[Frame]:
        frames: list[Frame] = []
        for index, tool_call in enumerate(reply.tool_calls):
            first = {
                "index": index,
                "id": tool_call.id,
                "type": "function",
                "function": {"name": tool_call.name, "arguments": ""},
            }
            frames.append((None, self._chunk(call, request_id, {"tool_calls": [first]}, None)))
            for piece in json_pieces(tool_call.arguments):
                delta = {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}
                frames.append((None, self._chunk(call, request_id, delta, None)))
        return frames

    def stream_close(self, call: SimCall, reply: SimReply, request_id: str) -> list[Frame]:
        frames: list[Frame] = [(None, self._chunk(call, request_id, {}, finish_reason(call, reply)))]
        if call.include_usage:
            usage = self._base(call, request_id, "chat.completion.chunk")
            usage.update(choices=[], usage=openai_usage(call, reply))
            frames.append((None, usage))
        frames.append((None, "[DONE]"))
        return frames

    def error_body(self, status: int, message: str, retry_after: float | None = None) -> dict[str, Any]:
        kind, code = _ERROR_TYPES.get(
            status, ("invalid_request_error" if status < 500 else "server_error", None)
        )
        return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class AzureOpenAIDialect(OpenAIDialect):
    """The deployment in the path names the model; ``api-version`` is mandatory."""

    api_style: ClassVar[str] = "azure_openai"
    key_headers: ClassVar[tuple[str, ...]] = ("api-key", "authorization")

    def check_headers(self, request: Request) -> None:
        if not request.query_params.get("api-version"):
            raise WireError(404, "Resource not found")

    def model_of(self, body: dict[str, Any], request: Request) -> str:
        return request.path_params["deployment"]

    def completion(self, call: SimCall, reply: SimReply, request_id: str) -> dict[str, Any]:
        body = super().completion(call, reply, request_id)
        body["prompt_filter_results"] = [{"prompt_index": 0, "content_filter_results": {}}]
        body["choices"][0]["content_filter_results"] = {}
        return body

    def stream_open(self, call: SimCall, reply: SimReply, request_id: str) -> list[Frame]:
        # Azure opens every stream with the prompt filter verdict and no choices.
        filters = {
            "id": "",
            "object": "",
            "created": 0,
            "model": "",
            "choices": [],
            "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}],
        }
        return [(None, filters), *super().stream_open(call, reply, request_id)]

    def error_body(self, status: int, message: str, retry_after: float | None = None) -> dict[str, Any]:
        body = super().error_body(status, message, retry_after)
        body["error"]["code"] = str(status)
        return body
