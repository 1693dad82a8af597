"""Embeddings through the same pipeline as completions: plan, admit, call with retries and
failover, cost, record (``request_type='embedding'``).

It borrows the completion service's planner, admission, breaker and recorder rather than
copying them, so limits, budgets, customers' own keys, routing rules and the vault record work
the same for both. An embedding is costed as input tokens at the model's input price.
"""

from __future__ import annotations

import dataclasses
import time

from gateway.pipeline.context import CallContext, Outcome, final_error
from gateway.pipeline.events import attempt_event
from gateway.pipeline.service import CompletionService
from gateway.pipeline.upstream import endpoint_for
from gateway.providers.base import get_adapter
from gateway.providers.types import (
    ChatMessage,
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    ProviderError,
)
from warehouse.events import AttemptEvent

REQUEST_TYPE = "embedding"


class EmbeddingService:
    def __init__(self, completions: CompletionService) -> None:
        self.svc = completions

    async def embed(self, ctx: CallContext, request: EmbeddingRequest) -> tuple[EmbeddingResponse, Outcome]:
        """Vectors and the costed outcome (the caller records it once the answer is sent)."""
        ctx.request_type = REQUEST_TYPE
        # As a chat request of the inputs: planning, PII screening and the worst-case budget
        # reservation see exactly what will be sent (max_tokens=1: embeddings produce no output).
        chat = ChatRequest(
            request.model, [ChatMessage("user", text) for text in request.inputs], max_tokens=1
        )
        candidates = await self.svc.prepare(ctx, chat)
        request = dataclasses.replace(request, inputs=[m.content for m in chat.messages])
        return await self.call(ctx, request, candidates)

    async def call(
        self, ctx: CallContext, request: EmbeddingRequest, candidates: list
    ) -> tuple[EmbeddingResponse, Outcome]:
        svc = self.svc
        attempts: list[AttemptEvent] = []
        last: ProviderError | None = None
        upstream_ms = 0.0
        for index, (route, model) in enumerate(candidates):
            if not await svc._healthy(route, model):
                last = last or svc._circuit_open(route, model)
                continue
            for try_no in range(svc._policy(ctx).max_attempts):
                started_ts = svc.clock()
                t0 = time.perf_counter()
                try:
                    response = await get_adapter(route.api_style).embed(
                        svc.http, endpoint_for(ctx, route), dataclasses.replace(request, model=model)
                    )
                except ProviderError as err:
                    ms = (time.perf_counter() - t0) * 1000
                    upstream_ms += ms
                    last = err
                    if await svc._failed_try(ctx, attempts, (route, model), started_ts, ms, err, try_no):
                        break
                    continue
                ms = (time.perf_counter() - t0) * 1000
                upstream_ms += ms
                await svc._succeeded(route, model, ms)
                key_id = ctx.provider_key_id(route.name)
                attempts.append(
                    attempt_event(
                        len(attempts) + 1, route, model, started_ts, ms, None, response.usage, key_id
                    )
                )
                outcome = svc._outcome(
                    ctx,
                    route,
                    model,
                    ChatResponse("", "stop", response.usage, response.model),
                    attempts,
                    svc._reason(ctx, index, len(attempts)),
                    upstream_ms,
                )
                return response, outcome
            if last is not None and last.error_class == "bad_request":
                break
        assert last is not None
        await svc.record_failure(ctx, attempts, last, upstream_ms)
        raise final_error(last)
