"""Caches and privacy through the real gateway, simulator, Redis and vault: exact and semantic caches with
savings, never across customers; PII redact/block; embeddings; retention and erasure."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import orjson
from typer.testing import CliRunner

from gateway.admin.customers import update_customer
from gateway.admin.rules import create_rule
from gateway.crypto.data_keys import DataKeys, PayloadUnreadable
from gateway.crypto.keyring import admin_token, keyring_from
from gateway.privacy.payloads import read_payload
from tests.gateway.e2e.conftest import Gateway, issue_key, run, wait_for_rows

ROW_SQL = """
select d.cache_status, d.status, d.http_status, d.request_type, d.attempt_count, d.compliance_flags,
       d.pii_actions, c.provider_cost, c.customer_cost, c.baseline_model, c.baseline_cost, c.optimisation
from raw_vault.hub_api_request h
join raw_vault.sat_api_request_details d using (api_request_hk)
left join raw_vault.lnk_cost_event_api_request l using (api_request_hk)
left join raw_vault.sat_cost_event_details c using (cost_event_hk)
where h.api_request_bk = $1
"""


async def row(pool: asyncpg.Pool, request_id: str) -> asyncpg.Record:
    sql = f"select count(*) from raw_vault.hub_api_request where api_request_bk = '{request_id}'"
    assert await wait_for_rows(pool, sql, 1) == 1, f"{request_id} never reached the vault"
    return await pool.fetchrow(ROW_SQL, request_id)


async def ask(gw: Gateway, prompt: str, key: str | None = None, **extra: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=gw.url, timeout=30) as http:
        return await http.post(
            "/v1/ai/completions",
            headers={"authorization": f"Bearer {key or gw.key}"},
            json={"prompt": prompt, "model": "gpt-4o-mini", **extra},
        )


def chat_calls(gw: Gateway) -> int:
    return gw.sim.simulator.stats.snapshot()["by_model"].get("gpt-4o-mini", 0)


async def test_exact_cache_answers_the_second_request_without_a_provider_call(
    gateway: Gateway, vault_pool: asyncpg.Pool
) -> None:
    await update_customer(
        vault_pool,
        "acme",
        {"cache_mode": "exact", "cache_price_per_request": Decimal("0.0001")},
        changed_by="t",
    )
    first, second = await ask(gateway, "Summarise our Q3 spend"), await ask(gateway, "Summarise our Q3 spend")
    assert first.status_code == second.status_code == 200
    assert chat_calls(gateway) == 1
    assert second.json()["output"]["text"] == first.json()["output"]["text"]
    assert second.json()["route"]["reason"] == "cache hit (exact)"

    miss, hit = await row(vault_pool, first.json()["id"]), await row(vault_pool, second.json()["id"])
    assert (miss["cache_status"], miss["optimisation"], miss["attempt_count"]) == ("miss", "none", 1)
    assert miss["baseline_cost"] == miss["provider_cost"] > 0
    assert (hit["cache_status"], hit["optimisation"], hit["attempt_count"]) == ("hit", "cache_exact", 0)
    assert hit["provider_cost"] == 0 and hit["customer_cost"] == Decimal("0.0001")
    assert hit["baseline_cost"] - hit["provider_cost"] == miss["provider_cost"]  # the savings
    assert hit["baseline_model"] == "gpt-4o-mini"

    # The stored answer replays as a stream; another parameter is another entry; opting out works.
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
        body = {"prompt": "Summarise our Q3 spend", "model": "gpt-4o-mini", "stream": True}
        streamed = await http.post(
            "/v1/ai/completions", headers={"authorization": f"Bearer {gateway.key}"}, json=body
        )
    events = [orjson.loads(line[6:]) for line in streamed.text.splitlines() if line.startswith("data: {")]
    assert "".join(e.get("delta", "") for e in events) == first.json()["output"]["text"]
    assert events[-1]["cost"]["provider_cost"] == "0E-12" or Decimal(events[-1]["cost"]["provider_cost"]) == 0
    await ask(gateway, "Summarise our Q3 spend", temperature=0.5)
    await ask(gateway, "Summarise our Q3 spend", cache={"mode": "off"})
    assert chat_calls(gateway) == 3


async def test_cache_is_never_shared_across_customers(gateway: Gateway, vault_pool: asyncpg.Pool) -> None:
    await update_customer(vault_pool, "acme", {"cache_mode": "exact"}, changed_by="t")
    other_key, _ = await issue_key(vault_pool, "globex", cache_mode="exact")
    assert (await ask(gateway, "Our secret roadmap")).status_code == 200
    theirs = await ask(gateway, "Our secret roadmap", key=other_key)
    assert theirs.status_code == 200 and chat_calls(gateway) == 2
    assert (await row(vault_pool, theirs.json()["id"]))["cache_status"] == "miss"


async def test_semantic_cache_hits_a_paraphrase_above_the_threshold_only(
    gateway: Gateway, vault_pool: asyncpg.Pool
) -> None:
    await update_customer(
        vault_pool,
        "acme",
        {"cache_mode": "semantic", "retention_mode": "encrypted", "cache_similarity": Decimal("0.9")},
        changed_by="t",
    )
    first = await ask(gateway, "What is the capital city of France?")
    near = await ask(gateway, "what is the capital of France?")  # cosine ≈ 0.93 in the simulator
    far = await ask(gateway, "Tell me the capital of France please")  # ≈ 0.64
    assert chat_calls(gateway) == 2
    assert near.json()["output"]["text"] == first.json()["output"]["text"]
    assert near.json()["route"]["reason"].startswith("cache hit (semantic")
    hit, miss = await row(vault_pool, near.json()["id"]), await row(vault_pool, far.json()["id"])
    assert (hit["cache_status"], hit["optimisation"], hit["provider_cost"]) == ("hit", "cache_semantic", 0)
    assert hit["baseline_cost"] > 0 and miss["cache_status"] == "miss"
    # Each lookup's embedding is a costed request of its own.
    embed = await row(vault_pool, f"{near.json()['id']}.embed")
    assert embed["request_type"] == "embedding" and embed["provider_cost"] > 0


async def test_redact_sends_neither_value_and_block_sends_nothing(
    gateway: Gateway, vault_pool: asyncpg.Pool
) -> None:
    await update_customer(vault_pool, "acme", {"pii_mode": "redact"}, changed_by="t")
    prompt = "Refund jane.doe@example.com on card 4111 1111 1111 1111 today"
    answered = await ask(gateway, prompt)
    assert answered.status_code == 200
    sent = orjson.dumps(gateway.sim.simulator.stats.snapshot()["recent"][-1]["body"]).decode()
    assert (
        "jane.doe@example.com" not in sent and "4111" not in sent and "[EMAIL]" in sent and "[CARD]" in sent
    )
    redacted = await row(vault_pool, answered.json()["id"])
    assert redacted["compliance_flags"] == ["pii:email", "pii:card"]
    assert redacted["pii_actions"] == ["redacted:email", "redacted:card"]

    # Settings reach a running gateway within seconds; a second customer shows block at once.
    blocked_key, _ = await issue_key(vault_pool, "globex", pii_mode="block")
    gateway.sim.simulator.stats.reset()
    refused = await ask(gateway, prompt, key=blocked_key)
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "pii_blocked" and error["details"]["types"] == ["email", "card"]
    assert gateway.sim.simulator.stats.snapshot()["total"] == 0
    blocked = await row(vault_pool, error["request_id"])
    assert (blocked["status"], blocked["http_status"]) == ("rejected", 422)
    assert blocked["pii_actions"] == ["blocked:email", "blocked:card"]
    stored = await vault_pool.fetchval(
        "select count(*) from raw_vault.sat_api_request_details where error_message like '%jane%'"
    )
    assert stored == 0


async def test_embeddings_endpoints_are_authed_costed_and_recorded(
    gateway: Gateway, vault_pool: asyncpg.Pool
) -> None:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
        auth = {"authorization": f"Bearer {gateway.key}"}
        native = await http.post(
            "/v1/ai/embeddings", headers=auth, json={"input": ["a b c", "d e f"], "dimensions": 8}
        )
        compat = await http.post(
            "/v1/embeddings", headers=auth, json={"model": "text-embedding-3-small", "input": "hello there"}
        )
        anonymous = await http.post("/v1/embeddings", json={"model": "text-embedding-3-small", "input": "x"})
    assert native.status_code == 200 and [len(v) for v in native.json()["embeddings"]] == [8, 8]
    assert native.json()["model"] == "text-embedding-3-small"  # the customer's default embedding model
    assert compat.status_code == 200 and len(compat.json()["data"][0]["embedding"]) == 256
    assert anonymous.status_code == 401
    recorded = await row(vault_pool, native.json()["id"])
    assert recorded["request_type"] == "embedding" and recorded["status"] == "success"
    assert recorded["provider_cost"] > 0


async def test_erasure_makes_stored_payloads_unreadable_and_leaves_spend_alone(
    gateway: Gateway, vault_pool: asyncpg.Pool, cli: CliRunner
) -> None:
    await update_customer(vault_pool, "acme", {"retention_mode": "encrypted"}, changed_by="t")
    ids = [(await ask(gateway, f"Quarterly plan number {i}")).json()["id"] for i in range(2)]
    for request_id in ids:
        await row(vault_pool, request_id)
    keys = DataKeys(vault_pool, keyring_from(gateway.settings), ttl=0)
    stored = await read_payload(vault_pool, keys, "acme", ids[0])
    assert [(m.role, m.content) for m in stored.messages] == [("user", "Quarterly plan number 0")]
    assert stored.answer["text"].startswith("Simulated reply") and stored.answer["finish_reason"] == "stop"
    spend_sql = "select sum(customer_cost), count(*) from raw_vault.sat_cost_event_details"
    before = await vault_pool.fetchrow(spend_sql)

    result = await run(cli, "customers", "erase-payloads", "acme", "--json")
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.output)["payloads"] == 2

    for request_id in ids:
        try:
            await read_payload(vault_pool, keys, "acme", request_id)
        except PayloadUnreadable:
            continue
        raise AssertionError(f"{request_id} still decrypts after erasure")
    assert await vault_pool.fetchrow(spend_sql) == before
    assert await vault_pool.fetchval("select count(*) from raw_vault.sat_api_request_payload") == 2
    action = await vault_pool.fetchrow(
        "select outcome, detail from raw_vault.sat_admin_action_details"
        " where action = 'customers.erase_payloads'"
    )
    assert action["outcome"] == "ok" and "2 stored payload(s) unreadable" in action["detail"]


async def test_a_rule_overrides_the_customer_pii_and_cache_modes(
    gateway: Gateway, vault_pool: asyncpg.Pool
) -> None:
    await create_rule(
        vault_pool,
        "acme",
        changed_by="t",
        name="support is strict",
        conditions={"type": "support"},
        target="openai/gpt-4o-mini",
        options={"pii_mode": "block", "cache_mode": "exact"},
    )
    prompt = "Mail jane.doe@example.com about it"
    assert (await ask(gateway, prompt, type="support")).json()["error"]["code"] == "pii_blocked"
    assert (await ask(gateway, prompt)).status_code == 200  # the customer's own mode: off
    await ask(gateway, "Same support question", type="support")
    cached = await ask(gateway, "Same support question", type="support")
    assert cached.json()["route"]["reason"] == "cache hit (exact)"


async def test_admin_api_sets_and_checks_the_data_settings(gateway: Gateway) -> None:
    headers = {"authorization": f"Bearer {admin_token(gateway.settings)}"}
    async with httpx.AsyncClient(base_url=gateway.url, headers=headers, timeout=30) as http:
        bad = await http.patch("/admin/v1/customers/acme", json={"pii_mode": "shout"})
        good = await http.patch(
            "/admin/v1/customers/acme",
            json={"pii_mode": "redact", "cache_mode": "semantic", "cache_ttl_s": 60},
        )
    assert bad.status_code == 422 and "pii_mode" in bad.json()["error"]["message"]
    assert good.status_code == 200
    assert (good.json()["pii_mode"], good.json()["cache_mode"], good.json()["cache_ttl_s"]) == (
        "redact",
        "semantic",
        60,
    )


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}


async def chat(gw: Gateway, body: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=gw.url, timeout=30) as http:
        return await http.post(
            "/v1/chat/completions",
            headers={"authorization": f"Bearer {gw.key}"},
            json={"model": "gpt-4o-mini", "tools": [WEATHER_TOOL], **body},
        )


async def test_a_tool_calling_answer_is_cached_replayed_and_retained_whole(
    gateway: Gateway, vault_pool: asyncpg.Pool
) -> None:
    await update_customer(
        vault_pool,
        "acme",
        {"cache_mode": "exact", "retention_mode": "encrypted", "pii_mode": "redact"},
        changed_by="t",
    )
    forced = {"type": "function", "function": {"name": "get_weather"}}
    ask_tool = {"messages": [{"role": "user", "content": "Weather in Paris?"}], "tool_choice": forced}
    first = await chat(gateway, ask_tool)
    assert first.status_code == 200, first.text
    (call,) = first.json()["choices"][0]["message"]["tool_calls"]

    # Streamed, the same request is a hit that replays the tool call (one provider call in all).
    streamed = await chat(gateway, {**ask_tool, "stream": True})
    chunks = [orjson.loads(line[6:]) for line in streamed.text.splitlines() if line.startswith("data: {")]
    deltas = [d for c in chunks for ch in c["choices"] for d in ch["delta"].get("tool_calls", [])]
    assert [(d["index"], d["id"], d["function"]["name"]) for d in deltas if "id" in d] == [
        (0, call["id"], "get_weather")
    ]
    assert "".join(d["function"]["arguments"] for d in deltas) == call["function"]["arguments"]
    assert [ch["finish_reason"] for c in chunks for ch in c["choices"] if ch["finish_reason"]] == [
        "tool_calls"
    ]
    # Another tool_choice is another entry.
    assert (await chat(gateway, {**ask_tool, "tool_choice": "none"})).status_code == 200
    assert chat_calls(gateway) == 2

    # The agent's next turn: personal data in the tool call's arguments and in the tool result is
    # redacted before the provider sees it, and the whole conversation is what the vault keeps.
    history = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris, ann@corp.io"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call["id"], "content": '{"temp_c": 21, "by": "ann@corp.io"}'},
    ]
    answered = await chat(gateway, {"messages": history})
    assert answered.status_code == 200, answered.text
    sent = orjson.dumps(gateway.sim.simulator.stats.snapshot()["recent"][-1]["body"]).decode()
    assert "ann@corp.io" not in sent and "[EMAIL]" in sent
    answered_id = answered.headers["x-request-id"]
    await row(vault_pool, answered_id)
    keys = DataKeys(vault_pool, keyring_from(gateway.settings), ttl=0)
    stored = await read_payload(vault_pool, keys, "acme", answered_id)
    assistant, tool = stored.messages[1], stored.messages[2]
    assert orjson.loads(assistant.tool_calls[0].arguments) == {"city": "Paris, [EMAIL]"}
    assert (tool.role, tool.tool_call_id) == ("tool", call["id"])
    assert orjson.loads(tool.content) == {"temp_c": 21, "by": "[EMAIL]"}  # type: ignore[arg-type]
    assert [t.name for t in stored.request.tools] == ["get_weather"]
    assert stored.answer["text"] == answered.json()["choices"][0]["message"]["content"]
    tool_stored = await read_payload(vault_pool, keys, "acme", first.headers["x-request-id"])
    assert tool_stored.answer["finish_reason"] == "tool_calls"
    assert tool_stored.answer["tool_calls"] == [
        {"arguments": call["function"]["arguments"], "id": call["id"], "name": "get_weather"}
    ]
