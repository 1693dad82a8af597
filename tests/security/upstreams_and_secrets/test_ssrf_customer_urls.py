"""SSRF: a tenant's own-key base URL or budget-webhook URL must not make the gateway call its own
network (loopback, private ranges, cloud metadata, compose service names) or itself — refused
when registered (naming the field) and again when connecting, so DNS rebinding cannot bypass it;
the operator's allow-list (ONEVAULT_EGRESS_ALLOW) is the only way to such hosts."""

from __future__ import annotations

import httpx
import pytest

from gateway.alerts.worker import AlertWorker
from gateway.crypto.keyring import admin_token
from gateway.egress import EgressPolicy, EgressRefused
from gateway.egress.config import egress_policy
from gateway.providers.base import ProviderEndpoint, get_adapter
from gateway.providers.http import create_http_client
from gateway.providers.types import ChatMessage, ChatRequest, ProviderError
from tests.gateway.e2e.conftest import Gateway
from tests.gateway.e2e.test_admin_api import admin
from tests.security.upstreams_and_secrets.local_upstreams import LocalServer, fake_dns

STRICT = EgressPolicy()
PING = ChatRequest("gpt-4o-mini", [ChatMessage("user", "ping")], max_tokens=1)

INTERNAL = [
    "http://127.0.0.1:8000/v1",
    "http://169.254.169.254/latest/meta-data",
    "http://10.0.0.5/v1",
    "http://192.168.1.20:11434",
    "http://100.64.0.1",
    "http://[::1]:8000",
    "http://[::ffff:127.0.0.1]/v1",
    "http://[fd00::5]/v1",
    "http://0.0.0.0:8000",
    "http://localhost:11434",
    "http://postgres:5432",  # a compose service name
    "http://metadata.google.internal/computeMetadata",
]


@pytest.mark.parametrize("url", INTERNAL)
async def test_registration_refuses_non_public_hosts(url: str) -> None:
    with pytest.raises(EgressRefused, match="base_url must point at a public address"):
        await STRICT.check_url(url, "base_url")


async def test_registration_resolves_names_and_honours_the_allow_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_dns(monkeypatch, {"intranet.example.com": ["10.1.2.3"], "api.example.com": ["93.184.216.34"]})
    with pytest.raises(EgressRefused, match=r"resolves to a non-public address \(10\.1\.2\.3\)"):
        await STRICT.check_url("https://intranet.example.com/v1", "budget_webhook_url")
    await STRICT.check_url("https://api.example.com/v1", "base_url")  # public: fine
    allowed = EgressPolicy.parse("10.1.0.0/16, vllm, *.svc.cluster.local, 127.0.0.1")
    for url in (
        "https://intranet.example.com",
        "http://vllm:8000",
        "http://ollama.svc.cluster.local",
        "http://127.0.0.1",
    ):
        await allowed.check_url(url, "base_url")
    with pytest.raises(EgressRefused):
        await allowed.check_url("http://169.254.169.254", "base_url")  # not on the list


