"""Planning a request: which (provider, model) candidates may serve it, in what order, at what
price — and the refusals that need no provider call (model not allowed, no compliant route,
unknown model, ``max_cost`` below the worst case, a model without a price).

A request without ``max_tokens`` is sized at ``output_bound``: the operator's bound
(``ONEVAULT_OUTPUT_BOUND_TOKENS``) plus any thinking budget it asks for. Under a spending limit the
service sends that bound upstream, so the reservation covers every token the provider may bill
(docs/security/money.md).

The same ``decide`` serves the request path and the dry runs (``onevault rules test``, ``POST
/admin/v1/customers/{slug}/rules/test``), so an explanation is never a second implementation.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from gateway.auth.principal import Principal
from gateway.errors import ApiError
from gateway.pipeline.context import CallContext, Candidates
from gateway.pricing import (
    ModelPrice,
    PriceCatalog,
    estimate_max_cost,
    estimate_prompt_tokens,
    fallback_price,
)
from gateway.providers.types import ChatRequest
from gateway.routing.catalog import ProviderCatalog, ProviderRoute
from gateway.routing.performance import PerformanceSource
from gateway.routing.rules import RequestFacts, RoutingRule, first_match
from gateway.routing.strategies import NEEDS_PERFORMANCE, Ordering, candidate_pool, order
from warehouse.settings import Settings

# Worst case for a request without max_tokens (ONEVAULT_OUTPUT_BOUND_TOKENS's default).
DEFAULT_MAX_OUTPUT_TOKENS = 4096


@dataclass(slots=True)
class Decision:
    """Which rule matched (if any), why the others did not, and the candidate order it made."""

    rule: RoutingRule | None
    verdicts: list[tuple[RoutingRule, str | None]] = field(default_factory=list)
    ordering: Ordering | None = None

    @property
    def candidates(self) -> list[tuple[ProviderRoute, str]]:
        return self.ordering.candidates if self.ordering else []


def configured_planner(
    settings: Settings, catalog: ProviderCatalog, performance: PerformanceSource | None = None
) -> Planner:
    """The planner as the settings make it (the gateway and ``onevault rules test`` alike): price
    overrides and the fallback price, the markup, the output bound, whether unpriced is served."""
    fallback = fallback_price(settings.fallback_input_per_mtok, settings.fallback_output_per_mtok)
    return Planner(
        catalog,
        PriceCatalog.from_file(settings.prices_path, fallback),
        settings.default_markup_pct,
        performance,
        output_bound_tokens=settings.output_bound_tokens,
        allow_unpriced=settings.allow_unpriced,
    )


class Planner:
    def __init__(
        self,
        catalog: ProviderCatalog,
        prices: PriceCatalog,
        default_markup_pct: Decimal,
        performance: PerformanceSource | None = None,
        rng: random.Random | None = None,
        *,
        output_bound_tokens: int = DEFAULT_MAX_OUTPUT_TOKENS,
        allow_unpriced: bool = False,
    ) -> None:
        self.catalog = catalog
        self.prices = prices
        self.default_markup_pct = default_markup_pct
        self.performance = performance
        self.rng = rng or random.Random()
        self.output_bound_tokens = output_bound_tokens
        self.allow_unpriced = allow_unpriced  # ONEVAULT_ALLOW_UNPRICED: serve them, flagged, at 0

    async def decide(
        self,
        rules: list[RoutingRule],
        facts: RequestFacts,
        *,
        at: datetime,
        prompt_tokens: int,
        max_output_tokens: int | None,
    ) -> Decision:
        """The first matching rule and the candidate order its strategy produces."""
        verdicts: list[tuple[RoutingRule, str | None]] = []
        match: RoutingRule | None = None
        for rule in rules:
            why_not = rule.mismatch(facts) if match is None else "an earlier rule matched"
            verdicts.append((rule, why_not))
            if why_not is None:
                match = rule
        if match is None:
            return Decision(None, verdicts)
        pool = candidate_pool(match, self.catalog, facts.model)
        stats = None
        if match.strategy in NEEDS_PERFORMANCE and self.performance is not None:
            stats = await self.performance.stats([(r.name, m) for r, m in pool])
        output = max_output_tokens or self.output_bound_tokens

        def estimate(route: ProviderRoute, model: str) -> Decimal | None:
            price = self.price_for(route, model, at, prompt_tokens)
            return estimate_max_cost(price, prompt_tokens, output, Decimal(0))

        return Decision(match, verdicts, order(match, pool, estimate=estimate, stats=stats, rng=self.rng))

    async def plan(
        self, ctx: CallContext, request: ChatRequest, rules: list[RoutingRule] | None = None
    ) -> list[tuple[ProviderRoute, str]]:
        model = ctx.requested_model
        allowed = ctx.principal.allowed_models
        if allowed and model and model not in allowed:
            raise ApiError(403, "model_not_allowed", f"This key may not use model {model!r}.")
        candidates = await self._by_rule(ctx, request, rules) or self.catalog.candidates(
            model, ctx.requested_provider
        )
        candidates = self.permitted(ctx, self.compliant(ctx, self.known(ctx, candidates)))
        if not candidates:
            which = f"{ctx.requested_provider}/{model}" if ctx.requested_provider else (model or "default")
            raise ApiError(404, "model_not_found", f"No configured provider serves model {which!r}.")
        if ctx.max_cost is not None:
            self.check_max_cost(ctx, request, candidates[0])
        return candidates

    def known(self, ctx: CallContext, candidates: Candidates) -> Candidates:
        """Only models the catalog knows: listed by their route, priced by the price catalog
        (not by the operator's fallback price), or on a route that accepts any model. A wildcard
        route would otherwise turn each random name into a model recorded and counted (400
        ``model_unknown`` when nothing is left)."""
        kept = [(r, m) for r, m in candidates if r.lists(m) or self._catalog_prices(r, m, ctx.request_ts)]
        if candidates and not kept:
            model = candidates[0][1]
            raise ApiError(
                400,
                "model_unknown",
                f"Model {model[:100]!r} is not in this gateway's catalog: its provider serves other "
                "models only when they have a known price. Use a listed model (GET /v1/ai/models), or "
                "ask the operator to list it or to set accept_any_model on the provider.",
                param="model",
            )
        return kept

    def _catalog_prices(self, route: ProviderRoute, model: str, at: datetime) -> bool:
        prices = self.prices
        return any(
            prices.lookup(name, model, at) is not None or bool(prices.images.rows(name, model))
            for name in (route.name, route.api_style)
        )

    def permitted(self, ctx: CallContext, candidates: Candidates) -> Candidates:
        """Only models the gateway key may use: the catalog default (no ``model`` in the request)
        and a routing rule's targets are held to its ``allowed_models`` like a named model
        (403 ``model_not_allowed`` naming them when none is left)."""
        kept = allowed_only(ctx, candidates)
        if candidates and not kept:
            names = ", ".join(dict.fromkeys(m for _, m in candidates))
            why = "a routing rule chose" if ctx.routing_rule is not None else "the request resolves to"
            allowed = ", ".join(ctx.principal.allowed_models or ())
            raise ApiError(
                403,
                "model_not_allowed",
                f"This key may not use model {names!r} ({why} it); it may use: {allowed}."[:500],
                param="model",
            )
        return kept

    def compliant(
        self, ctx: CallContext, candidates: list[tuple[ProviderRoute, str]]
    ) -> list[tuple[ProviderRoute, str]]:
        """A HIPAA customer's candidates: only providers marked hipaa_eligible (422 if none)."""
        if not candidates or ctx.principal.compliance_level != "hipaa":
            return candidates
        candidates = [(r, m) for r, m in candidates if r.hipaa_eligible]
        if not candidates:
            raise ApiError(
                422,
                "compliance_no_route",
                f"No HIPAA-eligible provider serves model {ctx.requested_model or 'default'!r}; this "
                "customer's requests are only ever routed to providers marked hipaa_eligible.",
            )
        return candidates

    def capable(
        self, ctx: CallContext, request: ChatRequest, candidates: Candidates, *, drop: bool
    ) -> Candidates:
        """The candidates that can honour every part of ``request`` (gateway/providers/capabilities.py).

        With ``drop`` (``drop_unsupported_params``), a candidate that lacks only *options* stays,
        and the options it cannot honour are noted in ``ctx.param_drops`` for its attempt; content
        (images, audio, files, tool history) is never dropped. Options the provider's protocol
        refuses with this conversation (``Gap.forced``) are noted there always. None left: 400
        ``unsupported_parameter`` naming the fields and the providers, before any provider call.
        """
        usable: Candidates = []
        gaps = []
        for route, model in candidates:
            gap = route.gap(model, request)
            if gap.empty:
                usable.append((route, model))
                if gap.forced:
                    ctx.param_drops[(route.name, model)] = gap.forced
            elif drop and not gap.content:
                usable.append((route, model))
                ctx.param_drops[(route.name, model)] = gap.options + gap.forced
            else:
                gaps.append((route, model, gap))
        if usable:
            return usable
        fields = list(dict.fromkeys(f for _, _, gap in gaps for f in gap.fields))
        where = "; ".join(f"{r.name}/{m}: {', '.join(g.fields)}" for r, m, g in gaps[:5])
        raise ApiError(
            400,
            "unsupported_parameter",
            f"No candidate can honour {', '.join(fields)} ({where}). Remove the parameter, choose a "
            "model that supports it, or set drop_unsupported_params to drop options instead.",
            param=fields[0],
            details=[{"provider": r.name, "model": m, "unsupported": list(g.fields)} for r, m, g in gaps],
        )

    def facts(self, ctx: CallContext) -> RequestFacts:
        return RequestFacts(
            ctx.request_type,
            ctx.priority,
            ctx.requested_model,
            ctx.tags,
            ctx.principal.compliance_level,
            ctx.max_cost,
            ctx.request_ts,
        )

    async def _by_rule(
        self, ctx: CallContext, request: ChatRequest, rules: list[RoutingRule] | None
    ) -> list[tuple[ProviderRoute, str]]:
        """The first matching rule's candidates in its strategy's order (explicit provider wins).

        A request that names its provider (``provider``, or ``provider/model``) is served there,
        not rerouted; the first rule matching it still sets its data options (``ctx.data_rule``:
        PII and cache modes), so naming a provider never skips a rule's PII policy."""
        if not rules:
            return []
        provider, model = self.catalog.named(ctx.requested_model, ctx.requested_provider)
        if provider is not None:
            facts = self.facts(ctx)
            ctx.data_rule = first_match(rules, replace(facts, model=model) if facts.model else facts)
            return []
        decision = await self.decide(
            rules,
            self.facts(ctx),
            at=ctx.request_ts,
            prompt_tokens=estimate_prompt_tokens(request.messages, request.tools),
            max_output_tokens=self.output_bound(request),
        )
        ctx.data_rule = decision.rule
        if decision.candidates:
            ctx.routing_rule = decision.rule
        return decision.candidates

    def downgrade(self, ctx: CallContext) -> list[tuple[ProviderRoute, str]]:
        """The matched rule's cheaper route for when a budget is exhausted (empty: none)."""
        rule = ctx.routing_rule
        target = rule.downgrade_to if rule is not None else None
        if target is None:
            return []
        route = self.catalog.routes.get(target[0])
        if route is None or not route.serves(target[1]):
            return []
        return allowed_only(ctx, self.compliant(ctx, [(route, target[1])]))  # else: no downgrade

    def price_for(
        self, route: ProviderRoute, model: str, at: datetime, input_tokens: int = 0
    ) -> ModelPrice | None:
        """Our catalog name first (operators override per provider), then the wire format's owner,
        then the operator's fallback price (if any)."""
        return (
            self.prices.lookup(route.name, model, at, input_tokens)
            or self.prices.lookup(route.api_style, model, at, input_tokens)
            or self.prices.fallback_for(route.name, model)
        )

    def priced(self, ctx: CallContext, candidates: Candidates) -> Candidates:
        """The candidates whose cost can be known: an unpriced one would be served free and
        outside every budget (all of them when the operator allows unpriced traffic)."""
        if self.allow_unpriced:
            return candidates
        return [(r, m) for r, m in candidates if self.price_for(r, m, ctx.request_ts) is not None]

    def output_bound(self, request: ChatRequest) -> int:
        """The most output tokens a request can be billed for: its ``max_tokens``, else the
        operator's bound plus the thinking budget it asks for (thinking counts towards it)."""
        if request.max_tokens is not None:
            return request.max_tokens
        return self.output_bound_tokens + (request.thinking_tokens() or 0)

    def markup(self, ctx: CallContext) -> Decimal:
        return self.markup_for(ctx.principal)

    def markup_for(self, principal: Principal) -> Decimal:
        m = principal.markup_pct
        return self.default_markup_pct if m is None else m

    def check_max_cost(
        self, ctx: CallContext, request: ChatRequest, first: tuple[ProviderRoute, str]
    ) -> None:
        route, model = first
        prompt_tokens = estimate_prompt_tokens(request.messages, request.tools)
        price = self.price_for(route, model, ctx.request_ts, prompt_tokens)
        estimate = estimate_max_cost(price, prompt_tokens, self.output_bound(request), self.markup(ctx))
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
        self,
        ctx: CallContext,
        request: ChatRequest,
        candidates: list[tuple[ProviderRoute, str]],
        markup: Decimal | None = None,
    ) -> Decimal:
        """The most this request can cost the customer on any candidate (unpriced counts 0);
        with ``markup=0``: the most it can cost at the provider (own-key budgets)."""
        prompt_tokens = estimate_prompt_tokens(request.messages, request.tools)
        output = self.output_bound(request)
        estimates = (
            estimate_max_cost(
                self.price_for(route, model, ctx.request_ts, prompt_tokens),
                prompt_tokens,
                output,
                self.markup(ctx) if markup is None else markup,
            )
            for route, model in candidates
        )
        return max((e for e in estimates if e is not None), default=Decimal(0))


def allowed_only(ctx: CallContext, candidates: Candidates) -> Candidates:
    """The candidates whose model the gateway key's ``allowed_models`` lists (all: no list)."""
    allowed = ctx.principal.allowed_models
    if not allowed:
        return candidates
    return [(route, model) for route, model in candidates if model in allowed]
