"""Random model names cannot grow the metrics (nor the vault's models) without bound: a wildcard
route refuses a model the catalog does not know with a clear 400, and where the operator lets a
route take any name, the names beyond ``ONEVAULT_METRICS_MAX_MODELS`` are counted as ``other``."""

from __future__ import annotations

import re
import uuid

import asyncpg
import httpx

from gateway.crypto.keyring import admin_token
from tests.gateway.e2e.conftest import issue_key
from tests.security.availability.conftest import complete
from tests.security.conftest import StartGateway

# A self-hosted server whose models are the operator's own (the simulator plays it).
HOUSE = {"name": "house", "api_style": "openai_compatible", "api_key": "sim-house", "models": ["*"]}
MODEL_LABEL = re.compile(r'gen_ai_request_model="([^"]*)"')


async def test_an_unknown_model_on_a_wildcard_route_is_a_clear_400(
    start_gateway: StartGateway, vault_pool: asyncpg.Pool
) -> None:
    # Even where the operator serves unpriced models, "gpt-*" on OpenAI's wildcard is not any name.
    gw = await start_gateway(allow_unpriced=True)
    key, _ = await issue_key(vault_pool)
    r = await complete(gw.url, key, prompt="hi", model=f"gpt-{uuid.uuid4().hex[:12]}")
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "model_unknown" and error["param"] == "model"
    assert "accept_any_model" in error["message"]
    # A model the catalog knows (priced, not listed) is still served through the wildcard.
    known = await complete(gw.url, key, prompt="hi", model="gpt-4o-2024-08-06")
    assert known.status_code == 200, known.text


async def test_random_model_names_do_not_grow_the_series_beyond_the_bound(
    start_gateway: StartGateway, vault_pool: asyncpg.Pool
) -> None:
    # The operator's choice: any name on the house server, served unpriced.
    house = {**HOUSE, "accept_any_model": True}
    gw = await start_gateway(providers=[house], allow_unpriced=True, metrics_max_models=3)
    key, _ = await issue_key(vault_pool)
    names = [f"house-{uuid.uuid4().hex[:10]}" for _ in range(12)]
    for name in names:
        r = await complete(gw.url, key, prompt="hi", model=name)
        assert r.status_code == 200, r.text
    token = admin_token(gw.settings)
    async with httpx.AsyncClient(base_url=gw.url, headers={"authorization": f"Bearer {token}"}) as c:
        scraped = (await c.get("/metrics")).text
    labels = set(MODEL_LABEL.findall(scraped))
    assert len(labels & set(names)) <= 3
    assert "other" in labels
