"""Helpers of the request-path availability tests (the gateway factory is tests/security/conftest.py)."""

from __future__ import annotations

from typing import Any

import httpx


async def complete(url: str, key: str, timeout: float = 30, **body: Any) -> httpx.Response:
    """POST /v1/ai/completions (``gpt-4o-mini`` unless ``model`` is given)."""
    async with httpx.AsyncClient(base_url=url, timeout=timeout) as http:
        return await http.post(
            "/v1/ai/completions",
            headers={"authorization": f"Bearer {key}"},
            json={"model": "gpt-4o-mini", **body},
        )
