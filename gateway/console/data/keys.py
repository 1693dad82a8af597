"""Keys page: when each gateway key last made a request, without reading a key's whole request
history — the newest built request per key by the bridge's (customer_slug, gateway_key_id,
request_ts) index, and the raw vault's requests loaded since the last refresh (the same tail as
the request log). The keys themselves (prefix, status, limits) are the admin API's list_keys."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from gateway.console.data.relations import exist
from gateway.console.data.scope import Scope, ScopedQuery


async def keys_last_used(pool: asyncpg.Pool, scope: Scope) -> dict[str, datetime]:
    """``{key id: newest request_ts}`` for the scope's keys that made any request."""
    watermark = datetime.min.replace(tzinfo=UTC)
    built: dict[str, datetime] = {}
    if await exist(pool, "business_vault.bridge_api_request"):
        newest = await pool.fetchval("select max(loaded_at) from business_vault.bridge_api_request")
        watermark = newest or watermark
        q = ScopedQuery(scope)
        rows = await q.fetch(
            pool,
            f"""
            select hk.gateway_key_bk as key_id, last.request_ts
            from raw_vault.lnk_gateway_key_customer l
            join raw_vault.hub_gateway_key hk on hk.gateway_key_hk = l.gateway_key_hk
            join raw_vault.hub_customer hc on hc.customer_hk = l.customer_hk
            cross join lateral (
                select max(b.request_ts) as request_ts from business_vault.bridge_api_request b
                where b.customer_slug = hc.customer_bk and b.gateway_key_id = hk.gateway_key_bk
            ) last
            where {q.by_hk("l.customer_hk")} and last.request_ts is not null
            """,
        )
        built = {r["key_id"]: r["request_ts"] for r in rows}
    q = ScopedQuery(scope)
    tail = await q.fetch(
        pool,
        f"""
        select hk.gateway_key_bk as key_id, max(s.request_ts) as request_ts
        from raw_vault.sat_api_request_details s
        join raw_vault.lnk_api_request_context ctx on ctx.api_request_hk = s.api_request_hk
        join raw_vault.hub_gateway_key hk on hk.gateway_key_hk = ctx.gateway_key_hk
        where s.load_dts > {q.arg(watermark)} and {q.by_hk("ctx.customer_hk")}
        group by hk.gateway_key_bk
        """,
    )
    for r in tail:
        if r["key_id"] not in built or r["request_ts"] > built[r["key_id"]]:
            built[r["key_id"]] = r["request_ts"]
    return built
