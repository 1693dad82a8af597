"""OpenAI Chat Completions, and Azure OpenAI's per-deployment variant of it."""

from __future__ import annotations

import time
from typing import Any, ClassVar

from starlette.requests import Request

from gateway.simulator.textgen import SimReply
from gateway.simulator.wires.base import Dialect, Frame, SimCall, WireError, int_or_none, text_of

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("server_error", "server_overloaded"),
}


def openai_usage(call: SimCall, reply: SimReply) -> dict[str, Any]:
    completion = reply.output_tokens + reply.reasoning_tokens
    return {
        "prompt_tokens": reply.input_tokens,
        "completion_tokens": completion,
        "total_tokens": reply.input_tokens + completion,
        "prompt_tokens_details": {"cached_tokens": reply.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reply.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


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
        texts: list[str] = []
        prompt = ""
        for message in messages:
            if not isinstance(message, dict) or message.get("role") not in _ROLES:
                raise WireError(400, "each message needs a valid 'role'")
            text = text_of(message.get("content"))
            texts.append(text)
            if message["role"] == "user":
                prompt = text
        stream = bool(body.get("stream"))
        options = body.get("stream_options")
        if options is not None and not stream:
            raise WireError(400, "The 'stream_options' parameter is only allowed when 'stream' is enabled.")
        max_tokens = body.get("max_completion_tokens")
        name = "max_completion_tokens"
        if max_tokens is None:
            max_tokens, name = body.get("max_tokens"), "max_tokens"
        return SimCall(
            api_style=self.api_style,
            model=model,
            prompt=prompt or texts[-1],
            input_texts=texts,
            max_tokens=int_or_none(max_tokens, name),
            stream=stream,
            include_usage=bool(isinstance(options, dict) and options.get("include_usage")),
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
        body["choices"] = [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.text, "refusal": None},
                "logprobs": None,
                "finish_reason": "length" if reply.truncated else "stop",
            }
        ]
        body["usage"] = openai_usage(call, reply)
        return body

    def _chunk(self, call: SimCall, request_id: str, delta: dict[str, Any], finish: str | None) -> Any:
        body = self._base(call, request_id, "chat.completion.chunk")
        body["choices"] = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        return body

    def stream_open(self, call: SimCall, reply: SimReply, request_id: str) -> list[Frame]:
        return [(None, self._chunk(call, request_id, {"role": "assistant", "content": ""}, None))]

    def stream_delta(self, call: SimCall, text: str, request_id: str) -> Frame:
        return (None, self._chunk(call, request_id, {"content": text}, None))

    def stream_close(self, call: SimCall, reply: SimReply, request_id: str) -> list[Frame]:
        frames: list[Frame] = [
            (None, self._chunk(call, request_id, {}, "length" if reply.truncated else "stop"))
        ]
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
