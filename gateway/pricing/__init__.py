"""Prices and costs: list prices from ``genai-prices`` (bundled, offline), operator overrides,
and the Decimal arithmetic that turns tokens into provider cost, markup and customer cost."""

from gateway.pricing.catalog import ModelPrice, PriceCatalog, fallback_price
from gateway.pricing.cost import CostBreakdown, TokenUsage, compute_cost, estimate_max_cost
from gateway.pricing.tokens import estimate_prompt_tokens, estimate_tokens

__all__ = [
    "CostBreakdown",
    "ModelPrice",
    "PriceCatalog",
    "TokenUsage",
    "compute_cost",
    "estimate_max_cost",
    "estimate_prompt_tokens",
    "estimate_tokens",
    "fallback_price",
]
