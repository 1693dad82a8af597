"""Finalisation's refusals and the invoice documents, without Dagster (plain Python)."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest

from dagster_pipelines.documents import render
from dagster_pipelines.jobs import billing_cron
from warehouse.billing import MonthStillOpen, Period, finalise_month
from warehouse.billing.finalise import issuer_lock_id
from warehouse.billing.invoices import InvoiceDoc, render_text

# Dagster reads the manifest in dbt_project/target, which the session parses into: one worker.
pytestmark = pytest.mark.xdist_group("dbt_target")


async def test_an_open_month_is_never_finalised(vault_pool: asyncpg.Pool) -> None:
    inside_grace = datetime(2025, 4, 1, 0, 30, tzinfo=UTC)
    with pytest.raises(MonthStillOpen, match=r"closes for billing at 2025-04-01 01:00 UTC"):
        await finalise_month(vault_pool, "2025-03", issuer="OneVault", grace_s=3600, now=inside_grace)
    with pytest.raises(MonthStillOpen):  # the month itself is open, grace or not
        await finalise_month(
            vault_pool, "2025-03", issuer="OneVault", grace_s=0, now=datetime(2025, 3, 31, tzinfo=UTC)
        )
    assert await vault_pool.fetchval("select count(*) from raw_vault.sat_invoice_snapshot") == 0


def test_billing_schedule_waits_for_the_grace_period() -> None:
    assert billing_cron(3600) == (1, 5)
    assert billing_cron(2 * 3600 + 30 * 60) == (2, 35)
    assert issuer_lock_id("OneVault") != issuer_lock_id("Other Co")  # numbering is per issuer


def _doc() -> InvoiceDoc:
    line = {
        "line_no": 1,
        "line_type": "usage",
        "charge_class": "regular",
        "description": "Usage: openai / gpt-4o-mini",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "quantity": "1200",
        "unit": "tokens",
        "input_tokens": 700,
        "output_tokens": 500,
        "provider_cost": "0.000405000000",
        "markup": "0.000081000000",
        "amount_exact": "0.000486000000",
        "amount": "0.00",
        "currency": "USD",
        "correction_of_period": None,
    }
    correction = {
        **line,
        "line_no": 2,
        "line_type": "correction",
        "charge_class": "correction",
        "amount_exact": "1.234567000000",
        "amount": "1.23",
        "correction_of_period": "2025-02-01",
    }
    fee = {
        **line,
        "line_no": 3,
        "line_type": "subscription",
        "description": "Smart Routing & Optimization",
        "quantity": "1",
        "unit": "month",
        "amount_exact": "100.000000000000",
        "amount": "100.00",
    }
    return InvoiceDoc(
        invoice_id="acme/2025-03",
        customer="acme",
        customer_name="Acme – Corporation",  # non-Latin-1 dash: folded for the PDF's core font
        period=Period.of("2025-03"),
        status="finalised",
        currency="USD",
        subtotal=Decimal("101.23"),
        tax=Decimal("19.23"),
        total=Decimal("120.46"),
        tax_rate_pct=Decimal("19.0000"),
        lines=[line, correction, fee],
        invoice_number="INV-000007",
        issuer="OneVault",
        issued_ts=datetime(2025, 4, 1, 1, 5, tzinfo=UTC),
        content_hash="ab" * 32,
    )


def test_terminal_pdf_and_csv_renderings(tmp_path: Path) -> None:
    doc = _doc()
    text = render_text(doc)
    assert "INVOICE INV-000007" in text and "Tax (19%)" in text and "USD       120.46" in text
    assert "[correction 2025-02] Usage: openai" in text

    first = render(doc, tmp_path / "a")
    again = render(doc, tmp_path / "b")
    assert first.pdf.read_bytes().startswith(b"%PDF")
    assert first.pdf.read_bytes() == again.pdf.read_bytes()  # same invoice, same bytes
    rows = list(csv.DictReader(first.csv.open()))
    assert [r["line_no"] for r in rows] == ["1", "2", "3"]
    assert rows[1]["charge_class"] == "correction" and rows[1]["correction_of_period"] == "2025-02-01"
    assert rows[0]["invoice_number"] == "INV-000007" and rows[0]["amount_exact"] == "0.000486000000"
    assert sum(Decimal(r["amount"]) for r in rows) == doc.subtotal
