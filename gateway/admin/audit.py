"""Recording admin calls: who did what to which target, from where, with what outcome.

Admin traffic is rare and must not be lost, so it is written straight to the vault (not
through the event stream); if PostgreSQL is down the admin change itself cannot happen either.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

import asyncpg

from warehouse import tables as t
from warehouse.batch import VaultBatch
from warehouse.loader import VaultLoader


@dataclass(frozen=True, slots=True)
class AdminAction:
    actor: str
    action: str  # e.g. customers.update
    target: str | None
    outcome: str  # ok | refused | error
    status_code: int | None = None
    detail: str | None = None
    customer: str | None = None
    source_ip: str | None = None
    user_agent: str | None = None
    record_source: str = "admin-api"


async def record_admin_action(pool: asyncpg.Pool, action: AdminAction) -> str:
    action_id = f"adm_{uuid.uuid4().hex}"
    batch = VaultBatch()
    hk = batch.hub(t.HUB_ADMIN_ACTION, action_id, record_source=action.record_source, cache=False)
    customer = batch.hub(t.HUB_CUSTOMER, action.customer, record_source=action.record_source)
    batch.link(
        t.LNK_ADMIN_ACTION_CUSTOMER,
        (hk, customer),
        (action_id, action.customer),
        record_source=action.record_source,
    )
    batch.sat(
        t.SAT_ADMIN_ACTION_DETAILS,
        hk,
        (
            datetime.now(timezone.utc),
            action.actor,
            action.action,
            action.target,
            action.outcome,
            action.status_code,
            action.detail,
            action.source_ip,
            (action.user_agent or "")[:512] or None,
        ),
        record_source=action.record_source,
    )
    await VaultLoader(pool).load(batch)
    return action_id
