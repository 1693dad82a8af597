"""Customers (tenants): a hub row, then one configuration satellite row per change."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from gateway.egress import EgressPolicy, EgressRefused
from warehouse import plans
from warehouse import tables as t
from warehouse.batch import VaultBatch
from warehouse.hashing import hash_key
from warehouse.loader import VaultLoader

SOURCE = "admin-api"
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


class AdminError(ValueError):
    """A refused admin change, with a message fit for the operator (``field``: the one at fault)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class CustomerConfig:
    display_name: str | None = None
    tier: str = plans.DEFAULT_TIER
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
    # Caches, privacy, retention (sql/010; None = the default in gateway/pipeline/data_policy.py)
    cache_mode: str | None = None
    cache_ttl_s: int | None = None
    cache_similarity: Decimal | None = None
    cache_price_per_request: Decimal | None = None
    cache_price_per_1k_tokens: Decimal | None = None
    pii_mode: str | None = None
    embedding_model: str | None = None
    # sql/013: drop options a provider cannot honour instead of refusing them (None = false)
    drop_unsupported_params: bool | None = None
    # sql/016: requests in flight at once (None = the gateway default, 0 = no limit)
    max_concurrent: int | None = None
    max_concurrent_per_key: int | None = None
    # sql/017: prepaid credits (docs/billing/credits.md). None = postpaid; the threshold (in the
    # customer's currency) under which the wallet sends one credit.low_balance webhook.
    billing_mode: str | None = None
    low_balance_threshold: Decimal | None = None
    # sql/021: pricing plans (docs/billing/plans.md). None = the tier's default limit
    # (dbt_project/seeds/tiers.csv) / no savings share / the flat markup_pct.
    rate_limit_rph: int | None = None
    monthly_token_quota: int | None = None
    savings_share_pct: Decimal | None = None
    markup_plan: str | None = None

    def values(self, changed_by: str) -> tuple:
        """The satellite row: each field is the column of the same name (SatSpec.row checks)."""
        row = {f.name: getattr(self, f.name) for f in fields(self)}
        row["subscribed_services"] = list(self.subscribed_services)
        row["preferred_providers"] = list(self.preferred_providers)
        return t.SAT_CUSTOMER_CONFIG.row(changed_by=changed_by, **row)


_CHOICES = {
    "retention_mode": ("none", "hash", "encrypted"),
    "cache_mode": ("off", "exact", "semantic"),
    "pii_mode": ("off", "flag", "redact", "block"),
    "billing_mode": ("prepaid", "postpaid"),
}
TIERS = tuple(plans.tiers())  # dbt_project/seeds/tiers.csv
NO_PLAN = "none"  # markup_plan in an update: leave the plan, back to the flat markup_pct
STATUSES = ("active", "suspended")
COMPLIANCE_LEVELS = ("none", "hipaa", "gdpr", "sox")
# The value-added services seed 003's bill charges for (prices: dbt_project/seeds/service_catalog.csv).
SERVICES = ("analytics", "smart_routing", "compliance_reporting", "priority_support")
_CURRENCY = re.compile(r"^[A-Z]{3}$")  # ISO 4217 alphabetic code
_PRINTABLE = re.compile(r"^[^\x00-\x1f\x7f]{1,200}$")


def check_config(config: CustomerConfig) -> None:
    """Every setting is one the gateway and the billing run understand, before a row is written."""
    if config.display_name is not None and not _PRINTABLE.match(config.display_name):
        raise AdminError("display_name is 1-200 printable characters")
    for name, allowed in (
        ("tier", TIERS),
        ("status", STATUSES),
        ("compliance_level", COMPLIANCE_LEVELS),
    ):
        if getattr(config, name) not in allowed:
            raise AdminError(f"{name} must be one of {', '.join(allowed)}")
    unknown = sorted(set(config.subscribed_services) - set(SERVICES))
    if unknown:
        raise AdminError(f"unknown service(s) {', '.join(unknown)}; services are {', '.join(SERVICES)}")
    if not Decimal(0) <= config.tax_rate_pct < 100:
        raise AdminError("tax_rate_pct must be at least 0 and below 100")
    if not _CURRENCY.match(config.currency or ""):
        raise AdminError("currency is an ISO 4217 code such as USD or EUR")
    if config.budget_webhook_url is not None:
        check_webhook_url(config.budget_webhook_url)
    for name in (
        "budget_daily",
        "budget_monthly",
        "markup_pct",
        "rate_limit_rpm",
        "rate_limit_tpm",
        "max_concurrent",
        "max_concurrent_per_key",
        "low_balance_threshold",
        "rate_limit_rph",
        "monthly_token_quota",
    ):
        value = getattr(config, name)
        if value is not None and value < 0:
            raise AdminError(f"{name} must not be negative", field=name)
    check_pricing_plan(config)
    check_data_settings(config)


