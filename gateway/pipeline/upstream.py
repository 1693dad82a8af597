"""What goes upstream for one attempt: the endpoint (with the customer's own key) and model."""

from __future__ import annotations

import dataclasses

from gateway.pipeline.context import CallContext
from gateway.providers.base import ProviderEndpoint
from gateway.providers.types import ChatRequest
from gateway.routing.catalog import ProviderRoute


def endpoint_for(ctx: CallContext, route: ProviderRoute) -> ProviderEndpoint:
    """The route's endpoint, with the customer's own key (and base URL) when they added one."""
    own = ctx.customer_keys.get(route.name)
    if own is None:
        return route.endpoint
    return dataclasses.replace(
        route.endpoint, api_key=own.secret, base_url=own.base_url or route.endpoint.base_url
    )


def with_model(request: ChatRequest, model: str) -> ChatRequest:
    return request if request.model == model else dataclasses.replace(request, model=model)
