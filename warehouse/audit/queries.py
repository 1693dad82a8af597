"""One query per record kind of an export, each scoped to one customer, one period and one
``as_of`` (only rows with ``load_dts <= as_of`` exist for it; the latest satellite version at or
before ``as_of`` is the one shown).

Each query returns already-formatted columns, so PostgreSQL's ``COPY`` can write both files
without Python touching a row: timestamps via ``TS(...)`` (ISO-8601 UTC, microseconds, ``Z``),
money as ``numeric::text`` at its stored scale (a decimal string, never a float), arrays and
documents as JSON, hash columns as hex. Rows are ordered by formatted time then id under the
"C" collation, so the order — like the bytes — does not depend on the server's locale.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from warehouse.audit.params import ExportScope, ts_sql

_PLACEHOLDER = re.compile(r"(?<!:):(customer_hk|customer|start|end|as_of)\b")
_TS = re.compile(r"\bTS\(([^()]+)\)")


@dataclass(frozen=True, slots=True)
class RecordKind:
    name: str  # the file stem: <name>.jsonl / <name>.csv
    description: str
    sql: str  # SELECT with named, formatted columns; placeholders :customer_hk, :start, ...
    order_by: tuple[str, ...]
    time_column: str  # what the period applies to, said in the manifest

    def render(self, scope: ExportScope) -> str:
        values = scope.sql_values()
        sql = _TS.sub(lambda m: ts_sql(m.group(1)), self.sql)
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], sql)

    def ordered(self, scope: ExportScope, select: str = "q.*") -> str:
        order = ", ".join(f'q.{c} collate "C"' for c in self.order_by)
        return f"select {select} from ({self.render(scope)}) as q order by {order}"


_REQUEST_SCOPE = """
with req as (
  select l.api_request_hk, l.gateway_key_hk, l.provider_hk, l.model_hk, l.routing_rule_hk, l.end_user_hk
  from raw_vault.lnk_api_request_context l
  where l.customer_hk = :customer_hk and l.load_dts <= :as_of
),
d as (
  select distinct on (s.api_request_hk) s.*
  from raw_vault.sat_api_request_details s
  join req on req.api_request_hk = s.api_request_hk
  where s.request_ts >= :start and s.request_ts < :end and s.load_dts <= :as_of
  order by s.api_request_hk, s.load_dts desc
),
cost as (
  select c.api_request_hk, min(c.currency) as currency,
         sum(c.provider_cost)::numeric(24,12) as provider_cost,
         sum(c.customer_cost)::numeric(24,12) as customer_cost
  from (
    select distinct on (s.cost_event_hk) lc.api_request_hk, s.currency, s.provider_cost, s.customer_cost
    from raw_vault.lnk_cost_event_api_request lc
    join d on d.api_request_hk = lc.api_request_hk
    join raw_vault.sat_cost_event_details s on s.cost_event_hk = lc.cost_event_hk
    where lc.load_dts <= :as_of and s.load_dts <= :as_of
    order by s.cost_event_hk, s.load_dts desc
  ) c
  group by c.api_request_hk
)
"""

REQUESTS = RecordKind(
    "requests",
    "Every API request of the customer in the period: who, what, when, outcome, tokens and cost.",
    _REQUEST_SCOPE
    + """,
