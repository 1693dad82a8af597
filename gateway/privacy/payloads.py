"""Reading back a stored payload (retention ``encrypted``): the conversation as sent and the answer.

Fails with ``PayloadUnreadable`` once the customer's data key has been erased — that is the
point of crypto-shredding — or when the payload was only hashed.

The prompt is the canonical request (``canonical_json.request_to_json``: every message with its
parts, tool calls and tool results, the tools and response format) and the completion the
canonical answer (``response_to_json``). Payloads stored before that kept ``[role, content]``
pairs and the answer's text; they read back as the same shapes (messages only, ``{"text": ...}``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson

from gateway.crypto.data_keys import DataKeys, PayloadUnreadable
from gateway.providers.canonical_json import content_from_json, request_from_json
from gateway.providers.types import ChatMessage, ChatRequest
from warehouse.hashing import hash_key

_SQL = """
select p.* from raw_vault.sat_api_request_payload p
join raw_vault.lnk_api_request_context l on l.api_request_hk = p.api_request_hk
where p.api_request_hk = $1 and l.customer_hk = $2
order by p.load_dts desc limit 1
"""


@dataclass(frozen=True, slots=True)
class StoredPayload:
    request: ChatRequest  # the conversation as sent (older payloads: the messages only, model "")
    answer: dict[str, Any]  # text, tool_calls, refusal, reasoning, finish_reason (as response_to_json)

    @property
    def messages(self) -> list[ChatMessage]:
        return self.request.messages


def parse_payload(prompt: str, completion: str) -> StoredPayload:
    doc = orjson.loads(prompt)
    if isinstance(doc, dict):
        return StoredPayload(request_from_json(doc), orjson.loads(completion))
    messages = [ChatMessage(role, content_from_json(content)) for role, content in doc]
    return StoredPayload(ChatRequest("", messages), {"text": completion})


async def read_payload(pool: asyncpg.Pool, keys: DataKeys, customer: str, request_id: str) -> StoredPayload:
    """The conversation and answer of one of ``customer``'s requests."""
    row = await pool.fetchrow(_SQL, hash_key(request_id), hash_key(customer))
    if row is None or row["retention_mode"] != "encrypted":
        raise PayloadUnreadable(f"no encrypted payload stored for request {request_id}")
    key = await keys.find(customer, row["data_key_id"])
    if key is None:
        raise PayloadUnreadable(f"data key {row['data_key_id']} was erased")
    prompt = key.open(row["prompt_nonce"], row["prompt_ciphertext"], f"{request_id}:prompt")
    completion = key.open(row["completion_nonce"], row["completion_ciphertext"], f"{request_id}:completion")
    return parse_payload(prompt, completion)
