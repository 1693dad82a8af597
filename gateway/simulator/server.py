"""Run the simulator in-process: uvicorn on a background thread with its own event loop.

A separate thread (rather than a task on the caller's loop) keeps the simulator answering while
the caller's loop is busy or blocked, which is what a real provider does, and lets synchronous
code (the CLI, benchmarks) use it too.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

from gateway.simulator.app import create_app
from gateway.simulator.config import SimulatorConfig
from gateway.simulator.engine import Simulator

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0


class SimulatorServer:
    """``SimulatorServer(config, port=0).start()``; ``.url`` once started; ``.stop()`` to end.

    Usable as a (sync or async) context manager. ``.simulator`` gives direct access to faults,
    stats and config without going through the ``/_sim`` endpoints.
    """

    def __init__(
        self, config: SimulatorConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.host = host
        self.simulator = Simulator(config)
        self._requested_port = port
        self._port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the simulator is not running; call start() first")
        return self._port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> SimulatorServer:
        """Bind, serve on a daemon thread, and return once it accepts connections."""
        if self.running:
            return self
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self._requested_port))
        except OSError:
            sock.close()
            raise
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            create_app(self.simulator),
            log_config=None,  # leave the host process's logging alone
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
            timeout_keep_alive=30,
            backlog=2048,
        )
        server = uvicorn.Server(config)
        self._server = server
        self._error = None
        self._thread = threading.Thread(target=self._run, args=(server, sock), name="simulator", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"simulator failed to start on {self.host}:{self._port}") from self._error
            time.sleep(0.005)
        return self

    def _run(self, server: uvicorn.Server, sock: socket.socket) -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # surfaced by start()
            self._error = exc
        finally:
            sock.close()

    def stop(self) -> None:
        """Stop serving and wait for the thread (in-flight requests get a second to finish)."""
        server, thread = self._server, self._thread
        if server is not None:
            server.should_exit = True
        if thread is not None and thread is not threading.current_thread():
            thread.join(STOP_TIMEOUT_S)
            if thread.is_alive() and server is not None:
                server.force_exit = True
                thread.join(STOP_TIMEOUT_S)
        self._server = self._thread = None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> SimulatorServer:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc_info: Any) -> None:
        await asyncio.to_thread(self.stop)