att as (
  select a.api_request_hk,
         json_agg(json_build_object(
           'attempt', a.attempt_no, 'provider', a.provider_bk, 'model', a.model_bk,
           'started_ts', TS(a.started_ts), 'latency_ms', a.latency_ms::text, 'outcome', a.outcome,
           'http_status', a.http_status, 'error_class', a.error_class) order by a.attempt_no) as attempts,
         (array_agg(a.error_class order by a.attempt_no desc) filter (where a.outcome <> 'success'))[1]
           as error_class
  from (
    select distinct on (x.api_request_hk, x.attempt_no) x.*
    from raw_vault.sat_api_request_attempt x
    join d on d.api_request_hk = x.api_request_hk
    where x.load_dts <= :as_of
    order by x.api_request_hk, x.attempt_no, x.load_dts desc
  ) a
  group by a.api_request_hk
),
keys as (
  select distinct on (k.gateway_key_hk) k.gateway_key_hk, k.key_prefix
  from raw_vault.sat_gateway_key_details k
  where k.load_dts <= :as_of
  order by k.gateway_key_hk, k.load_dts desc
)
select
  h.api_request_bk as request_id,
  TS(d.request_ts) as request_ts,
  TS(d.completed_ts) as completed_ts,
  TS(d.load_dts) as load_dts,
  :customer as customer,
  nullif(gk.gateway_key_bk, '(unknown)') as gateway_key_id,
  keys.key_prefix as gateway_key_prefix,
  nullif(eu.end_user_bk, '(unknown)') as end_user,
  host(d.client_ip) as client_ip,
  d.user_agent,
  d.endpoint,
  d.request_type,
  d.priority,
  d.stream,
  d.requested_provider,
  d.requested_model,
  nullif(p.provider_bk, '(unknown)') as provider,
  nullif(m.model_bk, '(unknown)') as model,
  nullif(rr.routing_rule_bk, '(unknown)') as routing_rule,
  d.route_reason,
  d.cache_status,
  to_json(d.compliance_flags) as compliance_flags,
  to_json(d.pii_actions) as pii_actions,
  d.input_tokens,
  d.output_tokens,
  d.cached_input_tokens,
  d.reasoning_tokens,
  d.total_tokens,
  cost.currency,
  cost.provider_cost::text as provider_cost,
  cost.customer_cost::text as customer_cost,
  d.status,
  d.http_status,
  d.error_code,
  att.error_class,
  d.attempt_count,
  coalesce(att.attempts, '[]'::json) as attempts,
  d.latency_ms::text as latency_ms,
  d.record_source
from d
join req on req.api_request_hk = d.api_request_hk
join raw_vault.hub_api_request h on h.api_request_hk = d.api_request_hk
join raw_vault.hub_gateway_key gk on gk.gateway_key_hk = req.gateway_key_hk
join raw_vault.hub_end_user eu on eu.end_user_hk = req.end_user_hk
join raw_vault.hub_provider p on p.provider_hk = req.provider_hk
join raw_vault.hub_model m on m.model_hk = req.model_hk
join raw_vault.hub_routing_rule rr on rr.routing_rule_hk = req.routing_rule_hk
left join keys on keys.gateway_key_hk = req.gateway_key_hk
left join att on att.api_request_hk = d.api_request_hk
left join cost on cost.api_request_hk = d.api_request_hk
""",
    ("request_ts", "request_id"),
    "request_ts",
)

_ADMIN_ACTIONS = """
select
  h.admin_action_bk as action_id,
  TS(s.action_ts) as action_ts,
  TS(s.load_dts) as load_dts,
  s.actor as changed_by,
  s.action,
  s.target,
  s.outcome,
  s.status_code,
  s.detail,
  host(s.source_ip) as source_ip,
  s.user_agent,
  s.record_source
from raw_vault.lnk_admin_action_customer l
join raw_vault.hub_admin_action h on h.admin_action_hk = l.admin_action_hk
join lateral (
  select * from raw_vault.sat_admin_action_details x
  where x.admin_action_hk = l.admin_action_hk and x.load_dts <= :as_of
  order by x.load_dts desc limit 1
) s on true
where l.customer_hk = :customer_hk and l.load_dts <= :as_of
  and s.action_ts >= :start and s.action_ts < :end
