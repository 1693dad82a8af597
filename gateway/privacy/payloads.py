"""Reading back a stored payload (retention ``encrypted``): the prompt as sent and the answer.

Fails with ``PayloadUnreadable`` once the customer's data key has been erased — that is the
point of crypto-shredding — or when the payload was only hashed.
"""

from __future__ import annotations

import asyncpg
import orjson

from gateway.crypto.data_keys import DataKeys, PayloadUnreadable
from warehouse.hashing import hash_key

_SQL = """
select p.* from raw_vault.sat_api_request_payload p
join raw_vault.lnk_api_request_context l on l.api_request_hk = p.api_request_hk
where p.api_request_hk = $1 and l.customer_hk = $2
order by p.load_dts desc limit 1
"""


async def read_payload(
    pool: asyncpg.Pool, keys: DataKeys, customer: str, request_id: str
) -> tuple[list[list[str]], str]:
    """(messages as ``[role, content]`` pairs, completion) of one of ``customer``'s requests."""
    row = await pool.fetchrow(_SQL, hash_key(request_id), hash_key(customer))
    if row is None or row["retention_mode"] != "encrypted":
        raise PayloadUnreadable(f"no encrypted payload stored for request {request_id}")
    key = await keys.find(customer, row["data_key_id"])
    if key is None:
        raise PayloadUnreadable(f"data key {row['data_key_id']} was erased")
    prompt = key.open(row["prompt_nonce"], row["prompt_ciphertext"], f"{request_id}:prompt")
    completion = key.open(row["completion_nonce"], row["completion_ciphertext"], f"{request_id}:completion")
    return orjson.loads(prompt), completion
