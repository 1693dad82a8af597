"""Request log: the latest requests (search by request id, key, model, provider, status, time),
keyset-paged, and one request's detail — its attempts in order (the failover path), tokens, cost
breakdown, route and routing rule, cache status, PII actions, tags, and the prompt/completion
only where retention kept them and the scope may see them.

The list reads business_vault.bridge_api_request (index customer_slug, request_ts) for what dbt
has built, plus the raw vault's rows loaded after the newest one built (sat_api_request_details
by its load_dts BRIN index), so a request appears the moment the loader has written it. The
rare row a loader transaction committed after a refresh had read past its load_dts (what dbt's
lookback re-reads) joins the list at the next refresh; its detail is found by id at once. The
tail is as long as the refresh lag: with dbt refreshing every few minutes, a few minutes of
traffic. A detail reads the raw vault by the request's hash key (primary-key and link indexes only). A
request of another customer is simply not found (None), never "forbidden".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
from cryptography.exceptions import InvalidTag

from gateway.console.data.relations import exist
from gateway.console.data.scope import Scope, ScopedQuery
from gateway.crypto.data_keys import DataKeys, PayloadUnreadable
from gateway.crypto.envelope import KeyRingError
from gateway.privacy.payloads import read_payload
from warehouse.hashing import GHOST_HK, hash_key

PAGE = 50
MAX_PAGE = 500
# Re-read this much before the newest built row (dbt's lookback_minutes). None by default: the
# page must not re-read minutes of traffic for the rare late commit (see above).
LOOKBACK = timedelta(0)


@dataclass(frozen=True, slots=True)
class RequestQuery:
    request_id: str | None = None
    key: str | None = None  # gateway key id
    provider: str | None = None
    model: str | None = None
    status: str | None = None  # success | error | rejected
    since: datetime | None = None  # request_ts >= since
    until: datetime | None = None  # request_ts < until
    customer: str | None = None  # operators: one customer
    before: str | None = None  # RequestPage.next_cursor of the previous page
    limit: int = PAGE


@dataclass(frozen=True, slots=True)
class RequestRow:
    request_id: str
    request_ts: datetime
    customer_slug: str
    gateway_key_id: str | None
    end_user_id: str | None
    provider: str | None
    model: str | None
    endpoint: str
    status: str
    http_status: int
    error_code: str | None
    cache_status: str | None
    latency_ms: Decimal | None
    attempt_count: int
    input_tokens: int
    output_tokens: int
    customer_cost: Decimal | None  # None: no cost event (refused or failed before a provider)


@dataclass(frozen=True, slots=True)
class RequestPage:
    rows: tuple[RequestRow, ...]
    next_cursor: str | None  # pass as RequestQuery.before for the next (older) page


@dataclass(frozen=True, slots=True)
class Attempt:
    attempt_no: int
    provider: str
    model: str
    provider_key_id: str | None  # a customer's own key, else None (the platform's)
    started_ts: datetime
    latency_ms: Decimal | None
    outcome: str  # success | error
    http_status: int | None
    error_class: str | None
    error_message: str | None
    input_tokens: int | None
    output_tokens: int | None


@dataclass(frozen=True, slots=True)
class CostLine:
    cost_event_id: str
    charge_class: str  # regular | correction
    currency: str
    is_priced: bool
    input_per_mtok: Decimal | None
    output_per_mtok: Decimal | None
    price_source: str | None
    provider_cost: Decimal
    markup_pct: Decimal
    markup: Decimal
    customer_cost: Decimal
    baseline_model: str | None
    baseline_cost: Decimal | None
    optimisation: str | None


@dataclass(frozen=True, slots=True)
class Payload:
    """What retention kept of the prompt and completion, and what this scope may see of it."""

    retention: str  # not_retained | hashed | encrypted
    prompt_sha256: str | None = None
    completion_sha256: str | None = None
    shown: bool = False  # True: messages / completion below are the decrypted text
    messages: tuple[tuple[str, str], ...] = ()  # (role, text)
    completion: str | None = None
    note: str | None = None  # why the text is not shown (role, erased key, seal error, …)


@dataclass(frozen=True, slots=True)
class RequestDetail:
    request: RequestRow
    completed_ts: datetime | None
    request_type: str | None
    priority: str | None
    requested_provider: str | None
    requested_model: str | None
    stream: bool
    error_message: str | None
    finish_reason: str | None
    upstream_latency_ms: Decimal | None
    route_reason: str | None
    routing_rule_id: str | None
    routing_rule_name: str | None
    routing_rule_strategy: str | None
    provider_key_id: str | None
    cached_input_tokens: int
    reasoning_tokens: int
    usage_source: str | None
    pii_actions: tuple[str, ...]
    compliance_flags: tuple[str, ...]
    dropped_params: tuple[str, ...]
    tags: dict[str, str | None]
    attempts: tuple[Attempt, ...]
    costs: tuple[CostLine, ...]
    payload: Payload = field(default_factory=lambda: Payload("not_retained"))

    @property
    def provider_cost(self) -> Decimal:
        return sum((c.provider_cost for c in self.costs), Decimal(0))

    @property
    def markup(self) -> Decimal:
        return sum((c.markup for c in self.costs), Decimal(0))

    @property
    def customer_cost(self) -> Decimal:
        return sum((c.customer_cost for c in self.costs), Decimal(0))


def _cursor(row: RequestRow) -> str:
    return f"{row.request_ts.isoformat()}~{row.request_id}"


def _parse_cursor(text: str) -> tuple[datetime, str]:
    ts, _, request_id = text.partition("~")
    try:
        return datetime.fromisoformat(ts), request_id
    except ValueError as exc:
        raise ValueError("not a request-log cursor") from exc


# The list's columns, from the bridge (b) and from the raw vault (the fresh CTE), in one order.
_ROW = (
    "request_id, request_ts, customer_slug, gateway_key_id, end_user_id, provider, model, endpoint, "
    "status, http_status, error_code, cache_status, latency_ms, attempt_count, input_tokens, "
    "output_tokens, cost_event_hk"
)


def _filters(q: ScopedQuery, query: RequestQuery, alias: str) -> str:
    """The query's filters on the list columns of ``alias`` (both halves use the same names)."""
    where = []
    for column, value in (
        ("gateway_key_id", query.key),
        ("provider", query.provider),
        ("model", query.model),
        ("status", query.status),
        ("customer_slug", query.customer),
    ):
        if value:
            where.append(f"{alias}.{column} = {q.arg(value)}")
    if query.since is not None:
        where.append(f"{alias}.request_ts >= {q.arg(query.since)}")
    if query.until is not None:
        where.append(f"{alias}.request_ts < {q.arg(query.until)}")
    if query.before:
        ts, request_id = _parse_cursor(query.before)
        t = q.arg(ts)
        older = f"{alias}.request_ts < {t} or {alias}.request_id < {q.arg(request_id)}"
        where.append(f"{alias}.request_ts <= {t} and ({older})")
    return " and ".join(where) or "true"


