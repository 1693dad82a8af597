"""Landing a provider's report in the raw vault (sql/020_provider_reports.sql), insert-only.

Per (provider, report, UTC day) one import: its hub row once, a satellite row when the day's
content changed (so re-importing the same report leaves the vault exactly as it was), and for
each line its hub, link and — when its figures changed — a satellite row. A line that a later
import no longer lists (the provider restated the day) gets a tombstone row: ``is_deleted``,
amount 0, so the current state of a day is always what the provider last said.

One transaction per import, under an advisory lock on the import's key: a Dagster run and an
operator's CLI import of the same day take turns instead of interleaving tombstones.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg

from warehouse.hashing import DELIMITER, GHOST_HK, canonical_text, hash_diff, hash_key, key_text
from warehouse.reconciliation.lines import SOURCES, ReportLine
from warehouse.tables import SAT_PROVIDER_REPORT_LINE

_LINE_DIFF_COLUMNS = SAT_PROVIDER_REPORT_LINE.hashed_attributes  # declared once, in tables.py

_INSERT_LINE_SAT = f"""
insert into raw_vault.sat_provider_report_line
  (provider_report_line_hk, hash_diff, record_source, {", ".join(_LINE_DIFF_COLUMNS)}, raw)
select $1, $2, $3, {", ".join(f"${i}" for i in range(4, 4 + len(_LINE_DIFF_COLUMNS)))},
       ${4 + len(_LINE_DIFF_COLUMNS)}::jsonb
where not exists (
  select 1 from (
    select hash_diff from raw_vault.sat_provider_report_line
    where provider_report_line_hk = $1 order by load_dts desc limit 1
  ) latest where latest.hash_diff = $2
)
"""

_CURRENT_LINES = """
select distinct on (s.provider_report_line_hk) s.*
from raw_vault.sat_provider_report_line s
where s.provider_bk = $1 and s.record_source = $2 and s.usage_date = $3
order by s.provider_report_line_hk, s.load_dts desc
"""


@dataclass(frozen=True, slots=True)
class DayImport:
    """What one import did for one day: lines in the report, satellite rows it added
    (0 when the vault already held exactly this report), tombstones, and the day's total."""

    provider: str
    record_source: str
    usage_date: date
    lines: int
    added: int
    tombstoned: int
    amount_total: Decimal
    currency: str | None

    @property
    def unchanged(self) -> bool:
        return self.added == 0 and self.tombstoned == 0


def line_bk(provider: str, line: ReportLine) -> tuple[Any, ...]:
    return (provider, line.record_source, line.usage_date, *line.dimensions)


def _values(provider: str, line: ReportLine, deleted: bool = False) -> dict[str, Any]:
    return {
        "provider_bk": provider,
        "usage_date": line.usage_date,
        "bucket_start": line.bucket_start,
        "bucket_end": line.bucket_end,
        "model_reported": line.model_reported,
        "model": line.model,
        "project_id": line.project_id,
        "api_key_id": line.api_key_id,
        "line_item": line.line_item,
        "amount": Decimal(0) if deleted and line.amount is not None else line.amount,
        "currency": line.currency,
        "quantity": line.quantity,
        "quantity_unit": line.quantity_unit,
        "input_tokens": 0 if deleted and line.input_tokens is not None else line.input_tokens,
        "cached_input_tokens": line.cached_input_tokens if not deleted else None,
        "cache_write_tokens": line.cache_write_tokens if not deleted else None,
        "output_tokens": 0 if deleted and line.output_tokens is not None else line.output_tokens,
        "requests": 0 if deleted and line.requests is not None else line.requests,
        "is_deleted": deleted,
    }


def content_digest(provider: str, lines: Iterable[ReportLine]) -> bytes:
    """SHA-256 over the day's lines as parsed (order-free): equal digest = the same report."""
    texts = sorted(
        DELIMITER.join(canonical_text(v) or "^^" for v in _values(provider, line).values()) for line in lines
    )
    return hashlib.sha256("\n".join(texts).encode()).digest()


