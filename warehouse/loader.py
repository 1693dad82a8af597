"""Load a ``VaultBatch`` into the raw vault in one transaction: COPY into temp tables, then
insert-select with an anti-join (hubs, links) or a latest-hash-diff comparison (satellites).
The database stamps ``load_dts`` so every row of a load shares one load time.

Satellite hash diffs are computed here, by PostgreSQL, with the recipe of
``warehouse/hashing.py`` inlined as one SQL expression per satellite (``ov_diff_part`` is an
inlinable SQL function). Hashing ~30 columns per row in Python was half the cost of a load;
in C inside the insert it is a few percent. Each column's text form is PostgreSQL's canonical
one for its type (``sat_hash_expression``), the same forms ``canonical_text`` documents, so
dbt and Python agree with what the loader stored. A satellite's late columns (``SatSpec.late``)
add ``||name=text`` only when set, the rule ``warehouse/hashing.py`` documents.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import asyncpg

from warehouse.batch import VaultBatch
from warehouse.tables import HUBS, SCHEMA, HubSpec, LinkSpec, SatSpec, TableSpec

T = TypeVar("T")

_LOAD_LOCK = 0x0E7A_0002  # loaders take turns so a redelivered event cannot race its twin
_KNOWN_MAX = 100_000  # keys remembered per table, a few MB at most

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
# Types whose text form is never empty and never holds ``\``, ``|`` or ``^``: escaping them
# would change nothing, so their part is only the NULL marker's ``coalesce`` (a third of the
# hash expression's cost on a request row, which is mostly numbers and times).
_PLAIN_FORMS = {
    "timestamp with time zone",
    "date",
    "numeric",
    "inet",
    "integer",
    "bigint",
    "smallint",
    "boolean",
}


@dataclass(slots=True)
class LoadResult:
    inserted: dict[str, int] = field(default_factory=dict)
    offered: dict[str, int] = field(default_factory=dict)
    appended: set[str] = field(default_factory=set)  # tables loaded without looking for old rows

    @property
    def rows_inserted(self) -> int:
        return sum(self.inserted.values())


def _part_text(data_type: str, column: str) -> str:
    """A column's escaped text form, NULL when the column is NULL or its text is empty."""
    text = _TEXT_FORMS.get(data_type, "{c}::text").format(c=column)
    if data_type in _PLAIN_FORMS:
        return text
    escaped = rf"""replace(replace(replace({text}, '\', '\\'), '|', '\|'), '^', '\^')"""
    return f"nullif({escaped}, '')"


def _diff_part(data_type: str, column: str) -> str:
    return f"coalesce({_part_text(data_type, column)}, '^^')"


def _late_part(data_type: str, column: str, name: str) -> str:
    """A late column's part: ``||name=text`` when set, nothing when NULL (hashing.late_parts)."""
    return f"coalesce('||{name}=' || {_part_text(data_type, column)}, '')"


def sat_hash_expression(spec: SatSpec, types: dict[str, str], alias: str = "t") -> str:
    """SQL for the recipe-v1 hash diff of a satellite row (``types``: column → data_type)."""
    # ``ov_diff_part`` spelled out so each column's value appears once: PostgreSQL will not
    # inline a SQL function whose parameter is used several times with a costly argument.
    joined = " || '||' || ".join(_diff_part(types[a], f"{alias}.{a}") for a in spec.hashed_attributes)
    late = "".join(f" || {_late_part(types[a], f'{alias}.{a}', a)}" for a in spec.late)
    return f"sha256(convert_to({joined}{late}, 'UTF8'))"


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


def sat_append(spec: SatSpec, tmp: str, types: dict[str, str]) -> str:
    """Insert every row: for keys the load has just created there is no latest row to compare."""
    target = f"{SCHEMA}.{spec.name}"
    copied = ", ".join(f"t.{c}" for c in spec.copy_columns)
    return (
        f"insert into {target} ({', '.join(spec.copy_columns)}, hash_diff, load_dts) "
        f"select {copied}, {sat_hash_expression(spec, types)}, now() from {tmp} t"
    )


