"""Audit exports page: the scope's signed, chained exports as the vault records them (sql/011),
newest first — what was exported, for which period, and the chain of manifest digests."""

from __future__ import annotations

import asyncpg

from gateway.console.data.scope import Scope, ScopedQuery

_EXPORTS = """
select h.audit_export_bk as export_id, s.customer_bk, s.period_from, s.period_to, s.as_of,
       s.manifest_sha256, s.previous_manifest_sha256, s.requests, s.customer_cost, s.changed_by, s.load_dts
from raw_vault.sat_audit_export_manifest s
join raw_vault.hub_audit_export h using (audit_export_hk)
join raw_vault.lnk_audit_export_customer l using (audit_export_hk)
where {scoped}
order by s.load_dts desc
limit 100
"""


async def audit_exports(pool: asyncpg.Pool, scope: Scope) -> list[asyncpg.Record]:
    """The newest 100 exports within the scope."""
    q = ScopedQuery(scope)
    return await q.fetch(pool, _EXPORTS.format(scoped=q.by_hk("l.customer_hk")))
