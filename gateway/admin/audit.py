"""Recording admin calls: who did what to which target, from where, with what outcome.

Admin traffic is rare and must not be lost, so it is written straight to the vault (not
through the event stream); if PostgreSQL is down the admin change itself cannot happen either.
Refusals of callers without the admin token are the exception: anyone can send them, so they go
through ``gateway.admin.refusals`` (batched, bounded) instead of a transaction each.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import TypeVar

import asyncpg

from gateway.admin.customers import AdminError
from warehouse import tables as t
from warehouse.batch import VaultBatch
from warehouse.loader import VaultLoader

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class AdminAction:
    """One admin call as recorded; ``audited`` fills in the outcome."""

    actor: str
    action: str  # e.g. customers.update
    target: str | None = None
    outcome: str = "ok"  # ok | refused | error
    status_code: int | None = None
    detail: str | None = None
    customer: str | None = None
    source_ip: str | None = None
    user_agent: str | None = None
    record_source: str = "admin-api"


async def record_admin_action(pool: asyncpg.Pool, action: AdminAction) -> str:
    batch = VaultBatch()
    action_id = add_admin_action(batch, action)
    await VaultLoader(pool).load(batch)
    return action_id


def add_admin_action(batch: VaultBatch, action: AdminAction, at: datetime | None = None) -> str:
    """Add one admin action's rows to ``batch``; returns its id (several fit in one batch)."""
    action_id = f"adm_{uuid.uuid4().hex}"
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
        t.SAT_ADMIN_ACTION_DETAILS.row(
            action_ts=at or datetime.now(timezone.utc),
            actor=action.actor,
            action=action.action,
            target=action.target,
            outcome=action.outcome,
            status_code=action.status_code,
            detail=action.detail,
            source_ip=action.source_ip,
            user_agent=(action.user_agent or "")[:512] or None,
        ),
        record_source=action.record_source,
    )
    return action_id


def refused_status(message: str) -> int:
    """The HTTP status an admin refusal stands for (also recorded for CLI calls)."""
    return 404 if message.startswith("no ") else 409 if "already" in message else 422


async def audited(
    pool: asyncpg.Pool,
    call: AdminAction,
    run: Callable[[], Awaitable[T]],
) -> T:
    """Run an admin operation and record it: ``call`` describes it; its outcome is filled in."""
    try:
        result = await run()
    except AdminError as exc:
        message = str(exc)
        await record_admin_action(
            pool, replace(call, outcome="refused", status_code=refused_status(message), detail=message)
        )
        raise
    await record_admin_action(pool, replace(call, outcome="ok"))
    return result
