"""CSRF tokens: itsdangerous-signed, time-limited, bound to one session's nonce (or, before
login, to a nonce cookie), checked on every POST. Signed rather than stored, so a form rendered
in one tab stays valid in another; bound to the session, so a token from another login fails.
"""

from __future__ import annotations

import hmac

from itsdangerous import BadSignature, URLSafeTimedSerializer

FIELD = "csrf_token"
MAX_AGE_S = 8 * 3600


class CsrfSigner:
    def __init__(self, secret: bytes) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="onevault-console-csrf")

    def token(self, nonce: str) -> str:
        return self._serializer.dumps(nonce)

    def valid(self, token: str | None, nonce: str | None) -> bool:
        if not token or not nonce or len(token) > 500:
            return False
        try:
            signed = self._serializer.loads(token, max_age=MAX_AGE_S)
        except BadSignature:
            return False
        return isinstance(signed, str) and hmac.compare_digest(signed.encode(), nonce.encode())
