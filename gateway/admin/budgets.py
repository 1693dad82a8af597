"""Budgets as admin changes (sql/018): set, list and remove a customer's budgets on the customer,
one of its keys, a tag value or an end user, per day or month.

Each change is a new ``sat_budget_definition`` row with ``changed_by`` (the history stays, so
"what was team=search's budget on the 3rd" is always answerable); removing a budget is a row
with ``is_active = false``, never a delete. The gateway reads the definitions per customer,
cached for a few seconds (gateway/enforcement/budget.py), like routing rules.
"""

from __future__ import annotations

import re
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any

import asyncpg

from gateway.admin.customers import SOURCE, AdminError, customer_exists
from gateway.enforcement.budget import (
    DEFAULT_THRESHOLDS,
    PERIODS,
    SCOPE_TYPES,
    TAG_KEYS,
    BudgetDefinition,
    budget_id,
    load_budgets,
)
from warehouse import tables as t
from warehouse.batch import VaultBatch
from warehouse.loader import VaultLoader

_VALUE = re.compile(r"^[^\x00-\x1f\x7f]{1,256}$")  # printable, as tags and end-user ids are
MAX_LIMIT = Decimal("1e12")


def _limit(value: Any) -> Decimal:
    try:
        limit = Decimal(str(value))
    except InvalidOperation:
        raise AdminError("limit is a decimal number of USD", field="limit") from None
    if not limit.is_finite() or limit < 0 or limit >= MAX_LIMIT:
        raise AdminError("limit is a non-negative number of USD below 10^12", field="limit")
    return limit.quantize(Decimal("0.000001"))


def _thresholds(values: Any) -> tuple[int, ...]:
    if values is None:
        return DEFAULT_THRESHOLDS
    try:
        found = tuple(sorted({int(v) for v in values}))
    except (TypeError, ValueError):
        raise AdminError(
            "alert thresholds are whole percentages, e.g. 50,80,100", field="thresholds"
        ) from None
    if len(found) > 10 or any(not 1 <= v <= 1000 for v in found):
        raise AdminError("alert thresholds are up to 10 whole percentages from 1 to 1000", field="thresholds")
    return found


def check_scope(customer: str, scope_type: str, scope_value: str | None) -> str:
    """The scope's canonical value; AdminError names what is wrong."""
    if scope_type not in SCOPE_TYPES:
        raise AdminError(f"scope is one of {', '.join(SCOPE_TYPES)}", field="scope")
    if scope_type == "customer":
        if scope_value not in (None, "", customer):
            raise AdminError("a customer budget's scope value is the customer itself", field="value")
        return customer
    value = (scope_value or "").strip()
    if not _VALUE.match(value):
        raise AdminError(f"a {scope_type} budget needs a value of 1-256 printable characters", field="value")
    if scope_type == "tag":
        name, sep, tag_value = value.partition("=")
        if not sep or name not in TAG_KEYS or not tag_value:
            raise AdminError(
                f"a tag budget's value is <tag>=<value> with tag one of {', '.join(TAG_KEYS)}", field="value"
            )
    return value


async def set_budget(
    pool: asyncpg.Pool,
    customer: str,
    *,
    scope: str,
    value: str | None = None,
    period: str,
    limit: Any,
    soft: bool = False,
    thresholds: Any = None,
    changed_by: str,
) -> BudgetDefinition:
    """Create the budget on this scope and period, or change it (same id, a new history row)."""
    if period not in PERIODS:
        raise AdminError(f"period is one of {', '.join(PERIODS)}", field="period")
    scope_value = check_scope(customer, scope, value)
    if not await customer_exists(pool, customer):
        raise AdminError(f"no customer {customer!r}")
    if scope == "key" and not await _customer_key(pool, customer, scope_value):
        raise AdminError(f"customer {customer!r} has no gateway key {scope_value!r}", field="value")
    budget = BudgetDefinition(
        budget_id(customer, scope, scope_value, period),
        customer,
        scope,
        scope_value,
        period,
        _limit(limit),
        bool(soft),
        _thresholds(thresholds),
        True,
        changed_by,
    )
    await _write(pool, budget, changed_by=changed_by)
    return budget


async def list_budgets(
    pool: asyncpg.Pool, customer: str, *, include_removed: bool = False
) -> tuple[BudgetDefinition, ...]:
    if not await customer_exists(pool, customer):
        raise AdminError(f"no customer {customer!r}")
    return await load_budgets(pool, customer, active_only=not include_removed)


async def remove_budget(
    pool: asyncpg.Pool, customer: str, budget: str, *, changed_by: str
) -> BudgetDefinition:
    """End a budget: a new row with ``is_active = false`` (``budget``: its id)."""
    found = {d.budget_id: d for d in await list_budgets(pool, customer)}
    if budget not in found:
        raise AdminError(f"customer {customer!r} has no budget {budget!r} in force")
    removed = replace(found[budget], active=False, changed_by=changed_by)
    await _write(pool, removed, changed_by=changed_by)
    return removed


async def _customer_key(pool: asyncpg.Pool, customer: str, key_id: str) -> bool:
    return bool(
        await pool.fetchval(
            "select 1 from raw_vault.hub_gateway_key h join raw_vault.lnk_gateway_key_customer l "
            "using (gateway_key_hk) join raw_vault.hub_customer c on c.customer_hk = l.customer_hk "
            "where h.gateway_key_bk = $1 and c.customer_bk = $2",
            key_id,
            customer,
        )
    )


async def _write(pool: asyncpg.Pool, budget: BudgetDefinition, *, changed_by: str) -> None:
    batch = VaultBatch()
    hk = batch.hub(t.HUB_BUDGET, budget.budget_id, record_source=SOURCE)
    c = batch.hub(t.HUB_CUSTOMER, budget.customer, record_source=SOURCE)
    batch.link(t.LNK_BUDGET_CUSTOMER, (hk, c), (budget.budget_id, budget.customer), record_source=SOURCE)
    batch.sat(
        t.SAT_BUDGET_DEFINITION,
        hk,
        t.SAT_BUDGET_DEFINITION.row(
            changed_by=changed_by,
            scope_type=budget.scope_type,
            scope_value=budget.scope_value,
            period=budget.period,
            limit_usd=budget.limit,
            is_soft=budget.soft,
            alert_thresholds=list(budget.thresholds),
            is_active=budget.active,
        ),
        record_source=SOURCE,
    )
    await VaultLoader(pool).load(batch)
