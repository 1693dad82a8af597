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
    if not own.base_url:
        return dataclasses.replace(route.endpoint, api_key=own.secret)
    # The customer's base URL is tenant input: called through the egress-guarded client.
    return dataclasses.replace(route.endpoint, api_key=own.secret, base_url=own.base_url, customer_url=True)


def upstream_of(ctx: CallContext, route: ProviderRoute) -> str:
    """Who really answers a try, for its circuit breaker and performance window: the platform's
    route (``openai``), or one customer's own key on it (``openai~<key id>``) — so a tenant whose
    own key or base URL fails can never open the circuit, or spoil the numbers, of everyone else."""
    own = ctx.customer_keys.get(route.name)
    return route.name if own is None else f"{route.name}~{own.key_id}"


def with_model(request: ChatRequest, model: str) -> ChatRequest:
    return request if request.model == model else dataclasses.replace(request, model=model)
