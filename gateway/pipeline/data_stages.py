"""What the pipeline does with a request's *data*: PII screening before any provider sees it,
the exact and semantic caches, retention of what was sent and answered, and the savings record.

The completion service calls four hooks: ``screen`` (after planning: a rule may set the PII
mode), ``lookup`` (after admission: a hit answers without a provider call), ``replay`` (a hit
as stream chunks) and ``finish`` (turns the plain success event into the full one: cache
status, baseline and optimisation, payload; stores a fresh answer in the caches).

Settings, most specific first: the request's ``cache`` (``{"mode", "ttl"}``), the matched
routing rule's options (``cache_mode``, ``cache_ttl_s``, ``pii_mode``), the customer's config.
The semantic cache needs the customer's retention to be ``encrypted`` (its entries hold the
answer, sealed under the customer's data key); with ``none`` or ``hash`` a semantic request
falls back to the exact cache.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from cryptography.exceptions import InvalidTag
from redis.exceptions import RedisError

from gateway.cache.answer import CachedAnswer, exact_key, semantic_scope, semantic_split
from gateway.cache.exact import ExactCache
from gateway.cache.semantic import DIMS, SemanticCache
from gateway.crypto.data_keys import DataKeys
from gateway.crypto.envelope import KeyRing, KeyRingError
from gateway.errors import ApiError
from gateway.pipeline.context import CallContext, Candidates, Outcome
from gateway.pipeline.data_policy import DataPolicy, load_policy
from gateway.pipeline.per_customer import PerCustomer
from gateway.pipeline.planning import Planner
from gateway.pricing import CostBreakdown, TokenUsage, compute_cost
from gateway.pricing.cost import ZERO, money
from gateway.privacy.offload import ScanPool
from gateway.privacy.policy import ScanLimitExceeded
from gateway.providers.canonical_json import dumps, request_to_json, response_to_json
from gateway.providers.types import ChatMessage, ChatRequest, EmbeddingRequest, StreamChunk, ToolCallDelta
from warehouse.events import PayloadEvent, RequestEvent

log = logging.getLogger("onevault.data")
CACHE_MODES = ("off", "exact", "semantic")
REPLAY_WORDS = 4  # words per replayed stream chunk
EMBEDDING = "embedding"


@dataclass(slots=True)
class RequestData:
    """Per-request state between the hooks (``ctx.data``)."""

    policy: DataPolicy
    cache_mode: str = "off"
    cache_ttl_s: int = 0
    sent: list[ChatMessage] = field(default_factory=list)  # as the provider saw them
    request: ChatRequest | None = None  # the screened request (retention keeps its conversation)
    exact_digest: str | None = None
    scope: bytes | None = None  # semantic
    vector: list[float] | None = None
    hit: str | None = None  # cache_exact | cache_semantic
    similarity: float | None = None


def rule_options(ctx: CallContext) -> dict[str, Any]:
    """The data options of the rule that caught the request: the first matching one, even when
    the request named its provider and so was not routed by it (else the routing rule's)."""
    rule = ctx.data_rule or ctx.routing_rule
    return rule.options if rule is not None else {}


def cache_settings(ctx: CallContext, policy: DataPolicy) -> tuple[str, int]:
    """(mode, ttl): the request's own choice, else its rule's, else the customer's."""
    options = rule_options(ctx)
    asked = ctx.cache_request or {}
    mode = asked.get("mode") or options.get("cache_mode") or policy.cache_mode
    ttl = asked.get("ttl") or options.get("cache_ttl_s") or policy.cache_ttl_s
    if mode not in CACHE_MODES:
        raise ApiError(
            400, "validation_error", f"cache mode must be one of {', '.join(CACHE_MODES)}.", param="cache"
        )
    if not isinstance(ttl, int) or not 1 <= ttl <= 30 * 86400:
        raise ApiError(
            400,
            "validation_error",
            "cache ttl must be a whole number of seconds, 1 to 2592000.",
            param="cache",
        )
    if mode == "semantic" and policy.retention != "encrypted":
        mode = "exact"  # a semantic entry keeps the answer: only under an encrypted retention
    return mode, ttl


class DataStages:
    def __init__(
        self,
        planner: Planner,
        pool: asyncpg.Pool,
        redis: aioredis.Redis,
        keyring: KeyRing,
        *,
        policy_ttl: float = 10.0,
        pii_max_scan_chars: int | None = None,
    ) -> None:
        self.planner = planner
        self.screener = ScanPool(pii_max_scan_chars)  # large texts are scanned off the event loop
        self.pool = pool
        self._known: dict[str, DataPolicy] = {}
        self.policies: PerCustomer[DataPolicy] = PerCustomer(self._load_policy, ttl=policy_ttl)
        self.exact = ExactCache(redis)
        self.semantic = SemanticCache(pool)
        self.keys = DataKeys(pool, keyring)
        self.embedder: Any = None  # EmbeddingService, set by the app (it needs the service itself)

    async def _load_policy(self, customer: str) -> DataPolicy:
        """The customer's settings; while PostgreSQL is unreachable, the last ones read (a PII
        ``block`` must not lapse to ``off`` in an outage), or 503 if none were ever read."""
        try:
            policy = await load_policy(self.pool, customer)
        except (asyncpg.PostgresError, OSError) as exc:
            known = self._known.get(customer)
            if known is None:
                raise ApiError(
                    503, "settings_unavailable", "The customer's data settings cannot be read; retry shortly."
                ) from exc
            log.warning("customer settings unavailable (%s); using the last known", type(exc).__name__)
            return known
        self._known[customer] = policy
        return policy

    # -- hook 1: PII ---------------------------------------------------------------------------
    async def screen(
        self, ctx: CallContext, request: ChatRequest, candidates: Candidates | None = None
    ) -> None:
        """Apply the PII mode; ``block`` refuses with 422 naming the types, before any provider call.
        More text than may be screened is refused with 413 under ``redact`` and ``block``. A signed
        thinking block redaction had to leave out can make a candidate drop thinking: noted for it."""
        policy = await self.policies.get(ctx.principal.customer)
        mode = rule_options(ctx).get("pii_mode") or policy.pii_mode
        try:
            result = await self.screener.screen(ctx.principal.customer, request.messages, mode)
        except ScanLimitExceeded as exc:
            raise ApiError(
                413,
                "pii_scan_limit",
                f"The request carries {exc.size} characters of text; this customer's PII policy "
                f"({mode}) must screen all of it, and at most {exc.limit} are screened per request. "
                "Send less text, or split the request.",
                details={"characters": exc.size, "limit": exc.limit},
            ) from exc
        ctx.compliance_flags, ctx.pii_actions = result.compliance_flags, result.pii_actions
        if result.blocked:
            raise ApiError(
                422,
                "pii_blocked",
                f"The request contains personal data ({', '.join(result.found)}); this customer's "
                "policy refuses such requests. Remove it, or ask for the redact mode.",
                details={"types": list(result.found)},
            )
        lost_thinking = result.messages is not request.messages and any(
            len(a.thinking_blocks) != len(b.thinking_blocks)
            for a, b in zip(request.messages, result.messages, strict=True)
        )
        request.messages = result.messages
        ctx.data = RequestData(policy, sent=result.messages, request=request)
        for route, model in (candidates or []) if lost_thinking else []:
            forced = route.gap(model, request).forced  # e.g. thinking, now without its signed state
            if forced:
                drops = ctx.param_drops.get((route.name, model), ())
                ctx.param_drops[(route.name, model)] = tuple(dict.fromkeys(drops + forced))

    # -- hook 2: caches ------------------------------------------------------------------------
    async def lookup(self, ctx: CallContext, request: ChatRequest, candidates: Candidates) -> Outcome | None:
        d: RequestData | None = ctx.data
        if d is None or ctx.request_type == EMBEDDING:
            return None
        d.cache_mode, d.cache_ttl_s = cache_settings(ctx, d.policy)
        if d.cache_mode == "off":
            return None
        customer = ctx.principal.customer
        d.exact_digest = exact_key(request, ctx.requested_model, ctx.requested_provider)
        try:
            answer = await self.exact.get(customer, d.exact_digest)
        except (RedisError, OSError) as exc:  # a cache outage is a miss, never an error
            log.warning("exact cache unavailable (%s)", type(exc).__name__)
            answer = None
        if answer is not None:
            d.hit = "cache_exact"
            return self._hit(ctx, d, answer, candidates)
        if d.cache_mode == "semantic":
            found = await self._semantic_lookup(ctx, d, request)
            if found is not None:
                d.hit = "cache_semantic"
                return self._hit(ctx, d, found, candidates)
        return None

    async def _semantic_lookup(
        self, ctx: CallContext, d: RequestData, request: ChatRequest
    ) -> CachedAnswer | None:
        split = semantic_split(request)
        if split is None or self.embedder is None:
            return None
        context, turn = split
        d.scope = semantic_scope(
            request, ctx.requested_model, ctx.requested_provider, context, d.policy.embedding_model
        )
        try:
            d.vector = await self._embed(ctx, d.policy.embedding_model, turn)
            key = await self.keys.find(ctx.principal.customer)
            found = await self.semantic.lookup(
                ctx.principal.customer, d.scope, d.vector, d.policy.cache_similarity, key
            )
        except (ApiError, asyncpg.PostgresError, OSError, KeyRingError, InvalidTag) as exc:
            log.warning("semantic cache unavailable (%s)", type(exc).__name__)
            d.scope = None
            return None
        if found is None:
            return None
        d.similarity = found[1]
        return found[0]

    async def _embed(self, ctx: CallContext, model: str, text: str) -> list[float]:
        """The embedding of ``text``, called and recorded as its own request: the same compliance
        routing, the customer's own keys and their limits (the attempt loop), and its budgets (a
        402 here is a cache miss, not a refusal: the request itself was admitted)."""
        sub = CallContext(
            request_id=f"{ctx.request_id}.embed",
            principal=ctx.principal,
            endpoint="semantic-cache",
            requested_model=model,
            request_type=EMBEDDING,
            end_user=ctx.end_user,
            tags=ctx.tags,
            client_ip=ctx.client_ip,
            user_agent=ctx.user_agent,
            request_ts=ctx.request_ts,
            customer_keys=ctx.customer_keys,
        )
        # The same compliance routing as the request it serves: a HIPAA customer's text goes
        # only to HIPAA-eligible providers, for embeddings too.
        candidates = self.planner.compliant(sub, self.planner.catalog.candidates(model, None))
        if not candidates:
            raise ApiError(
                404, "model_not_found", f"No configured provider serves embedding model {model!r}."
            )
        svc = self.embedder.svc
        if svc.admission is not None:  # it costs money: held against the budgets, settled in record
            sizing = ChatRequest(model, [ChatMessage("user", text)], max_tokens=1)
            await svc.admission.reserve(sub, self.planner.worst_case(sub, sizing, candidates))
        response, outcome = await self.embedder.call(sub, EmbeddingRequest(model, [text], DIMS), candidates)
        await svc.record(sub, outcome)
        return response.vectors[0]

    def _hit(self, ctx: CallContext, d: RequestData, answer: CachedAnswer, candidates: Candidates) -> Outcome:
        route = self.planner.catalog.routes.get(answer.provider) or candidates[0][0]
        p = d.policy
        price = p.cache_price_per_request or Decimal(0)
        if p.cache_price_per_1k_tokens is not None:
            price += p.cache_price_per_1k_tokens * answer.usage.total_tokens / 1000
        cost = CostBreakdown(ZERO, money(price), money(price), priced=True)
        ms = (time.perf_counter() - ctx.started) * 1000
        reason = (
            "cache hit (exact)" if d.hit == "cache_exact" else f"cache hit (semantic, {d.similarity:.3f})"
        )
        return Outcome(
            route,
            answer.model,
            answer.text,
            answer.finish_reason,
            answer.usage,
            cost,
            None,
            [],
            reason,
            ms,
            0.0,
            tool_calls=list(answer.tool_calls),
            refusal=answer.refusal,
            reasoning=answer.reasoning,
            logprobs=answer.logprobs,
            thinking_blocks=list(answer.thinking_blocks),
        )

    def replay(self, outcome: Outcome) -> list[StreamChunk]:
        """A cached answer as stream chunks, in the order a live stream delivers them: reasoning
        (then its signed thinking blocks, whole), text a few words at a time (logprobs on the
        first text chunk), refusal, then each tool call as one ``ToolCallDelta`` (index, id, name,
        whole arguments); the last chunk carries the finish reason. Usage and cost follow in the
        stream's summary, as for a live answer."""
        chunks: list[StreamChunk] = []
        if outcome.thinking_blocks:  # each block's text, then the block, as Anthropic streams them
            for block in outcome.thinking_blocks:
                if block.get("type") == "thinking" and block.get("thinking"):
                    chunks.append(StreamChunk(reasoning=block["thinking"]))
                chunks.append(StreamChunk(thinking_blocks=[block]))
        elif outcome.reasoning:
            chunks.append(StreamChunk(reasoning=outcome.reasoning))
        if outcome.text:
            words = outcome.text.split(" ")
            pieces = [" ".join(words[i : i + REPLAY_WORDS]) for i in range(0, len(words), REPLAY_WORDS)]
            chunks += [StreamChunk(delta=(" " if i else "") + piece) for i, piece in enumerate(pieces)]
            chunks[-len(pieces)].logprobs = outcome.logprobs
        if outcome.refusal:
            chunks.append(StreamChunk(refusal=outcome.refusal))
        if outcome.tool_calls:
            deltas = [ToolCallDelta(i, c.id, c.name, c.arguments) for i, c in enumerate(outcome.tool_calls)]
            chunks.append(StreamChunk(tool_calls=deltas))
        if not chunks:
            chunks.append(StreamChunk())
        chunks[-1].finish_reason = outcome.finish_reason
        return chunks

    # -- hook 3: the full success event --------------------------------------------------------
    async def finish(self, ctx: CallContext, outcome: Outcome, event: RequestEvent) -> RequestEvent:
        d: RequestData | None = ctx.data
        update: dict[str, Any] = {}
        cost = event.cost
        if cost is not None:
            baseline_model, baseline_cost = self._baseline(ctx, outcome)
            if d is not None and d.hit:
                optimisation = d.hit
                cost = cost.model_copy(update={"price_source": "onevault-cache"})
            elif ctx.routing_rule is not None and baseline_model != outcome.model:
                optimisation = "routing"
            else:
                optimisation = "none"
            update["cost"] = cost.model_copy(
                update={
                    "baseline_model": baseline_model,
                    "baseline_cost": baseline_cost,
                    "optimisation": optimisation,
                }
            )
        if d is not None:
            if d.hit:
                update["cache_status"] = "hit"
            elif d.cache_mode != "off":
                update["cache_status"] = "miss"
                if outcome.status == "success" and outcome.finish_reason not in (
                    "error",
                    "client_disconnected",
                ):
                    await self._store(ctx, d, outcome)
            update["payload"] = await self._payload(ctx, d, outcome)
        return event.model_copy(update=update) if update else event

    def _baseline(self, ctx: CallContext, outcome: Outcome) -> tuple[str, Decimal | None]:
        """The originally requested model at list price for the same tokens (no markup)."""
        wanted = self.planner.catalog.candidates(ctx.requested_model, ctx.requested_provider)
        route, model = wanted[0] if wanted else (outcome.route, outcome.model)
        u = outcome.usage
        price = self.planner.price_for(route, model, ctx.request_ts, u.input_tokens)
        if price is None:
            return model, None
        usage = TokenUsage.of(u)
        return model, compute_cost(price, usage, Decimal(0)).provider_cost

    async def _store(self, ctx: CallContext, d: RequestData, outcome: Outcome) -> None:
        customer = ctx.principal.customer
        answer = CachedAnswer(
            outcome.text,
            outcome.finish_reason,
            outcome.usage,
            outcome.route.name,
            outcome.model,
            ctx.request_id,
            list(outcome.tool_calls),
            outcome.refusal,
            outcome.reasoning,
            outcome.logprobs,
            list(outcome.thinking_blocks),
        )
        try:
            if d.exact_digest is not None:
                await self.exact.put(customer, d.exact_digest, answer, d.cache_ttl_s)
            if d.cache_mode == "semantic" and d.scope is not None and d.vector is not None:
                key = await self.keys.current(customer)
                await self.semantic.put(customer, d.scope, d.vector, answer, d.cache_ttl_s, key)
        except (RedisError, asyncpg.PostgresError, OSError, KeyRingError, InvalidTag) as exc:
            log.warning("could not store in the cache (%s)", type(exc).__name__)

    async def _payload(self, ctx: CallContext, d: RequestData, outcome: Outcome) -> PayloadEvent | None:
        mode = d.policy.retention
        if mode not in ("hash", "encrypted"):
            return None
        # The whole canonical conversation as sent (parts, tool calls, tool results, tools,
        # response format) and the whole answer; ``hash`` keeps the digests of the same JSON.
        sent = d.request if d.request is not None else ChatRequest("", d.sent)
        prompt = dumps(request_to_json(replace(sent, messages=d.sent))).decode()
        completion = dumps(response_to_json(outcome)).decode()
        fields: dict[str, Any] = {
            "retention_mode": mode,
            "prompt_sha256": hashlib.sha256(prompt.encode()).digest(),
            "completion_sha256": hashlib.sha256(completion.encode()).digest(),
        }
        if mode == "encrypted":
            try:
                key = await self.keys.current(ctx.principal.customer)
                prompt_nonce, prompt_ciphertext = key.seal(prompt, f"{ctx.request_id}:prompt")
                completion_nonce, completion_ciphertext = key.seal(completion, f"{ctx.request_id}:completion")
            except Exception as exc:  # whatever it was, the request must still be recorded
                # The provider was paid: record the request with the digests, flagged, never a 500
                # (a data key under a KEK no longer loaded, PostgreSQL down, ...).
                why = type(exc).__name__
                log.warning("payload of %s not sealed (%s); kept as digests only", ctx.request_id, why)
                return PayloadEvent(**{**fields, "retention_mode": "hash", "seal_error": why})
            fields |= {
                "data_key_id": key.key_id,
                "prompt_nonce": prompt_nonce,
                "prompt_ciphertext": prompt_ciphertext,
                "completion_nonce": completion_nonce,
                "completion_ciphertext": completion_ciphertext,
            }
        return PayloadEvent(**fields)