async def test_dns_rebinding_is_refused_at_connect_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Public when registered, loopback when called: the guarded client never connects."""
    internal = LocalServer()
    async with internal.running() as port:
        fake_dns(monkeypatch, {"rebind.example.com": ["93.184.216.34", "127.0.0.1"]})
        url = f"http://rebind.example.com:{port}/v1"
        await STRICT.check_url(url, "base_url")  # the registration check passes ...
        client = create_http_client(trust_env=False, customer_egress=STRICT)
        try:
            own = ProviderEndpoint("openai", url, "sk-tenant", customer_url=True)
            with pytest.raises(ProviderError) as refused:
                await get_adapter("openai").complete(client, own, PING)
            assert refused.value.error_class == "connection" and "public address" in refused.value.message
            assert internal.hits == 0  # ... and the connection is refused all the same
            # The operator's own catalog routes are trusted: the same name is reached without checks.
            platform = ProviderEndpoint("openai", url, "sk-platform")
            assert (await get_adapter("openai").complete(client, platform, PING)).text == "hi"
            assert internal.hits == 1
        finally:
            await client.aclose()


async def test_ip_literal_base_url_is_refused_at_connect_time_unless_allow_listed() -> None:
    internal = LocalServer()
    async with internal.running() as port:
        own = ProviderEndpoint("openai", f"http://127.0.0.1:{port}/v1", "sk-tenant", customer_url=True)
        strict = create_http_client(trust_env=False, customer_egress=STRICT)
        allowed = create_http_client(trust_env=False, customer_egress=EgressPolicy.parse("127.0.0.1"))
        try:
            with pytest.raises(ProviderError, match="not a public address"):
                await get_adapter("openai").complete(strict, own, PING)
            with pytest.raises(ProviderError, match="not a public address"):
                async for _ in get_adapter("openai").stream(strict, own, PING):
                    pass
            assert internal.hits == 0
            assert (await get_adapter("openai").complete(allowed, own, PING)).text == "hi"  # self-hosted vLLM
            assert internal.hits == 1
        finally:
            await strict.aclose()
            await allowed.aclose()


async def test_webhook_deliveries_are_refused_at_connect_time(monkeypatch: pytest.MonkeyPatch) -> None:
    receiver = LocalServer()
    async with receiver.running() as port:
        fake_dns(monkeypatch, {"hooks.example.com": ["93.184.216.34", "127.0.0.1"]})
        await STRICT.check_url(f"http://hooks.example.com:{port}/hook", "budget_webhook_url")
        worker = AlertWorker(None, None, None, egress=STRICT)  # type: ignore[arg-type]
        async with worker.client() as client:
            for url in (f"http://hooks.example.com:{port}/hook", f"http://127.0.0.1:{port}/hook"):
                with pytest.raises(httpx.ConnectError, match="refused"):
                    await client.post(url, content=b"{}")
        assert receiver.hits == 0
        allowed = AlertWorker(None, None, None, egress=EgressPolicy.parse("127.0.0.1"))  # type: ignore[arg-type]
        async with allowed.client() as client:
            assert (await client.post(f"http://127.0.0.1:{port}/hook", content=b"{}")).status_code == 200
        assert receiver.hits == 1


async def test_admin_api_names_the_field_and_the_gateway_refuses_its_own_calls(gateway: Gateway) -> None:
    async with admin(gateway) as c:
        pk = await c.post(
            "/admin/v1/customers/acme/provider-keys",
            json={
                "provider": "openai",
                "api_style": "openai",
                "secret": "sk-x",
                "base_url": "http://169.254.169.254/v1",
            },
        )
        hook = await c.patch("/admin/v1/customers/acme", json={"budget_webhook_url": "http://10.0.0.7/hook"})
    for refused, name in ((pk, "base_url"), (hook, "budget_webhook_url")):
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["message"].startswith(f"{name} must point at a public address")
        assert refused.json()["error"]["param"] == name
    # A customer base URL naming the gateway under a public name passes the address check; the
    # hop header it then carries makes the gateway refuse its own call instead of recursing.
    hop = egress_policy(gateway.settings, hop_secret=admin_token(gateway.settings)).hop_id
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as c:
        looped = await c.post(
            "/v1/chat/completions",
            headers={"authorization": f"Bearer {gateway.key}", "x-onevault-hop": hop},
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        )
        other = await c.post(
            "/v1/chat/completions",
            headers={"authorization": f"Bearer {gateway.key}", "x-onevault-hop": "another-deployment"},
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        )
    assert looped.status_code == 508 and looped.json()["error"]["code"] == "loop_detected"
    assert other.status_code == 200, other.text  # a chained, different OneVault is not a loop


async def test_an_own_key_base_url_pointing_at_the_gateway_does_not_recurse(gateway: Gateway) -> None:
    """Even where the operator allows the gateway's own address (loopback here, for a local vLLM),
    a tenant's base URL naming the gateway — with their gateway key as the "provider key" — is
    one refused hop, then the next candidate, not an endless chain of requests."""
    async with admin(gateway) as c:
        own = await c.post(
            "/admin/v1/customers/acme/provider-keys",
            json={
                "provider": "openai",
                "api_style": "openai",
                "secret": gateway.key,
                "base_url": f"{gateway.url}/v1",
            },
        )
        assert own.status_code == 201, own.text
    async with httpx.AsyncClient(
        base_url=gateway.url, headers={"authorization": f"Bearer {gateway.key}"}, timeout=20
    ) as c:
        answer = await c.post("/v1/ai/completions", json={"prompt": "hi", "model": "gpt-4o-mini"})
    assert answer.status_code == 200, answer.text
    attempts = answer.json()["attempts"]
    assert answer.json()["provider"] == "azure_openai"  # the platform's next candidate served it
    assert [a["provider"] for a in attempts[:-1]] == ["openai"] * (len(attempts) - 1)
    assert all(a["outcome"] == "error" for a in attempts[:-1]) and len(attempts) <= 3
