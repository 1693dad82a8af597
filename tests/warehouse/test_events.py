"""Events are storable by construction: nothing in one can make a vault load fail forever."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from warehouse.events import AttemptEvent, RequestEvent
from warehouse.loader import VaultLoader
from warehouse.mapping import batch_from_events


def event_with_nul() -> RequestEvent:
    now = datetime.now(UTC)
    return RequestEvent(
        request_id="req_nul",
        request_ts=now,
        endpoint="/v1/chat/completions",
        customer="acme",
        status="error",
        http_status=502,
        error_message="upstream said \x00 garbage",
        user_agent="agent\x00",
        tags={"team": "a\x00b"},
        attempts=[
            AttemptEvent(
                attempt_no=1,
                provider="sim-openai",
                model="gpt-4o-mini",
                started_ts=now,
                outcome="error",
                error_class="bad_response",
                error_message="\x00\x00",
            )
        ],
    )


def test_nul_is_replaced_everywhere_and_survives_json() -> None:
    ev = event_with_nul()
    assert "\x00" not in ev.to_json().decode()
    assert ev.error_message == "upstream said \ufffd garbage" and ev.tags == {"team": "a\ufffdb"}
    assert ev.attempts[0].error_message == "\ufffd\ufffd"
    assert RequestEvent.from_json(ev.to_json()) == ev


async def test_an_event_with_nul_loads(vault_pool: asyncpg.Pool) -> None:
    await VaultLoader(vault_pool).load(batch_from_events([event_with_nul()]))
    msg = await vault_pool.fetchval("select error_message from raw_vault.sat_api_request_details")
    tag = await vault_pool.fetchval("select tag_value from raw_vault.sat_api_request_tags")
    assert (msg, tag) == ("upstream said \ufffd garbage", "a\ufffdb")