@dataclass(frozen=True, slots=True)
class _TableSql:
    columns: list[str]  # what is copied (``load_dts`` and satellites' ``hash_diff`` are not)
    create: str  # the temp table a batch is copied into
    merge: str  # insert what is not there yet (anti-join / latest hash diff)
    append: str | None  # satellites only: insert all, for keys that cannot have rows yet


class VaultLoader:
    """Writes batches; safe to call again with the same batch (nothing changes).

    Two paths, one result. *Merge*: COPY into a temp table, then insert what is missing (hubs,
    links) or changed (satellites), probing the target's index per row. *Append*, taken when
    the batch's per-event hubs (requests, cost events) are all new, which is every load but a
    redelivery: those hubs and the links hanging off them are COPYed straight into their tables
    (COPY's multi-row inserts, no temp table, no probe), and their satellites are inserted
    without looking for a previous state — a key created by this transaction has none, because
    links and satellites are only ever written with or after their hubs. The unique index on a
    per-event hub is what catches a redelivered event: the COPY fails, its savepoint is rolled
    back and the whole batch takes the merge path. Both paths stamp the transaction's
    ``now()`` as ``load_dts``.
    """

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._sql: dict[str, _TableSql] = {}
        self._stamps_itself: dict[str, bool] = {}  # table → ``load_dts`` has a default (sql/009)
        # Hub and link keys this loader has seen committed. The vault is insert-only, so they
        # stay: a batch's customers, keys, models and end users mostly are, and their rows are
        # dropped before the COPY instead of being probed again in every load.
        self._known: dict[str, set[bytes]] = {}

    async def load(self, batch: VaultBatch) -> LoadResult:
        result = LoadResult()
        if not len(batch):
            return result
        merged: list[tuple[str, list[tuple[Any, ...]]]] = []
        async with self._pool.acquire() as conn, load_turn(conn), conn.transaction():
            # A batch is small next to the vault: the merge path probes the target's unique
            # index per row; left to itself the planner hashes the *whole* target for every
            # batch (it has no stats for the fresh temp table), which makes each load slower as
            # the vault grows.
            now = await conn.fetchval(_BEGIN)
            fresh = await self._append_per_event_hubs(conn, batch, now, result)
            for spec, rows in batch.tables():
                if spec.name in result.offered:
                    continue
                result.offered[spec.name] = len(rows)
                if fresh and not isinstance(spec, HubSpec) and batch.hangs_off(spec, fresh):
                    inserted = await self._append(conn, spec, rows, now)
                    result.appended.add(spec.name)
                elif isinstance(spec, SatSpec):
                    inserted = await self._merge(conn, spec, rows)
                else:
                    known = self._known.get(spec.name, ())
                    rows = [r for r in rows if r[0] not in known]
                    inserted = await self._merge(conn, spec, rows) if rows else 0
                    if _is_shared(spec):
                        merged.append((spec.name, rows))
                result.inserted[spec.name] = inserted
        for name, rows in merged:  # committed: remember the keys
            known = self._known.setdefault(name, set())
            if len(known) > _KNOWN_MAX:
                known.clear()
            known.update(r[0] for r in rows)
        return result

    async def _append_per_event_hubs(
        self, conn: asyncpg.Connection, batch: VaultBatch, now: datetime, result: LoadResult
    ) -> dict[str, Collection[bytes]]:
        """COPY the per-event hubs straight in; their keys (by key column) if all were new."""
        hubs = [(s, rows) for s, rows in batch.tables() if isinstance(s, HubSpec) and s.per_event]
        if not hubs:
            return {}
        try:
            async with conn.transaction():  # a savepoint: a known key undoes only this part
                for spec, rows in hubs:
                    await self._copy_in(conn, spec, rows, now)
        except asyncpg.UniqueViolationError:
            return {}
        for spec, rows in hubs:
            result.inserted[spec.name] = result.offered[spec.name] = len(rows)
            result.appended.add(spec.name)
        return {spec.key: batch.hub_keys(spec) for spec, _ in hubs}

    async def _append(
        self, conn: asyncpg.Connection, spec: LinkSpec | SatSpec, rows: list[tuple[Any, ...]], now: datetime
    ) -> int:
        if isinstance(spec, LinkSpec):
            await self._copy_in(conn, spec, rows, now)
            return len(rows)
        sql = await self._statements(conn, spec)
        assert sql.append is not None
        await conn.execute(sql.create)
        await conn.copy_records_to_table(f"ov_tmp_{spec.name}", records=rows, columns=sql.columns)
        return _count(await conn.execute(sql.append))

    async def _copy_in(
        self, conn: asyncpg.Connection, spec: HubSpec | LinkSpec, rows: list[tuple[Any, ...]], now: datetime
    ) -> None:
        """COPY rows straight into a vault table, stamped with the transaction's load time."""
        stamps_itself = self._stamps_itself.get(spec.name)
        if stamps_itself is None:
            stamps_itself = self._stamps_itself[spec.name] = bool(
                await conn.fetchval(
                    "select column_default is not null from information_schema.columns "
                    "where table_schema = $1 and table_name = $2 and column_name = 'load_dts'",
                    SCHEMA,
                    spec.name,
                )
            )
        columns: Sequence[str] = spec.columns
        if not stamps_itself:
            columns, rows = [*columns, "load_dts"], [(*r, now) for r in rows]
        await conn.copy_records_to_table(spec.name, schema_name=SCHEMA, columns=columns, records=rows)

    async def _merge(self, conn: asyncpg.Connection, spec: TableSpec, rows: list[tuple[Any, ...]]) -> int:
        sql = await self._statements(conn, spec)
        await conn.execute(sql.create)
        await conn.copy_records_to_table(f"ov_tmp_{spec.name}", records=rows, columns=sql.columns)
        return _count(await conn.execute(sql.merge))

    async def _statements(self, conn: asyncpg.Connection, spec: TableSpec) -> _TableSql:
        """A table's statements, built once per loader."""
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
            types = {r["column_name"]: r["data_type"] for r in rows}
            sql = _TableSql(columns, create, sat_insert(spec, tmp, types), sat_append(spec, tmp, types))
        else:
            sql = _TableSql(columns, create, hub_or_link_insert(spec, tmp), None)
        self._sql[spec.name] = sql
        return sql


