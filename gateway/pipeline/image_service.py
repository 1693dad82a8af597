"""Image generation through the same pipeline as completions: plan, screen the prompt, admit,
call through the one attempt loop (retries, failover, breaker, the customer's own keys), cost,
record (``request_type='image'``).

Like gateway/pipeline/embedding_service.py it borrows the completion service's stages, loop and
recorder, and replaces two stages: the capability check asks each candidate's adapter whether
its wire can generate images and carry every field (none can: 400 before any call), and the
budget reservation and ``max_cost`` use the worst case per image (n × the dearest price the
request's size and quality leave open) rather than a token estimate.

Costing: an answer that reports tokens (GPT image models, which OpenAI bills by tokens) is priced
at the model's token rates like any answer, so the vault's price history reproduces it; one that
reports none (DALL-E, Imagen) is priced per image by model, size and quality
(gateway/pricing/images.py), and its cost event's ``price_source`` says so — ``image:<source>:
<n> x <size>/<quality> at <unit> <currency>`` — with the image count. No price: unpriced, never $0.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from gateway.errors import ApiError
from gateway.pipeline.attempts import Exhausted
from gateway.pipeline.context import CallContext, Candidates, Outcome
from gateway.pipeline.service import CompletionService, describe
from gateway.pricing.cost import ZERO, CostBreakdown
from gateway.pricing.images import ImagePrice, image_cost
from gateway.providers.base import ProviderEndpoint, get_adapter
from gateway.providers.types import ChatMessage, ChatRequest, ChatResponse, ImageRequest, ImageResponse
from gateway.routing.catalog import ProviderRoute
from warehouse.events import RequestEvent

REQUEST_TYPE = "image"


def sizing(request: ImageRequest) -> ChatRequest:
    """The prompt as a chat request: what planning, PII screening and the limits see."""
    return ChatRequest(request.model, [ChatMessage("user", request.prompt)], max_tokens=1)


def image_gaps(route: ProviderRoute, request: ImageRequest) -> list[str] | None:
    """What the route's wire cannot carry of ``request`` (None: it has no image API)."""
    gaps = getattr(get_adapter(route.api_style), "image_gaps", None)
    return gaps(request) if gaps is not None else None


