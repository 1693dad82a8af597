"""Map request events onto hub, link and satellite rows (the only place that knows how)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from warehouse import tables as t
from warehouse.batch import VaultBatch
from warehouse.events import RequestEvent
from warehouse.tables import HubSpec, LinkSpec

SOURCE = "gateway"
PRICE_SOURCE = "price-catalog"
_MS = Decimal("0.001")


def _ms(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(repr(value)).quantize(_MS)


_Names = tuple[str | None, ...]


@dataclass(slots=True)
class _Seen:
    """Per batch: hub keys already added, by business keys. A batch has thousands of events but
    a few hundred distinct customers, keys, models and end users: their hub and link rows are
    added (and hashed) once per batch, a dictionary look-up per event after that."""

    hubs: dict[tuple[HubSpec, _Names], bytes] = field(default_factory=dict)
    links: set[tuple[LinkSpec, _Names]] = field(default_factory=set)

    def hub(self, batch: VaultBatch, spec: HubSpec, *business_keys: str | None, record_source: str) -> bytes:
        found = self.hubs.get((spec, business_keys))
        if found is None:
            found = batch.hub(spec, *business_keys, record_source=record_source)
            self.hubs[(spec, business_keys)] = found
        return found

    def link(self, batch: VaultBatch, spec: LinkSpec, refs: tuple[bytes, ...], business_keys: _Names) -> None:
        if (spec, business_keys) not in self.links:
            self.links.add((spec, business_keys))
            batch.link(spec, refs, business_keys, record_source=SOURCE)


def batch_from_events(events: Iterable[RequestEvent]) -> VaultBatch:
    batch = VaultBatch()
    seen = _Seen()
    for event in events:
        add_request_event(batch, event, seen)
    return batch


def add_request_event(batch: VaultBatch, ev: RequestEvent, seen: _Seen | None = None) -> None:
    seen = seen or _Seen()
    customer = seen.hub(batch, t.HUB_CUSTOMER, ev.customer, record_source=SOURCE)
    gateway_key = seen.hub(batch, t.HUB_GATEWAY_KEY, ev.gateway_key_id, record_source=SOURCE)
    provider = seen.hub(batch, t.HUB_PROVIDER, ev.provider, record_source=SOURCE)
    model = seen.hub(batch, t.HUB_MODEL, ev.provider, ev.model, record_source=SOURCE)
    provider_key = seen.hub(batch, t.HUB_PROVIDER_KEY, ev.provider_key_id, record_source=SOURCE)
    rule = seen.hub(batch, t.HUB_ROUTING_RULE, ev.routing_rule_id, record_source=SOURCE)
    end_user = seen.hub(
        batch, t.HUB_END_USER, ev.customer if ev.end_user else None, ev.end_user, record_source=SOURCE
    )
    request = batch.hub(t.HUB_API_REQUEST, ev.request_id, record_source=SOURCE, cache=False)

    batch.link(
        t.LNK_API_REQUEST_CONTEXT,
        (request, customer, gateway_key, provider, model, provider_key, rule, end_user),
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
    )
    if ev.gateway_key_id:
        seen.link(
            batch, t.LNK_GATEWAY_KEY_CUSTOMER, (gateway_key, customer), (ev.gateway_key_id, ev.customer)
        )
    if ev.end_user:
        seen.link(
            batch, t.LNK_END_USER_CUSTOMER, (end_user, customer), (ev.customer, ev.end_user, ev.customer)
        )
    if ev.provider and ev.model:
        seen.link(batch, t.LNK_MODEL_PROVIDER, (model, provider), (ev.provider, ev.model, ev.provider))

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
        cost = batch.hub(t.HUB_COST_EVENT, c.cost_event_id, record_source=SOURCE, cache=False)
        batch.link(
            t.LNK_COST_EVENT_API_REQUEST,
            (cost, request),
            (c.cost_event_id, ev.request_id),
            record_source=SOURCE,
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
            ),
            record_source=PRICE_SOURCE,
        )
