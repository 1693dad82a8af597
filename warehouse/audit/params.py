"""What one export is about — customer, period, as-of — and those values as safe SQL literals.

Exports stream through ``COPY (query) TO STDOUT``, which takes no bind parameters, so the few
values a query needs are inlined here from types we control: timestamps in ISO form, the
customer's hash key as hex, text through ``convert_from(decode(<hex>))`` (no quoting to get
wrong, whatever the slug holds).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from warehouse.hashing import hash_key


def utc_text(value: datetime) -> str:
    """The one timestamp form of an export: ISO-8601, UTC, microseconds, ``Z``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ts_sql(column: str) -> str:
    """SQL giving ``column`` (timestamptz) in the form of ``utc_text``, whatever the session zone."""
    return f"""to_char({column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""


def text_literal(value: str) -> str:
    return f"convert_from(decode('{value.encode().hex()}', 'hex'), 'UTF8')"


@dataclass(frozen=True, slots=True)
class ExportScope:
    customer: str
    period_from: date  # inclusive
    period_to: date  # exclusive
    as_of: datetime

    def __post_init__(self) -> None:
        if self.period_to <= self.period_from:
            raise ValueError("the period's end must be after its start (--to is exclusive)")
        if self.as_of.tzinfo is None:
            raise ValueError("as_of must carry a time zone")

    @property
    def customer_hk(self) -> bytes:
        return hash_key(self.customer)

    @property
    def start(self) -> datetime:
        return datetime.combine(self.period_from, time(), UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.period_to, time(), UTC)

    def sql_values(self) -> dict[str, str]:
        """Placeholders every record-kind query may use, as SQL literals."""
        return {
            "customer_hk": f"'\\x{self.customer_hk.hex()}'::bytea",
            "customer": text_literal(self.customer),
            "start": f"'{self.start.isoformat()}'::timestamptz",
            "end": f"'{self.end.isoformat()}'::timestamptz",
            "as_of": f"'{self.as_of.astimezone(UTC).isoformat()}'::timestamptz",
        }