class ImageService:
    def __init__(self, completions: CompletionService) -> None:
        self.svc = completions

    async def generate(self, ctx: CallContext, request: ImageRequest) -> tuple[ImageResponse, Outcome]:
        """The images and the costed outcome (the caller records it with ``record``)."""
        ctx.request_type = REQUEST_TYPE
        chat = sizing(request)
        candidates = await self.prepare(ctx, request, chat)
        request = dataclasses.replace(request, prompt=chat.messages[0].text)  # as PII screening left it
        return await self.call(ctx, request, chat, candidates)

    async def prepare(self, ctx: CallContext, request: ImageRequest, chat: ChatRequest) -> Candidates:
        svc = self.svc
        describe(ctx, chat)
        max_cost, ctx.max_cost = ctx.max_cost, None  # the planner's check prices tokens: ours, below
        try:
            candidates = await svc.plan(ctx, chat, [])
        finally:
            ctx.max_cost = max_cost
        candidates = self.priced(request, self.capable(request, candidates))
        if max_cost is not None:
            self.check_max_cost(ctx, request, candidates[0], max_cost)
        candidates = await svc.screen(ctx, chat, candidates)
        candidates = await svc.own_keys(ctx, chat, candidates)
        if svc.admission is not None:
            await svc.admission.admit(ctx, self.worst_case(ctx, request, candidates))
        return candidates

    def check_max_cost(
        self, ctx: CallContext, request: ImageRequest, first: tuple[ProviderRoute, str], max_cost: Decimal
    ) -> None:
        """``max_cost`` against the first candidate's dearest images (402 when over, or unknown)."""
        estimate = self.worst_case(ctx, request, [first])
        route, model = first
        if not estimate:
            raise ApiError(
                402,
                "max_cost_unverifiable",
                f"max_cost was given but {route.name}/{model} has no known per-image price to check "
                "it against.",
            )
        if estimate > max_cost:
            raise ApiError(
                402,
                "max_cost_exceeded",
                f"Estimated worst-case cost {estimate:.6f} USD for {request.n} image(s) exceeds max_cost "
                f"{max_cost} USD; ask for fewer, smaller or lower-quality images, or raise max_cost.",
                details={"estimated_max_cost": str(estimate), "max_cost": str(max_cost)},
            )

    def capable(self, request: ImageRequest, candidates: Candidates) -> Candidates:
        """Candidates whose wire generates images and carries every field (400 if none)."""
        usable: Candidates = []
        refused: list[tuple[ProviderRoute, str, list[str] | None]] = []
        for route, model in candidates:
            gaps = image_gaps(route, dataclasses.replace(request, model=model))
            if gaps == []:
                usable.append((route, model))
            else:
                refused.append((route, model, gaps))
        if usable:
            return usable
        fields = list(dict.fromkeys(f for _, _, gaps in refused for f in gaps or ()))
        if not fields:
            where = ", ".join(f"{r.name}/{m}" for r, m, _ in refused[:5])
            raise ApiError(
                400,
                "unsupported_model",
                f"No candidate generates images ({where}): choose an image model such as gpt-image-1, "
                "dall-e-3 or imagen-4.0-generate-001.",
                param="model",
            )
        where = "; ".join(f"{r.name}/{m}: {', '.join(g or ['no image API'])}" for r, m, g in refused[:5])
        raise ApiError(
            400,
            "unsupported_parameter",
            f"No candidate can honour {', '.join(fields)} ({where}). Remove the parameter or choose "
            "another image model.",
            param=fields[0],
        )

    def priced(self, request: ImageRequest, candidates: Candidates) -> Candidates:
        """Only candidates with a per-image price (400 ``model_unpriced`` if none): unpriced images
        would be free and outside every budget, unless the operator allows unpriced traffic
        (docs/security/money.md)."""
        if self.svc.planner.allow_unpriced:
            return candidates
        kept = [(r, m) for r, m in candidates if self._worst_unit(r, m, request) is not None]
        if not kept:
            models = ", ".join(dict.fromkeys(repr(m) for _, m in candidates))
            raise ApiError(
                400,
                "model_unpriced",
                f"Image model {models} has no per-image price in this gateway's catalog, so it cannot be "
                "billed or held against a budget; choose a priced model, or ask the operator to add "
                "an image price for it.",
                param="model",
            )
        return kept

    def _worst_unit(self, route: ProviderRoute, model: str, request: ImageRequest) -> Decimal | None:
        """The dearest one image can cost at the provider (our catalog name, then the wire's)."""
        images = self.svc.planner.prices.images
        unit = images.worst(route.name, model, request.size, request.quality)
        if unit is None:
            unit = images.worst(route.api_style, model, request.size, request.quality)
        return unit

    def unit_price(
        self, route: ProviderRoute, model: str, size: str | None, quality: str | None
    ) -> ImagePrice | None:
        """Our catalog name first (operators override per provider), then the wire format's."""
        images = self.svc.planner.prices.images
        return images.lookup(route.name, model, size, quality) or images.lookup(
            route.api_style, model, size, quality
        )

    def worst_case(self, ctx: CallContext, request: ImageRequest, candidates: Candidates) -> Decimal:
        """The most the images can cost the customer on any candidate (unpriced counts 0)."""
        markup = self.svc.planner.markup(ctx)
        worst = Decimal(0)
        for route, model in candidates:
            unit = self._worst_unit(route, model, request)
            if unit is not None:
                worst = max(worst, unit * request.n * (1 + markup / 100))
        return worst

    async def call(
        self, ctx: CallContext, request: ImageRequest, chat: ChatRequest, candidates: Candidates
    ) -> tuple[ImageResponse, Outcome]:
        svc = self.svc

        async def generate(route: ProviderRoute, model: str, endpoint: ProviderEndpoint) -> ImageResponse:
            adapter = get_adapter(route.api_style)
            return await adapter.generate_image(  # type: ignore[attr-defined]
                svc.http, endpoint, dataclasses.replace(request, model=model)
            )

        try:
            served = await svc.loop.run(ctx, chat, candidates, generate, usage_of=lambda r: r.usage)
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
        if not (response.usage.output_tokens and outcome.cost.priced):  # not billed by tokens
            price = self.price_of(served.route, served.model, request, response)
            outcome.price = None
            outcome.cost = (
                image_cost(price, len(response.images), svc.planner.markup(ctx))
                if price is not None
                else CostBreakdown(ZERO, ZERO, ZERO, priced=False)
            )
        return response, outcome

    def price_of(
        self, route: ProviderRoute, model: str, request: ImageRequest, response: ImageResponse
    ) -> ImagePrice | None:
        """The unit price of what was made: the size and quality the provider reports, else asked."""
        return self.unit_price(
            route, model, response.size or request.size, response.quality or request.quality
        )

    async def record(
        self, ctx: CallContext, request: ImageRequest, response: ImageResponse, outcome: Outcome
    ) -> None:
        """Record the call; a per-image price says so, with the image count, in the cost event."""
        svc = self.svc
        price = (
            None
            if outcome.price is not None
            else self.price_of(outcome.route, outcome.model, request, response)
        )
        if price is None:
            await svc.record(ctx, outcome)
            return
        source = (
            f"image:{price.source}: {len(response.images)} x {price.size}/{price.quality} "
            f"at {price.per_image} {price.currency}"
        )

        def amend(event: RequestEvent) -> RequestEvent:
            if event.cost is None:
                return event
            cost = event.cost.model_copy(
                update={"price_source": source, "baseline_cost": outcome.cost.provider_cost}
            )
            return event.model_copy(update={"cost": cost})

        await svc.record(ctx, outcome, amend)