"""

ADMIN_ACTIONS = RecordKind(
    "admin_actions",
    "Every admin call concerning the customer (API or CLI), refused ones included: actor, action, "
    "target, outcome, source address.",
    _ADMIN_ACTIONS,
    ("action_ts", "action_id"),
    "action_ts",
)

ERASURES = RecordKind(
    "erasures",
    "Crypto-shredding of the customer's stored prompts and completions (the data key destroyed).",
    f"select * from ({_ADMIN_ACTIONS}) e where e.action = 'customers.erase_payloads'",
    ("action_ts", "action_id"),
    "action_ts",
)

# A version is "in force during the period" when it started before the period's end and no
# later version (as of :as_of) replaced it before the period's start: the state at the start
# plus every change inside the period.
PROVIDER_KEYS = RecordKind(
    "provider_keys",
    "Lifecycle of the customer's own provider keys (added, validated, rotated, revoked): every "
    "version in force during the period. Never the secret: fingerprints and KEK ids only.",
    """
with keys as (
  select l.provider_key_hk, l.provider_hk
  from raw_vault.lnk_provider_key_customer l
  where l.customer_hk = :customer_hk and l.load_dts <= :as_of
),
v as (
  select s.*,
         row_number() over w as version,
         lead(s.load_dts) over w as replaced_dts,
         lag(s.status) over w as prev_status,
         lag(s.kek_id) over w as prev_kek_id,
         lag(s.last_validated_at) over w as prev_validated_at
  from raw_vault.sat_provider_key_details s
  join keys on keys.provider_key_hk = s.provider_key_hk
  where s.load_dts <= :as_of
  window w as (partition by s.provider_key_hk order by s.load_dts)
)
select
  h.provider_key_bk as provider_key_id,
  TS(v.load_dts) as valid_from,
  TS(v.replaced_dts) as valid_to,
  v.version,
  case
    when v.version = 1 then 'added'
    when v.status = 'revoked' and v.prev_status is distinct from 'revoked' then 'revoked'
    when v.kek_id is distinct from v.prev_kek_id then 'rotated'
    when v.last_validated_at is distinct from v.prev_validated_at then 'validated'
    else 'updated'
  end as event,
  v.changed_by,
  p.provider_bk as provider,
  v.label,
  v.api_style,
  v.base_url,
  v.fingerprint,
  v.kek_id,
  v.status,
  to_json(v.allowed_models) as allowed_models,
  v.budget_daily::text as budget_daily,
  v.budget_monthly::text as budget_monthly,
  TS(v.last_validated_at) as last_validated_at,
  v.validation_status,
  v.record_source
from v
join keys on keys.provider_key_hk = v.provider_key_hk
join raw_vault.hub_provider_key h on h.provider_key_hk = v.provider_key_hk
join raw_vault.hub_provider p on p.provider_hk = keys.provider_hk
where v.load_dts < :end and (v.replaced_dts is null or v.replaced_dts > :start)
""",
    ("valid_from", "provider_key_id"),
    "valid_from/valid_to",
)

ROUTING_RULES = RecordKind(
    "routing_rules",
    "Every version of the customer's routing rules in force during the period, with who changed it.",
    """
with rules as (
  select l.routing_rule_hk
  from raw_vault.lnk_routing_rule_customer l
  where l.customer_hk = :customer_hk and l.load_dts <= :as_of
),
v as (
  select s.*, row_number() over w as version, lead(s.load_dts) over w as replaced_dts
  from raw_vault.sat_routing_rule_definition s
  join rules on rules.routing_rule_hk = s.routing_rule_hk
  where s.load_dts <= :as_of
  window w as (partition by s.routing_rule_hk order by s.load_dts)
)
select
  h.routing_rule_bk as rule_id,
  TS(v.load_dts) as valid_from,
  TS(v.replaced_dts) as valid_to,
  v.version,
  v.changed_by,
  v.name,
  v.priority,
  v.is_active,
  v.strategy,
  v.target_provider,
  v.target_model,
  v.conditions::json as conditions,
  v.fallback_chain::json as fallback_chain,
  v.retry_policy::json as retry_policy,
  v.options::json as options,
  v.record_source
