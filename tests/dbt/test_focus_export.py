"""The FOCUS chargeback file passes the FinOps Foundation's ``focus-validator`` for the version it
claims (FOCUS 1.2: the validator's bundled rules; warehouse/audit/chargeback.py says why not 1.3).

Realistic synthetic traffic (tags, end users, failures, cache hits, a mid-month price change) for
a premium customer with subscriptions, tax and a credit grant (shared lines — credits too — split
by usage share) and a plain one, a ``dbt run`` of the chargeback and its parents; then October is
finalised, a late October request arrives (a correction line on November) and the chargeback is
refreshed. The audit export's ``chargeback_focus.csv`` for each customer and month goes through
the validator, which must report no failed rule.

The validator needs Python >= 3.12 and the project runs on 3.11, so it runs from a venv of its
own (tests/focus_validator.py finds or builds it); without a Python 3.12 the test is skipped and
says so.
"""

from __future__ import annotations

import asyncio
import csv
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest
from typer.testing import CliRunner

from gateway.admin.credits import grant_credit
from gateway.admin.customers import CustomerConfig, create_customer
from gateway.cli.main import app as cli_app
from tests.focus_validator import FOCUS_VERSION, validate_focus
from warehouse.audit.chargeback import FOCUS_VERSION as EXPORT_FOCUS_VERSION
from warehouse.audit.chargeback import write_chargeback
from warehouse.audit.params import ExportScope
from warehouse.billing import finalise_month
from warehouse.embedded import RedisEndpoint
from warehouse.events import RequestEvent
from warehouse.loader import VaultLoader
from warehouse.mapping import batch_from_events
from warehouse.settings import get_settings
from warehouse.synthetic import PriceChange, synthetic_events

CHANGE = PriceChange(datetime(2026, 10, 15, 12, tzinfo=UTC), Decimal("5"), Decimal("20"))
EVENTS = list(
    synthetic_events(
        600,
        seed=33,
        customer_names=["acme", "globex"],
        realistic=True,
        span=timedelta(days=45),
        price_changes={("openai", "gpt-4o"): CHANGE},
    )
)

OCTOBER = datetime(2026, 10, 1, tzinfo=UTC)


def late_october_request() -> RequestEvent:
    """A fresh October request for acme that reaches the vault after October was finalised."""
    event = next(synthetic_events(1, seed=91, customer_names=["acme"], prefix="late"))
    ts = OCTOBER + timedelta(days=20, hours=3)
    assert event.cost is not None
    return event.model_copy(
        update={
            "request_ts": ts,
            "completed_ts": ts,
            "cost": event.cost.model_copy(update={"event_ts": ts}),
            "attempts": [a.model_copy(update={"started_ts": ts}) for a in event.attempts],
        }
    )


@pytest.fixture(scope="module")
async def exported(module_pool: asyncpg.Pool, module_dbt, tmp_path_factory: pytest.TempPathFactory) -> dict:
    await create_customer(
        module_pool,
        "acme",
        CustomerConfig(
            display_name="Acme",
            tier="premium",
            subscribed_services=("analytics", "smart_routing"),
            tax_rate_pct=Decimal("10"),
        ),
        changed_by="test",
    )
    await create_customer(module_pool, "globex", CustomerConfig(display_name="Globex"), changed_by="test")
    # Credit lines: a grant bigger than October's usage pays October whole and November in part.
    await grant_credit(module_pool, "acme", Decimal("50.00"), changed_by="test", description="Welcome credit")
    loader = VaultLoader(module_pool)
    await loader.load(batch_from_events(e for e in EVENTS if e.request_ts < CHANGE.at))
    await loader.load(batch_from_events(e for e in EVENTS if e.request_ts >= CHANGE.at))
    module_dbt("seed")
    module_dbt("run", "--select", "+chargeback", "+invoices")  # finalising reads the invoices
    await finalise_month(module_pool, "2026-10", issuer="OneVault", grace_s=3600)
    await loader.load(batch_from_events([late_october_request()]))  # a correction on November
    module_dbt("run", "--select", "+chargeback")
    files: dict[tuple[str, date], Path] = {}
    async with module_pool.acquire() as conn:
        for customer in ("acme", "globex"):
            for month in (date(2026, 10, 1), date(2026, 11, 1)):
                nxt = date(month.year + month.month // 12, month.month % 12 + 1, 1)
                scope = ExportScope(customer, month, nxt, datetime.now(UTC))
                out = tmp_path_factory.mktemp(f"focus-{customer}-{month:%Y%m}")
                written = await write_chargeback(conn, scope, out)
                assert written is not None
                files[(customer, month)] = out / written.name
    return files


def test_the_export_claims_the_version_it_is_validated_against() -> None:
    assert EXPORT_FOCUS_VERSION == FOCUS_VERSION


@pytest.mark.parametrize("customer", ["acme", "globex"])
@pytest.mark.parametrize("month", [date(2026, 10, 1), date(2026, 11, 1)])
def test_chargeback_focus_csv_passes_the_focus_validator(exported: dict, customer: str, month: date) -> None:
    path = exported[(customer, month)]
    rows = list(csv.DictReader(path.open()))
    assert rows, "the export has charges to validate"
    assert {r["ChargeCategory"] for r in rows} >= {"Usage"}
    if customer == "acme":  # the grant's credit lines, and November's correction of October
        assert "Credit" in {r["ChargeCategory"] for r in rows}
        if month == date(2026, 11, 1):
            assert "Correction" in {r["ChargeClass"] for r in rows}
    report = validate_focus(path)
    assert report.total > 0 and report.passed > 100, report.output[-6000:]
    assert report.unexcused == (), report.output[-6000:]
    # the one the validator lists on any file with an InvoiceId (tests/focus_validator.py)
    assert set(report.excused) <= {"InvoiceId-C-004-C"}


async def test_the_cli_writes_the_same_validated_file(
    exported: dict,
    module_dsn: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    redis_server: RedisEndpoint,
) -> None:
    """`onevault chargeback export <customer> <month>`: the audit export's file, on its own."""
    monkeypatch.setenv("ONEVAULT_DATABASE_URL", module_dsn)
    monkeypatch.setenv("ONEVAULT_REDIS_URL", redis_server.url)  # never an embedded one on the default port
    get_settings.cache_clear()
    try:
        args = ["chargeback", "export", "acme", "2026-10", "--out", str(tmp_path)]
        done = await asyncio.to_thread(CliRunner().invoke, cli_app, args)
        missing = await asyncio.to_thread(
            CliRunner().invoke, cli_app, ["chargeback", "export", "acme", "10-2026"]
        )
    finally:
        get_settings.cache_clear()
    assert done.exit_code == 0, done.output
    assert "FOCUS 1.2" in done.output
    written = tmp_path / "chargeback_focus_acme_2026-10.csv"
    assert written.read_bytes() == exported[("acme", date(2026, 10, 1))].read_bytes()
    assert missing.exit_code != 0
