"""Budgets: set (create or change), list with this period's spend, remove (a new history row).

``PUT /admin/v1/customers/{slug}/budgets`` takes the scope and period (which identify the
budget: setting them again changes it) and the limit, soft flag and alert thresholds; the
answer carries the budget's id, which ``DELETE /admin/v1/customers/{slug}/budgets/{id}`` ends.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from gateway.admin.budgets import list_budgets, remove_budget, set_budget
from gateway.api.admin.common import AdminBody, admin_actor, audited_call, json_safe
from gateway.enforcement.budget import BudgetDefinition, BudgetGuard, budget_key

router = APIRouter()


class BudgetBody(AdminBody):
    scope: str = Field(description="customer | key | tag | end_user")
    value: str | None = Field(None, max_length=256, description="key id, 'team=search', end-user id")
    period: str = Field(description="day | month")
    limit: Decimal = Field(description="USD per period")
    soft: bool = False
    alert_thresholds: list[int] | None = Field(None, max_length=10)


def _guard(request: Request) -> BudgetGuard | None:
    admission = request.app.state.services.completions.admission
    return admission.budgets if admission is not None else None


def _forget(request: Request, customer: str) -> None:
    """This process re-reads the customer's budgets at once; others within their cache TTL."""
    guard = _guard(request)
    if guard is not None:
        guard.forget(customer)


@router.put("/customers/{slug}/budgets")
async def put_budget(
    slug: str, body: BudgetBody, request: Request, actor: str = Depends(admin_actor)
) -> dict:
    budget = await audited_call(
        request,
        actor,
        "budgets.set",
        slug,
        slug,
        lambda: set_budget(
            request.app.state.pool,
            slug,
            scope=body.scope,
            value=body.value,
            period=body.period,
            limit=body.limit,
            soft=body.soft,
            thresholds=body.alert_thresholds,
            changed_by=actor,
        ),
        detail=f"{body.scope} {body.period}",
    )
    _forget(request, slug)
    return json_safe(budget.as_json())


async def _with_spend(request: Request, budgets: tuple[BudgetDefinition, ...]) -> list[dict]:
    """Each budget with what its counter holds for the current period (settled, in flight)."""
    guard, now = _guard(request), datetime.now(timezone.utc)
    found = []
    for d in budgets:
        row = d.as_json()
        if guard is not None and d.active:
            spent, reserved = await guard.spent(budget_key(d, now))
            row |= {"spent": str(spent), "reserved": str(reserved)}
        found.append(row)
    return found


@router.get("/customers/{slug}/budgets")
async def get_budgets(
    slug: str, request: Request, include_removed: bool = False, actor: str = Depends(admin_actor)
) -> dict:
    budgets = await audited_call(
        request,
        actor,
        "budgets.list",
        slug,
        slug,
        lambda: list_budgets(request.app.state.pool, slug, include_removed=include_removed),
    )
    return json_safe({"object": "list", "data": await _with_spend(request, budgets)})


@router.delete("/customers/{slug}/budgets/{budget_id}")
async def delete_budget(
    slug: str, budget_id: str, request: Request, actor: str = Depends(admin_actor)
) -> dict:
    removed = await audited_call(
        request,
        actor,
        "budgets.remove",
        budget_id,
        slug,
        lambda: remove_budget(request.app.state.pool, slug, budget_id, changed_by=actor),
    )
    _forget(request, slug)
    return json_safe(removed.as_json())