from v
join raw_vault.hub_routing_rule h on h.routing_rule_hk = v.routing_rule_hk
where v.load_dts < :end and (v.replaced_dts is null or v.replaced_dts > :start)
""",
    ("valid_from", "rule_id"),
    "valid_from/valid_to",
)

INVOICES = RecordKind(
    "invoices",
    "Every stored snapshot (draft or finalised) of the customer's invoices for months overlapping "
    "the period, with their lines; correction lines (late usage of a closed month) listed apart.",
    """
select
  h.invoice_bk as invoice_id,
  TS(s.load_dts) as load_dts,
  s.invoice_number,
  s.status,
  to_char(s.period_start, 'YYYY-MM-DD') as period_start,
  to_char(s.period_end, 'YYYY-MM-DD') as period_end,
  s.currency,
  s.subtotal::text as subtotal,
  s.tax::text as tax,
  s.total::text as total,
  TS(s.issued_ts) as issued_ts,
  s.issuer,
  encode(s.content_hash, 'hex') as content_hash,
  jsonb_path_query_array(s.lines, '$[*] ? (@.charge_class == "correction")')::json as corrections,
  s.lines::json as lines,
  s.record_source
from raw_vault.lnk_invoice_customer l
join raw_vault.hub_invoice h on h.invoice_hk = l.invoice_hk
join raw_vault.sat_invoice_snapshot s on s.invoice_hk = l.invoice_hk
where l.customer_hk = :customer_hk and l.load_dts <= :as_of and s.load_dts <= :as_of
  and s.period_start < :end and s.period_end > :start
""",
    ("period_start", "invoice_id", "load_dts"),
    "period_start/period_end",
)

PAYLOADS = RecordKind(
    "payloads",
    "What the customer's retention mode kept of prompts and completions: SHA-256 digests, and the "
    "sealed texts' data key (opened only when the exporter asks and the key still exists).",
    """
select
  h.api_request_bk as request_id,
  TS(d.request_ts) as request_ts,
  TS(pl.load_dts) as load_dts,
  pl.retention_mode,
  encode(pl.prompt_sha256, 'hex') as prompt_sha256,
  encode(pl.completion_sha256, 'hex') as completion_sha256,
  pl.data_key_id,
  (pl.prompt_ciphertext is not null) as sealed
from raw_vault.lnk_api_request_context l
join raw_vault.hub_api_request h on h.api_request_hk = l.api_request_hk
join lateral (
  select * from raw_vault.sat_api_request_details x
  where x.api_request_hk = l.api_request_hk and x.load_dts <= :as_of
  order by x.load_dts desc limit 1
) d on true
join lateral (
  select * from raw_vault.sat_api_request_payload x
  where x.api_request_hk = l.api_request_hk and x.load_dts <= :as_of
  order by x.load_dts desc limit 1
) pl on true
where l.customer_hk = :customer_hk and l.load_dts <= :as_of
  and d.request_ts >= :start and d.request_ts < :end
""",
    ("request_ts", "request_id"),
    "request_ts",
)

RECORD_KINDS: tuple[RecordKind, ...] = (
    REQUESTS,
    ADMIN_ACTIONS,
    PROVIDER_KEYS,
    ROUTING_RULES,
    INVOICES,
    ERASURES,
)

# Totals of the requests file, re-derived from the vault (by the export and by ``verify``): the
# same scope as REQUESTS without the joins that only describe a request.
TOTALS = (
    _REQUEST_SCOPE
    + """
select count(*) as requests,
       coalesce(sum(cost.provider_cost), 0)::numeric(24,12)::text as provider_cost,
       coalesce(sum(cost.customer_cost), 0)::numeric(24,12)::text as customer_cost
from d left join cost on cost.api_request_hk = d.api_request_hk
"""
)


def render_totals(scope: ExportScope) -> str:
    return RecordKind("totals", "", TOTALS, ("requests",), "").render(scope)
