"""AES-256-GCM envelope encryption: a fresh data key per record, wrapped by a key-encryption key.

The vault stores ``ciphertext``, ``nonce``, ``wrapped_dek`` (nonce ‖ AES-GCM(KEK, DEK)) and the
KEK's id — never the secret and never the KEK. Both encryptions bind the record's id as
associated data, so a ciphertext copied onto another record does not decrypt. Rotating the KEK
re-wraps only the small data keys (``rewrap``); secrets are never re-encrypted in bulk.

KEKs come from ``ONEVAULT_MASTER_KEY``: base64 of 32 bytes, or several comma-separated with the
*first* current and the rest still accepted for decryption (how a rotation is rolled out). On
the embedded default one is generated into ``ONEVAULT_HOME/secrets/master-key``.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_NONCE = 12


@dataclass(frozen=True, slots=True)
class Sealed:
    ciphertext: bytes
    nonce: bytes
    wrapped_dek: bytes
    kek_id: str


class KeyRingError(ValueError):
    pass


def new_master_key() -> str:
    return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()


def fingerprint(secret: str) -> str:
    """Identifies a secret (to tell two keys apart) without revealing any of its characters."""
    return "fp_" + hashlib.sha256(secret.encode()).hexdigest()[:16]


class KeyRing:
    def __init__(self, master_keys: str) -> None:
        keks: list[tuple[str, bytes]] = []
        for part in (p.strip() for p in master_keys.split(",")):
            if not part:
                continue
            try:
                key = base64.b64decode(part, validate=True)
            except ValueError as exc:
                raise KeyRingError("ONEVAULT_MASTER_KEY must be base64 of 32 bytes") from exc
            if len(key) != 32:
                raise KeyRingError("ONEVAULT_MASTER_KEY must be base64 of exactly 32 bytes (AES-256)")
            keks.append(("kek_" + hashlib.sha256(key).hexdigest()[:12], key))
        if not keks:
            raise KeyRingError("no master key configured (ONEVAULT_MASTER_KEY)")
        self.current_id = keks[0][0]
        self._keks = dict(keks)

    def seal(self, secret: str, record_id: str) -> Sealed:
        aad = record_id.encode()
        dek = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(_NONCE)
        ciphertext = AESGCM(dek).encrypt(nonce, secret.encode(), aad)
        return Sealed(ciphertext, nonce, self._wrap(dek, aad), self.current_id)

    def open(self, sealed: Sealed, record_id: str) -> str:
        aad = record_id.encode()
        dek = self._unwrap(sealed, aad)
        return AESGCM(dek).decrypt(sealed.nonce, sealed.ciphertext, aad).decode()

    def rewrap(self, sealed: Sealed, record_id: str) -> Sealed:
        """The same ciphertext with its data key wrapped by the current KEK."""
        aad = record_id.encode()
        return Sealed(
            sealed.ciphertext, sealed.nonce, self._wrap(self._unwrap(sealed, aad), aad), self.current_id
        )

    def wrap_key(self, dek: bytes, aad: bytes) -> tuple[bytes, str]:
        """A data key wrapped by the current KEK, and that KEK's id (for long-lived data keys)."""
        return self._wrap(dek, aad), self.current_id

    def unwrap_key(self, wrapped: bytes, kek_id: str, aad: bytes) -> bytes:
        return self._unwrap(Sealed(b"", b"", wrapped, kek_id), aad)

    def _wrap(self, dek: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + AESGCM(self._keks[self.current_id]).encrypt(nonce, dek, aad)

    def _unwrap(self, sealed: Sealed, aad: bytes) -> bytes:
        kek = self._keks.get(sealed.kek_id)
        if kek is None:
            raise KeyRingError(f"{sealed.kek_id} is not in ONEVAULT_MASTER_KEY; add it to decrypt")
        return AESGCM(kek).decrypt(sealed.wrapped_dek[:_NONCE], sealed.wrapped_dek[_NONCE:], aad)
