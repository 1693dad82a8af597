"""Envelope encryption for secrets the vault must keep (customers' provider keys)."""

from gateway.crypto.envelope import KeyRing, Sealed, fingerprint

__all__ = ["KeyRing", "Sealed", "fingerprint"]
