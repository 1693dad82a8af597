"""Turning tokens into money, in ``Decimal`` only.

Token semantics follow :mod:`gateway.providers.types`: ``input_tokens`` includes cached reads,
cache writes and audio, and ``output_tokens`` includes hidden reasoning. So cached reads are
billed at the cached price, cache writes at the cache-write price and audio input at the audio
price, each *instead of* the input price and each only where the price has a rate of its own
(else at the input price, as ``genai-prices`` does); reasoning tokens are already inside output
(billed at the output price — every provider we price bills them that way). Image input tokens
are plain input tokens to every price we know. Amounts are kept to 12 decimal places (the
vault's ``numeric(24,12)``) and rounded half-up; invoices round to the cent later.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # the catalog imports the per-image prices, which use this module's arithmetic
    from gateway.pricing.catalog import ModelPrice

MONEY_PLACES = Decimal("0.000000000001")
_MILLION = Decimal(1_000_000)
_HUNDRED = Decimal(100)
ZERO = Decimal(0).quantize(MONEY_PLACES)


def money(value: Decimal) -> Decimal:
    return value.quantize(MONEY_PLACES, rounding=ROUND_HALF_UP)


class _Counts(Protocol):
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    reasoning_tokens: int
    cache_write_tokens: int
    audio_input_tokens: int


@dataclass(frozen=True, slots=True)
class TokenUsage:
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0
    cache_write_tokens: int = 0  # part of input_tokens
    audio_input_tokens: int = 0  # part of input_tokens

    @classmethod
    def of(cls, usage: _Counts) -> TokenUsage:
        """The priced counts of a provider's ``Usage`` (or any object with the same fields)."""
        return cls(
            usage.input_tokens,
            usage.output_tokens,
            usage.cached_input_tokens,
            usage.reasoning_tokens,
            usage.cache_write_tokens,
            usage.audio_input_tokens,
        )


@dataclass(frozen=True, slots=True)
class CostBreakdown:
    provider_cost: Decimal
    markup_amount: Decimal
    customer_cost: Decimal
    priced: bool
    currency: str = "USD"


def provider_cost(price: ModelPrice, usage: TokenUsage) -> Decimal:
    """Input split into cached reads, cache writes, audio and the rest (each count capped by what
    the input has left, in that order), each kind at its own rate or else the input rate; output
    at the output rate. (dbt's sat_cost_event_computed recomputes costs by this recipe.)"""
    rest = max(usage.input_tokens, 0)
    total = Decimal(0)
    for count, rate in (
        (usage.cached_input_tokens, price.cached_input_per_mtok),
        (usage.cache_write_tokens, price.cache_write_per_mtok),
        (usage.audio_input_tokens, price.input_audio_per_mtok),
    ):
        part = min(max(count, 0), rest)
        total += part * (price.input_per_mtok if rate is None else rate)
        rest -= part
    total += rest * price.input_per_mtok + max(usage.output_tokens, 0) * price.output_per_mtok
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
    """Worst case the customer could be charged: every output token used, and the whole prompt
    uncached at the dearest input rate the price has (a cache write or audio input may cost more
    than plain input: a reservation at the plain rate could be overspent)."""
    if price is None:
        return None
    usage = TokenUsage(prompt_tokens, max_output_tokens)
    dearer = {
        "cache_write_tokens": price.cache_write_per_mtok,
        "audio_input_tokens": price.input_audio_per_mtok,
    }
    kind = max(dearer, key=lambda k: dearer[k] or 0)
    if (dearer[kind] or 0) > price.input_per_mtok:
        usage = TokenUsage(prompt_tokens, max_output_tokens, **{kind: prompt_tokens})
    return compute_cost(price, usage, markup_pct).customer_cost
