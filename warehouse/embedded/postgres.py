"""The embedded PostgreSQL: pgserver's binaries, run by us so it also listens on loopback TCP.

``pgserver.get_server`` only listens on a unix socket, so we reuse its binaries and its
root-handling helpers (PostgreSQL refuses to run as root: the server runs as the ``pgserver``
system user) and drive ``pg_ctl`` ourselves with ``-h 127.0.0.1 -p <port> -k <socket dir>``.
The server outlives the process that started it, until ``stop()`` (``onevault down``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import stat
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import psutil

with warnings.catch_warnings():  # pgserver resolves an XDG runtime dir at import; harmless here
    warnings.simplefilter("ignore")
    from pgserver._commands import POSTGRES_BIN_PATH
    from pgserver.utils import PostmasterInfo

from warehouse.embedded.files import locked, write_secret

DATABASE = "onevault"
SUPERUSER = "postgres"
_RUN_AS = "pgserver"
_SOCKET_NAME_MAX = 100  # sun_path is 108 bytes on Linux; leave room for ".s.PGSQL.<port>"

_SERVER_CONF = """
# --- OneVault embedded defaults (written by warehouse.embedded.postgres) ---
max_connections = 200
shared_buffers = {shared_buffers_mb}MB
work_mem = 16MB
maintenance_work_mem = 128MB
wal_compression = on
max_wal_size = 2GB
checkpoint_timeout = 15min
log_min_messages = warning
log_line_prefix = '%m [%p] %u@%d '
"""


def shared_buffers_mb() -> int:
    """A quarter of the machine's memory, between 128 MB and 2 GB (PostgreSQL's usual advice).

    The warehouse's refresh rewrites index pages all over the business vault and the marts; when
    they do not fit, every backend writes out dirty pages (and waits on WAL flushes) to make room.
    """
    quarter = psutil.virtual_memory().total // 4 // 2**20
    return max(128, min(2048, quarter))


class EmbeddedServerError(RuntimeError):
    """A clear, actionable failure to start or reach an embedded server."""


@dataclass(frozen=True, slots=True)
class PostgresEndpoint:
    socket_dir: Path
    host: str
    port: int
    password: str

    def dsn(self, database: str = DATABASE) -> str:
        """Unix-socket DSN (trusted local auth) used by OneVault's own processes."""
        return f"postgresql://{SUPERUSER}@/{database}?host={self.socket_dir}&port={self.port}"

    def tcp_dsn(self, database: str = DATABASE, *, show_password: bool = False) -> str:
        """The loopback TCP DSN for BI tools, dbt and psql on another account."""
        secret = self.password if show_password else "<password>"
        return f"postgresql://{SUPERUSER}:{secret}@{self.host}:{self.port}/{database}"


