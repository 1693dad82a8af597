"""One orderly stop for a foreground command that starts other processes (``onevault up``).

SIGTERM (``timeout``, systemd, container runtimes), SIGHUP (a closed terminal) and SIGINT
(Ctrl-C) all mean the same: stop what we started, then exit. Python's default for SIGTERM and
SIGHUP is to die on the spot, skipping every ``finally`` — which left the Dagster webserver and
daemon (and the embedded servers) running as orphans. uvicorn handles SIGINT/SIGTERM only while
it serves and then re-raises them, so the handlers here must be in place before and after it.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import uvicorn

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


class Stopping(BaseException):
    """Raised in the main thread by a stop signal (a BaseException, like KeyboardInterrupt, so no
    ``except Exception`` swallows it); the ``with`` blocks unwinding it stop what was started."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class StopSignals:
    """Install with ``with StopSignals() as stops:``; the previous handlers come back on exit.

    Before the server runs, a signal raises :class:`Stopping` (start-up is abandoned and unwound);
    while it runs, the server is asked to shut down gracefully; within :meth:`deferred` (starting
    a group of processes that must be stopped together) the stop waits for the block to end. Once
    a stop is under way, further signals are ignored so the clean-up itself is not interrupted.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self.server: uvicorn.Server | None = None
        self._deferring = 0
        self._quiet = False
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopSignals:
        self._previous = {sig: signal.signal(sig, self._handle) for sig in STOP_SIGNALS}
        return self

    def __exit__(self, *exc_info: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self._quiet or self.received is not None:
            return
        self.received = signum
        if self.server is not None:
            self.server.should_exit = True
        elif not self._deferring:
            raise Stopping(signum)

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """Hold a stop signal until the block is done (it then raises :class:`Stopping`)."""
        self._deferring += 1
        try:
            yield
        finally:
            self._deferring -= 1
        if self.received is not None and not self._deferring and self.server is None:
            raise Stopping(self.received)

    def quiet(self) -> None:
        """The clean-up begins: from now on stop signals are ignored (it must run to its end)."""
        self._quiet = True

    def serve(self, server: uvicorn.Server) -> None:
        """Run ``server`` until a stop signal (or its own exit), shutting it down gracefully."""
        self.server = server
        if self.received is not None:
            return
        server.run()
