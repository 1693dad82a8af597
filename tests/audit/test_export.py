"""Audit exports against a real vault: they verify; any edited byte, a deleted row or swapped
manifests fail naming the file; the same as_of gives the same bytes; one customer's export
holds nothing of another's; the chain links exports."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from warehouse.audit import SigningKey, export_customer, verify_against_vault, verify_offline
from warehouse.audit.manifest import MANIFEST, SIGNATURE

DATA_FILES = {
    f"{kind}.{fmt}"
    for kind in ("requests", "admin_actions", "provider_keys", "routing_rules", "invoices", "erasures")
    for fmt in ("jsonl", "csv")
} | {"records_of_processing.json", "SHA256SUMS"}


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _verify_with_stock_tools(out: Path, pem: Path) -> None:
    if not (shutil.which("openssl") and shutil.which("sha256sum")):
        return
    sums = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=out, capture_output=True, text=True)
    assert sums.returncode == 0, sums.stdout
    args = ["-verify", "-pubin", "-inkey", str(pem), "-rawin", "-in", MANIFEST, "-sigfile", SIGNATURE]
    openssl = subprocess.run(["openssl", "pkeyutl", *args], cwd=out, capture_output=True, text=True)
    assert "Signature Verified Successfully" in openssl.stdout, openssl.stderr


async def test_an_export_of_a_month_verifies_offline_and_against_the_vault(
    vault_pool: asyncpg.Pool, seeded: Any, signing_key: SigningKey, tmp_path: Path
) -> None:
    result = await export_customer(vault_pool, seeded.scope(), tmp_path / "x", signing_key, created_by="t")
    out = result.out
    assert {p.name for p in out.iterdir()} == DATA_FILES | {MANIFEST, SIGNATURE}
    requests = _rows(out / "requests.jsonl")
    expected = await vault_pool.fetchval(
        "select count(*) from raw_vault.lnk_api_request_context l "
        "join raw_vault.hub_customer c using (customer_hk) where c.customer_bk = 'acme'"
    )
    assert len(requests) == expected == result.totals["requests"] > 50
    assert [r["request_ts"] for r in requests] == sorted(r["request_ts"] for r in requests)
    first = requests[0]
    assert (
        first["customer"] == "acme" and first["request_ts"].endswith("Z") and len(first["request_ts"]) == 27
    )
    priced = next(r for r in requests if r["customer_cost"])
    assert isinstance(priced["customer_cost"], str) and len(priced["customer_cost"].split(".")[1]) == 12
    assert priced["attempts"] and priced["attempts"][-1]["outcome"] == "success"
    events = {r["event"] for r in _rows(out / "provider_keys.jsonl")}
    assert events == {"added", "revoked"}
    assert all(
        "ciphertext" not in r and "sk-acme" not in json.dumps(r) for r in _rows(out / "provider_keys.jsonl")
    )
    rules = _rows(out / "routing_rules.jsonl")
    assert [(r["version"], r["changed_by"], r["priority"]) for r in rules] == [
        (1, "alice", 100),
        (2, "bob", 5),
    ]
    assert rules[0]["valid_to"] == rules[1]["valid_from"]
    assert [r["action"] for r in _rows(out / "erasures.jsonl")] == ["customers.erase_payloads"]
    invoice = _rows(out / "invoices.jsonl")[0]
    assert invoice["status"] == "finalised" and [c["line_key"] for c in invoice["corrections"]] == [
        "correction:x"
    ]
    processing = json.loads((out / "records_of_processing.json").read_text())
    assert {r["provider"] for r in processing["recipients"]} <= {"openai", "anthropic", "gemini"}
    assert processing["retention_modes_in_period"] == ["none"]
    doc = json.loads((out / MANIFEST).read_text())
    assert doc["previous_manifest_sha256"] is None and "marts.chargeback does not exist" in doc["chargeback"]
    assert doc["software"]["version"] and doc["software"]["git_commit"]

    checked = verify_offline(out, signing_key.public)
    assert checked.ok, checked.problems
    await verify_against_vault(vault_pool, checked)
    assert checked.ok, checked.problems
    assert any("totals re-derived from the vault match" in c for c in checked.checked)

    # --- stock tools agree, with no OneVault installed: sha256sum and openssl
    (tmp_path / "pub.pem").write_text(signing_key.public_pem)
    _verify_with_stock_tools(out, tmp_path / "pub.pem")

    # --- one flipped byte in any file fails, naming it
    for name in sorted(DATA_FILES | {MANIFEST, SIGNATURE}):
        copy = tmp_path / f"flip-{name}"
        shutil.copytree(out, copy)
        data = bytearray((copy / name).read_bytes())
        data[len(data) // 2] ^= 0x01
        (copy / name).write_bytes(bytes(data))
        v = verify_offline(copy, signing_key.public)
        assert not v.ok, name
        named = MANIFEST if name == SIGNATURE else name
        assert any(p.startswith(named) for p in v.problems), (name, v.problems)

    # --- one deleted row fails with the row count
    copy = tmp_path / "deleted-row"
    shutil.copytree(out, copy)
    lines = (copy / "requests.jsonl").read_text().splitlines(keepends=True)
    (copy / "requests.jsonl").write_text("".join(lines[:3] + lines[4:]))
    v = verify_offline(copy, signing_key.public)
    assert (
        f"requests.jsonl: {len(lines) - 1} rows, the manifest says {len(lines)} (rows deleted or added)"
        in v.problems
    )

    # --- another key's signature is refused
    assert not verify_offline(out, SigningKey.generate().public).ok


async def test_swapped_manifests_fail(
    vault_pool: asyncpg.Pool, seeded: Any, signing_key: SigningKey, tmp_path: Path
) -> None:
    a = (
        await export_customer(vault_pool, seeded.scope("acme"), tmp_path / "a", signing_key, created_by="t")
    ).out
    b = (
        await export_customer(vault_pool, seeded.scope("globex"), tmp_path / "b", signing_key, created_by="t")
    ).out
    for name in (MANIFEST, SIGNATURE):
        (a / name).rename(tmp_path / name)
        (b / name).rename(a / name)
        (tmp_path / name).rename(b / name)
    for out in (a, b):
        v = verify_offline(out, signing_key.public)
        assert any(
            p == "requests.jsonl: SHA-256 does not match the manifest (file edited)" for p in v.problems
        )
    # only the manifest swapped (signatures left behind): the signature no longer verifies
    (a / MANIFEST).rename(tmp_path / MANIFEST)
    (b / MANIFEST).rename(a / MANIFEST)
    (tmp_path / MANIFEST).rename(b / MANIFEST)
    (a / SIGNATURE).rename(tmp_path / SIGNATURE)
    (b / SIGNATURE).rename(a / SIGNATURE)
    (tmp_path / SIGNATURE).rename(b / SIGNATURE)
    assert verify_offline(a, signing_key.public).ok  # back in place
    shutil.copy(b / MANIFEST, a / MANIFEST)
    v = verify_offline(a, signing_key.public)
    assert any("Ed25519 signature" in p for p in v.problems)


async def test_the_same_as_of_gives_byte_identical_files_despite_new_traffic(
    vault_pool: asyncpg.Pool, seeded: Any, signing_key: SigningKey, tmp_path: Path
) -> None:
    as_of = datetime.now(UTC)
    first = await export_customer(
        vault_pool, seeded.scope(as_of=as_of), tmp_path / "1", signing_key, created_by="t"
    )
    await seeded.load_traffic(
        vault_pool, 60, seed=12, start=seeded.period_from
    )  # new requests in the same period
    await vault_pool.execute("select pg_sleep(0.01)")
    second = await export_customer(
        vault_pool, seeded.scope(as_of=as_of), tmp_path / "2", signing_key, created_by="t"
    )
    for name in DATA_FILES:
        assert (first.out / name).read_bytes() == (second.out / name).read_bytes(), name
    assert first.totals == second.totals
    assert second.previous_manifest_sha256 == first.manifest_sha256  # the chain goes on
    now = await export_customer(vault_pool, seeded.scope(), tmp_path / "3", signing_key, created_by="t")
    assert now.totals["requests"] > first.totals["requests"]  # as_of really excluded the new rows
    v = verify_offline(second.out, signing_key.public, previous=first.out)
    await verify_against_vault(vault_pool, v)
    assert v.ok, v.problems
    broken = verify_offline(now.out, signing_key.public, previous=first.out)
    assert any("chain broken" in p for p in broken.problems)


async def test_one_customers_export_holds_nothing_of_another(
    vault_pool: asyncpg.Pool, seeded: Any, signing_key: SigningKey, tmp_path: Path
) -> None:
    out = (
        await export_customer(vault_pool, seeded.scope("acme"), tmp_path / "a", signing_key, created_by="t")
    ).out
    globex_ids = [
        r[0]
        for r in await vault_pool.fetch(
            "select h.api_request_bk from raw_vault.lnk_api_request_context l "
            "join raw_vault.hub_api_request h using (api_request_hk) "
            "join raw_vault.hub_customer c using (customer_hk) where c.customer_bk = 'globex'"
        )
    ]
    globex_keys = [
        r[0]
        for r in await vault_pool.fetch(
            "select h.provider_key_bk from raw_vault.lnk_provider_key_customer l "
            "join raw_vault.hub_provider_key h using (provider_key_hk) "
            "join raw_vault.hub_customer c using (customer_hk) where c.customer_bk = 'globex' "
            "union all select h.routing_rule_bk from raw_vault.lnk_routing_rule_customer l "
            "join raw_vault.hub_routing_rule h using (routing_rule_hk) "
            "join raw_vault.hub_customer c using (customer_hk) where c.customer_bk = 'globex'"
        )
    ]
    assert globex_ids and len(globex_keys) == 2
    for path in out.iterdir():
        text = path.read_text(errors="replace").lower()
        assert "globex" not in text, path.name
        assert not any(i.lower() in text for i in globex_ids + globex_keys), path.name


async def test_an_export_goes_into_an_empty_directory(
    vault_pool: asyncpg.Pool, seeded: Any, signing_key: SigningKey, tmp_path: Path
) -> None:
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("x")
    from warehouse.audit import ExportError

    with pytest.raises(ExportError, match="not empty"):
        await export_customer(vault_pool, seeded.scope(), tmp_path / "used", signing_key, created_by="t")


async def test_an_export_waits_for_writers_that_started_before_as_of(vault_pool: asyncpg.Pool) -> None:
    """A loader's rows carry its transaction's start time: until it commits, an export as of a
    later moment would miss rows that a re-export with the same as_of would then include."""
    from warehouse.audit.export import settle

    async with vault_pool.acquire() as writer:
        tx = writer.transaction()
        await tx.start()
        await writer.execute(
            "insert into raw_vault.hub_customer values ($1, 'late', now(), 'test')", b"\x07" * 32
        )
        as_of = await writer.fetchval("select clock_timestamp()")
        assert await settle(vault_pool, as_of, timeout_s=0.3) is False
        await tx.commit()
    assert await settle(vault_pool, as_of, timeout_s=0.3) is True


async def test_the_focus_chargeback_file_comes_from_the_mart_for_this_customer_only(
    vault_pool: asyncpg.Pool, seeded: Any, signing_key: SigningKey, tmp_path: Path
) -> None:
    """A table with the mart's documented columns (dbt_project/models/marts/_marts__chargeback.yml)
    stands in for a dbt build here; tests/dbt build the real one."""
    yml = (Path(__file__).parents[2] / "dbt_project/models/marts/_marts__chargeback.yml").read_text()
    names = re.findall(r"^      - name: (\w+)", yml, re.M)
    types = (
        {"x_requests": "bigint", "tags": "jsonb"}
        | {c: "timestamptz" for c in names if c.endswith(("_period_start", "_period_end"))}
        | {c: "numeric(24,12)" for c in names if c.endswith(("_cost", "_quantity"))}
    )
    await vault_pool.execute(
        "create schema if not exists marts; create table marts.chargeback ("
        + ", ".join(f"{c} {types.get(c, 'text')}" for c in names)
        + ")"
    )
    for customer, cost in (("acme", "1.5"), ("globex", "9.25")):
        await vault_pool.execute(
            "insert into marts.chargeback (customer_slug, x_invoice_id, billed_cost, billing_currency, "
            "billing_period_start, billing_period_end, charge_category, tags) "
            "values ($1, $1 || '/m', $2::numeric, 'USD', $3, $4, 'Usage', '{\"team\": \"ml\"}')",
            customer,
            cost,
            datetime.combine(seeded.period_from, datetime.min.time(), UTC),
            datetime.combine(seeded.period_to, datetime.min.time(), UTC),
        )
    out = (await export_customer(vault_pool, seeded.scope(), tmp_path / "x", signing_key, created_by="t")).out
    header, *rows = list(csv.reader((out / "chargeback_focus.csv").open()))
    assert {"BilledCost", "BillingPeriodStart", "ChargeCategory", "SubAccountId", "x_invoice_id"} <= set(
        header
    )
    assert [dict(zip(header, r, strict=True))["BilledCost"] for r in rows] == ["1.500000000000"]
    doc = json.loads((out / MANIFEST).read_text())
    assert "as_of does not apply" in doc["chargeback"]
    assert verify_offline(out, signing_key.public).ok