async def request_log(
    pool: asyncpg.Pool, scope: Scope, *, query: RequestQuery = RequestQuery()
) -> RequestPage:
    """One page of the scope's requests, newest first."""
    limit = max(1, min(query.limit, MAX_PAGE))
    if query.request_id:
        detail = await request_detail(pool, scope, query.request_id)
        return RequestPage((detail.request,) if detail else (), None)
    has_bridge = await exist(pool, "business_vault.bridge_api_request")
    q = ScopedQuery(scope)
    watermark = datetime.min.replace(tzinfo=UTC)  # no bridge yet: everything is the tail
    if has_bridge:
        newest = await pool.fetchval("select max(loaded_at) from business_vault.bridge_api_request")
        watermark = newest - LOOKBACK if newest is not None else watermark
    since = q.arg(watermark)  # a value, not a subquery: the planner sizes the BRIN scan by it
    fresh_filters = _filters(q, query, "f")
    built = ""
    if has_bridge:
        built = f"""
        union all
        (select {", ".join(f"b.{c}" for c in _ROW.split(", "))}
         from business_vault.bridge_api_request b
         where {q.by_slug("b.customer_slug")} and {_filters(q, query, "b")}
           and not exists (select 1 from tail t where t.api_request_hk = b.api_request_hk)
         order by b.request_ts desc, b.request_id desc
         limit {limit + 1})
        """
    sql = f"""
    with tail as materialized (
        select distinct on (s.api_request_hk) s.*
        from raw_vault.sat_api_request_details s
        where s.load_dts > {since}
        order by s.api_request_hk, s.load_dts desc
    ),
    fresh as (
        select hr.api_request_bk as request_id, t.request_ts, hc.customer_bk as customer_slug,
               nullif(hg.gateway_key_bk, '(unknown)') as gateway_key_id,
               case when ctx.end_user_hk <> {q.arg(GHOST_HK)} then heu.end_user_bk end as end_user_id,
               nullif(hm.provider_bk, '(unknown)') as provider, nullif(hm.model_bk, '(unknown)') as model,
               t.endpoint, t.status, t.http_status, t.error_code, t.cache_status, t.latency_ms,
               t.attempt_count, coalesce(t.input_tokens, 0) as input_tokens,
               coalesce(t.output_tokens, 0) as output_tokens, lce.cost_event_hk
        from tail t
        join raw_vault.lnk_api_request_context ctx on ctx.api_request_hk = t.api_request_hk
        join raw_vault.hub_api_request hr on hr.api_request_hk = t.api_request_hk
        join raw_vault.hub_customer hc on hc.customer_hk = ctx.customer_hk
        join raw_vault.hub_gateway_key hg on hg.gateway_key_hk = ctx.gateway_key_hk
        join raw_vault.hub_model hm on hm.model_hk = ctx.model_hk
        join raw_vault.hub_end_user heu on heu.end_user_hk = ctx.end_user_hk
        left join raw_vault.lnk_cost_event_api_request lce on lce.api_request_hk = t.api_request_hk
        where {q.by_hk("ctx.customer_hk")}
    ),
    page as (
        (select {_ROW} from fresh f where {fresh_filters})
        {built}
        order by request_ts desc, request_id desc
        limit {limit + 1}
    )
    select page.*, cost.customer_cost
    from page
    left join lateral (
        select c.customer_cost from raw_vault.sat_cost_event_details c
        where c.cost_event_hk = page.cost_event_hk
        order by c.load_dts desc limit 1
    ) cost on true
    order by page.request_ts desc, page.request_id desc
    """
    records = await q.fetch(pool, sql)
    rows = tuple(_row(r) for r in records[:limit])
    return RequestPage(rows, _cursor(rows[-1]) if len(records) > limit else None)


