"""Password hashing with Argon2id (argon2-cffi, the reference implementation's bindings).

Only the PHC string (algorithm, parameters, salt, hash) is stored; ``verify`` also says when a
hash was made with weaker parameters than today's, so a login can upgrade it.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 12  # NIST SP 800-63B: at least 8; 12 for accounts that change money settings
MAX_LENGTH = 1024  # bounded: hashing a megabyte per guess would be a denial-of-service lever

_hasher = PasswordHasher()  # argon2-cffi's RFC 9106 "low memory" profile (64 MiB, t=3, p=4)

# Verifying a login for an unknown e-mail still costs one hash, so timing does not tell whether
# the account exists.
_DUMMY = _hasher.hash("not-a-password-of-anyone")


class WeakPassword(ValueError):
    """A password the console refuses to set."""


def check_strength(password: str) -> None:
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise WeakPassword(f"a password is {MIN_LENGTH} to {MAX_LENGTH} characters")
    if len(set(password)) < 4:
        raise WeakPassword("a password needs at least 4 different characters")


def hash_password(password: str) -> str:
    check_strength(password)
    return _hasher.hash(password)


def verify(stored: str | None, password: str) -> bool:
    """True when ``password`` matches ``stored`` (None: no password set, always False)."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _hasher.verify(stored or _DUMMY, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _hasher.check_needs_rehash(stored)
