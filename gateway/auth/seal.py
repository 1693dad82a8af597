"""Principals cached in Redis carry an HMAC under a server secret, because Redis is not trusted to
say who a key belongs to: whoever can write ``ov:auth:*`` still cannot invent a tenant, change a
tenant's limits, or move one key's entry under another key's hash (the MAC covers the hash too).
An entry that fails the check is treated as a miss: the vault decides.
"""

from __future__ import annotations

import hashlib
import hmac

_VERSION = b"v1"


class PrincipalSeal:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the auth cache key needs at least 16 bytes")
        self._key = secret

    def _mac(self, digest: bytes, payload: bytes) -> bytes:
        return (
            hmac.new(self._key, _VERSION + b"|" + digest + b"|" + payload, hashlib.sha256)
            .hexdigest()
            .encode()
        )

    def seal(self, digest: bytes, payload: bytes) -> bytes:
        """``v1.<hex mac>.<payload>`` for the key whose SHA-256 is ``digest``."""
        return b".".join((_VERSION, self._mac(digest, payload), payload))

    def open(self, digest: bytes, sealed: bytes) -> bytes | None:
        """The payload if ``sealed`` was sealed by us for ``digest``; otherwise None."""
        version, _, rest = sealed.partition(b".")
        mac, _, payload = rest.partition(b".")
        if version != _VERSION or not payload:
            return None
        return payload if hmac.compare_digest(mac, self._mac(digest, payload)) else None
