"""Load a ``VaultBatch`` into the raw vault in one transaction: COPY into temp tables, then
insert-select with an anti-join (hubs, links) or a latest-hash-diff comparison (satellites).
The database stamps ``load_dts`` so every row of a load shares one load time.

Satellite hash diffs are computed here, by PostgreSQL, with the recipe of
``warehouse/hashing.py`` inlined as one SQL expression per satellite (``ov_diff_part`` is an
inlinable SQL function). Hashing ~30 columns per row in Python was half the cost of a load;
in C inside the insert it is a few percent. Each column's text form is PostgreSQL's canonical
one for its type (``sat_hash_expression``), the same forms ``canonical_text`` documents, so
dbt and Python agree with what the loader stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from warehouse.batch import VaultBatch
from warehouse.tables import SCHEMA, HubSpec, LinkSpec, SatSpec, TableSpec

_LOAD_LOCK = 0x0E7A_0002  # loaders take turns so a redelivered event cannot race its twin

_TEXT_FORMS = {
    "text": "{c}",
    "character varying": "{c}::text",
    "timestamp with time zone": """to_char({c} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')""",
    "date": "to_char({c}, 'YYYY-MM-DD')",
    "numeric": "trim_scale({c})::text",
    "ARRAY": "array_to_json({c})::text",
    "bytea": "encode({c}, 'hex')",
    "inet": "host({c})",  # the address as the client sent it; ``inet::text`` would add "/32"
}


@dataclass(slots=True)
class LoadResult:
    inserted: dict[str, int] = field(default_factory=dict)
    offered: dict[str, int] = field(default_factory=dict)

    @property
    def rows_inserted(self) -> int:
        return sum(self.inserted.values())


def sat_hash_expression(spec: SatSpec, types: dict[str, str], alias: str = "t") -> str:
    """SQL for the recipe-v1 hash diff of a satellite row (``types``: column → data_type)."""
    # ``ov_diff_part`` spelled out so each column's value appears once: PostgreSQL will not
    # inline a SQL function whose parameter is used several times with a costly argument.
    parts = [
        "coalesce(nullif(replace(replace(replace("
        + _TEXT_FORMS.get(types[a], "{c}::text").format(c=f"{alias}.{a}")
        + r""", '\', '\\'), '|', '\|'), '^', '\^'), ''), '^^')"""
        for a in spec.hashed_attributes
    ]
    joined = " || '||' || ".join(parts)
    return f"sha256(convert_to({joined}, 'UTF8'))"


def hub_or_link_insert(spec: HubSpec | LinkSpec, tmp: str) -> str:
    # An anti-join is cheaper than ON CONFLICT's speculative insertion, and loads are
    # serialised by the advisory lock, so no concurrent loader can slip a key in between.
    cols = ", ".join(spec.columns)
    target = f"{SCHEMA}.{spec.name}"
    return (
        f"insert into {target} ({cols}, load_dts) select {cols}, now() from {tmp} t "
        f"where not exists (select 1 from {target} x where x.{spec.key} = t.{spec.key})"
    )


def sat_insert(spec: SatSpec, tmp: str, types: dict[str, str]) -> str:
    target = f"{SCHEMA}.{spec.name}"
    match = " and ".join(f"s.{c} = n.{c}" for c in spec.key_columns)
    copied = ", ".join(f"n.{c}" for c in spec.copy_columns)
    return (
        f"insert into {target} ({', '.join(spec.copy_columns)}, hash_diff, load_dts) "
        f"select {copied}, n.hash_diff, now() "
        # ``offset 0`` keeps the subquery from being flattened, which would evaluate the hash
        # expression twice (once for the comparison, once for the inserted column).
        f"from (select t.*, {sat_hash_expression(spec, types)} as hash_diff from {tmp} t offset 0) n "
        f"left join lateral (select s.hash_diff from {target} s where {match} "
        f"order by s.load_dts desc limit 1) latest on true "
        f"where latest.hash_diff is distinct from n.hash_diff"
    )


class VaultLoader:
    """Writes batches; safe to call again with the same batch (nothing changes)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._sql: dict[str, tuple[str, str, list[str]]] = {}

    async def load(self, batch: VaultBatch) -> LoadResult:
        result = LoadResult()
        if not len(batch):
            return result
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("select pg_advisory_xact_lock($1)", _LOAD_LOCK)
            # A batch is small next to the vault: probe the target's unique index per row. Left
            # to itself the planner hashes the *whole* target for every batch (it has no stats
            # for the fresh temp table), which makes each load slower as the vault grows.
            await conn.execute("set local enable_hashjoin = off; set local enable_mergejoin = off")
            for spec, rows in batch.tables():
                create, insert, columns = await self._statements(conn, spec)
                await conn.execute(create)
                await conn.copy_records_to_table(f"ov_tmp_{spec.name}", records=rows, columns=columns)
                status = await conn.execute(insert)
                result.inserted[spec.name] = int(status.rsplit(" ", 1)[-1])
                result.offered[spec.name] = len(rows)
        return result

    async def _statements(self, conn: asyncpg.Connection, spec: TableSpec) -> tuple[str, str, list[str]]:
        """(create temp table, insert, copied columns) for a table, built once per loader."""
        found = self._sql.get(spec.name)
        if found is not None:
            return found
        tmp = f"ov_tmp_{spec.name}"
        columns = list(spec.copy_columns if isinstance(spec, SatSpec) else spec.columns)
        create = (
            f"create temp table {tmp} on commit drop as "
            f"select {', '.join(columns)} from {SCHEMA}.{spec.name} with no data"
        )
        if isinstance(spec, SatSpec):
            rows = await conn.fetch(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = $1 and table_name = $2",
                SCHEMA,
                spec.name,
            )
            insert = sat_insert(spec, tmp, {r["column_name"]: r["data_type"] for r in rows})
        else:
            insert = hub_or_link_insert(spec, tmp)
        self._sql[spec.name] = (create, insert, columns)
        return self._sql[spec.name]


async def load_pipelined(
    loader: VaultLoader, batches: Iterable[Sequence[Any]], mapper: Callable[..., VaultBatch]
) -> int:
    """Load many batches, mapping batch *n+1* in a worker thread while PostgreSQL loads batch *n*.

    The two sides mostly run on different cores (Python mapping here, the inserts in the server),
    so the wall time approaches the slower side instead of their sum. Returns rows inserted.
    """
    rows = 0
    pending: VaultBatch | None = None
    for items in batches:
        mapped = asyncio.to_thread(mapper, items)
        if pending is None:
            pending = await mapped
            continue
        result, pending = await asyncio.gather(loader.load(pending), mapped)
        rows += result.rows_inserted
    if pending is not None:
        rows += (await loader.load(pending)).rows_inserted
    return rows
