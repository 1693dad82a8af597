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


MIN_FREE_BYTES = 1 << 20  # below this the spool reports the disk as full before a write fails


class Spool:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / "events.jsonl"
        self._lock = threading.Lock()
        self.last_error: str | None = None  # the last append's failure, until a write succeeds

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
            self.last_error = exc.strerror or type(exc).__name__
            raise SpoolError(exc.errno, f"cannot write event spool {self.path}: {exc.strerror}") from exc
        self.last_error = None

    def problem(self) -> str | None:
        """Why the spool could not take an event now, or None. Checks the directory, free space
        and — after a failed write — writes a blank line (skipped on replay) to see whether it
        recovered: root passes permission checks, so only a real write proves a full disk."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return f"cannot create spool directory {self.directory}: {exc.strerror}"
        if not os.access(self.directory, os.W_OK):
            return f"spool directory {self.directory} is read-only"
        st = os.statvfs(self.directory)
        if st.f_bavail * st.f_frsize < MIN_FREE_BYTES:
            return f"disk full: {st.f_bavail * st.f_frsize} bytes free for {self.directory}"
        if self.last_error is not None:
            try:
                self.append_many([b""])
            except SpoolError:
                return f"cannot write event spool {self.path}: {self.last_error}"
        return None

    def writable(self) -> bool:
        return self.problem() is None

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