class EmbeddedPostgres:
    def __init__(self, home: Path, *, host: str = "127.0.0.1", port: int = 5433) -> None:
        self.home = home
        self.pgdata = home / "pg"
        self.host = host
        self.port = port
        self.log_file = self.pgdata / "server.log"
        self.password_file = home / "secrets" / "postgres-password"

    # -- lifecycle -------------------------------------------------------------------------
    def ensure_running(self) -> PostgresEndpoint:
        """Start the server unless it is already up; initialise the cluster on first use."""
        self.home.mkdir(parents=True, exist_ok=True)
        with locked(self.home / ".pg.lock"):
            self._ensure_initialised()
            if not self.is_running():
                self._clear_stale_files()
                self._start()
            endpoint = self.endpoint()
            self._ensure_database(endpoint)
            return endpoint

    def is_running(self) -> bool:
        info = self._postmaster()
        if info is None or not info.is_running():
            return False
        try:
            return info.process is not None and "postgres" in info.process.name()
        except psutil.Error:
            return False

    def stop(self) -> bool:
        """Stop the server (fast shutdown). Returns False when it was not running."""
        if not self.is_running():
            return False
        self._pg_ctl(["-w", "-m", "fast", "stop"])
        return True

    def endpoint(self) -> PostgresEndpoint:
        info = self._postmaster()
        port = info.port if info and info.port else self.port
        return PostgresEndpoint(self._socket_dir(), self.host, port, self._password())

    # -- internals -------------------------------------------------------------------------
    def _postmaster(self) -> PostmasterInfo | None:
        try:
            return PostmasterInfo.read_from_pgdata(self.pgdata)
        except (AssertionError, ValueError):  # half-written file from a crash
            return None

    def _socket_dir(self) -> Path:
        """The data dir, or — when its path is too long for a socket — a short private dir in /tmp
        (local connections are trusted: whoever reaches the socket is superuser)."""
        preferred = self.pgdata
        if len(str(preferred / f".s.PGSQL.{self.port}")) <= _SOCKET_NAME_MAX:
            return preferred
        digest = hashlib.sha256(str(self.pgdata).encode()).hexdigest()[:12]
        return Path("/tmp") / f"onevault-pg-{digest}"

    def _server_uid(self) -> int:
        """Who runs the server: this user, or ``pgserver`` under root (PostgreSQL refuses root)."""
        if os.geteuid() != 0:
            return os.geteuid()
        import pwd

        from pgserver.utils import ensure_user_exists

        ensure_user_exists(_RUN_AS)
        return pwd.getpwnam(_RUN_AS).pw_uid

    def _prepare_socket_dir(self) -> Path:
        """Make the socket dir private to the server's user (0700), refusing one someone else owns.

        The /tmp fallback has a predictable name: another local user could create it first (to
        reach the socket, or to plant a fake server); a symlink or a foreign owner is refused.
        """
        sock_dir = self._socket_dir()
        if sock_dir == self.pgdata:
            return sock_dir  # initdb keeps the data dir 0700
        uid = self._server_uid()
        with contextlib.suppress(FileExistsError):
            os.mkdir(sock_dir, 0o700)
            if os.geteuid() == 0:
                os.chown(sock_dir, uid, -1)
        st = os.lstat(sock_dir)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != uid:
            raise EmbeddedServerError(
                f"{sock_dir} (the PostgreSQL socket dir) is not a directory owned by uid {uid}: another "
                "local user may have created it. Remove it, or use a shorter ONEVAULT_HOME path."
            )
        if stat.S_IMODE(st.st_mode) != 0o700:
            os.chmod(sock_dir, 0o700)  # ours, made by an older version with the default umask
        return sock_dir

    def _password(self) -> str:
        return self.password_file.read_text().strip()

    def _ensure_initialised(self) -> None:
        if (self.pgdata / "PG_VERSION").exists():
            return
        self.pgdata.mkdir(parents=True, exist_ok=True)
        password = secrets.token_urlsafe(24)
        write_secret(self.password_file, password)
        scratch = Path(tempfile.mkdtemp(prefix="onevault-initdb-"))
        pwfile = scratch / "pw"
        write_secret(pwfile, password)
        self._grant_to_server_user(scratch, pwfile)
        try:
            self._run(
                "initdb",
                [
                    "-D",
                    str(self.pgdata),
                    "-U",
                    SUPERUSER,
                    "--encoding=UTF8",
                    "--locale=C",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    f"--pwfile={pwfile}",
                ],
            )
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        with (self.pgdata / "postgresql.conf").open("a") as conf:
            conf.write(_SERVER_CONF.format(shared_buffers_mb=shared_buffers_mb()))

    def _grant_to_server_user(self, *paths: Path) -> None:
        """Under root the server runs as ``pgserver``: give it the data dir and what initdb reads."""
        if os.geteuid() != 0:
            return
        import pwd

        from pgserver.utils import ensure_prefix_permissions, ensure_user_exists

        ensure_user_exists(_RUN_AS)
        entry = pwd.getpwnam(_RUN_AS)
        ensure_prefix_permissions(self.pgdata)
        # The binaries live in the virtualenv, often inside a checkout created 0700 (``mktemp -d``,
        # CI workspaces): the server user must be able to traverse down to them as well.
        ensure_prefix_permissions(POSTGRES_BIN_PATH.parent)
        for path in (self.pgdata, *paths):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        for bin_dir in (
            POSTGRES_BIN_PATH,
            POSTGRES_BIN_PATH.parent / "lib",
            POSTGRES_BIN_PATH.parent / "share",
        ):
            for root, dirs, files in os.walk(bin_dir):
                for name in dirs:
                    p = Path(root, name)
                    p.chmod(p.stat().st_mode | 0o055)
                for name in files:
                    p = Path(root, name)
                    p.chmod(p.stat().st_mode | 0o044 | (0o011 if p.stat().st_mode & 0o100 else 0))

    def _clear_stale_files(self) -> None:
        """A crash leaves postmaster.pid and socket lock files behind; they must not block a start."""
        (self.pgdata / "postmaster.pid").unlink(missing_ok=True)
        sock_dir = self._prepare_socket_dir()  # checked before anything in it is touched
        for name in (f".s.PGSQL.{self.port}", f".s.PGSQL.{self.port}.lock"):
            (sock_dir / name).unlink(missing_ok=True)

    def _start(self) -> None:
        self._grant_to_server_user()
        sock_dir = self._prepare_socket_dir()
        # The socket itself is owner-only too (local auth is trust); root's clients still connect.
        options = f"-h {self.host} -p {self.port} -k {sock_dir} -c unix_socket_permissions=0700"
        try:
            self._pg_ctl(["-w", "-t", "60", "-o", options, "-l", str(self.log_file), "start"])
        except subprocess.CalledProcessError as exc:
            tail = self.log_file.read_text()[-2000:] if self.log_file.exists() else ""
            hint = ""
            if "Address already in use" in tail:
                hint = f" Port {self.port} is taken: set ONEVAULT_PG_PORT to a free port."
            raise EmbeddedServerError(f"PostgreSQL did not start.{hint}\n{tail}") from exc

    def _ensure_database(self, endpoint: PostgresEndpoint) -> None:
        exists = self.psql(endpoint, "postgres", f"select 1 from pg_database where datname = '{DATABASE}'")
        if exists.strip() != "1":
            self.psql(endpoint, "postgres", f'create database "{DATABASE}"')

    def psql(self, endpoint: PostgresEndpoint, database: str, sql: str) -> str:
        out = subprocess.run(
            [
                str(POSTGRES_BIN_PATH / "psql"),
                "-X",
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
                endpoint.dsn(database),
                "-c",
                sql,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout

    def _pg_ctl(self, args: list[str]) -> None:
        self._run("pg_ctl", ["-D", str(self.pgdata), *args])

    def _run(self, exe: str, args: list[str]) -> None:
        user = _RUN_AS if os.geteuid() == 0 else None
        subprocess.run(
            [str(POSTGRES_BIN_PATH / exe), *args],
            check=True,
            user=user,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=120,
            cwd="/",
        )
