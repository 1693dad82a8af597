"""Budgets and alerts: each budget with this period's spend, set (create or change) and remove
(admins), and the alert delivery log. A change takes effect at once in this process (the
guard's cache is dropped, as the admin API does) and within seconds in the others."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from gateway.admin.budgets import list_budgets, remove_budget, set_budget
from gateway.admin.customers import AdminError
from gateway.console.data.budgets import budgets_with_deliveries
from gateway.console.deps import Change, NotFound, Viewer, change, services, viewer
from gateway.console.pages.common import apply, pick_customer
from gateway.console.render import render
from gateway.enforcement.budget import PERIODS, SCOPE_TYPES, BudgetGuard, budget_key

router = APIRouter()


def _guard(request: Request) -> BudgetGuard | None:
    admission = services(request).state.services.completions.admission
    return admission.budgets if admission is not None else None


async def page(
    request: Request, v: Viewer, *, notice: str | None = None, error: str | None = None, status: int = 200
) -> HTMLResponse:
    if v.customer is None:
        return pick_customer(request, v, "Budgets")
    svc, guard, now = services(request), _guard(request), datetime.now(timezone.utc)
    rows: list[dict[str, Any]] = []
    for d in await list_budgets(svc.pool, v.customer):
        spent = reserved = None
        if guard is not None and d.active:
            spent, reserved = await guard.spent(budget_key(d, now))
        rows.append({"d": d, "spent": spent, "reserved": reserved})
    found = await budgets_with_deliveries(svc.pool, v.scope, today=now.date())
    forecasts = {b.budget_id: b for b in found.budgets}
    for row in rows:
        row["forecast"] = forecasts.get(row["d"].budget_id)
    deliveries = found.deliveries
    return render(
        request,
        "budgets.html",
        v,
        title="Budgets",
        budgets=rows,
        deliveries=deliveries,
        scopes=SCOPE_TYPES,
        periods=PERIODS,
        notice=notice,
        error=error,
        status_code=status,
    )


@router.get("/budgets")
async def budgets_page(request: Request, v: Viewer = Depends(viewer)) -> HTMLResponse:
    return await page(request, v)


def _forget(request: Request, customer: str) -> None:
    guard = _guard(request)
    if guard is not None:
        guard.forget(customer)


@router.post("/budgets")
async def put(request: Request, c: Change = Depends(change("budgets"))) -> HTMLResponse:
    if c.customer is None:
        raise NotFound("choose a customer first")
    customer, pool = c.customer, services(request).pool

    async def run() -> Any:
        text = c.text("thresholds") or "50,80,100"
        try:
            thresholds = [int(p) for p in text.split(",") if p.strip()]
        except ValueError as exc:
            raise AdminError(
                "alert thresholds are percentages such as 50,80,100", field="thresholds"
            ) from exc
        budget = await set_budget(
            pool,
            customer,
            scope=c.text("scope") or "customer",
            value=c.text("value"),
            period=c.text("period") or "month",
            limit=c.text("limit"),
            soft=c.text("soft") == "on",
            thresholds=thresholds,
            changed_by=c.viewer.actor,
        )
        _forget(request, customer)
        return budget

    return await apply(
        request,
        c,
        page,
        "budgets.set",
        customer,
        run,
        notice=lambda b: f"Budget {b.scope} per {b.period} set to {b.limit:f} USD.",
    )


@router.post("/budgets/{budget_id}/remove")
async def remove(budget_id: str, request: Request, c: Change = Depends(change("budgets"))) -> HTMLResponse:
    if c.customer is None:
        raise NotFound("choose a customer first")
    customer, pool = c.customer, services(request).pool

    async def run() -> Any:
        removed = await remove_budget(pool, customer, budget_id, changed_by=c.viewer.actor)
        _forget(request, customer)
        return removed

    return await apply(
        request, c, page, "budgets.remove", budget_id, run, notice=f"Budget {budget_id} removed."
    )
