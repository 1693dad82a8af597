"""Routing rules: create, list, change (a new history row), disable, and the dry run."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import Field
from starlette.responses import JSONResponse

from gateway.admin.customers import (
    AdminError,
    customer_exists,
)
from gateway.admin.rules import create_rule, disable_rule, update_rule
from gateway.api.admin.common import (
    AdminBody,
    admin_actor,
    audited_call,
    json_safe,
)
from gateway.errors import ApiError
from gateway.pipeline.rule_dry_run import explain_routing
from gateway.routing.rules import customer_rules

router = APIRouter()


class RuleChanges(AdminBody):
    """A rule's fields; on PATCH only those given change (the rest stay as in force)."""

    name: str | None = Field(None, min_length=1, max_length=200)
    priority: int | None = Field(None, ge=-1_000_000, le=1_000_000)
    conditions: dict[str, Any] | None = None
    strategy: str | None = None
    target: str | None = None
    fallback: list[str] | None = None
    options: dict[str, Any] | None = None
    retry_policy: dict[str, Any] | None = None
    active: bool | None = None


class NewRule(RuleChanges):
    name: str = Field(min_length=1, max_length=200)
    priority: int = Field(100, ge=-1_000_000, le=1_000_000)


def _forget_rules(request: Request, customer: str) -> None:
    """This process re-reads the customer's rules at once; others within their cache TTL."""
    rules = request.app.state.services.completions.rules
    if rules is not None:
        rules.forget(customer)


@router.post("/customers/{slug}/rules", status_code=201)
async def new_rule(
    slug: str, body: NewRule, request: Request, actor: str = Depends(admin_actor)
) -> JSONResponse:
    definition = body.model_dump(exclude={"active"}, exclude_none=True)
    rule = await audited_call(
        request,
        actor,
        "rules.create",
        slug,
        slug,
        lambda: create_rule(request.app.state.pool, slug, changed_by=actor, **definition),
        status=201,
    )
    _forget_rules(request, slug)
    return JSONResponse(json_safe(rule.as_json() | {"customer": slug}), status_code=201)


@router.get("/customers/{slug}/rules")
async def list_rules(slug: str, request: Request, actor: str = Depends(admin_actor)) -> dict:
    async def read() -> list:
        if not await customer_exists(request.app.state.pool, slug):
            raise AdminError(f"no customer {slug!r}")
        return await customer_rules(request.app.state.pool, slug, active_only=False)

    rules = await audited_call(request, actor, "rules.list", slug, slug, read)
    return json_safe({"object": "list", "data": [r.as_json() for r in rules]})


@router.patch("/rules/{rule_id}")
async def change_rule(
    rule_id: str, body: RuleChanges, request: Request, actor: str = Depends(admin_actor)
) -> dict:
    changes = body.model_dump(exclude_unset=True)
    customer, rule = await audited_call(
        request,
        actor,
        "rules.update",
        rule_id,
        None,
        lambda: update_rule(request.app.state.pool, rule_id, changes, changed_by=actor),
        detail=", ".join(sorted(changes)),
    )
    _forget_rules(request, customer)
    return json_safe(rule.as_json() | {"customer": customer})


@router.post("/rules/{rule_id}/disable")
async def disable(rule_id: str, request: Request, actor: str = Depends(admin_actor)) -> dict:
    customer, rule = await audited_call(
        request,
        actor,
        "rules.disable",
        rule_id,
        None,
        lambda: disable_rule(request.app.state.pool, rule_id, changed_by=actor),
    )
    _forget_rules(request, customer)
    return json_safe(rule.as_json() | {"customer": customer})


@router.post("/customers/{slug}/rules/test")
async def test_rules(slug: str, request: Request, actor: str = Depends(admin_actor)) -> dict:
    """Dry run: which rule a request would match, why, and the candidate order (no provider call)."""
    try:
        body = await request.json()
    except ValueError as exc:
        raise ApiError(400, "invalid_json", "The body must be the request to test, as JSON.") from exc
    svc = request.app.state.services.completions
    result = await audited_call(
        request,
        actor,
        "rules.test",
        slug,
        slug,
        lambda: explain_routing(request.app.state.pool, svc.planner, slug, body),
    )
    return json_safe(result)
