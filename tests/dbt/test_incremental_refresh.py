"""Incremental refresh = full rebuild: after more traffic in days and groups already built, a
plain ``dbt run`` (incremental models re-summing only what the new rows touched — spend_daily's
days, spend_monthly's groups, the chargeback buckets) leaves every business-vault table and
mart row for row as a ``--full-refresh`` rebuilds it from the raw vault."""

from __future__ import annotations

import asyncpg
import pytest

from gateway.admin.customers import CustomerConfig, create_customer
from warehouse.loader import VaultLoader
from warehouse.mapping import batch_from_events
from warehouse.synthetic import synthetic_events

CUSTOMERS = ["acme", "globex"]
FIRST = list(synthetic_events(600, seed=31, customer_names=CUSTOMERS, realistic=True))
MORE = list(synthetic_events(150, seed=32, customer_names=CUSTOMERS, realistic=True, prefix="more"))
TABLES = [
    "business_vault.bridge_api_request",
    "business_vault.sat_cost_event_computed",
    "business_vault.cost_event_billing",
    "business_vault.chargeback_weights",
    "marts.spend_daily",
    "marts.spend_monthly",
    "marts.spend_by_feature",
    "marts.spend_hourly",
    "marts.provider_performance_5m",
    "marts.savings",
    "marts.invoice_lines",
    "marts.invoices",
    "marts.chargeback",
]


async def snapshot(pool: asyncpg.Pool) -> dict[str, list[str]]:
    """Every row of every table as text, sorted (row order is not part of a table), without the
    time each row was built (which a rebuild changes by design)."""
    return {
        table: [
            r[0]
            for r in await pool.fetch(
                f"select (to_jsonb(t) - 'built_at' - 'x_updated_at')::text from {table} as t order by 1"
            )
        ]
        for table in TABLES
    }


@pytest.fixture(scope="module")
async def refreshed(module_pool: asyncpg.Pool, module_dbt) -> dict[str, dict]:
    # acme pays a base fee and subscriptions: shared lines, split by usage share, which new
    # usage changes on every refresh
    await create_customer(
        module_pool,
        "acme",
        CustomerConfig(
            display_name="Acme", tier="premium", subscribed_services=("analytics", "smart_routing")
        ),
        changed_by="test",
    )
    loader = VaultLoader(module_pool)
    await loader.load(batch_from_events(FIRST))
    module_dbt("seed")
    module_dbt("run")
    before, views = await pool_groups(module_pool), await view_oids(module_pool)
    await loader.load(batch_from_events(MORE))
    module_dbt("run")
    incremental, after = await snapshot(module_pool), await pool_groups(module_pool)
    methods = {
        r[0] for r in await module_pool.fetch("select distinct x_allocation_method from marts.chargeback")
    }
    views_after_run = await view_oids(module_pool)
    module_dbt("run", "--full-refresh")
    full = await snapshot(module_pool)
    return {
        "incremental": incremental,
        "full": full,
        "before": before,
        "after": after,
        "views": [views, views_after_run, await view_oids(module_pool)],
        "methods": methods,
    }


async def view_oids(pool: asyncpg.Pool) -> dict[str, int]:
    """The staging views by name and object id (a re-created view gets a new id)."""
    rows = await pool.fetch(
        "select c.relname, c.oid::bigint from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = 'staging' and c.relkind = 'v'"
    )
    return dict(map(tuple, rows))


async def pool_groups(pool: asyncpg.Pool) -> dict[str, dict[str, int]]:
    """Requests per spend_monthly group and per chargeback bucket."""
    monthly = await pool.fetch("select grain_key, requests from marts.spend_monthly")
    buckets = await pool.fetch("select bucket_key, requests from business_vault.chargeback_weights")
    return {"spend_monthly": dict(map(tuple, monthly)), "chargeback_weights": dict(map(tuple, buckets))}


async def test_the_new_traffic_lands_in_groups_already_built(refreshed: dict) -> None:
    """The refresh must add to existing aggregates (the path that re-sums a group), not only
    create new ones."""
    for name, before in refreshed["before"].items():
        after = refreshed["after"][name]
        assert [k for k, n in before.items() if after.get(k, 0) > n], f"no {name} group built before grew"
    assert sum(refreshed["after"]["spend_monthly"].values()) == len(FIRST) + len(MORE)
    # every kind of chargeback row went through the refresh: direct, shared, rounding
    assert {"direct", "proportional", "rounding"} <= refreshed["methods"]


@pytest.mark.parametrize("table", TABLES)
async def test_incremental_refresh_equals_a_full_rebuild(refreshed: dict, table: str) -> None:
    assert refreshed["incremental"][table], f"{table} is empty"
    assert refreshed["incremental"][table] == refreshed["full"][table]


async def test_views_whose_sql_did_not_change_are_left_in_place(refreshed: dict) -> None:
    """A refresh does not re-create the staging views (an exclusive lock BI queries wait on, and
    a second of every refresh); --full-refresh does."""
    built, after_run, after_full_refresh = refreshed["views"]
    assert len(built) >= 30
    assert after_run == built
    assert after_full_refresh.keys() == built.keys()
    assert all(after_full_refresh[name] != oid for name, oid in built.items())


async def test_a_daily_partition_run_recomputes_its_day(
    refreshed: dict, module_pool: asyncpg.Pool, module_dbt
) -> None:
    """Dagster's daily_spend partition passes its day as ``spend_date``: that day is rebuilt even
    when nothing changed, and no other day is."""
    days = [
        r[0] for r in await module_pool.fetch("select distinct usage_date from marts.spend_daily order by 1")
    ]
    assert len(days) >= 2
    built = dict(
        await module_pool.fetch("select usage_date, max(built_at) from marts.spend_daily group by 1")
    )
    module_dbt("run", "--select", "spend_daily", "--vars", f'{{"spend_date": "{days[0]}"}}')
    rebuilt = dict(
        await module_pool.fetch("select usage_date, max(built_at) from marts.spend_daily group by 1")
    )
    assert rebuilt[days[0]] > built[days[0]]
    assert {d: rebuilt[d] for d in days[1:]} == {d: built[d] for d in days[1:]}


def test_a_value_rendered_into_sql_cannot_end_its_literal(refreshed: dict, module_dbt) -> None:
    """Literals are escaped by construction: a quote in a var is part of the value (a bad date),
    never the end of the string and the start of a statement."""
    hostile = "2025-01-01'::date); drop table marts.spend_daily; select ('"
    done = module_dbt(
        "run", "--select", "spend_daily", "--vars", f'{{"spend_date": "{hostile}"}}', check=False
    )
    assert done.returncode != 0
    assert "invalid input syntax for type date" in done.stdout
