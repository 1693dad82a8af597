"""Customers' own provider keys as the request path reads them: the usable key per provider,
decrypted in gateway memory only. Written by gateway/admin/provider_keys.py."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from decimal import Decimal

import asyncpg

from gateway.crypto import KeyRing, Sealed

# Each key's latest state with its customer and provider (``{where}``: which keys).
LATEST = """
select distinct on (s.provider_key_hk) h.provider_key_bk as key_id, c.customer_bk as customer,
       p.provider_bk as provider, s.*
from raw_vault.sat_provider_key_details s
join raw_vault.hub_provider_key h using (provider_key_hk)
join raw_vault.lnk_provider_key_customer l using (provider_key_hk)
join raw_vault.hub_customer c on c.customer_hk = l.customer_hk
join raw_vault.hub_provider p on p.provider_hk = l.provider_hk
where {where}
order by s.provider_key_hk, s.load_dts desc
"""


@dataclass(frozen=True, slots=True)
class CustomerProviderKey:
    """A decrypted key, only ever in gateway memory."""

    key_id: str
    provider: str
    api_style: str
    base_url: str | None
    secret: str = dataclasses.field(repr=False)
    allowed_models: tuple[str, ...] | None = None
    budget_daily: Decimal | None = None
    budget_monthly: Decimal | None = None

    def allows(self, model: str) -> bool:
        return not self.allowed_models or model in self.allowed_models


async def active_provider_keys(
    pool: asyncpg.Pool, keyring: KeyRing, customer: str
) -> dict[str, CustomerProviderKey]:
    """The customer's usable keys by provider name (newest first wins), decrypted."""
    rows = await pool.fetch(LATEST.format(where="c.customer_bk = $1"), customer)
    found: dict[str, CustomerProviderKey] = {}
    for row in sorted(rows, key=lambda r: r["load_dts"], reverse=True):
        if row["status"] != "active" or row["provider"] in found:
            continue
        sealed = Sealed(row["ciphertext"], row["nonce"], row["wrapped_dek"], row["kek_id"])
        found[row["provider"]] = CustomerProviderKey(
            row["key_id"],
            row["provider"],
            row["api_style"],
            row["base_url"],
            keyring.open(sealed, row["key_id"]),
            tuple(row["allowed_models"]) if row["allowed_models"] else None,
            row["budget_daily"],
            row["budget_monthly"],
        )
    return found