async def store_day(
    conn: asyncpg.Connection,
    provider: str,
    record_source: str,
    day: date,
    lines: list[ReportLine],
    *,
    source: str,
    imported_by: str,
) -> DayImport:
    """Land one day's report (``lines`` all of that day and report); see the module doc."""
    if record_source not in SOURCES:
        raise ValueError(f"unknown report {record_source!r}; known: {', '.join(SOURCES)}")
    import_bk = (provider, record_source, day)
    import_hk = hash_key(*import_bk)
    provider_hk = hash_key(provider)
    added = 0
    async with conn.transaction():
        await conn.execute("select pg_advisory_xact_lock(hashtextextended($1, 20))", key_text(*import_bk))
        await conn.execute(
            "insert into raw_vault.hub_provider_report_import values ($1, $2, now(), $3) "
            "on conflict do nothing",
            import_hk,
            key_text(*import_bk),
            record_source,
        )
        await conn.execute(
            "insert into raw_vault.hub_provider (provider_hk, provider_bk, load_dts, record_source) "
            "values ($1, $2, now(), $3) on conflict do nothing",
            provider_hk,
            provider,
            record_source,
        )
        current = {
            r["provider_report_line_hk"]: r
            for r in await conn.fetch(_CURRENT_LINES, provider, record_source, day)
        }
        seen: set[bytes] = set()
        for line in lines:
            bk = line_bk(provider, line)
            line_hk = hash_key(*bk)
            seen.add(line_hk)
            model_hk = GHOST_HK
            if line.model:
                model_hk = hash_key(provider, line.model)
                await conn.execute(
                    "insert into raw_vault.hub_model (model_hk, provider_bk, model_bk, load_dts, "
                    "record_source) values ($1, $2, $3, now(), $4) on conflict do nothing",
                    model_hk,
                    provider,
                    line.model,
                    record_source,
                )
            await conn.execute(
                "insert into raw_vault.hub_provider_report_line values ($1, $2, now(), $3) "
                "on conflict do nothing",
                line_hk,
                key_text(*bk),
                record_source,
            )
            await conn.execute(
                "insert into raw_vault.lnk_provider_report_line values ($1, $2, $3, $4, $5, now(), $6) "
                "on conflict do nothing",
                hash_key(*bk, provider, line.model, *import_bk),
                line_hk,
                provider_hk,
                model_hk,
                import_hk,
                record_source,
            )
            added += await _insert_line(conn, line_hk, record_source, _values(provider, line), line.raw)
        tombstoned = 0
        for line_hk, row in current.items():
            if line_hk in seen or row["is_deleted"]:
                continue
            values = {c: row[c] for c in _LINE_DIFF_COLUMNS}
            values.update(
                amount=Decimal(0) if row["amount"] is not None else None,
                input_tokens=0 if row["input_tokens"] is not None else None,
                output_tokens=0 if row["output_tokens"] is not None else None,
                requests=0 if row["requests"] is not None else None,
                cached_input_tokens=None,
                cache_write_tokens=None,
                is_deleted=True,
            )
            tombstoned += await _insert_line(
                conn, line_hk, record_source, values, {"tombstone_of": row["raw"]}
            )
        total = sum((line.amount for line in lines if line.amount is not None), Decimal(0))
        currencies = sorted({line.currency for line in lines if line.currency})
        currency = currencies[0] if len(currencies) == 1 else (",".join(currencies) or None)
        digest = content_digest(provider, lines)
        diff = hash_diff([len(lines), total, currency, digest])
        await conn.execute(
            """
            insert into raw_vault.sat_provider_report_import
              (provider_report_import_hk, hash_diff, record_source, provider_bk, usage_date, source,
               line_count, amount_total, currency, content_sha256, imported_by)
            select $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11
            where not exists (
              select 1 from (
                select hash_diff from raw_vault.sat_provider_report_import
                where provider_report_import_hk = $1 order by load_dts desc limit 1
              ) latest where latest.hash_diff = $2
            )
            """,
            import_hk,
            diff,
            record_source,
            provider,
            day,
            source,
            len(lines),
            total,
            currency,
            digest,
            imported_by,
        )
    return DayImport(provider, record_source, day, len(lines), added, tombstoned, total, currency)


async def _insert_line(
    conn: asyncpg.Connection, line_hk: bytes, record_source: str, values: dict[str, Any], raw: Any
) -> int:
    diff = hash_diff(values[c] for c in _LINE_DIFF_COLUMNS)
    status = await conn.execute(
        _INSERT_LINE_SAT,
        line_hk,
        diff,
        record_source,
        *(values[c] for c in _LINE_DIFF_COLUMNS),
        json.dumps(raw, default=str, sort_keys=True),
    )
    return int(status.rsplit(" ", 1)[-1])


async def store_report(
    pool: asyncpg.Pool,
    provider: str,
    record_source: str,
    lines: list[ReportLine],
    *,
    days: Iterable[date] = (),
    source: str,
    imported_by: str,
) -> list[DayImport]:
    """Land a report: one import per day its lines cover, plus each of ``days`` (a day the
    provider reported nothing for is still an import — "no charges" — not a gap)."""
    wanted = set(days)
    by_day: dict[date, list[ReportLine]] = {d: [] for d in wanted}
    for line in lines:
        if line.record_source != record_source:
            raise ValueError(f"a {line.record_source} line in a {record_source} import")
        if wanted and line.usage_date not in wanted:
            continue  # a pull for one day may return neighbouring buckets: keep the asked-for days
        by_day.setdefault(line.usage_date, []).append(line)
    done = []
    async with pool.acquire() as conn:
        for day in sorted(by_day):
            done.append(
                await store_day(
                    conn, provider, record_source, day, by_day[day], source=source, imported_by=imported_by
                )
            )
    return done
