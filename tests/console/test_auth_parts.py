"""The console's auth parts on their own: session expiry, the per-address login throttle, CSRF
tokens, password rules and the SSO group mapping."""

from __future__ import annotations

import time

import pytest
import redis.asyncio as aioredis

from gateway.auth import passwords
from gateway.console.auth.csrf import CsrfSigner
from gateway.console.auth.login_guard import LoginGuard
from gateway.console.auth.oidc import SsoRefused, identity
from gateway.console.auth.sessions import SessionStore
from gateway.console.auth.sessions import redis_key as session_key
from gateway.console.settings import ConsoleSettings


async def test_sessions_expire_when_idle_and_absolutely(redis_client: aioredis.Redis) -> None:
    store = SessionStore(redis_client, idle_s=60, absolute_s=300)
    session = await store.create("a@b.test", "password")
    assert (await store.get(session.sid)).email == "a@b.test"
    assert await store.get("forged") is None
    key = session_key(session.sid)
    assert session.sid not in key  # Redis holds a digest of the id, not the id
    assert 0 < await redis_client.ttl(key) <= 60  # idle expiry: the key's TTL, renewed on use
    await redis_client.hset(key, "created", str(time.time() - 301))
    assert await store.get(session.sid) is None  # past the absolute limit: gone, and deleted
    assert await redis_client.exists(key) == 0


async def test_too_many_failures_from_one_address_block_every_account(redis_client: aioredis.Redis) -> None:
    guard = LoginGuard(redis_client, per_minute=3, lockout_failures=100, lockout_s=60)
    address = f"198.51.100.{int(time.time()) % 250}"
    for n in range(3):
        await guard.failed(f"user{n}@x.test", address)
    assert await guard.blocked("someone-else@x.test", address)
    assert not await guard.blocked("someone-else@x.test", "203.0.113.9")


def test_csrf_tokens_are_bound_to_their_session() -> None:
    signer = CsrfSigner(b"k" * 32)
    token = signer.token("nonce-a")
    assert signer.valid(token, "nonce-a")
    assert not signer.valid(token, "nonce-b")
    assert not CsrfSigner(b"other-key" * 4).valid(token, "nonce-a")
    assert not signer.valid(None, "nonce-a") and not signer.valid(token, None)


def test_passwords_are_argon2id_and_checked() -> None:
    stored = passwords.hash_password("twelve chars ok")
    assert stored.startswith("$argon2id$") and "twelve" not in stored
    assert passwords.verify(stored, "twelve chars ok")
    assert not passwords.verify(stored, "twelve chars OK")
    assert not passwords.verify(None, "anything at all")
    for weak in ("short", "aaaaaaaaaaaaaaaa"):
        with pytest.raises(passwords.WeakPassword):
            passwords.hash_password(weak)


def test_groups_map_to_the_highest_role_of_one_customer() -> None:
    s = ConsoleSettings(
        oidc_groups='{"f": "viewer@acme", "e": "developer@acme", "g": "admin@globex", "o": "admin@operator"}'
    )
    assert identity({"email": "A@acme.test", "groups": ["f", "e"]}, s).role == "developer"
    ops = identity({"email": "o@p.test", "groups": "o"}, s)
    assert ops.customer is None and ops.role == "admin"
    for claims in (
        {"email": "x@y.test", "groups": ["f", "g"]},  # two customers
        {"email": "x@y.test", "groups": ["nothing"]},
        {"groups": ["f"]},  # no e-mail
        {"email": "x@y.test", "email_verified": False, "groups": ["f"]},
    ):
        with pytest.raises(SsoRefused):
            identity(claims, s)
