"""A customer's data settings on the request path: cache, PII screening, retention, embeddings.

Read from the customer's latest ``sat_customer_config`` row (columns from ``sql/010``, and
``drop_unsupported_params`` from ``sql/013``) and
kept per process for a few seconds (``PerCustomer``), like routing rules. ``None`` in a column
means the default here, so customers created before 010 behave as before: nothing cached,
nothing screened, nothing stored, no option dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import asyncpg

from warehouse.hashing import hash_key

DEFAULT_CACHE_TTL_S = 3600
DEFAULT_SIMILARITY = Decimal("0.92")
DEFAULT_EMBEDDING_MODEL = "text-embedding-3-small"


@dataclass(frozen=True, slots=True)
class DataPolicy:
    retention: str = "none"  # none | hash | encrypted
    pii_mode: str = "off"  # off | flag | redact | block
    cache_mode: str = "off"  # off | exact | semantic
    cache_ttl_s: int = DEFAULT_CACHE_TTL_S
    cache_similarity: Decimal = DEFAULT_SIMILARITY
    cache_price_per_request: Decimal | None = None
    cache_price_per_1k_tokens: Decimal | None = None
    embedding_model: str = DEFAULT_EMBEDDING_MODEL
    # sql/013: options a provider cannot honour are dropped (and recorded) instead of refused
    drop_unsupported_params: bool = False


_SQL = """
select retention_mode, pii_mode, cache_mode, cache_ttl_s, cache_similarity, cache_price_per_request,
       cache_price_per_1k_tokens, embedding_model, drop_unsupported_params
from raw_vault.sat_customer_config where customer_hk = $1 order by load_dts desc limit 1
"""


async def load_policy(pool: asyncpg.Pool, customer: str) -> DataPolicy:
    row = await pool.fetchrow(_SQL, hash_key(customer))
    if row is None:
        return DataPolicy()
    return DataPolicy(
        retention=row["retention_mode"] or "none",
        pii_mode=row["pii_mode"] or "off",
        cache_mode=row["cache_mode"] or "off",
        cache_ttl_s=row["cache_ttl_s"] or DEFAULT_CACHE_TTL_S,
        cache_similarity=row["cache_similarity"] or DEFAULT_SIMILARITY,
        cache_price_per_request=row["cache_price_per_request"],
        cache_price_per_1k_tokens=row["cache_price_per_1k_tokens"],
        embedding_model=row["embedding_model"] or DEFAULT_EMBEDDING_MODEL,
        drop_unsupported_params=bool(row["drop_unsupported_params"]),
    )
