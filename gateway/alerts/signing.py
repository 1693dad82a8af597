"""``X-OneVault-Signature``: how a webhook receiver knows an alert came from us, unaltered.

The header is ``t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`` (the scheme
Stripe popularised: the timestamp inside the MAC stops replays of old deliveries). The secret
is the customer's webhook secret (``whsec_…``), shown once when generated. A receiver
recomputes the MAC over the raw body bytes, compares in constant time, and rejects a ``t``
older than a few minutes — ``verify`` below is that receiver, usable as reference code.
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "X-OneVault-Signature"


def sign(secret: str, body: bytes, ts: int | None = None) -> str:
    t = int(time.time()) if ts is None else ts
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(secret: str, header: str, body: bytes, tolerance_s: int = 300, now: float | None = None) -> bool:
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        t = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((time.time() if now is None else now) - t) > tolerance_s:
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))
