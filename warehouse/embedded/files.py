"""Small file helpers for the embedded servers: an inter-process lock and secret files.

Secrets are created once per ``ONEVAULT_HOME`` by whichever process needs them first — often
several at once (``onevault serve --workers N`` on a fresh home). A secret file is therefore
never visible half-written: it is written to a private temporary file and then *linked* into
place (``link`` fails if the name exists, like ``O_EXCL``), under an inter-process lock, and every
caller returns what the file holds afterwards — the one winner's value.
"""

from __future__ import annotations

import fcntl
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

_LOCK_NAME = ".secrets.lock"


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Serialise server start-up across processes (``onevault up`` racing ``onevault status``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) and make it readable by its owner only."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def _staged(path: Path, value: str) -> Path:
    """A fully written, fsynced, owner-only temporary file beside ``path``."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(value)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def write_secret(path: Path, value: str) -> None:
    """Write (or replace) a secret readable by its owner only; readers see the old or the new
    value, never a partial one."""
    private_dir(path.parent)
    temp = _staged(path, value)
    try:
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""


def read_or_create_secret(path: Path, factory: Callable[[], str]) -> str:
    """Return the secret at ``path``, generating it once on first use — the same value in every
    process, however many race to create it."""
    value = _read(path)
    if value:
        return value
    private_dir(path.parent)
    with locked(path.parent / _LOCK_NAME):
        value = _read(path)
        if value:
            return value  # another process won while we waited for the lock
        temp = _staged(path, factory())
        try:
            if path.exists():  # empty: left by a crash of an older version; nothing was sealed with it
                os.replace(temp, path)
            else:
                with suppress(FileExistsError):  # a writer outside the lock won: keep its value
                    os.link(temp, path)
        finally:
            temp.unlink(missing_ok=True)
    value = _read(path)
    if not value:
        raise RuntimeError(f"{path}: the secret could not be created")
    return value
