"""Create customers (tenants): a hub row and the first configuration satellite row."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

import asyncpg

from warehouse import tables as t
from warehouse.batch import VaultBatch
from warehouse.hashing import hash_key
from warehouse.loader import VaultLoader

SOURCE = "admin-api"
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


class AdminError(ValueError):
    """A refused admin change, with a message fit for the operator."""


@dataclass(frozen=True, slots=True)
class CustomerConfig:
    display_name: str | None = None
    tier: str = "standard"
    status: str = "active"
    markup_pct: Decimal | None = None
    budget_daily: Decimal | None = None
    budget_monthly: Decimal | None = None
    rate_limit_rpm: int | None = None
    rate_limit_tpm: int | None = None
    compliance_level: str = "none"
    retention_mode: str = "none"
    subscribed_services: tuple[str, ...] = field(default_factory=tuple)
    tax_rate_pct: Decimal = Decimal("0")
    currency: str = "USD"
    budget_webhook_url: str | None = None
    preferred_providers: tuple[str, ...] = field(default_factory=tuple)

    def values(self, changed_by: str) -> tuple:
        return (
            changed_by,
            self.display_name,
            self.tier,
            self.status,
            self.markup_pct,
            self.budget_daily,
            self.budget_monthly,
            self.rate_limit_rpm,
            self.rate_limit_tpm,
            self.compliance_level,
            self.retention_mode,
            list(self.subscribed_services),
            self.tax_rate_pct,
            self.currency,
            self.budget_webhook_url,
            list(self.preferred_providers),
        )


async def customer_exists(pool: asyncpg.Pool, slug: str) -> bool:
    return bool(
        await pool.fetchval("select 1 from raw_vault.hub_customer where customer_hk = $1", hash_key(slug))
    )


async def create_customer(pool: asyncpg.Pool, slug: str, config: CustomerConfig, *, changed_by: str) -> None:
    if not _SLUG.match(slug):
        raise AdminError(
            "a customer slug is 2-63 characters of a-z, 0-9 and '-', starting with a letter or digit"
        )
    if await customer_exists(pool, slug):
        raise AdminError(f"customer {slug!r} already exists")
    batch = VaultBatch()
    hk = batch.hub(t.HUB_CUSTOMER, slug, record_source=SOURCE)
    batch.sat(t.SAT_CUSTOMER_CONFIG, hk, config.values(changed_by), record_source=SOURCE)
    await VaultLoader(pool).load(batch)
