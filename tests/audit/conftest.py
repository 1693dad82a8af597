"""A vault with a month of synthetic traffic for two customers, plus what an auditor asks about:
admin actions (one an erasure), a provider key added then revoked, a routing rule changed, and
a finalised invoice with a correction line."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import asyncpg
import pytest

from gateway.admin.audit import AdminAction, record_admin_action
from gateway.admin.customers import CustomerConfig, create_customer
from gateway.admin.provider_keys import add_provider_key, revoke_provider_key
from gateway.admin.rules import create_rule, update_rule
from gateway.crypto.envelope import KeyRing, new_master_key
from warehouse import tables as t
from warehouse.audit import ExportScope, SigningKey
from warehouse.batch import VaultBatch
from warehouse.loader import VaultLoader
from warehouse.mapping import batch_from_events
from warehouse.synthetic import synthetic_events

CUSTOMERS = ("acme", "globex")


def this_month() -> tuple[date, date]:
    today = datetime.now(UTC).date()
    start = today.replace(day=1)
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


async def load_traffic(pool: asyncpg.Pool, n: int, *, seed: int, start: date) -> None:
    events = synthetic_events(
        n,
        seed=seed,
        customer_names=CUSTOMERS,
        start=datetime.combine(start, datetime.min.time(), UTC),
        span=timedelta(days=20),
        realistic=True,
        prefix=f"t{seed}",
    )
    await VaultLoader(pool).load(batch_from_events(events))


@dataclass(frozen=True)
class Seeded:
    period_from: date
    period_to: date
    provider_key_id: str
    load_traffic = staticmethod(load_traffic)  # tests add traffic later (folders are not packages)

    def scope(self, customer: str = "acme", as_of: datetime | None = None) -> ExportScope:
        return ExportScope(customer, self.period_from, self.period_to, as_of or datetime.now(UTC))


async def _invoice(pool: asyncpg.Pool, customer: str, start: date, end: date) -> None:
    batch = VaultBatch()
    bk = f"{customer}/{start:%Y-%m}"
    hk = batch.hub(t.HUB_INVOICE, bk, record_source="billing-run")
    c = batch.hub(t.HUB_CUSTOMER, customer, record_source="billing-run")
    batch.link(t.LNK_INVOICE_CUSTOMER, (hk, c), (bk, customer), record_source="billing-run")
    lines = [
        {
            "line_key": "usage:openai/gpt-4o",
            "line_type": "usage",
            "amount": "12.34",
            "charge_class": "regular",
        },
        {
            "line_key": "correction:x",
            "line_type": "correction",
            "amount": "0.56",
            "charge_class": "correction",
        },
    ]
    batch.sat(
        t.SAT_INVOICE_SNAPSHOT,
        hk,
        (
            f"OV-{customer}-1",
            customer,
            start,
            end,
            "finalised",
            "USD",
            Decimal("12.90"),
            Decimal("0"),
            Decimal("12.90"),
            json.dumps(lines),
            b"\x01" * 32,
            datetime.now(UTC),
            "OneVault",
        ),
        record_source="billing-run",
    )
    await VaultLoader(pool).load(batch)


@pytest.fixture
async def seeded(vault_pool: asyncpg.Pool) -> Seeded:
    start, end = this_month()
    for customer in CUSTOMERS:
        await create_customer(
            vault_pool, customer, CustomerConfig(display_name=customer.title()), changed_by="t"
        )
    await load_traffic(vault_pool, 240, seed=11, start=start)
    keyring = KeyRing(new_master_key())
    added = await add_provider_key(
        vault_pool, keyring, "acme", "openai", "sk-acme-secret-value", api_style="openai", changed_by="alice"
    )
    await revoke_provider_key(vault_pool, added["key_id"], changed_by="bob")
    await add_provider_key(
        vault_pool,
        keyring,
        "globex",
        "openai",
        "sk-globex-secret-value",
        api_style="openai",
        changed_by="ops@globex",
    )
    rule = await create_rule(
        vault_pool, "acme", changed_by="alice", name="cheap", target="openai/gpt-4o-mini"
    )
    await update_rule(vault_pool, rule.rule_id, {"priority": 5}, changed_by="bob")
    await create_rule(
        vault_pool, "globex", changed_by="ops@globex", name="globex-rule", target="openai/gpt-4o"
    )
    for customer, actor in (("acme", "alice"), ("globex", "ops@globex")):
        await record_admin_action(
            vault_pool,
            AdminAction(actor, "customers.update", customer, customer=customer, source_ip="10.0.0.7"),
        )
    await record_admin_action(
        vault_pool,
        AdminAction("alice", "customers.erase_payloads", "acme", customer="acme", detail="dk gone"),
    )
    for customer in CUSTOMERS:
        await _invoice(vault_pool, customer, start, end)
    return Seeded(start, end, added["key_id"])


@pytest.fixture(scope="session")
def signing_key() -> SigningKey:
    return SigningKey.generate()
