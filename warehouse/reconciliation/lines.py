"""One line of a provider's own report, whatever the provider's shape, and the name rules that
let it meet OneVault's cost events (day, provider, model).

Every importer (``parsers.py``) turns the provider's documented body or export into
``ReportLine``s; ``store.py`` lands them in the vault. Keeping the common shape here means the
mart reads one table for every provider instead of one per wire format.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

# Which report each importer reads, as record_source in the vault (one per provider and report).
SOURCES: Final = {
    "openai-costs-api": "openai",
    "openai-usage-api": "openai",
    "anthropic-cost-report": "anthropic",
    "anthropic-usage-report": "anthropic",
    "azure-cost-export": "azure_openai",
    "gcp-billing-export": "gemini",
}
PROVIDER_KINDS: Final = ("openai", "anthropic", "azure_openai", "gemini")

# Providers report dated snapshots ('gpt-4o-mini-2024-07-18', 'claude-3-5-haiku-20241022');
# OneVault records the name the client asked for ('gpt-4o-mini', 'claude-3-5-haiku-latest').
_DATE_SUFFIX = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{8}|latest)$")


def normalise_model(name: str | None) -> str | None:
    """The name both sides are matched on: lower-case, without a trailing snapshot date or
    ``-latest`` (dbt applies the same rule to OneVault's side, models/marts/provider_reconciliation.sql)."""
    if name is None:
        return None
    text = name.strip().lower()
    if not text:
        return None
    return _DATE_SUFFIX.sub("", text)


@dataclass(frozen=True, slots=True)
class ReportLine:
    """One provider-reported figure for one UTC day. ``amount`` is money in ``currency`` units
    (None on usage-only lines, which carry tokens instead); tokens follow OneVault's semantics:
    ``input_tokens`` includes cached reads and cache writes."""

    record_source: str
    usage_date: date
    bucket_start: datetime
    bucket_end: datetime
    raw: dict[str, Any]
    model_reported: str | None = None
    project_id: str | None = None
    api_key_id: str | None = None
    line_item: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    quantity: Decimal | None = None
    quantity_unit: str | None = None
    input_tokens: int | None = None
    cached_input_tokens: int | None = None
    cache_write_tokens: int | None = None
    output_tokens: int | None = None
    requests: int | None = None
    extra_key: tuple[str, ...] = field(default=())  # further dimensions that tell two lines apart

    @property
    def model(self) -> str | None:
        return normalise_model(self.model_reported)

    @property
    def dimensions(self) -> tuple[str | None, ...]:
        """What makes this line a line of its own within its day and report (its business key)."""
        return (self.model_reported, self.project_id, self.api_key_id, self.line_item, *self.extra_key)


def dec(value: Any) -> Decimal | None:
    """A provider's number as an exact Decimal: JSON floats go through their shortest text form
    (``0.1`` stays ``0.1``), strings are taken as written, empty means none."""
    if value is None or value == "":
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(str(value).strip())


def int_or_none(value: Any) -> int | None:
    if value is None or value == "":
        return None
    return int(value)
