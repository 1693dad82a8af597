"""Hostile and malformed input: every refusal is a 4xx in the one envelope, nothing reaches a
provider, nothing 5xxs, and nothing odd lands in the vault."""

from __future__ import annotations

import json

import asyncpg
import httpx
import pytest

from tests.gateway.e2e.conftest import REAL_REQUESTS, Gateway, wait_for_rows

ROUTES = ("/v1/ai/completions", "/v1/chat/completions")


def envelope(r: httpx.Response, status: int | tuple[int, ...]) -> dict:
    statuses = (status,) if isinstance(status, int) else status
    assert r.status_code in statuses, (r.status_code, r.text[:500])
    error = r.json()["error"]
    assert set(error) >= {"code", "message", "type", "param", "request_id"} and error["message"]
    assert r.headers["x-request-id"] == error["request_id"]
    return error


def no_provider_calls(gw: Gateway) -> None:
    assert gw.sim.simulator.stats.snapshot()["total"] == 0


async def post_raw(
    gw: Gateway, route: str, body: bytes, content_type: str = "application/json"
) -> httpx.Response:
    headers = {"authorization": f"Bearer {gw.key}", "content-type": content_type}
    async with httpx.AsyncClient(base_url=gw.url, timeout=30) as c:
        return await c.post(route, content=body, headers=headers)


def chat(route: str, **extra: object) -> dict:
    if route == "/v1/chat/completions":
        return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], **extra}
    return {"prompt": "hi", **extra}


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"\xff\xfe{\x00bad", 400),  # invalid UTF-8
        (b'{"prompt": "\xc3\x28"}', 400),  # invalid UTF-8 inside a string
        (b"[" * 100_000 + b"]" * 100_000, (400, 422)),  # deep nesting: parsed without recursion blow-up
        (b"", (400, 422)),
        (b"null", (400, 422)),
        (b"[1, 2]", (400, 422)),
        (b'"just a string"', (400, 422)),
        (b'{"prompt": 1e999999}', (400, 422)),
    ],
)
async def test_malformed_bodies(
    gateway: Gateway, route: str, body: bytes, status: int | tuple[int, ...]
) -> None:
    envelope(await post_raw(gateway, route, body), status)
    no_provider_calls(gateway)


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
async def test_wrong_content_types(gateway: Gateway, route: str, content_type: str) -> None:
    r = await post_raw(gateway, route, json.dumps(chat(route)).encode(), content_type)
    envelope(r, (400, 415, 422))
    no_provider_calls(gateway)


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    "bad",
    [
        {"max_cost": -1},
        {"max_cost": "NaN"},
        {"max_cost": "Infinity"},
        {"max_cost": "1e400"},
        {"max_tokens": 10**30},
        {"temperature": "NaN"},
        {"stream": "yes please"},
        {"tags": {"team": "x" * 10_000}},
        {"tags": {"bad key!": "x"}},
        {"type": "a\u0000b"},
        {"tags": {"team": "a\u0000b"}},
    ],
)
async def test_out_of_range_fields_are_400_naming_the_field(gateway: Gateway, route: str, bad: dict) -> None:
    body = (
        chat(route, **bad)
        if route == "/v1/ai/completions"
        else chat(route, metadata=bad)
        | ({k: v for k, v in bad.items() if k in ("max_tokens", "temperature", "stream")})
    )
    r = await post_raw(gateway, route, json.dumps(body).encode())
    error = envelope(r, 400)
    assert error["type"] == "invalid_request_error" and error["param"]
    no_provider_calls(gateway)


async def test_unknown_fields_are_refused_on_the_native_route(gateway: Gateway) -> None:
    r = await post_raw(gateway, ROUTES[0], json.dumps({"prompt": "hi", "promt": "typo"}).encode())
    error = envelope(r, 400)
    assert error["param"] == "promt" and "promt" in error["message"]
    no_provider_calls(gateway)


async def test_nul_bytes_and_sql_in_every_string_field_are_just_data(
    gateway: Gateway, vault_pool: asyncpg.Pool
) -> None:
    """Strings are parameters, never SQL: a request full of injection attempts is recorded verbatim."""
    evil = "x'); drop table raw_vault.hub_customer; --"
    body = {
        "prompt": f"{evil}\u0000tail",  # prompts are never stored: a NUL there is the provider's business
        "type": "sql_probe",
        "user": evil,
        "tags": {"team": evil, "project": "p;q"},
    }
    headers = {"authorization": f"Bearer {gateway.key}", "user-agent": evil}
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as c:
        r = await c.post(ROUTES[0], json=body, headers=headers)
    assert r.status_code == 200, r.text
    assert await wait_for_rows(vault_pool, REAL_REQUESTS, 1) == 1
    assert await vault_pool.fetchval("select count(*) from raw_vault.hub_customer") >= 2
    end_user = await vault_pool.fetchval(
        "select end_user_bk from raw_vault.hub_end_user where end_user_bk <> '(unknown)'"
    )
    assert end_user == evil
    tags = dict(await vault_pool.fetch("select tag_key, tag_value from raw_vault.sat_api_request_tags"))
    assert tags["team"] == evil
    assert tags["project"] == "p;q"
    ua = await vault_pool.fetchval("select user_agent from raw_vault.sat_api_request_details")
    assert ua == evil


@pytest.mark.parametrize(
    "header",
    [
        {"x-onevault-tag-team": "a\r\nx-injected: 1"},
        {"x-onevault-max-cost": "NaN"},
        {"x-onevault-max-cost": "-5"},
        {"x-onevault-priority": "urgent"},
    ],
)
async def test_bad_extension_headers_are_400(gateway: Gateway, header: dict[str, str]) -> None:
    headers = {"authorization": f"Bearer {gateway.key}", **header}
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as c:
        try:
            r = await c.post(ROUTES[1], json=chat(ROUTES[1]), headers=headers)
        except httpx.LocalProtocolError:
            return  # the client itself refuses to send a header with CR/LF: nothing to test
    envelope(r, 400)
    assert "x-injected" not in r.headers
    no_provider_calls(gateway)


async def test_bearer_token_with_sql_is_401(gateway: Gateway) -> None:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as c:
        r = await c.post(ROUTES[0], json={"prompt": "x"}, headers={"authorization": "Bearer ov_' or 1=1 --"})
    envelope(r, 401)
    no_provider_calls(gateway)
