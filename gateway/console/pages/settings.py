"""A customer's settings: caches and privacy (developers), budgets in the settings and billing
alerts (admins), and the commercial terms (operators only) — each group saved through
``update_customer``, as ``PATCH /admin/v1/customers/{slug}`` saves it."""

from __future__ import annotations

from dataclasses import asdict
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from gateway.admin.customers import AdminError, CustomerConfig, current_config, update_customer
from gateway.admin.keys import key_hashes
from gateway.auth.principal import forget
from gateway.console.deps import Change, Forbidden, NotFound, Viewer, change, services, viewer
from gateway.console.pages.common import apply, pick_customer
from gateway.console.render import render

router = APIRouter()

# group → (what it needs, its fields and their kinds); one declaration for the form and the save.
GROUPS: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "data": (
        "settings.data",
        (
            ("cache_mode", "choice:off,exact,semantic"),
            ("cache_ttl_s", "int"),
            ("pii_mode", "choice:off,flag,redact,block"),
            ("retention_mode", "choice:none,hash,encrypted"),
        ),
    ),
    "billing": (
        "settings.billing",
        (
            ("budget_daily", "money"),
            ("budget_monthly", "money"),
            ("budget_webhook_url", "text"),
            ("low_balance_threshold", "money"),
        ),
    ),
    "terms": (
        "operator:admin",
        (
            ("display_name", "text"),
            ("tier", "text"),
            ("markup_pct", "money"),
            ("tax_rate_pct", "money"),
            ("currency", "text"),
            ("billing_mode", "choice:postpaid,prepaid"),
            ("rate_limit_rpm", "int"),
            ("rate_limit_tpm", "int"),
        ),
    ),
}


LABELS = {
    "cache_mode": "Cache",
    "cache_ttl_s": "Cache lifetime (seconds)",
    "pii_mode": "PII handling",
    "retention_mode": "Prompt retention",
    "budget_daily": "Daily limit (USD)",
    "budget_monthly": "Monthly limit (USD)",
    "budget_webhook_url": "Alert webhook URL",
    "low_balance_threshold": "Low-balance alert at",
    "display_name": "Display name",
    "tier": "Tier",
    "markup_pct": "Markup (%)",
    "tax_rate_pct": "Tax rate (%)",
    "currency": "Currency",
    "billing_mode": "Billing",
    "rate_limit_rpm": "Requests per minute",
    "rate_limit_tpm": "Tokens per minute",
}


def may_edit(v: Viewer, group: str) -> bool:
    needed = GROUPS[group][0]
    if needed.startswith("operator"):
        return v.user.is_operator and v.may(needed.partition(":")[2])
    return v.may(needed)


async def page(
    request: Request, v: Viewer, *, notice: str | None = None, error: str | None = None, status: int = 200
) -> HTMLResponse:
    if v.customer is None:
        return pick_customer(request, v, "Settings")
    try:
        config = asdict(await current_config(services(request).pool, v.customer))
    except AdminError:  # known from its traffic only (no settings row yet): show the defaults
        config = asdict(CustomerConfig())
        notice = notice or "No settings have been recorded for this customer: these are the defaults."
    return render(
        request,
        "settings.html",
        v,
        title="Settings",
        config=config,
        groups=GROUPS,
        labels=LABELS,
        may_edit=lambda g: may_edit(v, g),
        notice=notice,
        error=error,
        status_code=status,
    )


@router.get("/settings")
async def settings_page(request: Request, v: Viewer = Depends(viewer)) -> HTMLResponse:
    return await page(request, v)


def _value(kind: str, name: str, text: str | None) -> Any:
    if text is None:
        return None
    try:
        if kind == "int":
            return int(text)
        if kind == "money":
            return Decimal(text)
    except (ValueError, InvalidOperation) as exc:
        raise AdminError(f"{name} is a number", field=name) from exc
    if kind.startswith("choice:") and text not in kind[7:].split(","):
        raise AdminError(f"{name} is one of {kind[7:].replace(',', ', ')}", field=name)
    return text


@router.post("/settings/{group}")
async def save(group: str, request: Request, c: Change = Depends(change("viewer"))) -> HTMLResponse:
    if group not in GROUPS:
        raise NotFound("no such settings")
    if not may_edit(c.viewer, group):
        raise Forbidden(f"your role ({c.viewer.user.role}) may not change these settings")
    if c.customer is None:
        raise NotFound("choose a customer first")
    svc, customer = services(request), c.customer

    async def run() -> None:
        changes = {name: _value(kind, name, c.text(name)) for name, kind in GROUPS[group][1]}
        changes = {k: v for k, v in changes.items() if v is not None}
        if not changes:
            raise AdminError("nothing to change")
        await update_customer(svc.pool, customer, changes, changed_by=c.viewer.actor, egress=svc.state.egress)
        await forget(svc.redis, [bytes(r["key_hash"]) for r in await key_hashes(svc.pool, customer)])

    return await apply(
        request,
        c,
        page,
        "customers.update",
        customer,
        run,
        detail=group,
        notice="Settings saved; the gateway uses them within seconds.",
    )
