"""Map request events onto hub, link and satellite rows (the only place that knows how)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TypeVar

from warehouse import tables as t
from warehouse.batch import VaultBatch
from warehouse.events import RequestEvent, TokenCounts
from warehouse.hashing import DELIMITER, hash_text, key_text
from warehouse.tables import HubSpec

SOURCE = "gateway"
PRICE_SOURCE = "price-catalog"
_MS = Decimal("0.001")
T = TypeVar("T")


def _ms(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(repr(value)).quantize(_MS)


def _set(value: T) -> T | None:
    """A late column's value (sql/013 on): its default (0, empty, ``not_applicable``) as NULL, so
    an event loaded before the columns existed and again after keeps its hash diff
    (warehouse/hashing.py, "Late columns")."""
    return None if not value or value == "not_applicable" else value


def _token_kinds(u: TokenCounts) -> tuple[int | None, ...]:
    """The token kinds counted since sql/013 (parts of input_tokens), in the satellites' order."""
    return _set(u.cache_write_tokens), _set(u.audio_input_tokens), _set(u.image_input_tokens)


@dataclass(frozen=True, slots=True)
class _Context:
    """Who asked and what served: the hub keys a request links to, and their key text."""

    customer: bytes
    gateway_key: bytes
    provider: bytes
    model: bytes
    provider_key: bytes
    rule: bytes
    text: str  # key_text of (customer, gateway key, provider, model, provider key, rule)


@dataclass(slots=True)
class _Seen:
    """Per batch: what the batch already holds, by business keys. A batch has thousands of
    events but a few hundred distinct customer/key/model contexts and end users: their hub and
    link rows are added (and hashed) once per batch, a dictionary look-up per event after that."""

    contexts: dict[tuple[str | None, ...], _Context] = field(default_factory=dict)
    end_users: dict[tuple[str, str | None], tuple[bytes, str]] = field(default_factory=dict)
    hubs: dict[tuple[HubSpec, tuple[str | None, ...]], bytes] = field(default_factory=dict)

    def hub(self, batch: VaultBatch, spec: HubSpec, *business_keys: str | None, record_source: str) -> bytes:
        found = self.hubs.get((spec, business_keys))
        if found is None:
            found = batch.hub(spec, *business_keys, record_source=record_source)
            self.hubs[(spec, business_keys)] = found
        return found

    def context(self, batch: VaultBatch, ev: RequestEvent) -> _Context:
        names = (
            ev.customer,
            ev.gateway_key_id,
            ev.provider,
            ev.model,
            ev.provider_key_id,
            ev.routing_rule_id,
        )
        found = self.contexts.get(names)
        if found is None:
            found = self.contexts[names] = _add_context(self, batch, ev, names)
        return found

    def end_user(self, batch: VaultBatch, ev: RequestEvent, customer: bytes) -> tuple[bytes, str]:
        """The end user's hub key (the ghost when none) and its key text."""
        found = self.end_users.get((ev.customer, ev.end_user))
        if found is None:
            hk = batch.hub(
                t.HUB_END_USER, ev.customer if ev.end_user else None, ev.end_user, record_source=SOURCE
            )
            if ev.end_user:
                batch.link(
                    t.LNK_END_USER_CUSTOMER,
                    (hk, customer),
                    (ev.customer, ev.end_user, ev.customer),
                    record_source=SOURCE,
                    cache=True,
                )
            found = self.end_users[(ev.customer, ev.end_user)] = (hk, key_text(ev.end_user))
        return found


def _add_context(seen: _Seen, batch: VaultBatch, ev: RequestEvent, names: tuple[str | None, ...]) -> _Context:
    customer = seen.hub(batch, t.HUB_CUSTOMER, ev.customer, record_source=SOURCE)
    gateway_key = seen.hub(batch, t.HUB_GATEWAY_KEY, ev.gateway_key_id, record_source=SOURCE)
    provider = seen.hub(batch, t.HUB_PROVIDER, ev.provider, record_source=SOURCE)
    model = seen.hub(batch, t.HUB_MODEL, ev.provider, ev.model, record_source=SOURCE)
    if ev.gateway_key_id:
        batch.link(
            t.LNK_GATEWAY_KEY_CUSTOMER,
            (gateway_key, customer),
            (ev.gateway_key_id, ev.customer),
            record_source=SOURCE,
            cache=True,
        )
    if ev.provider and ev.model:
        batch.link(
            t.LNK_MODEL_PROVIDER,
            (model, provider),
            (ev.provider, ev.model, ev.provider),
            record_source=SOURCE,
            cache=True,
        )
    return _Context(
        customer,
        gateway_key,
        provider,
        model,
        seen.hub(batch, t.HUB_PROVIDER_KEY, ev.provider_key_id, record_source=SOURCE),
        seen.hub(batch, t.HUB_ROUTING_RULE, ev.routing_rule_id, record_source=SOURCE),
        key_text(*names),
    )


def batch_from_events(events: Iterable[RequestEvent]) -> VaultBatch:
    batch = VaultBatch()
    seen = _Seen()
    for event in events:
        add_request_event(batch, event, seen)
    return batch


