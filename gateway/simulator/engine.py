"""The simulator's request cycle: authenticate, parse, apply a fault, answer or stream.

Kept lean for benchmarks: no per-request logging, orjson everywhere, and a stream without a
configured per-chunk delay is written in one piece (clients still parse it event by event).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import Any, Final

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gateway.simulator.answer import answer_for
from gateway.simulator.billing import BillingLedger
from gateway.simulator.config import SimulatorConfig
from gateway.simulator.faults import FAULT_KINDS, FaultBook, FaultSpec
from gateway.simulator.stats import SimStats
from gateway.simulator.textgen import SimReply
from gateway.simulator.toolgen import with_structure
from gateway.simulator.wires.base import STATUS_MESSAGES, Dialect, Frame, SimCall, WireError, encode_frame

INVALID_KEY: Final = "invalid"  # the one key every simulated provider refuses
SECRET_HEADERS: Final = frozenset({"authorization", "api-key", "x-api-key", "x-goog-api-key"})
FAULT_HEADER: Final = "x-sim-fault"
GARBAGE_JSON: Final = b'{"id": "sim-garbage", "choices": [{"message": {"content": tru'
GARBAGE_SSE: Final = b"data: {this is not json\n\n"
PARTIAL_EVENT: Final = b'data: {"partial": tr'  # a stream cut off in the middle of an event
BAD_OUTPUT: Final = ("Sure!", " Here", " it", " is:", ' {"city":', " 42")
CONTEXT_LENGTH_MESSAGE: Final = (
    "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 "
    "tokens. Please reduce the length of the messages."
)
SSE_HEADERS: Final = {"cache-control": "no-cache", "x-accel-buffering": "no"}


class Simulator:
    """State shared by all routes: configuration, injected faults and request statistics."""

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.initial_config = config or SimulatorConfig()
        self.config = self.initial_config.model_copy()
        self.faults = FaultBook()
        self.stats = SimStats()
        self.billing = BillingLedger()  # what the providers' own bills say (gateway/simulator/billing.py)
        self._ids = itertools.count(1)

    # -- control -----------------------------------------------------------------------------
    def configure(self, **changes: Any) -> SimulatorConfig:
        """Validate and apply config changes atomically (in-flight requests keep the old one)."""
        self.config = SimulatorConfig.model_validate({**self.config.model_dump(), **changes})
        return self.config

    def inject(self, kind: str, **fields: Any) -> int:
        """Add a fault (same fields as ``POST /_sim/faults``); returns its id."""
        return self.faults.add(FaultSpec.model_validate({"kind": kind, **fields})).id

    def reset(self) -> None:
        self.faults.clear()
        self.stats.reset()
        self.billing.reset()
        self.config = self.initial_config.model_copy()

    # -- the provider endpoints ----------------------------------------------------------------
    def authenticated(self, dialect: Dialect, request: Request) -> bool:
        key = dialect.api_key(request)
        return bool(key) and key != INVALID_KEY

    async def json_body(self, dialect: Dialect, request: Request) -> Any:
        """The request's JSON body once the provider's own header checks pass (``WireError`` else)."""
        dialect.check_headers(request)
        try:
            return orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            raise WireError(400, "We could not parse the JSON body of your request.") from None

    async def side_call(
        self, dialect: Dialect, request: Request, kind: str, model: str, body: Any
    ) -> tuple[dict[str, Any], Response | None]:
        """A non-chat call (embedding, image): counted, delayed and failed as configured.
        Returns its stats entry and, when an injected fault answers instead, that error."""
        fault = self.faults.take(dialect.api_style, model)
        entry = self.stats.record(
            dialect.api_style,
            model,
            {
                "path": request.url.path,
                "kind": kind,
                "stream": False,
                "headers": {k: ("***" if k in SECRET_HEADERS else v) for k, v in request.headers.items()},
                "body": body,
                "fault": fault.kind if fault else None,
            },
        )
        if self.config.latency_ms:
            await asyncio.sleep(self.config.latency_ms / 1000)
        if fault is not None and fault.kind == "latency":
            await asyncio.sleep((fault.latency_ms if fault.latency_ms is not None else 1000) / 1000)
        elif fault is not None and fault.kind in ("http_429", "http_500", "http_503"):
            status = int(fault.kind[5:])
            retry_after = fault.retry_after if fault.retry_after is not None or status != 429 else 1.0
            entry["status"] = status
            return entry, self.error(dialect, status, STATUS_MESSAGES[status], retry_after)
        return entry, None

    async def handle(self, dialect: Dialect, request: Request) -> Response:
        if not self.authenticated(dialect, request):
            return self.error(dialect, 401, STATUS_MESSAGES[401])
        try:
            body = await self.json_body(dialect, request)
            call = dialect.parse(body, request)
        except WireError as exc:
            return self.error(dialect, exc.status, exc.message)
        fault = self._fault_for(request, call)
        entry = self.stats.record(
            call.api_style,
            call.model,
            {
                "path": request.url.path,
                "query": {k: ("***" if k == "key" else v) for k, v in request.query_params.items()},
                "stream": call.stream,
                "headers": {k: ("***" if k in SECRET_HEADERS else v) for k, v in request.headers.items()},
                "body": body,
                "fault": fault.kind if fault else None,
            },
        )
        response = await self._answer(dialect, request, call, fault)
        entry["status"] = response.status_code
        return response

    def error(
        self, dialect: Dialect, status: int, message: str, retry_after: float | None = None
    ) -> Response:
        return Response(
            orjson.dumps(dialect.error_body(status, message, retry_after)),
            status_code=status,
            media_type="application/json",
            headers=dialect.error_headers(status, retry_after),
        )

    def context_length_error(self, dialect: Dialect) -> Response:
        """A prompt too long for the model, as each wire reports it (OpenAI's code and param)."""
        body = dialect.error_body(400, CONTEXT_LENGTH_MESSAGE)
        error = body.get("error")
        if isinstance(error, dict) and "param" in error:  # the OpenAI family
            error.update(code="context_length_exceeded", param="messages")
        return Response(orjson.dumps(body), status_code=400, media_type="application/json")

    def _fault_for(self, request: Request, call: SimCall) -> FaultSpec | None:
        kind = request.headers.get(FAULT_HEADER)
        if kind:
            if kind not in FAULT_KINDS:
                return None
            retry_after = request.headers.get("x-sim-retry-after")
            latency = request.headers.get("x-sim-latency-ms")
            return FaultSpec(
                kind=kind,
                retry_after=float(retry_after) if retry_after else None,
                latency_ms=float(latency) if latency else None,
            )
        return self.faults.take(call.api_style, call.model)

    async def _answer(
        self, dialect: Dialect, request: Request, call: SimCall, fault: FaultSpec | None
    ) -> Response:
        config = self.config
        if config.latency_ms:
            await asyncio.sleep(config.latency_ms / 1000)
        kind = fault.kind if fault else None
        if fault is not None:
            if kind == "latency":
                await asyncio.sleep((fault.latency_ms if fault.latency_ms is not None else 1000) / 1000)
            elif kind == "timeout":
                stall = fault.latency_ms / 1000 if fault.latency_ms is not None else config.timeout_fault_s
                if await sleep_unless_disconnected(request, stall):
                    return Response(status_code=499)  # nobody is listening any more
            elif kind == "context_length":
                return self.context_length_error(dialect)
            elif kind in ("http_429", "http_500", "http_503"):
                status = int(kind[5:])
                retry_after = fault.retry_after
                if retry_after is None and status == 429:
                    retry_after = 1.0
                return self.error(dialect, status, STATUS_MESSAGES[status], retry_after)
        reply = answer_for(call, config, dialect.call_id_prefix)
        if kind == "bad_output":
            reply = with_structure(reply, BAD_OUTPUT)
        # Generated means billed (as a real provider does), even if the answer then breaks.
        self.billing.record(
            call.api_style,
            call.model,
            dialect.api_key(request),
            reply.input_tokens,
            reply.cached_tokens,
            reply.output_tokens + reply.reasoning_tokens,
        )
        request_id = f"{dialect.id_prefix}{next(self._ids):08d}"
        if call.stream:
            media_type = "text/event-stream" if call.sse else "application/json"
            return StreamingResponse(
                self._stream(dialect, call, reply, request_id, kind, config),
                media_type=media_type,
                headers=SSE_HEADERS,
            )
        if kind == "garbage_json":
            return Response(GARBAGE_JSON, media_type="application/json")
        content = orjson.dumps(dialect.completion(call, reply, request_id))
        if kind == "broken_stream":  # for a plain answer: the body cut in half
            content = content[: len(content) // 2]
        return Response(content, media_type="application/json")

    async def _stream(
        self,
        dialect: Dialect,
        call: SimCall,
        reply: SimReply,
        request_id: str,
        kind: str | None,
        config: SimulatorConfig,
    ) -> AsyncIterator[bytes]:
        if kind == "garbage_json":
            yield GARBAGE_SSE
            return
        step = config.tokens_per_chunk
        pieces = reply.pieces
        texts = ["".join(pieces[i : i + step]) for i in range(0, len(pieces), step)]
        broken = kind == "broken_stream"
        if broken:
            texts = texts[: max(1, len(texts) // 2)]
        encode = _FrameEncoder(call.sse)

        def tail() -> bytes:  # encoded last: array framing depends on what came before
            if not broken:
                frames = [
                    *dialect.stream_tool_calls(call, reply, request_id),
                    *dialect.stream_close(call, reply, request_id),
                ]
                return encode.many(frames) + encode.end()
            return PARTIAL_EVENT if call.sse else b",\r\n" + PARTIAL_EVENT.removeprefix(b"data: ")

        head = encode.many(
            [
                *dialect.stream_open(call, reply, request_id),
                *dialect.stream_reasoning(call, reply, request_id),
            ]
        )
        delay = config.stream_chunk_delay_ms / 1000
        if not delay:
            deltas = b"".join([encode.one(dialect.stream_delta(call, t, request_id)) for t in texts])
            yield head + deltas + tail()
            return
        if head:
            yield head
        for text in texts:
            await asyncio.sleep(delay)
            yield encode.one(dialect.stream_delta(call, text, request_id))
        yield tail()


class _FrameEncoder:
    """SSE frames, or (Gemini without ``alt=sse``) the elements of one JSON array."""

    __slots__ = ("_first", "_sse")

    def __init__(self, sse: bool) -> None:
        self._sse = sse
        self._first = True

    def one(self, frame: Frame) -> bytes:
        if self._sse:
            return encode_frame(frame)
        prefix = b"[" if self._first else b",\r\n"
        self._first = False
        return prefix + orjson.dumps(frame[1])

    def many(self, frames: list[Frame]) -> bytes:
        return b"".join(self.one(frame) for frame in frames)

    def end(self) -> bytes:
        if self._sse:
            return b""
        return b"[]" if self._first else b"]"


async def sleep_unless_disconnected(request: Request, seconds: float) -> bool:
    """Sleep, but stop early (returning True) if the client hangs up meanwhile.

    Without this a stalled answer would hold its task (and server shutdown) for the full time
    even though the caller timed out long ago.
    """

    async def disconnected() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    watcher = asyncio.ensure_future(disconnected())
    try:
        done, _ = await asyncio.wait({watcher}, timeout=seconds)
        return watcher in done
    finally:
        watcher.cancel()
