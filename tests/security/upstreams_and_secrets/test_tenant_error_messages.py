"""What a tenant sees of an upstream failure: a short, scrubbed message — never the upstream's
body at length, credentials it echoes (auth headers, API keys, tokens), or where the operator's
upstreams live (URLs, internal addresses) — and no free text in ``code`` or ``param``."""

from __future__ import annotations

import aiohttp
from aiohttp.client_reqrep import ConnectionKey

from gateway.pipeline.context import final_error
from gateway.providers.errors import error_from_response, transport_error
from gateway.providers.http import UpstreamResponse

PLATFORM_KEY = "sk-platform-0123456789abcdef"
ECHO = (
    '{"error": {"message": "Bad request from 10.20.30.40:8443 via https://vllm.corp.internal/v1?sig=abc. '
    "Request headers were: Authorization: Bearer sk-otherkey-9f8e7d6c5b4a3210 x-api-key: "
    'ak_live_77f00dfeedbeef1234 cookie: session=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlMTIz {}", '
    '"code": "bad request; see https://evil.example", "param": "messages <script>"}}'
).replace("{}", "lorem ipsum " * 400)
SECRETS = (
    PLATFORM_KEY,
    "sk-otherkey-9f8e7d6c5b4a3210",
    "ak_live_77f00dfeedbeef1234",
    "eyJhbGciOiJIUzI1NiJ9",
    "10.20.30.40",
    "vllm.corp.internal",
    "evil.example",
    "<script>",
)


def test_a_provider_body_reaches_the_tenant_short_and_scrubbed() -> None:
    err = error_from_response("openai", UpstreamResponse(400, {}, ECHO.encode()), PLATFORM_KEY)
    body = final_error(err).body("req_x")
    text = repr(body)
    for secret in SECRETS:
        assert secret not in text, secret
    assert body["message"].startswith(
        "All upstream attempts failed; last: bad_request: openai returned HTTP 400"
    )
    assert len(body["message"]) <= 300
    assert body["code"] == "upstream_rejected_request" and body["param"] is None
    # ... while a plain provider error keeps its meaning, code and param
    plain = (
        '{"error": {"message": "This model\'s maximum context length is 128000 tokens.", '
        '"code": "context_length_exceeded", "param": "messages"}}'
    )
    err = error_from_response("openai", UpstreamResponse(400, {}, plain.encode()), None)
    out = final_error(err).body("req_w")
    assert "maximum context length is 128000 tokens" in out["message"]
    assert out["code"] == "context_length_exceeded" and out["param"] == "messages"


def test_transport_errors_do_not_reveal_upstream_addresses() -> None:
    key = ConnectionKey("vllm.corp.internal", 8000, False, True, None, None, None)
    exc = aiohttp.ClientConnectorError(key, OSError(111, "Connect call failed ('10.0.3.7', 8000)"))
    body = final_error(transport_error("openai_compatible", exc, None)).body("req_y")
    assert "10.0.3.7" not in body["message"] and "vllm.corp.internal" not in body["message"]
    assert body["message"].startswith("All upstream attempts failed; last: connection: openai_compatible")
