"""Reconciliation against the provider's own bill, end to end: traffic through the gateway to
the simulator, the simulator's bills (OpenAI Costs/Usage API, Anthropic Admin reports, a GCP
billing export) imported with ``onevault reconcile import``, then a real dbt build of
marts.provider_reconciliation. The simulator's bill differs where we make it: a call OneVault
never saw (over, usage) and a price change OneVault did not know (under, price); untouched
models are matched. Re-importing the same reports leaves the vault unchanged."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.gateway.e2e.conftest import REAL_REQUESTS, Gateway, run, wait_for_rows

TRAFFIC = [
    "gpt-4o",
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4o-mini",
    "claude-3-5-haiku-latest",
    "claude-3-5-haiku-latest",
    "gemini-1.5-flash",
]
REPORT_TABLES = ("sat_provider_report_line", "sat_provider_report_import", "hub_provider_report_line")


async def _count_report_rows(pool: asyncpg.Pool) -> dict[str, int]:
    return {t: await pool.fetchval(f"select count(*) from raw_vault.{t}") for t in REPORT_TABLES}


async def test_mart_names_the_day_and_model_where_the_bill_differs(
    gateway: Gateway,
    cli,
    vault_dsn: str,
    vault_pool: asyncpg.Pool,
    tmp_path: Path,
    make_dbt,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim = gateway.sim.url
    # A price change the gateway does not know: Anthropic now bills haiku at half the list price.
    async with httpx.AsyncClient(base_url=sim, timeout=30) as raw:
        r = await raw.patch("/_sim/billing", json={"price_factor": {"claude-3-5-haiku-latest": "0.5"}})
        assert r.status_code == 200, r.text
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as client:
        for model in TRAFFIC:
            r = await client.post(
                "/v1/ai/completions",
                json={"prompt": f"Reconcile {model}", "model": model, "max_tokens": 200},
                headers={"authorization": f"Bearer {gateway.key}"},
            )
            assert r.status_code == 200, r.text
    # A call OneVault never saw: someone used the same OpenAI key directly.
    async with httpx.AsyncClient(base_url=sim, timeout=30) as raw:
        r = await raw.post(
            "/v1/chat/completions",
            json={"model": "gpt-4o", "messages": [{"role": "user", "content": "Reconcile gpt-4o"}]},
            headers={"authorization": "Bearer sim-openai"},
        )
        assert r.status_code == 200, r.text
        gcp_csv = (await raw.get("/_sim/billing/exports/gcp.csv")).text
    assert await wait_for_rows(vault_pool, REAL_REQUESTS, len(TRAFFIC)) == len(TRAFFIC)
    await asyncio.sleep(0.3)  # the loader commits a request's rows together; let the last batch land

    today = datetime.now(UTC).date().isoformat()
    monkeypatch.setenv("ONEVAULT_RECONCILE_OPENAI_ADMIN_KEY", "sim-admin")
    monkeypatch.setenv("ONEVAULT_RECONCILE_ANTHROPIC_ADMIN_KEY", "sim-admin")
    export = tmp_path / "gcp-billing.csv"
    export.write_text(gcp_csv)
    imports = [
        ("reconcile", "import", "openai", "--base-url", f"{sim}/v1", "--day", today),
        ("reconcile", "import", "anthropic", "--base-url", sim, "--day", today),
        ("reconcile", "import", "gemini", "--file", str(export)),
    ]
    for args in imports:
        done = await run(cli, *args)
        assert done.exit_code == 0, done.output
    assert "openai-costs-api" in (await run(cli, *imports[0])).output
    before = await _count_report_rows(vault_pool)
    for args in imports:  # the same reports again: nothing new in the vault
        done = await run(cli, *args)
        assert done.exit_code == 0 and "unchanged" in done.output, done.output
    assert await _count_report_rows(vault_pool) == before

    dbt = make_dbt(vault_dsn, tmp_path / "dbt")
    built = await asyncio.to_thread(
        dbt, "build", "--select", "+provider_reconciliation", "--indirect-selection", "cautious"
    )
    assert "ERROR=0" in built.stdout
    rows = await vault_pool.fetch(
        "select usage_date::text as day, provider, model, status, likely_cause, missing_from, "
        "onevault_cost, provider_cost, variance, onevault_requests from marts.provider_reconciliation"
    )
    got = {(r["day"], r["provider"], r["model"]): r for r in rows}
    assert set(got) == {
        (today, "openai", "gpt-4o"),
        (today, "openai", "gpt-4o-mini"),
        (today, "anthropic", "claude-3-5-haiku"),
        (today, "gemini", "gemini-1.5-flash"),
    }, rows
    over = got[(today, "openai", "gpt-4o")]
    assert (over["status"], over["likely_cause"], over["onevault_requests"]) == ("over", "usage", 2)
    assert over["provider_cost"] > over["onevault_cost"] > 0
    under = got[(today, "anthropic", "claude-3-5-haiku")]
    assert (under["status"], under["likely_cause"]) == ("under", "price")
    assert abs(under["variance"] * 2 + under["onevault_cost"]) < under["onevault_cost"] / 100  # half price
    for key in [(today, "openai", "gpt-4o-mini"), (today, "gemini", "gemini-1.5-flash")]:
        assert got[key]["status"] == "matched", got[key]
        assert abs(got[key]["variance"]) < 0.000001

    # An incremental refresh with nothing new keeps the same answer; the CLI prints it.
    again = await asyncio.to_thread(dbt, "run", "--select", "provider_reconciliation")
    assert "ERROR=0" in again.stdout
    assert await vault_pool.fetchval("select count(*) from marts.provider_reconciliation") == len(rows)
    shown = await run(cli, "reconcile", "show", "--mismatches")
    assert shown.exit_code == 0, shown.output
    assert "gpt-4o " in shown.output and "over (usage)" in shown.output and "under (price)" in shown.output
    assert "gpt-4o-mini" not in shown.output
