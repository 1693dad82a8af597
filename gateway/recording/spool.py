"""A local append-only spool for events when Redis cannot take them.

Each event is one JSON line, written with O_APPEND and fsync before the client gets its
response. ``drain`` hands the lines back for replay; a partial last line (a crash mid-write)
is skipped, and replaying twice is harmless because vault loads are idempotent.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class SpoolError(OSError):
    """The spool cannot be written (disk full, read-only home): the request cannot be recorded."""


class Spool:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / "events.jsonl"
        self._lock = threading.Lock()

    def append(self, line: bytes) -> None:
        self.append_many([line])

    def append_many(self, lines: list[bytes]) -> None:
        """Append lines with one write and one fsync (a group of events spooled together)."""
        if any(b"\n" in line for line in lines):
            raise ValueError("spool lines must not contain newlines")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with self._lock:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    os.write(fd, b"".join(line + b"\n" for line in lines))
                    os.fsync(fd)
                finally:
                    os.close(fd)
        except OSError as exc:
            raise SpoolError(exc.errno, f"cannot write event spool {self.path}: {exc.strerror}") from exc

    def writable(self) -> bool:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            return os.access(self.directory, os.W_OK)
        except OSError:
            return False

    def pending(self) -> bool:
        return self.path.exists() or any(self.directory.glob("events.*.replaying"))

    @contextmanager
    def drain(self) -> Iterator[list[bytes]]:
        """Yield spooled lines; they are deleted only if the block finishes without error."""
        with self._lock:
            if self.path.exists():
                self.path.rename(self.directory / f"events.{time.time_ns()}.replaying")
        files = sorted(self.directory.glob("events.*.replaying"))
        lines: list[bytes] = []
        for f in files:
            for raw in f.read_bytes().split(b"\n"):
                if raw.strip().startswith(b"{") and raw.rstrip().endswith(b"}"):
                    lines.append(raw)
        yield lines
        for f in files:
            f.unlink(missing_ok=True)
