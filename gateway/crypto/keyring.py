"""The process's key ring, from settings (or, on the embedded default, a generated file)."""

from __future__ import annotations

from gateway.crypto.envelope import KeyRing, new_master_key
from warehouse.embedded.files import read_or_create_secret
from warehouse.settings import Settings


def keyring_from(settings: Settings) -> KeyRing:
    if settings.master_key is not None:
        return KeyRing(settings.master_key.get_secret_value())
    return KeyRing(read_or_create_secret(settings.home_dir / "secrets" / "master-key", new_master_key))
