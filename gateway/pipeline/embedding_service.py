"""Embeddings through the same pipeline as completions: plan, admit, call through the one
attempt loop (retries, failover, breaker, the customer's own keys and their budgets), cost,
record (``request_type='embedding'``). Token-array inputs go only to wires that take them.

It borrows the completion service's planner, admission, loop and recorder rather than copying
them, so limits, budgets, customers' own keys, routing rules and the vault record work the same
for both. An embedding is costed as input tokens at the model's input price.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from gateway.errors import ApiError
from gateway.pipeline.attempts import Exhausted
from gateway.pipeline.context import CallContext, Candidates, Outcome
from gateway.pipeline.data_stages import rule_options
from gateway.pipeline.service import CompletionService
from gateway.providers.base import ProviderEndpoint, get_adapter
from gateway.providers.types import (
    ChatMessage,
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
)
from gateway.routing.catalog import ProviderRoute

REQUEST_TYPE = "embedding"


def sizing(request: EmbeddingRequest) -> ChatRequest:
    """The inputs as a chat request: what planning, PII screening and the worst-case budget
    reservation see (max_tokens=1: embeddings produce no output)."""
    return ChatRequest(request.model, [ChatMessage("user", text) for text in request.inputs], max_tokens=1)


def takes_tokens(ctx: CallContext, candidates: Candidates) -> Candidates:
    """Token-array inputs: only wires that take token ids (OpenAI's family), and only where no
    PII policy must rewrite or refuse the text (token ids cannot be screened). Else 400 ``input``."""
    d = ctx.data
    mode = rule_options(ctx).get("pii_mode") or (d.policy.pii_mode if d is not None else "off")
    if mode in ("redact", "block"):
        raise ApiError(
            400,
            "unsupported_parameter",
            f"input: token arrays cannot be screened for personal data, which this customer's PII "
            f"policy ({mode}) requires. Send the input as text.",
            param="input",
        )
    usable = [(r, m) for r, m in candidates if getattr(get_adapter(r.api_style), "token_inputs", False)]
    if not usable:
        where = ", ".join(f"{r.name}/{m}" for r, m in candidates[:5])
        raise ApiError(
            400,
            "unsupported_parameter",
            f"input: token arrays are accepted only by OpenAI-family embedding APIs; {where} take text. "
            "Send the input as text.",
            param="input",
        )
    return usable


class EmbeddingService:
    def __init__(self, completions: CompletionService) -> None:
        self.svc = completions

    async def embed(self, ctx: CallContext, request: EmbeddingRequest) -> tuple[EmbeddingResponse, Outcome]:
        """Vectors and the costed outcome (the caller records it once the answer is sent)."""
        ctx.request_type = REQUEST_TYPE
        chat = sizing(request)
        candidates = await self.svc.prepare(ctx, chat)
        if request.token_inputs is not None:
            try:
                candidates = takes_tokens(ctx, candidates)
            except ApiError:
                if self.svc.admission is not None:  # release the budget hold admission took
                    await self.svc.admission.settle(ctx, Decimal(0), 0)
                raise
        request = dataclasses.replace(request, inputs=[m.text for m in chat.messages])
        return await self.call(ctx, request, candidates)

    async def call(
        self, ctx: CallContext, request: EmbeddingRequest, candidates: Candidates
    ) -> tuple[EmbeddingResponse, Outcome]:
        svc = self.svc

        async def embed(route: ProviderRoute, model: str, endpoint: ProviderEndpoint) -> EmbeddingResponse:
            return await get_adapter(route.api_style).embed(
                svc.http, endpoint, dataclasses.replace(request, model=model)
            )

        try:
            served = await svc.loop.run(ctx, sizing(request), candidates, embed, usage_of=lambda r: r.usage)
        except Exhausted as failed:
            raise await svc.exhausted(ctx, failed) from None
        response = served.value
        outcome = svc.costed_outcome(
            ctx,
            served.route,
            served.model,
            ChatResponse("", "stop", response.usage, response.model),
            served.attempts,
            svc.route_reason(ctx, served.index, len(served.attempts)),
            served.upstream_ms,
        )
        return response, outcome
