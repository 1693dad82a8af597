"""The models this key may use: ``GET /v1/models`` and ``GET /v1/models/{id}`` in OpenAI's shape
(what chat UIs, IDE plugins and ``client.models.list()`` read), and ``GET /v1/ai/models`` with
each provider's list prices applied to the key.

OpenAI-shape ids are what a client sends back as ``model``: plain model names, each listed once
however many providers serve it (``owned_by`` is the provider tried first, the catalog's order),
because routing, failover and ``allowed_models`` work on the plain name. ``provider/model`` ids
(e.g. ``anthropic/claude-3-5-sonnet-latest``, which pins the provider) are not listed, to keep
pickers free of duplicates, but ``GET /v1/models/{provider}/{model}`` answers for them. A key
with ``allowed_models`` lists exactly those its providers serve (wildcard routes included);
another key lists every model the catalog names, and retrieves any model a route serves (a
wildcard route's too). An id the key cannot use is a 404 in the one error envelope.
``created`` is when this gateway started: OneVault does not know when a provider released a model.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Depends, Request

from gateway.api.deps import principal, services
from gateway.auth.principal import Principal
from gateway.errors import ApiError
from gateway.routing.catalog import ProviderCatalog

router = APIRouter()
STARTED = int(time.time())


def usable_models(catalog: ProviderCatalog, who: Principal) -> dict[str, str]:
    """Model name → the provider that serves it first, for the models this key may use."""
    if who.allowed_models:
        served = ((m, catalog.candidates(m, None)) for m in who.allowed_models)
        return {m: found[0][0].name for m, found in served if found}
    out: dict[str, str] = {}
    for route, model in catalog.models():
        out.setdefault(model, route.name)
    return out


def model_json(model_id: str, owner: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": STARTED, "owned_by": owner}


@router.get("/v1/models")
async def openai_models(request: Request, who: Principal = Depends(principal)) -> dict[str, Any]:
    catalog = services(request).completions.planner.catalog
    return {"object": "list", "data": [model_json(m, p) for m, p in usable_models(catalog, who).items()]}


@router.get("/v1/models/{model_id:path}")
async def openai_model(
    model_id: str, request: Request, who: Principal = Depends(principal)
) -> dict[str, Any]:
    catalog = services(request).completions.planner.catalog
    allowed = not who.allowed_models or model_id in who.allowed_models
    found = catalog.candidates(model_id, None) if allowed else []
    if not found:
        raise ApiError(
            404,
            "model_not_found",
            f"The model {model_id!r} does not exist or this key may not use it.",
            param="model",
        )
    return model_json(model_id, found[0][0].name)


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
