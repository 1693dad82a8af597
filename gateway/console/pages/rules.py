"""Routing rules: list, create, edit, disable, and a dry run that shows the planner's explanation
(which rule a request would match, why the others did not, the candidate order) — no provider
is called."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from gateway.admin.customers import AdminError
from gateway.admin.rules import create_rule, disable_rule, update_rule
from gateway.console.deps import Change, NotFound, Viewer, change, run_change, services, viewer
from gateway.console.pages.common import apply, form_int, form_list, pick_customer
from gateway.console.render import render
from gateway.pipeline.rule_dry_run import explain_routing
from gateway.routing.rules import STRATEGIES, customer_rules

router = APIRouter()
SAMPLE = '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]}'


async def page(
    request: Request,
    v: Viewer,
    *,
    notice: str | None = None,
    error: str | None = None,
    status: int = 200,
    dry_run: dict | None = None,
    dry_body: str = SAMPLE,
    editing: str | None = None,
) -> HTMLResponse:
    if v.customer is None:
        return pick_customer(request, v, "Routing rules")
    rules = [r.as_json() for r in await customer_rules(services(request).pool, v.customer, active_only=False)]
    editing = editing or request.query_params.get("edit")
    edit = next((r for r in rules if r["rule_id"] == editing), None)
    return render(
        request,
        "rules.html",
        v,
        title="Routing rules",
        rules=rules,
        strategies=STRATEGIES,
        edit=edit,
        dry_run=dry_run,
        dry_body=dry_body,
        notice=notice,
        error=error,
        status_code=status,
        dumps=lambda d: json.dumps(d, indent=1) if d else "",
    )


@router.get("/rules")
async def rules_page(request: Request, v: Viewer = Depends(viewer)) -> HTMLResponse:
    return await page(request, v)


def _json(c: Change, name: str) -> Any:
    text = c.text(name)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise AdminError(f"{name.replace('_', ' ')} must be JSON", field=name) from exc


def _definition(c: Change) -> dict[str, Any]:
    found: dict[str, Any] = {
        "name": c.text("name"),
        "priority": form_int(c, "priority"),
        "conditions": _json(c, "conditions"),
        "strategy": c.text("strategy"),
        "target": c.text("target"),
        "fallback": form_list(c, "fallback"),
        "options": _json(c, "options"),
        "retry_policy": _json(c, "retry_policy"),
    }
    return {k: v for k, v in found.items() if v is not None}


def _forget(request: Request, customer: str) -> None:
    rules = services(request).state.services.completions.rules
    if rules is not None:
        rules.forget(customer)


async def _owned(request: Request, c: Change, rule_id: str) -> None:
    if c.customer is None or rule_id not in {
        r.rule_id for r in await customer_rules(services(request).pool, c.customer, active_only=False)
    }:
        raise NotFound("no such routing rule")


@router.post("/rules")
async def create(request: Request, c: Change = Depends(change("rules"))) -> HTMLResponse:
    if c.customer is None:
        raise NotFound("choose a customer first")
    customer, pool = c.customer, services(request).pool

    async def run() -> Any:
        rule = await create_rule(pool, customer, changed_by=c.viewer.actor, **_definition(c))
        _forget(request, customer)
        return rule

    return await apply(
        request,
        c,
        page,
        "rules.create",
        customer,
        run,
        notice=lambda r: f"Rule {r.name!r} ({r.rule_id}) created.",
    )


@router.post("/rules/{rule_id}")
async def edit(rule_id: str, request: Request, c: Change = Depends(change("rules"))) -> HTMLResponse:
    await _owned(request, c, rule_id)
    pool = services(request).pool

    async def run() -> Any:
        changes = _definition(c) | {"active": c.text("active") == "on"}
        customer, rule = await update_rule(pool, rule_id, changes, changed_by=c.viewer.actor)
        _forget(request, customer)
        return rule

    return await apply(
        request, c, page, "rules.update", rule_id, run, notice=lambda r: f"Rule {r.name!r} saved."
    )


@router.post("/rules/{rule_id}/disable")
async def disable(rule_id: str, request: Request, c: Change = Depends(change("rules"))) -> HTMLResponse:
    await _owned(request, c, rule_id)
    pool = services(request).pool

    async def run() -> Any:
        customer, rule = await disable_rule(pool, rule_id, changed_by=c.viewer.actor)
        _forget(request, customer)
        return rule

    return await apply(request, c, page, "rules.disable", rule_id, run, notice=f"Rule {rule_id} disabled.")


@router.post("/rules-dry-run")
async def dry_run(request: Request, c: Change = Depends(change("viewer"))) -> HTMLResponse:
    """A dry run changes nothing, so every role may run one (the CSRF check still applies)."""
    v = c.viewer
    customer = c.customer
    if customer is None:
        raise NotFound("choose a customer first")
    body_text = c.text("body") or SAMPLE
    planner = services(request).state.services.completions.planner
    try:
        body = json.loads(body_text)
        result = await run_change(
            request,
            c,
            "rules.test",
            customer,
            lambda: explain_routing(services(request).pool, planner, customer, body),
        )
    except ValueError as exc:  # AdminError is a ValueError too
        return await page(
            request,
            v,
            error=str(exc) if isinstance(exc, AdminError) else f"not JSON: {exc}",
            status=422,
            dry_body=body_text,
        )
    return await page(request, v, dry_run=result, dry_body=body_text)
