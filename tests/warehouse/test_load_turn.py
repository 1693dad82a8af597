"""Writers take turns before their transaction begins, so ``load_dts`` orders loads by commit:
a load that waited for the billing run is stamped after it, never inside a finalised month."""

from __future__ import annotations

import asyncio

import asyncpg

from warehouse.loader import VaultLoader, load_turn
from warehouse.mapping import batch_from_events
from warehouse.synthetic import synthetic_events


async def test_a_load_that_waited_is_stamped_after_the_turn_it_waited_for(vault_pool: asyncpg.Pool) -> None:
    loader = VaultLoader(vault_pool)
    async with vault_pool.acquire() as holder:
        async with load_turn(holder):
            async with holder.transaction():
                finalised_at = await holder.fetchval("select now()")
                waiting = asyncio.create_task(loader.load(batch_from_events(synthetic_events(5, seed=11))))
                await asyncio.sleep(0.3)
                assert not waiting.done()  # the load waits for the turn...
                # ...and nothing of it is visible while the "billing run" reads the month
                assert await holder.fetchval("select count(*) from raw_vault.sat_cost_event_details") == 0
            committed_at = await holder.fetchval("select clock_timestamp()")  # committed, turn still held
        await waiting
    first = await vault_pool.fetchval("select min(load_dts) from raw_vault.sat_cost_event_details")
    assert first > finalised_at and first > committed_at


async def test_the_turn_is_released_when_a_load_fails(vault_pool: asyncpg.Pool) -> None:
    loader = VaultLoader(vault_pool)
    async with vault_pool.acquire() as conn:
        try:
            async with load_turn(conn), conn.transaction():
                await conn.execute("select 1/0")
        except asyncpg.DivisionByZeroError:
            pass
    await asyncio.wait_for(loader.load(batch_from_events(synthetic_events(2, seed=12))), timeout=5)
