"""The trace id in the vault: validated at the loader boundary, stored as a late column (an event
without one hashes as before), and a reload of the same event adds no row."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import pytest
from pydantic import ValidationError

from warehouse.events import RequestEvent
from warehouse.loader import VaultLoader
from warehouse.mapping import batch_from_events

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
ROWS = """
select h.api_request_bk, d.trace_id from raw_vault.sat_api_request_details d
join raw_vault.hub_api_request h using (api_request_hk) order by 1
"""


def event(request_id: str, trace_id: str | None = None) -> RequestEvent:
    return RequestEvent(
        request_id=request_id,
        request_ts=datetime(2026, 12, 1, tzinfo=UTC),
        endpoint="/v1/chat/completions",
        customer="acme",
        status="success",
        http_status=200,
        trace_id=trace_id,
    )


@pytest.mark.parametrize(
    "bad", ["", "4BF92F3577B34DA6A3CE929D0E0E4736", "00-" + TRACE_ID, TRACE_ID[:-1], "x" * 32]
)
def test_only_a_w3c_trace_id_is_accepted(bad: str) -> None:
    with pytest.raises(ValidationError):
        event("req_bad", bad)


def test_an_untraced_event_serialises_as_before() -> None:
    assert b"trace_id" not in event("req_plain").to_json()
    traced = event("req_traced", TRACE_ID)
    assert RequestEvent.from_json(traced.to_json()).trace_id == TRACE_ID


async def test_trace_id_lands_in_the_request_row_once(vault_pool: asyncpg.Pool) -> None:
    loader = VaultLoader(vault_pool)
    await loader.load(batch_from_events([event("req_traced", TRACE_ID), event("req_plain")]))
    await loader.load(batch_from_events([event("req_traced", TRACE_ID), event("req_plain")]))  # replayed
    rows = [tuple(r) for r in await vault_pool.fetch(ROWS)]
    assert rows == [("req_plain", None), ("req_traced", TRACE_ID)]
