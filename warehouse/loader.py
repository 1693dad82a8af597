"""Load a ``VaultBatch`` into the raw vault in one transaction: COPY into temp tables, then
insert-select with ``ON CONFLICT DO NOTHING`` (hubs, links) or a latest-hash-diff anti-join
(satellites). The database stamps ``load_dts`` so every row of a load shares one load time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg

from warehouse.batch import VaultBatch
from warehouse.tables import SCHEMA, HubSpec, LinkSpec, SatSpec, TableSpec

_LOAD_LOCK = 0x0E7A_0002  # loaders take turns so a redelivered event cannot race its twin


@dataclass(slots=True)
class LoadResult:
    inserted: dict[str, int] = field(default_factory=dict)
    offered: dict[str, int] = field(default_factory=dict)

    @property
    def rows_inserted(self) -> int:
        return sum(self.inserted.values())


def _insert_sql(spec: TableSpec, tmp: str) -> str:
    cols = ", ".join(spec.columns)
    target = f"{SCHEMA}.{spec.name}"
    if isinstance(spec, (HubSpec, LinkSpec)):
        # An anti-join is cheaper than ON CONFLICT's speculative insertion, and loads are
        # serialised by the advisory lock, so no concurrent loader can slip a key in between.
        return (
            f"insert into {target} ({cols}, load_dts) select {cols}, now() from {tmp} t "
            f"where not exists (select 1 from {target} x where x.{spec.key} = t.{spec.key})"
        )
    assert isinstance(spec, SatSpec)
    match = " and ".join(f"s.{c} = t.{c}" for c in spec.key_columns)
    tcols = ", ".join(f"t.{c}" for c in spec.columns)
    return (
        f"insert into {target} ({cols}, load_dts) select {tcols}, now() from {tmp} t "
        f"left join lateral (select s.hash_diff from {target} s where {match} "
        f"order by s.load_dts desc limit 1) latest on true "
        f"where latest.hash_diff is distinct from t.hash_diff"
    )


class VaultLoader:
    """Writes batches; safe to call again with the same batch (nothing changes)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def load(self, batch: VaultBatch) -> LoadResult:
        result = LoadResult()
        if not len(batch):
            return result
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("select pg_advisory_xact_lock($1)", _LOAD_LOCK)
            for spec, rows in batch.tables():
                tmp = f"ov_tmp_{spec.name}"
                cols = ", ".join(spec.columns)
                await conn.execute(
                    f"create temp table {tmp} on commit drop as "
                    f"select {cols} from {SCHEMA}.{spec.name} with no data"
                )
                await conn.copy_records_to_table(tmp, records=rows, columns=list(spec.columns))
                status = await conn.execute(_insert_sql(spec, tmp))
                result.inserted[spec.name] = int(status.rsplit(" ", 1)[-1])
                result.offered[spec.name] = len(rows)
        return result