def _row(r: asyncpg.Record) -> RequestRow:
    return RequestRow(**{k: v for k, v in dict(r).items() if k != "cost_event_hk"})


_DETAIL = """
select hr.api_request_bk as request_id, hc.customer_bk as customer_slug,
       nullif(hg.gateway_key_bk, '(unknown)') as gateway_key_id,
       case when ctx.end_user_hk <> {ghost} then heu.end_user_bk end as end_user_id,
       nullif(hm.provider_bk, '(unknown)') as provider, nullif(hm.model_bk, '(unknown)') as model,
       case when ctx.provider_key_hk <> {ghost} then hpk.provider_key_bk end as provider_key_id,
       case when ctx.routing_rule_hk <> {ghost} then hrr.routing_rule_bk end as routing_rule_id,
       rule.name as routing_rule_name, rule.strategy as routing_rule_strategy,
       d.*, p.retention_mode, p.prompt_sha256, p.completion_sha256, p.seal_error, p.data_key_id
from raw_vault.lnk_api_request_context ctx
join raw_vault.hub_api_request hr on hr.api_request_hk = ctx.api_request_hk
join raw_vault.hub_customer hc on hc.customer_hk = ctx.customer_hk
join raw_vault.hub_gateway_key hg on hg.gateway_key_hk = ctx.gateway_key_hk
join raw_vault.hub_model hm on hm.model_hk = ctx.model_hk
join raw_vault.hub_end_user heu on heu.end_user_hk = ctx.end_user_hk
join raw_vault.hub_provider_key hpk on hpk.provider_key_hk = ctx.provider_key_hk
join raw_vault.hub_routing_rule hrr on hrr.routing_rule_hk = ctx.routing_rule_hk
join lateral (
    select s.* from raw_vault.sat_api_request_details s
    where s.api_request_hk = ctx.api_request_hk order by s.load_dts desc limit 1
) d on true
left join lateral (
    select r.name, r.strategy from raw_vault.sat_routing_rule_definition r
    where r.routing_rule_hk = ctx.routing_rule_hk order by r.load_dts desc limit 1
) rule on true
left join lateral (
    select p.* from raw_vault.sat_api_request_payload p
    where p.api_request_hk = ctx.api_request_hk order by p.load_dts desc limit 1
) p on true
where ctx.api_request_hk = {hk} and {scoped}
"""

