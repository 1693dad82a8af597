"""Turning tokens into money, in ``Decimal`` only.

Token semantics follow :mod:`gateway.providers.types`: ``input_tokens`` includes cached reads and
``output_tokens`` includes hidden reasoning. So cached tokens are billed at the cached price
*instead of* the input price, and reasoning tokens are already inside output (billed at the
output price — every provider we price bills them that way). Amounts are kept to 12 decimal
places (the vault's ``numeric(24,12)``) and rounded half-up; invoices round to the cent later.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from gateway.pricing.catalog import ModelPrice

MONEY_PLACES = Decimal("0.000000000001")
_MILLION = Decimal(1_000_000)
_HUNDRED = Decimal(100)
ZERO = Decimal(0).quantize(MONEY_PLACES)


def money(value: Decimal) -> Decimal:
    return value.quantize(MONEY_PLACES, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class TokenUsage:
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0


@dataclass(frozen=True, slots=True)
class CostBreakdown:
    provider_cost: Decimal
    markup_amount: Decimal
    customer_cost: Decimal
    priced: bool
    currency: str = "USD"


def provider_cost(price: ModelPrice, usage: TokenUsage) -> Decimal:
    cached = min(max(usage.cached_input_tokens, 0), max(usage.input_tokens, 0))
    uncached = max(usage.input_tokens, 0) - cached
    cached_rate = price.input_per_mtok if price.cached_input_per_mtok is None else price.cached_input_per_mtok
    total = (
        uncached * price.input_per_mtok
        + cached * cached_rate
        + max(usage.output_tokens, 0) * price.output_per_mtok
    )
    return money(total / _MILLION)


def compute_cost(price: ModelPrice | None, usage: TokenUsage, markup_pct: Decimal) -> CostBreakdown:
    """Cost of one request; an unknown price gives ``priced=False`` and zeros, never a silent $0."""
    if price is None:
        return CostBreakdown(ZERO, ZERO, ZERO, priced=False)
    base = provider_cost(price, usage)
    markup = money(base * markup_pct / _HUNDRED)
    return CostBreakdown(base, markup, base + markup, priced=True, currency=price.currency)


def estimate_max_cost(
    price: ModelPrice | None, prompt_tokens: int, max_output_tokens: int, markup_pct: Decimal
) -> Decimal | None:
    """Worst case the customer could be charged: whole prompt uncached, every output token used."""
    if price is None:
        return None
    return compute_cost(price, TokenUsage(prompt_tokens, max_output_tokens), markup_pct).customer_cost
