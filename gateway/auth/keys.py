"""Key material: ``ov_<key id>_<secret>``; only the SHA-256 of the whole key is ever stored."""

from __future__ import annotations

import hashlib
import re
import secrets

_FORMAT = re.compile(r"^ov_([0-9a-f]{12})_([A-Za-z0-9_-]{40,64})$")


def generate_key() -> tuple[str, str]:
    """Return ``(key_id, key)``; 256 bits of entropy in the secret part."""
    key_id = secrets.token_hex(6)
    return key_id, f"ov_{key_id}_{secrets.token_urlsafe(32)}"


def key_hash(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def key_prefix(key_id: str) -> str:
    return f"ov_{key_id}"


def looks_like_key(key: str) -> bool:
    return _FORMAT.match(key) is not None
