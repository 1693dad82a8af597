"""The in-process auth cache keeps refused keys apart from valid ones, each bounded: a flood of
unknown keys only churns the refused ones (oldest first), and a valid key stays cached — before,
one shared dict was cleared whole once 50,000 entries were reached, valid keys with it."""

from __future__ import annotations

import asyncpg
import pytest
import redis.asyncio as aioredis

from gateway.auth import principal as principal_module
from gateway.auth.keys import key_hash
from gateway.auth.principal import KeyStore
from gateway.auth.seal import PrincipalSeal
from tests.gateway.e2e.conftest import issue_key
from tests.security.authentication.kit import random_key

CAPACITY = 50


async def test_a_flood_of_unknown_keys_leaves_valid_keys_cached(
    vault_pool: asyncpg.Pool, redis_client: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(principal_module, "LOCAL_REFUSALS", CAPACITY)
    store = KeyStore(vault_pool, redis_client, seal=PrincipalSeal(b"a-test-secret-of-enough-bytes"))
    key, _ = await issue_key(vault_pool)
    assert await store.authenticate(key) is not None
    for _ in range(4 * CAPACITY):
        assert await store.authenticate(random_key()) is None
    assert len(store._refused) == CAPACITY, "the refused-key cache is not bounded"
    assert store._valid.get(key_hash(key))[0], "the flood evicted a valid key"

    class NoVault:
        async def fetchrow(self, *_: object) -> None:
            raise AssertionError("a cached valid key must not cost a vault lookup")

    store.pool = NoVault()  # type: ignore[assignment]
    assert (await store.authenticate(key)) is not None
