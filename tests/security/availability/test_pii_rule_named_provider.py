"""Naming the provider does not skip a routing rule's PII policy: the request is served where it
asked (a rule does not reroute it), but the rule that catches it still blocks personal data."""

from __future__ import annotations

import asyncpg

from gateway.admin.rules import create_rule
from tests.gateway.e2e.conftest import Gateway
from tests.security.availability.conftest import complete

PROMPT = "Mail jane.doe@example.com about it"
# The provider field, another provider, and the provider/model prefix.
NAMED = ({"provider": "openai"}, {"provider": "azure_openai"}, {"model": "openai/gpt-4o-mini"})


async def test_a_rules_pii_block_holds_when_the_request_names_its_provider(
    gateway: Gateway, vault_pool: asyncpg.Pool
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
    for named in NAMED:
        r = await complete(gateway.url, gateway.key, prompt=PROMPT, type="support", **named)
        assert r.status_code == 422, (named, r.text)
        assert r.json()["error"]["code"] == "pii_blocked"
        # Not caught by the rule: the customer's own mode (off), and the named provider serves it.
        served = await complete(gateway.url, gateway.key, prompt=PROMPT, type="sales", **named)
        assert served.status_code == 200, (named, served.text)
        assert served.json()["provider"] == named.get("provider", "openai")
