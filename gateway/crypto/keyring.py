"""The process's secrets from settings — or, on the embedded default, files generated once
under ``ONEVAULT_HOME/secrets``: the KEK ring for provider keys, the admin API token and the key
sealing cached principals."""

from __future__ import annotations

import secrets

from gateway.crypto.envelope import KeyRing, new_master_key
from warehouse.embedded.files import read_or_create_secret
from warehouse.settings import Settings


def keyring_from(settings: Settings) -> KeyRing:
    if settings.master_key is not None:
        return KeyRing(settings.master_key.get_secret_value())
    return KeyRing(read_or_create_secret(settings.home_dir / "secrets" / "master-key", new_master_key))


ADMIN_TOKEN_MIN_CHARS = 32


class AdminTokenError(ValueError):
    """The admin token is too short to guard the admin API: the gateway must not start."""


def admin_token(settings: Settings) -> str:
    """The bearer token of ``/admin/v1``; refuses one under 32 characters (an empty token would
    let anyone in with ``Authorization: Bearer``)."""
    if settings.admin_token is not None:
        token, source = settings.admin_token.get_secret_value().strip(), "ONEVAULT_ADMIN_TOKEN"
    else:
        path = settings.home_dir / "secrets" / "admin-token"
        token = read_or_create_secret(path, lambda: "ova_" + secrets.token_urlsafe(32))
        source = str(path)
    if len(token) < ADMIN_TOKEN_MIN_CHARS:
        raise AdminTokenError(
            f"{source}: the admin token has {len(token)} characters, at least {ADMIN_TOKEN_MIN_CHARS} "
            "are required (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`); "
            "refusing to start"
        )
    return token


def auth_cache_key(settings: Settings) -> bytes:
    """The HMAC key sealing principals cached in Redis: Redis is not trusted to say who a key is."""
    if settings.auth_cache_key is not None:
        return settings.auth_cache_key.get_secret_value().encode()
    return read_or_create_secret(
        settings.home_dir / "secrets" / "auth-cache-key", lambda: secrets.token_urlsafe(32)
    ).encode()
