"""Naming the provider does not skip a routing rule's PII policy: the request is served where it
asked (a rule does not reroute it), but the rule that catches it still blocks personal data."""

from __future__ import annotations

import asyncpg
import pytest

from gateway.admin.rules import create_rule
from tests.gateway.e2e.conftest import Gateway
from tests.security.availability.conftest import complete

PROMPT = "Mail jane.doe@example.com about it"


@pytest.mark.parametrize(
    "named",
    [
        pytest.param({"provider": "openai"}, id="provider-field"),
        pytest.param({"provider": "azure_openai"}, id="another-provider"),
        pytest.param({"model": "openai/gpt-4o-mini"}, id="provider-prefix"),
    ],
)
async def test_a_rules_pii_block_holds_when_the_request_names_its_provider(
    gateway: Gateway, vault_pool: asyncpg.Pool, named: dict[str, str]
) -> None:
    await create_rule(
        vault_pool,
        "acme",
        changed_by="t",
        name="support is strict",
        conditions={"type": "support", "model": "gpt-4o-mini"},
        target="anthropic/claude-3-5-haiku-latest",
        options={"pii_mode": "block"},
    )
    r = await complete(gateway.url, gateway.key, prompt=PROMPT, type="support", **named)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "pii_blocked"
    # Not caught by the rule: the customer's own mode (off) — and the named provider serves it.
    served = await complete(gateway.url, gateway.key, prompt=PROMPT, type="sales", **named)
    assert served.status_code == 200, served.text
    assert served.json()["provider"] == named.get("provider", "openai")
