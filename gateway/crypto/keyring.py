"""The process's secrets from settings — or, on the embedded default, files generated once
under ``ONEVAULT_HOME/secrets``: the KEK ring for provider keys and the admin API token."""

from __future__ import annotations

import secrets

from gateway.crypto.envelope import KeyRing, new_master_key
from warehouse.embedded.files import read_or_create_secret
from warehouse.settings import Settings


def keyring_from(settings: Settings) -> KeyRing:
    if settings.master_key is not None:
        return KeyRing(settings.master_key.get_secret_value())
    return KeyRing(read_or_create_secret(settings.home_dir / "secrets" / "master-key", new_master_key))


def admin_token(settings: Settings) -> str:
    if settings.admin_token is not None:
        return settings.admin_token.get_secret_value()
    return read_or_create_secret(
        settings.home_dir / "secrets" / "admin-token", lambda: "ova_" + secrets.token_urlsafe(32)
    )
