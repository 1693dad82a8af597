"""Envelope encryption: round trips, binds each ciphertext to its record, rotates by re-wrapping."""

from __future__ import annotations

import base64
import dataclasses

import pytest
from cryptography.exceptions import InvalidTag

from gateway.crypto import KeyRing, fingerprint
from gateway.crypto.envelope import KeyRingError, new_master_key

SECRET = "sk-live-THIS-IS-SECRET-0123456789"


def test_round_trip_and_nothing_in_clear() -> None:
    ring = KeyRing(new_master_key())
    sealed = ring.seal(SECRET, "pk_1")
    assert ring.open(sealed, "pk_1") == SECRET
    for blob in (sealed.ciphertext, sealed.nonce, sealed.wrapped_dek, sealed.kek_id.encode()):
        assert SECRET.encode() not in blob
    assert ring.seal(SECRET, "pk_1").ciphertext != sealed.ciphertext  # fresh data key and nonce


def test_ciphertext_is_bound_to_its_record() -> None:
    ring = KeyRing(new_master_key())
    sealed = ring.seal(SECRET, "pk_1")
    with pytest.raises(InvalidTag):
        ring.open(sealed, "pk_2")


def test_tampering_is_detected() -> None:
    ring = KeyRing(new_master_key())
    sealed = ring.seal(SECRET, "pk_1")
    flipped = bytes([sealed.ciphertext[0] ^ 1]) + sealed.ciphertext[1:]
    with pytest.raises(InvalidTag):
        ring.open(dataclasses.replace(sealed, ciphertext=flipped), "pk_1")


def test_rotation_rewraps_under_the_new_kek() -> None:
    old_key, new_key = new_master_key(), new_master_key()
    old = KeyRing(old_key)
    sealed = old.seal(SECRET, "pk_1")
    both = KeyRing(f"{new_key},{old_key}")
    assert both.open(sealed, "pk_1") == SECRET  # the old KEK still decrypts during a rollout
    moved = both.rewrap(sealed, "pk_1")
    assert moved.kek_id == both.current_id != sealed.kek_id
    assert moved.ciphertext == sealed.ciphertext  # only the data key was re-wrapped
    assert KeyRing(new_key).open(moved, "pk_1") == SECRET
    with pytest.raises(KeyRingError, match="not in ONEVAULT_MASTER_KEY"):
        old.open(moved, "pk_1")


@pytest.mark.parametrize("bad", ["", "not base64!", base64.b64encode(b"short").decode()])
def test_bad_master_keys_are_clear_errors(bad: str) -> None:
    with pytest.raises(KeyRingError):
        KeyRing(bad)


def test_fingerprint_reveals_nothing() -> None:
    fp = fingerprint(SECRET)
    assert fp.startswith("fp_") and len(fp) == 19
    assert not any(SECRET[i : i + 4] in fp for i in range(len(SECRET) - 3))
    assert fingerprint(SECRET) == fp != fingerprint(SECRET + "x")
