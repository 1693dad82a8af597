"""The Ed25519 key that signs audit manifests, and checking a signature with its public key.

The signature is *detached* (``manifest.json.sig``, 64 raw bytes over the file's exact bytes),
so an auditor can check it without OneVault: ``openssl pkeyutl -verify -pubin -inkey
onevault-audit.pem -rawin -in manifest.json -sigfile manifest.json.sig``.

The private key comes from ``ONEVAULT_AUDIT_SIGNING_KEY`` (PEM, or base64 of the 32-byte seed)
or, by default, from ``ONEVAULT_HOME/secrets/audit-signing-key.pem``, generated once (0600).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from warehouse.embedded.files import read_or_create_secret
from warehouse.settings import Settings

KEY_FILE = "audit-signing-key.pem"


def _new_pem() -> str:
    key = Ed25519PrivateKey.generate()
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _private_from_text(text: str) -> Ed25519PrivateKey:
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the audit signing key must be an Ed25519 key")
        return key
    seed = base64.b64decode(text, validate=True)
    if len(seed) != 32:
        raise ValueError("ONEVAULT_AUDIT_SIGNING_KEY: expected PEM or base64 of a 32-byte Ed25519 seed")
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def key_id(key: Ed25519PublicKey) -> str:
    """``ed25519:`` + SHA-256 of the raw public key: names the key in manifests and the vault."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + hashlib.sha256(raw).hexdigest()


def load_public_key(pem: str | bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @property
    def key_id(self) -> str:
        return key_id(self.public)

    @property
    def public_pem(self) -> str:
        return public_pem(self.public)

    def sign(self, data: bytes) -> bytes:
        return self.private.sign(data)

    @classmethod
    def from_settings(cls, settings: Settings) -> SigningKey:
        if settings.audit_signing_key is not None:
            return cls(_private_from_text(settings.audit_signing_key.get_secret_value()))
        pem = read_or_create_secret(settings.home_dir / "secrets" / KEY_FILE, _new_pem)
        return cls(_private_from_text(pem))

    @classmethod
    def existing(cls, settings: Settings) -> SigningKey | None:
        """The configured key if there is one — never generating it (``verify`` must not)."""
        path = settings.home_dir / "secrets" / KEY_FILE
        if settings.audit_signing_key is None and not path.is_file():
            return None
        return cls.from_settings(settings)

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())


def signature_valid(public: Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
    try:
        public.verify(signature, data)
    except InvalidSignature:
        return False
    return True
