"""The one-pass requests writer gives exactly the bytes of a separate COPY per format, and the
totals the vault re-derives — with values made to trip a naive split: quotes, commas, newlines,
``}",``, backslashes, tabs, non-ASCII, empty strings next to NULLs — however the stream is cut."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

from warehouse.audit.params import ExportScope
from warehouse.audit.queries import REQUESTS, render_totals
from warehouse.audit.requests_pass import RequestsExport, RequestSplitter, requests_query, write_requests
from warehouse.audit.writers import tune, write_csv, write_jsonl
from warehouse.loader import VaultLoader
from warehouse.mapping import batch_from_events
from warehouse.synthetic import synthetic_events

NASTY = [
    'Mozilla "5.0", like {Gecko}"',
    "",
    '}",',
    '}","}"',
    "line one\nline two\r\nthree",
    "back\\slash\ttab é 😀 \u2028",
    "}",
    '"',
    None,
]


async def _load_nasty(pool: asyncpg.Pool, start: datetime) -> None:
    events = []
    for i, event in enumerate(
        synthetic_events(len(NASTY) * 2, seed=5, customer_names=["acme"], start=start, prefix="nasty")
    ):
        value = NASTY[i % len(NASTY)]
        events.append(
            event.model_copy(
                update={
                    "user_agent": value,
                    "route_reason": NASTY[(i + 3) % len(NASTY)],
                    "requested_model": value if i % 2 else None,
                    "compliance_flags": [v for v in NASTY if v][: i % 4],
                }
            )
        )
    await VaultLoader(pool).load(batch_from_events(events))


async def test_one_pass_equals_a_copy_per_format_and_the_vault_totals(
    vault_pool: asyncpg.Pool, seeded: Any, tmp_path: Path
) -> None:
    start = datetime.combine(seeded.period_from, datetime.min.time(), UTC) + timedelta(hours=1)
    await _load_nasty(vault_pool, start)
    scope = seeded.scope()
    one, apart = tmp_path / "one", tmp_path / "apart"
    one.mkdir()
    apart.mkdir()
    async with vault_pool.acquire() as conn:
        await tune(conn)
        jsonl, csv, totals = await write_requests(conn, scope, one)
        separate = [
            await write_jsonl(conn, REQUESTS, scope, apart),
            await write_csv(conn, REQUESTS, scope, apart),
        ]
        vault = dict(await conn.fetchrow(render_totals(scope)))
        raw: list[bytes] = []

        async def keep(chunk: bytes) -> None:
            raw.append(chunk)

        await conn.copy_from_query(requests_query(scope), output=keep, format="csv", header=True)

    assert [jsonl, csv] == separate  # name, rows, SHA-256, size
    for name in ("requests.jsonl", "requests.csv"):
        assert (one / name).read_bytes() == (apart / name).read_bytes(), name
    assert totals.as_row() == vault and totals.requests > 100
    ua = [line for line in (one / "requests.jsonl").read_text().splitlines() if '"nasty-' in line]
    assert len(ua) == len(NASTY) * 2  # every nasty row is one JSON line

    # cut into two sub-periods run on two connections at once: the same files and totals
    two = tmp_path / "two"
    two.mkdir()
    parts = RequestsExport(scope, two, parts=2)
    assert [(p.period_from, p.period_to) for p in parts.scopes] == [
        (scope.period_from, parts.scopes[1].period_from),
        (parts.scopes[0].period_to, scope.period_to),
    ]

    async def part(index: int) -> None:
        async with vault_pool.acquire() as conn:
            await tune(conn)
            await parts.write_part(conn, index)

    await asyncio.gather(part(0), part(1))
    assert parts.finish() == (jsonl, csv, totals)
    assert sorted(p.name for p in two.iterdir()) == ["requests.csv", "requests.jsonl"]
    assert parts._done[0].rows and parts._done[1].rows  # both parts had rows

    # however the COPY stream is cut into chunks, the split is the same
    stream = b"".join(raw)
    for size in (1, 2, 7, 64, 4093):
        j, c = io.BytesIO(), io.BytesIO()
        splitter = RequestSplitter(j, c)
        for at in range(0, len(stream), size):
            await splitter(stream[at : at + size])
        splitter.finish()
        assert j.getvalue() == (one / "requests.jsonl").read_bytes(), size
        assert c.getvalue() == (one / "requests.csv").read_bytes(), size
        assert (splitter.rows, splitter.provider, splitter.customer) == (
            totals.requests,
            Decimal(totals.provider_cost),
            Decimal(totals.customer_cost),
        )


async def test_an_empty_period_has_a_header_and_zero_totals(vault_pool: asyncpg.Pool, tmp_path: Path) -> None:
    scope = ExportScope("nobody", datetime(2020, 1, 1).date(), datetime(2020, 2, 1).date(), datetime.now(UTC))
    async with vault_pool.acquire() as conn:
        await tune(conn)
        jsonl, csv, totals = await write_requests(conn, scope, tmp_path)
        expected = dict(await conn.fetchrow(render_totals(scope)))
    assert (
        totals.as_row()
        == expected
        == {"requests": 0, "provider_cost": "0.000000000000", "customer_cost": "0.000000000000"}
    )
    assert (tmp_path / "requests.jsonl").read_bytes() == b"" and jsonl.rows == csv.rows == 0
    assert (tmp_path / "requests.csv").read_text().startswith("request_id,request_ts,")