_ATTEMPTS = """
select distinct on (a.attempt_no) a.attempt_no, a.provider_bk as provider, a.model_bk as model,
       case when a.provider_key_hk <> {ghost} then hpk.provider_key_bk end as provider_key_id,
       a.started_ts, a.latency_ms, a.outcome, a.http_status, a.error_class, a.error_message,
       a.input_tokens, a.output_tokens
from raw_vault.lnk_api_request_context ctx
join raw_vault.sat_api_request_attempt a on a.api_request_hk = ctx.api_request_hk
left join raw_vault.hub_provider_key hpk on hpk.provider_key_hk = a.provider_key_hk
where ctx.api_request_hk = {hk} and {scoped}
order by a.attempt_no, a.load_dts desc
"""

_COSTS = """
select hce.cost_event_bk as cost_event_id, c.charge_class, c.currency, c.is_priced,
       c.input_per_mtok, c.output_per_mtok, c.price_source, c.provider_cost, c.markup_pct,
       c.markup_amount as markup, c.customer_cost, c.baseline_model, c.baseline_cost, c.optimisation
from raw_vault.lnk_api_request_context ctx
join raw_vault.lnk_cost_event_api_request lce on lce.api_request_hk = ctx.api_request_hk
join raw_vault.hub_cost_event hce on hce.cost_event_hk = lce.cost_event_hk
join lateral (
    select c.* from raw_vault.sat_cost_event_details c
    where c.cost_event_hk = lce.cost_event_hk order by c.load_dts desc limit 1
) c on true
where ctx.api_request_hk = {hk} and {scoped}
order by c.event_ts, hce.cost_event_bk
"""

_TAGS = """
select distinct on (t.tag_key) t.tag_key, t.tag_value
from raw_vault.lnk_api_request_context ctx
join raw_vault.sat_api_request_tags t on t.api_request_hk = ctx.api_request_hk
where ctx.api_request_hk = {hk} and {scoped}
order by t.tag_key, t.load_dts desc
"""


async def _scoped_fetch(
    conn: asyncpg.Connection, scope: Scope, template: str, hk: bytes
) -> list[asyncpg.Record]:
    q = ScopedQuery(scope)
    ghost = q.arg(GHOST_HK) if "{ghost}" in template else ""
    sql = template.format(ghost=ghost, hk=q.arg(hk), scoped=q.by_hk("ctx.customer_hk"))
    return await q.fetch(conn, sql)


