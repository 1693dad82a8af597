"""Small file helpers for the embedded servers: an inter-process lock and secret files."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


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


def write_secret(path: Path, value: str) -> None:
    """Write a secret readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)


def read_or_create_secret(path: Path, factory: Callable[[], str]) -> str:
    """Return the secret at ``path``, generating it once on first use."""
    if path.exists():
        return path.read_text().strip()
    value = factory()
    write_secret(path, value)
    return value
