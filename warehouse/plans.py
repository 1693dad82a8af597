"""Tiers and markup plans, read from the dbt seeds (the one copy of these facts).

``dbt_project/seeds/tiers.csv`` gives each tier its fee, default limits and included services;
``dbt_project/seeds/markup_plans.csv`` the graduated markup bands. dbt loads the same files for
the invoices; the gateway (limits, setting checks) and the billing reconciliation read them here,
once per process. The rules are in docs/billing/plans.md.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

SEEDS_DIR = Path(__file__).resolve().parents[1] / "dbt_project" / "seeds"
HUNDRED = Decimal(100)
DEFAULT_TIER = "standard"  # a customer configured without a tier


class PlanFileError(ValueError):
    """A seed file that the gateway and the invoices could not both honour."""


@dataclass(frozen=True, slots=True)
class Tier:
    name: str
    monthly_fee: Decimal
    currency: str
    rate_limit_rpm: int | None  # None = no default limit
    rate_limit_rph: int | None
    monthly_token_quota: int | None
    included_services: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Band:
    band_from: Decimal
    band_to: Decimal | None  # None = open (the plan's last band)
    markup_pct: Decimal


@dataclass(frozen=True, slots=True)
class BandCharge:
    """One invoice line of a graduated markup: the spend that fell in ``band`` and its markup."""

    band: Band
    spend: Decimal
    amount: Decimal


def _count(value: str) -> int | None:
    return int(value) if value.strip() else None


def _rows(name: str, seeds_dir: Path | None) -> list[dict[str, str]]:
    with open((seeds_dir or SEEDS_DIR) / name, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@functools.cache
def tiers(seeds_dir: Path | None = None) -> dict[str, Tier]:
    """Every tier of tiers.csv, in the file's order (cheapest first)."""
    found: dict[str, Tier] = {}
    for r in _rows("tiers.csv", seeds_dir):
        tier = Tier(
            name=r["tier"].strip(),
            monthly_fee=Decimal(r["monthly_fee"]),
            currency=r["currency"].strip(),
            rate_limit_rpm=_count(r["rate_limit_rpm"]),
            rate_limit_rph=_count(r["rate_limit_rph"]),
            monthly_token_quota=_count(r["monthly_token_quota"]),
            included_services=tuple(s.strip() for s in r["included_services"].split("|") if s.strip()),
        )
        if tier.name in found:
            raise PlanFileError(f"tiers.csv names tier {tier.name!r} twice")
        found[tier.name] = tier
    return found


@functools.cache
def markup_plans(seeds_dir: Path | None = None) -> dict[str, tuple[Band, ...]]:
    """Every plan of markup_plans.csv with its bands in order; refuses gaps, overlaps and a
    closed last band (spend past it would have no rate)."""
    by_plan: dict[str, list[Band]] = {}
    for r in _rows("markup_plans.csv", seeds_dir):
        to = r["band_to"].strip()
        by_plan.setdefault(r["plan"].strip(), []).append(
            Band(Decimal(r["band_from"]), Decimal(to) if to else None, Decimal(r["markup_pct"]))
        )
    plans: dict[str, tuple[Band, ...]] = {}
    for plan, bands in by_plan.items():
        bands.sort(key=lambda b: b.band_from)
        edge: Decimal | None = Decimal(0)
        for band in bands:
            if edge is None or band.band_from != edge or (band.band_to is not None and band.band_to <= edge):
                raise PlanFileError(f"markup plan {plan!r}: bands must run from 0 without gap or overlap")
            edge = band.band_to
        if edge is not None:
            raise PlanFileError(f"markup plan {plan!r}: the last band must be open (blank band_to)")
        plans[plan] = tuple(bands)
    return plans


def graduated(bands: tuple[Band, ...], spend: Decimal) -> list[BandCharge]:
    """The markup of ``spend`` band by band (exact, unrounded); only bands the spend reaches."""
    charges = []
    for band in bands:
        top = spend if band.band_to is None else min(spend, band.band_to)
        part = top - band.band_from
        if part > 0:
            charges.append(BandCharge(band, part, part * band.markup_pct / HUNDRED))
    return charges


def savings_share(pct: Decimal | None, savings: Decimal) -> Decimal:
    """``pct`` % of the month's savings, never negative (a month that saved nothing pays nothing)."""
    if not pct or savings <= 0:
        return Decimal(0)
    return pct * savings / HUNDRED
