"""``onevault budgets set|list|remove``: a customer's budgets on itself, a key, a tag value or an
end user, per day or month (docs/billing/budgets.md). Every change is recorded with who made it."""

from __future__ import annotations

from datetime import datetime, timezone

import asyncpg
import redis.asyncio as aioredis
import typer

from gateway.admin.budgets import list_budgets, remove_budget, set_budget
from gateway.admin.customers import AdminError
from gateway.cli.admin import admin_call, echo_result, fail, run_audited
from gateway.cli.runtime import operator, with_pool_and_redis
from gateway.enforcement.budget import BudgetDefinition, BudgetGuard, budget_key

budgets = typer.Typer(
    help="Budgets on a customer, a key, a tag (team=…, project=…, cost_center=…) or an end user.",
    no_args_is_help=True,
)


def _line(d: BudgetDefinition, spent: str = "") -> str:
    kind = "soft" if d.soft else "hard"
    state = "" if d.active else "  (removed)"
    return f"{d.budget_id}  {d.scope:<30} {d.period:<5} {d.limit:>12} USD {kind}{spent}{state}"


@budgets.command("set")
def budgets_set(
    customer: str = typer.Argument(..., help="The customer."),
    scope: str = typer.Option(..., help="customer | key | tag | end_user."),
    value: str = typer.Option(
        None, help="The key id, 'team=search' (team|project|cost_center), or end-user id."
    ),
    period: str = typer.Option("month", help="day | month (UTC)."),
    limit: str = typer.Option(..., help="USD per period."),
    soft: bool = typer.Option(False, "--soft/--hard", help="Soft: alert only, never refuse."),
    thresholds: str = typer.Option("50,80,100", help="Alert at these percentages of the limit."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Create the budget on this scope and period, or change it (takes effect within seconds)."""
    try:
        pcts = [int(p) for p in thresholds.split(",") if p.strip()]
    except ValueError as exc:
        raise fail(AdminError("--thresholds is a comma-separated list of percentages")) from exc
    budget = run_audited(
        admin_call("budgets.set", customer, customer),
        lambda pool: set_budget(
            pool,
            customer,
            scope=scope,
            value=value,
            period=period,
            limit=limit,
            soft=soft,
            thresholds=pcts,
            changed_by=operator(),
        ),
    )
    echo_result(budget.as_json(), as_json, f"set {_line(budget)}")


@budgets.command("list")
def budgets_list(
    customer: str = typer.Argument(..., help="The customer."),
    removed: bool = typer.Option(False, "--removed", help="Include removed budgets."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The customer's budgets, with what each has spent this period."""

    async def read(pool: asyncpg.Pool, redis: aioredis.Redis) -> list[tuple[BudgetDefinition, str]]:
        guard, now = BudgetGuard(redis), datetime.now(timezone.utc)
        found = []
        for d in await list_budgets(pool, customer, include_removed=removed):
            spent = (await guard.spent(budget_key(d, now)))[0] if d.active else None
            found.append((d, "" if spent is None else str(spent)))
        return found

    try:
        found = with_pool_and_redis(read)
    except AdminError as exc:
        raise fail(exc) from exc
    text = "\n".join(_line(d, f"  spent {s}" if s else "") for d, s in found)
    data = [d.as_json() | ({"spent": s} if s else {}) for d, s in found]
    echo_result(data, as_json, text or f"{customer} has no budgets")


@budgets.command("remove")
def budgets_remove(
    customer: str = typer.Argument(..., help="The customer."),
    budget: str = typer.Argument(..., help="The budget id (bud_…, from `onevault budgets list`)."),
) -> None:
    """End a budget (a new history row; the old definition stays in the vault)."""
    removed = run_audited(
        admin_call("budgets.remove", budget, customer),
        lambda pool: remove_budget(pool, customer, budget, changed_by=operator()),
    )
    typer.echo(f"removed {_line(removed)}")