async def request_detail(
    pool: asyncpg.Pool, scope: Scope, request_id: str, *, keys: DataKeys | None = None
) -> RequestDetail | None:
    """One request of the scope, or None (also when it is another customer's).

    ``keys`` (the gateway's DataKeys) decrypts a payload stored encrypted, when the scope shows
    payloads; without it the page says the text is kept but not readable here.
    """
    hk = hash_key(request_id)
    async with pool.acquire() as conn:
        found = await _scoped_fetch(conn, scope, _DETAIL, hk)
        if not found:
            return None
        d = found[0]
        attempts = await _scoped_fetch(conn, scope, _ATTEMPTS, hk)
        costs = await _scoped_fetch(conn, scope, _COSTS, hk)
        tags = await _scoped_fetch(conn, scope, _TAGS, hk)
    cost_lines = tuple(CostLine(**dict(c)) for c in costs)
    row = RequestRow(
        request_id=d["request_id"],
        request_ts=d["request_ts"],
        customer_slug=d["customer_slug"],
        gateway_key_id=d["gateway_key_id"],
        end_user_id=d["end_user_id"],
        provider=d["provider"],
        model=d["model"],
        endpoint=d["endpoint"],
        status=d["status"],
        http_status=d["http_status"],
        error_code=d["error_code"],
        cache_status=d["cache_status"],
        latency_ms=d["latency_ms"],
        attempt_count=d["attempt_count"],
        input_tokens=d["input_tokens"] or 0,
        output_tokens=d["output_tokens"] or 0,
        customer_cost=sum((c.customer_cost for c in cost_lines), Decimal(0)) if cost_lines else None,
    )
    return RequestDetail(
        request=row,
        completed_ts=d["completed_ts"],
        request_type=d["request_type"],
        priority=d["priority"],
        requested_provider=d["requested_provider"],
        requested_model=d["requested_model"],
        stream=d["stream"],
        error_message=d["error_message"],
        finish_reason=d["finish_reason"],
        upstream_latency_ms=d["upstream_latency_ms"],
        route_reason=d["route_reason"],
        routing_rule_id=d["routing_rule_id"],
        routing_rule_name=d["routing_rule_name"],
        routing_rule_strategy=d["routing_rule_strategy"],
        provider_key_id=d["provider_key_id"],
        cached_input_tokens=d["cached_input_tokens"] or 0,
        reasoning_tokens=d["reasoning_tokens"] or 0,
        usage_source=d["usage_source"],
        pii_actions=tuple(d["pii_actions"] or ()),
        compliance_flags=tuple(d["compliance_flags"] or ()),
        dropped_params=tuple(d["dropped_params"] or ()),
        tags={t["tag_key"]: t["tag_value"] for t in tags},
        attempts=tuple(Attempt(**dict(a)) for a in attempts),
        costs=cost_lines,
        payload=await _payload(pool, scope, d, keys),
    )


async def _payload(pool: asyncpg.Pool, scope: Scope, d: asyncpg.Record, keys: DataKeys | None) -> Payload:
    mode = d["retention_mode"]
    if mode is None:
        return Payload("not_retained", note="the customer's retention setting kept no payload")
    digests = {"prompt_sha256": d["prompt_sha256"].hex(), "completion_sha256": d["completion_sha256"].hex()}
    if mode != "encrypted":
        note = "only SHA-256 digests are kept (retention: hash)"
        if d["seal_error"]:
            note = f"only digests are kept: the payload could not be sealed ({d['seal_error']})"
        return Payload("hashed", **digests, note=note)
    if not scope.show_payloads:
        return Payload("encrypted", **digests, note="stored encrypted; your role does not show payloads")
    if keys is None:
        return Payload("encrypted", **digests, note="stored encrypted; no key ring is loaded to read it")
    try:
        stored = await read_payload(pool, keys, d["customer_slug"], d["request_id"])
    except (PayloadUnreadable, KeyRingError, InvalidTag) as exc:
        return Payload("encrypted", **digests, note=f"not readable: {exc}" if str(exc) else "not readable")
    messages = tuple((m.role, _text(m.content)) for m in stored.messages)
    return Payload(
        "encrypted", **digests, shown=True, messages=messages, completion=stored.answer.get("text")
    )


def _text(content: object) -> str:
    """A message's text: text parts as they are, other parts named (images are not inlined)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = []
    for part in content:  # type: ignore[attr-defined]
        parts.append(
            part.text if getattr(part, "type", "") == "text" else f"[{getattr(part, 'type', 'part')}]"
        )
    return "\n".join(parts)