_BEGIN = (
    "select now() from (select "
    "set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true)) s"
)


@contextlib.asynccontextmanager
async def load_turn(conn: asyncpg.Connection) -> AsyncIterator[None]:
    """Hold the writers' turn around a transaction that has not begun yet.

    Loaders take turns so a redelivered event cannot race its twin. The lock is taken *before*
    the transaction begins, so the transaction's ``now()`` — every row's ``load_dts`` — is
    later than the commit of every write that had the turn before it. The billing run takes the
    same turn to finalise: without it a load that began before finalisation but committed after
    would carry a ``load_dts`` before ``finalised_at`` while missing from the snapshot, and the
    marts would bill it in the closed month instead of as a correction.
    """
    await conn.execute("select pg_advisory_lock($1)", _LOAD_LOCK)
    try:
        yield
    finally:
        await conn.execute("select pg_advisory_unlock($1)", _LOAD_LOCK)


_PER_EVENT_KEYS = frozenset(h.key for h in HUBS if h.per_event)


def _is_shared(spec: HubSpec | LinkSpec) -> bool:
    """Keys many loads offer again (customers, models, ...), unlike a request's own."""
    if isinstance(spec, HubSpec):
        return not spec.per_event
    return not _PER_EVENT_KEYS.intersection(spec.refs)


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])


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
        mapped = asyncio.to_thread(mapper, gil_yielding(items))
        if pending is None:
            pending = await mapped
            continue
        result, pending = await asyncio.gather(loader.load(pending), mapped)
        rows += result.rows_inserted
    if pending is not None:
        rows += (await loader.load(pending)).rows_inserted
    return rows


def gil_yielding(items: Iterable[T], every: int = 16) -> Iterator[T]:
    """The items, letting go of the GIL every few (for a worker thread's loop): the event loop's
    thread waits for it each time PostgreSQL answers, and a busy worker would otherwise hold it
    for up to the interpreter's 5 ms switch interval — per statement, dozens per batch."""
    for i, item in enumerate(items, 1):
        yield item
        if not i % every:
            time.sleep(0)