def check_pricing_plan(config: CustomerConfig) -> None:
    """A savings share is a percentage, and a markup plan one of the seed's plans."""
    if config.savings_share_pct is not None and not Decimal(0) <= config.savings_share_pct <= 100:
        raise AdminError("savings_share_pct must be between 0 and 100", field="savings_share_pct")
    known = plans.markup_plans()
    if config.markup_plan is not None and config.markup_plan not in known:
        raise AdminError(
            f"markup_plan must be one of {', '.join(known)} (dbt_project/seeds/markup_plans.csv)",
            field="markup_plan",
        )


def check_webhook_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname or len(url) > 2048:
        raise AdminError("budget_webhook_url must be an http(s) URL with a host")
    if parts.username or parts.password:
        raise AdminError("budget_webhook_url must not carry credentials (the payload is signed instead)")


def check_data_settings(config: CustomerConfig) -> None:
    """Cache, PII and retention settings (sql/010) are one of their documented values."""
    for name, allowed in _CHOICES.items():
        value = getattr(config, name)
        if value is not None and value not in allowed:
            raise AdminError(f"{name} must be one of {', '.join(allowed)}")
    if config.cache_ttl_s is not None and not 1 <= config.cache_ttl_s <= 30 * 86400:
        raise AdminError("cache_ttl_s must be between 1 second and 30 days")
    if config.cache_similarity is not None and not 0 < config.cache_similarity <= 1:
        raise AdminError("cache_similarity must be in (0, 1]")
    for name in ("cache_price_per_request", "cache_price_per_1k_tokens"):
        value = getattr(config, name)
        if value is not None and value < 0:
            raise AdminError(f"{name} must not be negative")


async def check_webhook_egress(url: str | None, egress: EgressPolicy | None) -> None:
    """A webhook URL is tenant input: public addresses only, unless the operator allows more
    (``ONEVAULT_EGRESS_ALLOW``; ``egress`` None = none). The worker checks again at connect time."""
    if url is None:
        return
    try:
        await (egress or EgressPolicy()).check_url(url, "budget_webhook_url")
    except EgressRefused as exc:
        raise AdminError(str(exc), field="budget_webhook_url") from None


async def customer_exists(pool: asyncpg.Pool, slug: str) -> bool:
    return bool(
        await pool.fetchval("select 1 from raw_vault.hub_customer where customer_hk = $1", hash_key(slug))
    )


async def create_customer(
    pool: asyncpg.Pool,
    slug: str,
    config: CustomerConfig,
    *,
    changed_by: str,
    egress: EgressPolicy | None = None,
) -> None:
    if not _SLUG.match(slug):
        raise AdminError(
            "a customer slug is 2-63 characters of a-z, 0-9 and '-', starting with a letter or digit"
        )
    if await customer_exists(pool, slug):
        raise AdminError(f"customer {slug!r} already exists")
    check_config(config)
    await check_webhook_egress(config.budget_webhook_url, egress)
    batch = VaultBatch()
    hk = batch.hub(t.HUB_CUSTOMER, slug, record_source=SOURCE)
    batch.sat(t.SAT_CUSTOMER_CONFIG, hk, config.values(changed_by), record_source=SOURCE)
    await VaultLoader(pool).load(batch)


_CONFIG_SQL = """
select s.* from raw_vault.sat_customer_config s
where s.customer_hk = $1 order by s.load_dts desc limit 1
"""


async def current_config(pool: asyncpg.Pool, slug: str) -> CustomerConfig:
    """The customer's configuration in force now (its latest satellite row)."""
    row = await pool.fetchrow(_CONFIG_SQL, hash_key(slug))
    if row is None:
        raise AdminError(f"no customer {slug!r}")
    values = {f.name: row[f.name] for f in fields(CustomerConfig) if f.name in row}
    values["subscribed_services"] = tuple(row["subscribed_services"] or ())
    values["preferred_providers"] = tuple(row["preferred_providers"] or ())
    return CustomerConfig(**values)


async def update_customer(
    pool: asyncpg.Pool,
    slug: str,
    changes: dict[str, Any],
    *,
    changed_by: str,
    egress: EgressPolicy | None = None,
) -> CustomerConfig:
    """Record a new configuration state (insert-only: the old one stays as history)."""
    unknown = set(changes) - {f.name for f in fields(CustomerConfig)}
    if unknown:
        raise AdminError(f"unknown customer setting(s): {', '.join(sorted(unknown))}")
    if "subscribed_services" in changes:
        changes = {**changes, "subscribed_services": tuple(changes["subscribed_services"] or ())}
    if changes.get("markup_plan") == NO_PLAN:
        changes = {**changes, "markup_plan": None}  # back to the flat markup_pct
    config = replace(await current_config(pool, slug), **changes)
    check_config(config)
    if "budget_webhook_url" in changes:
        await check_webhook_egress(config.budget_webhook_url, egress)
    batch = VaultBatch()
    hk = batch.hub(t.HUB_CUSTOMER, slug, record_source=SOURCE)
    batch.sat(t.SAT_CUSTOMER_CONFIG, hk, config.values(changed_by), record_source=SOURCE)
    await VaultLoader(pool).load(batch)
    return config
