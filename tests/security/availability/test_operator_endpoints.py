"""``/metrics`` and the detailed ``/ready`` are for the operator (the admin token): they name every
provider, model and error the gateway saw, the spool's path and the dependencies' errors.
``/health`` and the status of ``/ready`` (what a load balancer needs) stay public."""

from __future__ import annotations

import httpx

from gateway.crypto.keyring import admin_token
from tests.gateway.e2e.conftest import Gateway


async def test_metrics_and_readiness_details_are_served_only_to_the_operator(gateway: Gateway) -> None:
    operator = {"authorization": f"Bearer {admin_token(gateway.settings)}"}
    async with httpx.AsyncClient(base_url=gateway.url) as c:
        for headers in (
            {},
            {"authorization": "Bearer not-the-token"},
            {"authorization": f"Bearer {gateway.key}"},
        ):
            refused = await c.get("/metrics", headers=headers)
            assert refused.status_code == 401, refused.text
            assert refused.json()["error"]["code"] == "operator_only"
            assert "onevault_requests" not in refused.text
            summary = await c.get("/ready", headers=headers)
            assert (summary.status_code, summary.json()) == (200, {"status": "ok"})

        scraped = await c.get("/metrics", headers=operator)
        assert scraped.status_code == 200 and "onevault_requests_total" in scraped.text
        ready = await c.get("/ready", headers=operator)
        assert ready.status_code == 200 and ready.json()["postgres"]["ok"] and "path" in ready.json()["spool"]
        assert (await c.get("/health")).json() == {"status": "ok"}
