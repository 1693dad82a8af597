"""Reading the spend-anomaly flags of ``marts.spend_anomalies`` (docs/billing/anomalies.md).

Here, in ``warehouse``, because three parts read them and ``dagster_pipelines`` may not import
``gateway``: the CLI lists a customer's flags, the gateway queues the new ones as the
``spend.anomaly`` webhook, and a Dagster asset check warns about them. *New* means flagged and
not yet sent — no row in ``raw_vault.hub_anomaly_alert`` (sql/019), which the alert worker writes
when it delivers (or gives up on) the webhook — and within ``NEW_WITHIN`` of the mart's newest
hour, so a first deployment does not page about last month.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from warehouse.hashing import hash_key

MART = "marts.spend_anomalies"
NEW_WITHIN = timedelta(days=7)  # the mart's anomaly_eval_days: what a cold build judges

_COLUMNS = """
a.anomaly_id, a.anomaly, a.hour_start, a.customer_slug, a.gateway_key_id, a.provider, a.model,
a.requests, a.requests_median, a.requests_score, a.requests_flag,
a.customer_cost, a.spend_median, a.spend_score, a.spend_flag, a.baseline_weeks
"""


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One flagged hour of one customer × gateway key × model."""

    anomaly_id: str
    anomaly: str  # spike | drop
    hour_start: datetime
    customer_slug: str
    gateway_key_id: str | None
    provider: str | None
    model: str | None
    requests: int
    requests_median: Decimal | None
    requests_score: Decimal | None
    requests_flag: str | None
    customer_cost: Decimal
    spend_median: Decimal | None
    spend_score: Decimal | None
    spend_flag: str | None
    baseline_weeks: int

    def as_json(self) -> dict[str, Any]:
        """JSON-safe (money and scores as strings, never floats)."""
        out: dict[str, Any] = {}
        for k, v in asdict(self).items():
            out[k] = v.isoformat() if isinstance(v, datetime) else str(v) if isinstance(v, Decimal) else v
        return out


async def mart_exists(pool: asyncpg.Pool) -> bool:
    return bool(await pool.fetchval(f"select to_regclass('{MART}') is not null"))


async def list_anomalies(
    pool: asyncpg.Pool, customer: str, since: datetime | None = None, limit: int = 200
) -> list[Anomaly]:
    """The customer's flags (only its own rows: tenant isolation), newest hour first."""
    if not await mart_exists(pool):
        return []
    rows = await pool.fetch(
        f"select {_COLUMNS} from {MART} a where a.customer_slug = $1 and a.anomaly is not null "
        "and ($2::timestamptz is null or a.hour_start >= $2) "
        "order by a.hour_start desc, a.anomaly_id limit $3",
        customer,
        since,
        limit,
    )
    return [Anomaly(**dict(r)) for r in rows]


async def unsent_anomalies(pool: asyncpg.Pool, limit: int = 500) -> list[Anomaly]:
    """Flags of the last ``NEW_WITHIN`` (before the mart's newest hour) not yet sent, oldest first."""
    if not await mart_exists(pool):
        return []
    rows = await pool.fetch(
        f"select {_COLUMNS} from {MART} a "
        f"where a.anomaly is not null "
        f"and a.hour_start >= (select max(hour_start) from {MART}) - $1::interval "
        "order by a.hour_start, a.anomaly_id",
        NEW_WITHIN,
    )
    found = [Anomaly(**dict(r)) for r in rows]
    sent = await sent_ids(pool, [a.anomaly_id for a in found])
    return [a for a in found if a.anomaly_id not in sent][:limit]


async def sent_ids(pool: asyncpg.Pool, anomaly_ids: list[str]) -> set[str]:
    """Which of these flags the vault says were already sent (by their hub hash keys)."""
    if not anomaly_ids:
        return set()
    by_hk = {hash_key(i): i for i in anomaly_ids}
    rows = await pool.fetch(
        "select anomaly_alert_hk from raw_vault.hub_anomaly_alert where anomaly_alert_hk = any($1::bytea[])",
        list(by_hk),
    )
    return {by_hk[bytes(r["anomaly_alert_hk"])] for r in rows}
