"""``POST /v1/ai/embeddings`` (OneVault shape) and ``POST /v1/embeddings`` (OpenAI-compatible).

Authenticated, rate-limited, budgeted, PII-screened, costed and recorded like completions
(``request_type='embedding'``). ``encoding_format: "base64"`` (the official OpenAI SDK's
default) answers little-endian float32, base64-encoded, as OpenAI does. Without a ``model``
the native route uses the customer's configured embedding model.

``/v1/embeddings`` also takes token arrays as ``input`` (``list[int]``, ``list[list[int]]``: what
LangChain's ``OpenAIEmbeddings`` sends by default). They are forwarded as they are to OpenAI-family
providers (OpenAI, Azure OpenAI, OpenAI-compatible servers), which accept them; a model served only
by providers that take text (Gemini, Cohere) is a 400 naming ``input``, and so is a customer whose
PII policy redacts or blocks, since token ids cannot be screened.
"""

from __future__ import annotations

import base64
import struct
import time
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from gateway.api.completions import summary
from gateway.api.deps import base_context, principal, services
from gateway.api.door import apply_extras, extras_of
from gateway.api.fields import PRINTABLE, TAG_KEY
from gateway.auth.principal import Principal
from gateway.errors import ApiError
from gateway.pipeline import CallContext
from gateway.pipeline.context import Outcome
from gateway.pipeline.embedding_service import EmbeddingService
from gateway.providers.types import EmbeddingRequest, EmbeddingResponse

router = APIRouter()
_Text = Annotated[str, Field(min_length=1, max_length=200_000)]
_Input = _Text | Annotated[list[_Text], Field(min_length=1, max_length=2048)]
_Tokens = Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1, max_length=8192)]
_TokenInput = _Tokens | Annotated[list[_Tokens], Field(min_length=1, max_length=2048)]


class EmbeddingBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input: _Input
    model: str | None = Field(None, min_length=1, max_length=200)
    provider: str | None = Field(None, min_length=1, max_length=100)
    dimensions: int | None = Field(None, ge=1, le=4096)
    purpose: Literal["query", "document"] = "query"
    encoding_format: Literal["float", "base64"] = "float"
    user: str | None = Field(None, min_length=1, max_length=256, pattern=PRINTABLE)
    tags: dict[
        Annotated[str, Field(max_length=64, pattern=TAG_KEY)], Annotated[str, Field(max_length=256)]
    ] = Field(default_factory=dict, max_length=32)


class OpenAIEmbeddingBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str = Field(min_length=1, max_length=200)
    input: _Input | _TokenInput
    dimensions: int | None = Field(None, ge=1, le=4096)
    encoding_format: Literal["float", "base64"] = "float"
    user: str | None = Field(None, max_length=256, pattern=PRINTABLE)
    metadata: dict[str, str] | None = Field(None, max_length=32)


def token_arrays(value: object) -> list[list[int]] | None:
    """``input`` as token arrays (``list[int]`` is one, ``list[list[int]]`` several), else None."""
    if not isinstance(value, list) or not value or isinstance(value[0], str):
        return None
    return value if isinstance(value[0], list) else [value]


def openai_request(body: OpenAIEmbeddingBody) -> EmbeddingRequest:
    """Text inputs, or token arrays with a stand-in text each (what sizing and limits count:
    about one token per id)."""
    tokens = token_arrays(body.input)
    if tokens is None:
        inputs = [body.input] if isinstance(body.input, str) else body.input
        return EmbeddingRequest(body.model, inputs, body.dimensions, "query", body.user)  # type: ignore[arg-type]
    stand_ins = [",".join(map(str, t)) for t in tokens]
    return EmbeddingRequest(body.model, stand_ins, body.dimensions, "query", body.user, token_inputs=tokens)


def _encode(vector: list[float], fmt: str) -> list[float] | str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode() if fmt == "base64" else vector


async def _run(
    ctx: CallContext, request: Request, embed: EmbeddingRequest
) -> tuple[EmbeddingResponse, Outcome]:
    svc = services(request).completions
    try:
        response, outcome = await EmbeddingService(svc).embed(ctx, embed)
    except ApiError as err:
        if err.status in (402, 403, 404, 429) or err.code == "pii_blocked":
            await svc.record_rejection(ctx, err)
        raise
    await svc.record(ctx, outcome)
    return response, outcome


@router.post("/v1/ai/embeddings")
async def ai_embeddings(
    body: EmbeddingBody, request: Request, who: Principal = Depends(principal)
) -> Response:
    svc = services(request).completions
    model = body.model
    if model is None:
        model = (await svc.data.policies.get(who.customer)).embedding_model if svc.data else None
    ctx = base_context(request, who, endpoint="/v1/ai/embeddings", model=model)
    ctx.requested_provider, ctx.end_user, ctx.tags = body.provider, body.user, body.tags
    inputs = [body.input] if isinstance(body.input, str) else body.input
    embed = EmbeddingRequest(model or "", inputs, body.dimensions, body.purpose, body.user)
    response, outcome = await _run(ctx, request, embed)
    payload: dict[str, Any] = {
        **summary(ctx, outcome),
        "object": "onevault.embedding",
        "created": int(time.time()),
        "embeddings": [_encode(v, body.encoding_format) for v in response.vectors],
    }
    return Response(
        orjson.dumps(payload),
        media_type="application/json",
        headers={**ctx.response_headers, "x-request-id": ctx.request_id},
    )


@router.post("/v1/embeddings")
async def openai_embeddings(
    body: OpenAIEmbeddingBody, request: Request, who: Principal = Depends(principal)
) -> Response:
    ctx = base_context(request, who, endpoint="/v1/embeddings", model=body.model)
    ctx.end_user = body.user
    apply_extras(ctx, extras_of(request, body.metadata))
    response, outcome = await _run(ctx, request, openai_request(body))
    payload = {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": _encode(v, body.encoding_format)}
            for i, v in enumerate(response.vectors)
        ],
        "model": outcome.model,
        "usage": {"prompt_tokens": outcome.usage.input_tokens, "total_tokens": outcome.usage.input_tokens},
        "onevault": summary(ctx, outcome),
    }
    headers = {**ctx.response_headers, "x-request-id": ctx.request_id}
    headers["x-onevault-customer-cost"] = str(outcome.cost.customer_cost)
    return Response(orjson.dumps(payload), media_type="application/json", headers=headers)
