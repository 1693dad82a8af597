"""marts.budget_forecast on planted spend: a tag budget on pace to overspend its month gets the
projected period-end spend and the day it runs out; an end user past its day's budget is
exhausted on the day it happened; a budget far from its limit is on track with no run-out day;
other tags' spend and removed budgets do not count. Real dbt on a real vault."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import asyncpg

from gateway.admin.budgets import remove_budget, set_budget
from warehouse.events import RequestEvent
from warehouse.loader import VaultLoader
from warehouse.mapping import batch_from_events
from warehouse.synthetic import synthetic_events

CUSTOMER = "planted"
AS_OF = date(2030, 3, 10)


def _base() -> RequestEvent:
    return next(e for e in synthetic_events(50, seed=11) if e.status == "success" and e.cost and e.attempts)


def _at(base: RequestEvent, n: int, day: date, **changes: object) -> RequestEvent:
    """The base request again on ``day`` (noon UTC), as request ``n``, with ``changes``."""
    ts = datetime(day.year, day.month, day.day, 12, tzinfo=timezone.utc) + timedelta(seconds=n)
    assert base.cost is not None
    request_id = f"planted-{n:05d}"
    cost = base.cost.model_copy(update={"cost_event_id": f"{request_id}:cost", "event_ts": ts})
    attempts = [a.model_copy(update={"started_ts": ts}) for a in base.attempts]
    fields = {"request_id": request_id, "request_ts": ts, "completed_ts": ts, "customer": CUSTOMER}
    fields |= {"gateway_key_id": f"{CUSTOMER}-key", "attempts": attempts, "cost": cost}
    return base.model_copy(update=fields | {"end_user": None, "tags": {}} | changes)


async def test_projected_spend_and_run_out_day_for_planted_spend(
    vault_dsn: str, vault_pool: asyncpg.Pool, tmp_path: Path, make_dbt: Callable
) -> None:
    base = _base()
    assert base.cost is not None
    c = base.cost.customer_cost  # what each planted request costs the customer
    events = [_at(base, day, AS_OF.replace(day=day), tags={"team": "search"}) for day in range(1, 11)]
    events += [_at(base, 100 + day, AS_OF.replace(day=day), tags={"team": "ads"}) for day in range(1, 11)]
    events += [_at(base, 200 + i, AS_OF, end_user="alice") for i in range(2)]
    events += [_at(base, 300, AS_OF.replace(day=2), end_user="bob")]
    events += [_at(base, 400, date(2030, 3, 20), tags={"team": "search"})]  # after the as-of date
    await VaultLoader(vault_pool).load(batch_from_events(events))

    async def budget(scope: str, value: str, period: str, limit: Decimal) -> str:
        made = await set_budget(
            vault_pool, CUSTOMER, scope=scope, value=value, period=period, limit=limit, changed_by="t"
        )
        return made.budget_id

    search = await budget("tag", "team=search", "month", c * Decimal("20.5"))
    alice = await budget("end_user", "alice", "day", c * Decimal("1.5"))
    bob = await budget("end_user", "bob", "month", c * 100)
    gone = await budget("tag", "team=ads", "month", c)
    await remove_budget(vault_pool, CUSTOMER, gone, changed_by="t")

    dbt = make_dbt(vault_dsn, tmp_path)
    dbt("seed")
    as_of = f"{{budget_forecast_as_of: '{AS_OF}'}}"
    dbt("run", "--select", "+budget_forecast", "--vars", as_of)
    tested = dbt(
        "test", "--select", "budget_forecast", "source:raw_vault.sat_budget_definition", "--vars", as_of
    )
    assert "ERROR=0" in tested.stdout  # and the runner checks the exit code

    rows = {
        (r["budget_id"], r["period_start"]): r
        for r in await vault_pool.fetch(
            "select * from marts.budget_forecast where customer_slug = $1", CUSTOMER
        )
    }
    assert not [k for k in rows if k[0] == gone]  # removed: no forecast

    march = date(2030, 3, 1)
    s = rows[(search, march)]
    spent = await vault_pool.fetchval(
        "select sum(customer_cost) from marts.spend_daily where customer_slug = $1 and team = 'search' "
        "and usage_date <= $2",
        CUSTOMER,
        AS_OF,
    )
    assert s["spent"] == spent == c * 10  # ten days, not the 20th, not team=ads
    assert (s["days_elapsed"], s["days_in_period"], s["as_of_date"]) == (10, 31, AS_OF)
    assert s["daily_burn"] == c and s["projected_spend"] == c * 31
    assert s["forecast_exceeded"] and s["status"] == "projected_over"
    assert s["runs_out_on"] == date(2030, 3, 21)  # 10.5 more days of burn: spent on the 21st
    assert s["scope"] == "tag:team=search" and not s["is_soft"]

    a = rows[(alice, AS_OF)]
    assert a["spent"] == c * 2 and a["status"] == "exhausted" and a["runs_out_on"] == AS_OF
    assert (a["days_elapsed"], a["days_in_period"]) == (1, 1)
    assert len([k for k in rows if k[0] == alice]) == 1  # only the day with spend (today's)

    b = rows[(bob, march)]
    assert b["spent"] == c and b["status"] == "on_track" and b["runs_out_on"] is None
    assert b["projected_spend"] == (c * 31 / 10).quantize(Decimal("1e-12"))
