"""Money as text: fixed-point always (a Decimal's ``str`` may print ``0E-12``)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
EXACT = Decimal("0.000000000001")  # numeric(24,12): the vault's cost precision


def exact(value: Decimal | int | None) -> str:
    """Full precision for CSV and reconciliation (12 places, as stored)."""
    return "" if value is None else format(Decimal(value).quantize(EXACT), "f")


def cents(value: Decimal | int | None) -> str:
    """Display money: rounded half-up to cents, thousands separated."""
    return "" if value is None else f"{Decimal(value).quantize(CENT, ROUND_HALF_UP):,}"
