"""Partitions: calendar months (UTC) for billing and chargeback, days for spend.

Only completed periods are partitions (``end_offset=0``): the current month appears once it
has ended, and finalisation still waits for the grace period after that.
"""

from __future__ import annotations

from datetime import date

from dagster import DailyPartitionsDefinition, MonthlyPartitionsDefinition

from warehouse.settings import Settings

FIRST_MONTH = date.fromisoformat(f"{Settings().billing_first_month}-01")

monthly = MonthlyPartitionsDefinition(start_date=FIRST_MONTH.isoformat(), timezone="UTC", end_offset=0)
daily = DailyPartitionsDefinition(start_date=FIRST_MONTH.isoformat(), timezone="UTC", end_offset=0)
