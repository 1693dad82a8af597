"""Billing periods: calendar months in UTC, closed for billing a grace period after they end."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta


@dataclass(frozen=True, slots=True)
class Period:
    start: date  # first day of the month
    end: date  # first day of the next month (exclusive)

    @classmethod
    def of(cls, month: str | date) -> Period:
        """``'2025-03'``, ``'2025-03-01'`` (a Dagster partition key) or any date in the month."""
        if isinstance(month, str):
            month = date.fromisoformat(month if len(month) > 7 else f"{month}-01")
        start = month.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
        return cls(start, end)

    @property
    def key(self) -> str:
        return self.start.strftime("%Y-%m")

    @property
    def start_ts(self) -> datetime:
        return datetime.combine(self.start, datetime.min.time(), UTC)

    @property
    def end_ts(self) -> datetime:
        return datetime.combine(self.end, datetime.min.time(), UTC)

    def closes_at(self, grace_s: float) -> datetime:
        """When the month may be finalised: its end plus the grace period for late loads."""
        return self.end_ts + timedelta(seconds=grace_s)

    def next(self) -> Period:
        return Period.of(self.end)

    def previous(self) -> Period:
        return Period.of(self.start - timedelta(days=1))

    def __str__(self) -> str:
        return self.key
