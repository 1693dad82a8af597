"""``POST /v1/images/generations``: OpenAI's image generation, for any provider that has one.

The body translates into the canonical ``ImageRequest``; gateway/pipeline/image_service.py runs
it through the pipeline (auth, limits, a per-image budget hold, routing, failover, PII screening
of the prompt, costing per image or by tokens, the vault row with ``request_type='image'``).
OpenAI, Azure OpenAI and OpenAI-compatible servers generate through OpenAI's wire, Imagen models
through Gemini's ``:predict``; a model whose provider has no image API is a 400 naming ``model``.

Fields: ``model``, ``prompt``, ``n``, ``size``, ``quality``, ``response_format``, ``user``. Any
other field (``style``, ``background``, ``output_format``, ``moderation``, ``stream``...) is a 400
naming it, never dropped. ``response_format``: ``b64_json`` (the default) answers the image bytes;
``url`` answers a ``data:image/png;base64,...`` URL — OneVault keeps no image storage to link
to, and never hands out a provider's short-lived URL in place of the image (a provider that only
answered a URL has it passed through as ``url`` whatever was asked). The response adds
``onevault`` (cost, route, the image count) as the other doors do; ``usage`` is OpenAI's image
usage block where the provider billed tokens.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from gateway.api.completions import summary
from gateway.api.deps import base_context, principal, services
from gateway.api.door import RECORDED_REFUSALS, apply_extras, extras_of
from gateway.api.fields import PRINTABLE
from gateway.auth.principal import Principal
from gateway.errors import ApiError
from gateway.pipeline.image_service import ImageService
from gateway.providers.types import GeneratedImage, ImageRequest, ImageResponse

router = APIRouter()
ENDPOINT = "/v1/images/generations"


class ImageGenerationBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(min_length=1, max_length=200)
    prompt: str = Field(min_length=1, max_length=32_000)
    n: int = Field(1, ge=1, le=10)
    size: str | None = Field(None, pattern=r"^(auto|[1-9][0-9]{1,4}x[1-9][0-9]{1,4})$")
    quality: str | None = Field(None, pattern=r"^[a-z]{1,20}$")
    response_format: Literal["b64_json", "url"] | None = None
    user: str | None = Field(None, max_length=256, pattern=PRINTABLE)


def image_json(image: GeneratedImage, fmt: str) -> dict[str, Any]:
    if image.b64_json is None:
        out: dict[str, Any] = {"url": image.url}
    elif fmt == "url":
        out = {"url": f"data:{image.media_type};base64,{image.b64_json}"}
    else:
        out = {"b64_json": image.b64_json}
    if image.revised_prompt is not None:
        out["revised_prompt"] = image.revised_prompt
    return out


def usage_json(response: ImageResponse) -> dict[str, Any] | None:
    u = response.usage
    if not u.total_tokens:
        return None
    return {
        "input_tokens": u.input_tokens,
        "input_tokens_details": {
            "text_tokens": u.input_tokens - u.image_input_tokens,
            "image_tokens": u.image_input_tokens,
        },
        "output_tokens": u.output_tokens,
        "total_tokens": u.total_tokens,
    }


@router.post(ENDPOINT)
async def generate_images(
    body: ImageGenerationBody, request: Request, who: Principal = Depends(principal)
) -> Response:
    svc = services(request).completions
    ctx = base_context(request, who, endpoint=ENDPOINT, model=body.model)
    ctx.end_user = body.user
    apply_extras(ctx, extras_of(request))
    images = ImageService(svc)
    wanted = ImageRequest(body.model, body.prompt, body.n, body.size, body.quality, body.user)
    try:
        response, outcome = await images.generate(ctx, wanted)
    except ApiError as err:
        if err.status in RECORDED_REFUSALS or err.code == "pii_blocked":
            await svc.record_rejection(ctx, err)
        raise
    await images.record(ctx, wanted, response, outcome)
    fmt = body.response_format or "b64_json"
    first = response.images[0]
    payload: dict[str, Any] = {
        "created": int(time.time()),
        "data": [image_json(image, fmt) for image in response.images],
        "output_format": first.media_type.removeprefix("image/"),
        "onevault": {**summary(ctx, outcome), "images": len(response.images)},
    }
    if response.size:
        payload["size"] = response.size
    if response.quality:
        payload["quality"] = response.quality
    usage = usage_json(response)
    if usage is not None:
        payload["usage"] = usage
    headers = {**ctx.response_headers, "x-request-id": ctx.request_id}
    headers["x-onevault-customer-cost"] = str(outcome.cost.customer_cost)
    return Response(orjson.dumps(payload), media_type="application/json", headers=headers)
