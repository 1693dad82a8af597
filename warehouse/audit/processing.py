"""A records-of-processing summary (GDPR Art. 30 style) for one customer and period, generated
from what the vault says was configured and used — not from a hand-kept document.

Purposes, the security measures and what each retention mode stores are properties of the
software (stated here, next to the code that makes them true); the customer's settings in force,
the retention modes used during the period and the recipients (providers that received its
requests, with how many attempts) come from the vault as of the export's ``as_of``.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from warehouse.audit.params import ExportScope

PURPOSES = (
    "Routing the customer's AI requests to the model providers it uses (service delivery)",
    "Enforcing the customer's rate limits, budgets, compliance routing and PII policy",
    "Metering, invoicing and chargeback of usage",
    "Security, abuse prevention and audit of requests and administrative actions",
)

DATA_CATEGORIES = {
    "none": [
        "request metadata: time, endpoint, type, models, provider, route, status, latency",
        "usage and cost: token counts, prices, provider and customer cost",
        "identifiers: gateway key id/prefix, the customer's end-user id, client IP address, user agent",
        "tags given by the customer (team, project, cost centre, free-form)",
    ],
    "hash": ["everything of 'none'", "SHA-256 digests of each prompt and completion (no content)"],
    "encrypted": [
        "everything of 'hash'",
        "prompts and completions, AES-256-GCM under the customer's own data key (erasable)",
    ],
}

RETENTION = {
    "vault": "Request, cost, configuration and admin history is kept insert-only (corrections are new "
    "rows) for as long as the operator keeps the warehouse; invoices once finalised never change.",
    "payloads": "Prompts and completions are not stored under retention 'none'; under 'hash' only "
    "digests; under 'encrypted' until the customer's data key is destroyed (erase-payloads), which "
    "makes every stored copy unreadable at once.",
    "caches": "Cached answers expire after the customer's cache TTL and are sealed under the same data key.",
}

SECURITY_MEASURES = (
    "Gateway API keys: high-entropy, shown once, stored only as SHA-256, compared in constant time",
    "Provider keys and webhook secrets: AES-256-GCM envelope encryption, KEK rotation; never shown",
    "Insert-only ledger enforced by a database trigger (UPDATE/DELETE/TRUNCATE raise)",
    "Tenant isolation: every customer-facing read is filtered by customer; BI roles by row-level security",
    "PII screening of prompts (off / flag / redact / block) before any provider call",
    "Crypto-shredding erasure of stored payloads; erasures recorded as admin actions",
    "Every admin call recorded with actor, source address and outcome",
    "Audit exports: SHA-256 per file, Ed25519-signed manifest, hash chain per customer",
)

_CONFIG = """
select display_name, status, tier, compliance_level, coalesce(retention_mode, 'none') as retention_mode,
       pii_mode, cache_mode, cache_ttl_s, currency, changed_by, load_dts
from raw_vault.sat_customer_config
where customer_hk = $1 and load_dts <= $2
order by load_dts desc limit 1
"""

_MODES = """
with v as (
  select coalesce(retention_mode, 'none') as mode, load_dts,
         lead(load_dts) over (order by load_dts) as replaced
  from raw_vault.sat_customer_config where customer_hk = $1 and load_dts <= $2
)
select mode from v
where load_dts < $4 and (replaced is null or replaced > $3)
group by mode order by mode collate "C"
"""

_RECIPIENTS = """
with req as (
  select distinct on (d.api_request_hk) d.api_request_hk
  from raw_vault.lnk_api_request_context l
  join raw_vault.sat_api_request_details d on d.api_request_hk = l.api_request_hk
  where l.customer_hk = $1 and l.load_dts <= $2 and d.load_dts <= $2
    and d.request_ts >= $3 and d.request_ts < $4
  order by d.api_request_hk, d.load_dts desc
)
select a.provider_bk as provider, count(*) as attempts, count(distinct a.model_bk) as models,
       bool_or(pd.hipaa_eligible) as hipaa_eligible
from raw_vault.sat_api_request_attempt a
join req on req.api_request_hk = a.api_request_hk
left join lateral (
  select s.hipaa_eligible from raw_vault.sat_provider_details s
  where s.provider_hk = a.provider_hk and s.load_dts <= $2 order by s.load_dts desc limit 1
) pd on true
where a.load_dts <= $2
group by a.provider_bk
order by a.provider_bk collate "C"
"""


async def records_of_processing(conn: asyncpg.Connection, scope: ExportScope, issuer: str) -> dict[str, Any]:
    hk = scope.customer_hk
    config = await conn.fetchrow(_CONFIG, hk, min(scope.as_of, scope.end))
    modes = [r["mode"] for r in await conn.fetch(_MODES, hk, scope.as_of, scope.start, scope.end)]
    recipients = await conn.fetch(_RECIPIENTS, hk, scope.as_of, scope.start, scope.end)
    settings: dict[str, Any] | None = None
    if config is not None:
        settings = {k: v for k, v in dict(config).items() if k not in ("load_dts", "changed_by")}
    return {
        "controller": {"customer": scope.customer, "name": config["display_name"] if config else None},
        "processor": issuer,
        "period": {"from": scope.period_from.isoformat(), "to": scope.period_to.isoformat()},
        "purposes": list(PURPOSES),
        "settings_in_force_at_period_end": settings,
        "retention_modes_in_period": modes or ["none"],
        "data_categories": {m: DATA_CATEGORIES.get(m, []) for m in (modes or ["none"])},
        "recipients": [
            {
                "provider": r["provider"],
                "attempts": r["attempts"],
                "models": r["models"],
                "hipaa_eligible": r["hipaa_eligible"],
            }
            for r in recipients
        ],
        "retention": RETENTION,
        "security_measures": list(SECURITY_MEASURES),
    }
