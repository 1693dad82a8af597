"""``GET /v1/ai/models``: what this key may use, with the list prices applied to it."""

from __future__ import annotations

from datetime import datetime, timezone

from fastapi import APIRouter, Depends, Request

from gateway.api.deps import principal, services
from gateway.auth.principal import Principal

router = APIRouter()


@router.get("/v1/ai/models")
async def list_models(request: Request, who: Principal = Depends(principal)) -> dict:
    svc = services(request).completions.planner
    now = datetime.now(timezone.utc)
    data = []
    for route, model in svc.catalog.models():
        if who.allowed_models and model not in who.allowed_models:
            continue
        price = svc.price_for(route, model, now)
        data.append(
            {
                "id": f"{route.name}/{model}",
                "object": "model",
                "provider": route.name,
                "model": model,
                "owned_by": route.name,
                "pricing": None
                if price is None
                else {
                    "currency": price.currency,
                    "input_per_mtok": str(price.input_per_mtok),
                    "output_per_mtok": str(price.output_per_mtok),
                    "cached_input_per_mtok": None
                    if price.cached_input_per_mtok is None
                    else str(price.cached_input_per_mtok),
                    "markup_pct": str(svc.markup_for(who)),
                    "source": price.source,
                },
            }
        )
    return {"object": "list", "data": data}