def add_request_event(batch: VaultBatch, ev: RequestEvent, seen: _Seen | None = None) -> None:
    seen = seen or _Seen()
    ctx = seen.context(batch, ev)
    end_user, end_user_text = seen.end_user(batch, ev, ctx.customer)
    # The request's own keys, hashed from texts: the context link's key is the request id's
    # text + the context's + the end user's, exactly hash_key(request_id, customer, ..., end_user).
    request_text = key_text(ev.request_id)
    request = batch.hub(t.HUB_API_REQUEST, ev.request_id, record_source=SOURCE, hk=hash_text(request_text))
    batch.link(
        t.LNK_API_REQUEST_CONTEXT,
        (
            request,
            ctx.customer,
            ctx.gateway_key,
            ctx.provider,
            ctx.model,
            ctx.provider_key,
            ctx.rule,
            end_user,
        ),
        (
            ev.request_id,
            ev.customer,
            ev.gateway_key_id,
            ev.provider,
            ev.model,
            ev.provider_key_id,
            ev.routing_rule_id,
            ev.end_user,
        ),
        record_source=SOURCE,
        hk=hash_text(f"{request_text}{DELIMITER}{ctx.text}{DELIMITER}{end_user_text}"),
    )

    u = ev.usage
    batch.sat(
        t.SAT_API_REQUEST_DETAILS,
        request,
        (
            ev.request_ts,
            ev.completed_ts,
            ev.endpoint,
            ev.request_type,
            ev.priority,
            ev.requested_provider,
            ev.requested_model,
            ev.stream,
            ev.status,
            ev.http_status,
            ev.error_code,
            ev.error_message,
            ev.finish_reason,
            _ms(ev.latency_ms),
            _ms(ev.upstream_latency_ms),
            ev.route_reason,
            len(ev.attempts),
            ev.cache_status,
            ev.max_cost,
            u.input_tokens,
            u.output_tokens,
            u.cached_input_tokens,
            u.reasoning_tokens,
            u.total_tokens,
            ev.client_ip,
            ev.user_agent,
            ev.compliance_flags,
            ev.pii_actions,
            _set(ev.tools_offered),
            _set(ev.tool_calls_returned),
            _set(ev.input_modalities),
            ev.response_format,
            ev.reasoning_effort,
            _set(ev.validation_status),
            _set(ev.dropped_params),
            *_token_kinds(u),
            None if ev.usage_source == "provider" else ev.usage_source,  # sql/014
            ev.trace_id,  # sql/022
        ),
        record_source=SOURCE,
    )
    for a in ev.attempts:
        a_provider = seen.hub(batch, t.HUB_PROVIDER, a.provider, record_source=SOURCE)
        a_model = seen.hub(batch, t.HUB_MODEL, a.provider, a.model, record_source=SOURCE)
        a_key = seen.hub(batch, t.HUB_PROVIDER_KEY, a.provider_key_id, record_source=SOURCE)
        batch.sat(
            t.SAT_API_REQUEST_ATTEMPT,
            request,
            (
                a_provider,
                a_model,
                a_key,
                a.provider,
                a.model,
                a.started_ts,
                _ms(a.latency_ms),
                a.outcome,
                a.http_status,
                a.error_class,
                a.error_message,
                a.input_tokens,
                a.output_tokens,
            ),
            record_source=SOURCE,
            sub_key=a.attempt_no,
        )
    for key, value in ev.tags.items():
        batch.sat(t.SAT_API_REQUEST_TAGS, request, (value,), record_source=SOURCE, sub_key=key)

    if ev.cost is not None:
        c = ev.cost
        cost_text = key_text(c.cost_event_id)
        cost = batch.hub(t.HUB_COST_EVENT, c.cost_event_id, record_source=SOURCE, hk=hash_text(cost_text))
        batch.link(
            t.LNK_COST_EVENT_API_REQUEST,
            (cost, request),
            (c.cost_event_id, ev.request_id),
            record_source=SOURCE,
            hk=hash_text(f"{cost_text}{DELIMITER}{request_text}"),
        )
        ct = c.tokens
        batch.sat(
            t.SAT_COST_EVENT_DETAILS,
            cost,
            (
                c.event_ts,
                c.charge_class,
                c.currency,
                ct.input_tokens,
                ct.output_tokens,
                ct.cached_input_tokens,
                ct.reasoning_tokens,
                c.input_per_mtok,
                c.output_per_mtok,
                c.cached_input_per_mtok,
                c.reasoning_per_mtok,
                c.price_source,
                c.is_priced,
                c.provider_cost,
                c.markup_pct,
                c.markup_amount,
                c.customer_cost,
                c.baseline_model,
                c.baseline_cost,
                c.optimisation,
                *_token_kinds(ct),
                c.cache_write_per_mtok,
                c.input_audio_per_mtok,
            ),
            record_source=SOURCE,
        )
    if ev.payload is not None:  # sql/010: what the customer's retention mode keeps
        pl = ev.payload
        batch.sat(t.SAT_API_REQUEST_PAYLOAD, request, tuple(pl.model_dump().values()), record_source=SOURCE)
    if ev.price is not None:
        p = ev.price
        price_model = seen.hub(batch, t.HUB_MODEL, p.provider, p.model, record_source=PRICE_SOURCE)
        batch.sat(
            t.SAT_MODEL_PRICE,
            price_model,
            (
                p.currency,
                p.input_per_mtok,
                p.output_per_mtok,
                p.cached_input_per_mtok,
                p.reasoning_per_mtok,
                p.price_source,
                p.valid_from,
                p.valid_to,
                p.cache_write_per_mtok,
                p.input_audio_per_mtok,
            ),
            record_source=PRICE_SOURCE,
        )
