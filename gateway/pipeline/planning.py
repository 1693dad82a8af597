"""Planning a request: which (provider, model) candidates may serve it, in what order, at what
price — and the refusals that need no provider call (model not allowed, no compliant route,
unknown model, ``max_cost`` below the worst case)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from gateway.auth.principal import Principal
from gateway.errors import ApiError
from gateway.pipeline.context import CallContext
from gateway.pricing import ModelPrice, PriceCatalog, estimate_max_cost, estimate_prompt_tokens
from gateway.providers.types import ChatRequest
from gateway.routing.catalog import ProviderCatalog, ProviderRoute
from gateway.routing.rules import RoutingRule, first_match

# Worst case for a request without max_tokens: what most current models may emit by default.
DEFAULT_MAX_OUTPUT_TOKENS = 4096


class Planner:
    def __init__(self, catalog: ProviderCatalog, prices: PriceCatalog, default_markup_pct: Decimal) -> None:
        self.catalog = catalog
        self.prices = prices
        self.default_markup_pct = default_markup_pct

    def plan(
        self, ctx: CallContext, request: ChatRequest, rules: list[RoutingRule] | None = None
    ) -> list[tuple[ProviderRoute, str]]:
        model = ctx.requested_model
        allowed = ctx.principal.allowed_models
        if allowed and model and model not in allowed:
            raise ApiError(403, "model_not_allowed", f"This key may not use model {model!r}.")
        candidates = self._by_rule(ctx, model, rules) or self.catalog.candidates(
            model, ctx.requested_provider
        )
        if candidates and ctx.principal.compliance_level == "hipaa":
            candidates = [(r, m) for r, m in candidates if r.hipaa_eligible]
            if not candidates:
                raise ApiError(
                    422,
                    "compliance_no_route",
                    f"No HIPAA-eligible provider serves model {model or 'default'!r}; this customer's "
                    "requests are only ever routed to providers marked hipaa_eligible.",
                )
        if not candidates:
            which = f"{ctx.requested_provider}/{model}" if ctx.requested_provider else (model or "default")
            raise ApiError(404, "model_not_found", f"No configured provider serves model {which!r}.")
        if ctx.max_cost is not None:
            self.check_max_cost(ctx, request, candidates[0])
        return candidates

    def _by_rule(
        self, ctx: CallContext, model: str | None, rules: list[RoutingRule] | None
    ) -> list[tuple[ProviderRoute, str]]:
        """The first matching rule's target and fallback chain (explicit provider requests win)."""
        if not rules or ctx.requested_provider:
            return []
        rule = first_match(
            rules, request_type=ctx.request_type, priority=ctx.priority, model=model, tags=ctx.tags
        )
        if rule is None:
            return []
        routes = self.catalog.routes
        chosen = [(routes[p], m) for p, m in rule.candidates() if p in routes and routes[p].serves(m)]
        if chosen:
            ctx.routing_rule = rule
        return chosen

    def price_for(
        self, route: ProviderRoute, model: str, at: datetime, input_tokens: int = 0
    ) -> ModelPrice | None:
        """Our catalog name first (operators override per provider), then the wire format's owner."""
        return self.prices.lookup(route.name, model, at, input_tokens) or self.prices.lookup(
            route.api_style, model, at, input_tokens
        )

    def markup(self, ctx: CallContext) -> Decimal:
        return self.markup_for(ctx.principal)

    def markup_for(self, principal: Principal) -> Decimal:
        m = principal.markup_pct
        return self.default_markup_pct if m is None else m

    def check_max_cost(
        self, ctx: CallContext, request: ChatRequest, first: tuple[ProviderRoute, str]
    ) -> None:
        route, model = first
        prompt_tokens = estimate_prompt_tokens(request.messages)
        price = self.price_for(route, model, ctx.request_ts, prompt_tokens)
        estimate = estimate_max_cost(
            price, prompt_tokens, request.max_tokens or DEFAULT_MAX_OUTPUT_TOKENS, self.markup(ctx)
        )
        if estimate is None:
            raise ApiError(
                402,
                "max_cost_unverifiable",
                f"max_cost was given but model {model!r} has no known price to check it against.",
            )
        if estimate > ctx.max_cost:  # type: ignore[operator]
            raise ApiError(
                402,
                "max_cost_exceeded",
                f"Estimated worst-case cost {estimate:.6f} USD exceeds max_cost {ctx.max_cost} USD; "
                "lower max_tokens or raise max_cost.",
                details={"estimated_max_cost": str(estimate), "max_cost": str(ctx.max_cost)},
            )

    def worst_case(
        self, ctx: CallContext, request: ChatRequest, candidates: list[tuple[ProviderRoute, str]]
    ) -> Decimal:
        """The most this request can cost the customer on any candidate (unpriced counts 0)."""
        prompt_tokens = estimate_prompt_tokens(request.messages)
        estimates = (
            estimate_max_cost(
                self.price_for(route, model, ctx.request_ts, prompt_tokens),
                prompt_tokens,
                request.max_tokens or DEFAULT_MAX_OUTPUT_TOKENS,
                self.markup(ctx),
            )
            for route, model in candidates
        )
        return max((e for e in estimates if e is not None), default=Decimal(0))
