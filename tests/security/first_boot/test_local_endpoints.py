"""The embedded servers are reachable by OneVault's own processes only.

PostgreSQL trusts local socket connections (whoever reaches the socket is superuser), so its
socket must never sit in a directory other local users can enter — the /tmp fallback for a long
ONEVAULT_HOME used to be 0755 with a 0777 socket. Redis is trusted for authentication (cached
principals, budgets, the event stream), and its loopback TCP port is open to every local user: a
client without the generated password is refused.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from warehouse.embedded import EmbeddedPostgres, EmbeddedServerError, RedisEndpoint, redact_url

_NOBODY = "nobody"


def _as_another_local_user(sql_socket_dir: Path, port: int) -> subprocess.CompletedProcess:
    """psql as ``nobody`` against the trusted socket, as any other account on the host could."""
    from pgserver._commands import POSTGRES_BIN_PATH

    target = ["-h", str(sql_socket_dir), "-p", str(port), "-U", "postgres", "-d", "postgres"]
    return subprocess.run(
        [str(POSTGRES_BIN_PATH / "psql"), "-X", "-At", *target, "-c", "select 'in'"],
        user=_NOBODY,
        capture_output=True,
        text=True,
        timeout=30,
        cwd="/",
    )


async def test_a_long_home_keeps_the_postgres_socket_private(
    tmp_path: Path, port_picker: Callable[[], int]
) -> None:
    home = tmp_path / ("h" * (120 - len(str(tmp_path))))  # too long for a socket path
    server = EmbeddedPostgres(home, port=port_picker())
    sock_dir = server._socket_dir()
    assert sock_dir != server.pgdata and str(sock_dir).startswith("/tmp/")
    planted = tmp_path / "planted"
    planted.mkdir(mode=0o777)
    planted.chmod(0o777)
    sock_dir.symlink_to(planted)  # another local user got there first
    try:
        with pytest.raises(EmbeddedServerError, match="socket dir"):
            server.ensure_running()
        assert not list(planted.iterdir()), "the server put its socket in a planted directory"
        sock_dir.unlink()

        endpoint = server.ensure_running()
        assert endpoint.socket_dir == sock_dir
        st = sock_dir.lstat()
        assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700
        assert st.st_uid == server._server_uid()
        socket_file = sock_dir / f".s.PGSQL.{endpoint.port}"
        assert stat.S_IMODE(socket_file.stat().st_mode) & 0o077 == 0
        conn = await asyncpg.connect(endpoint.dsn())  # OneVault's own processes still connect
        assert await conn.fetchval("select 1") == 1
        await conn.close()
        if os.geteuid() == 0:  # root can switch users: try what another account would
            other = _as_another_local_user(sock_dir, endpoint.port)
            assert other.returncode != 0 and "in" not in other.stdout.split(), other.stdout
    finally:
        server.stop()
        if sock_dir.is_symlink():
            sock_dir.unlink()
        shutil.rmtree(sock_dir, ignore_errors=True)


def test_redis_refuses_clients_without_the_generated_password(
    redis_server: RedisEndpoint, onevault_home: Path
) -> None:
    once = {"socket_timeout": 5, "retry": Retry(NoBackoff(), 0)}  # a refusal is final: no retries
    for anonymous in (
        redis.Redis(host=redis_server.host, port=redis_server.port, **once),
        redis.Redis(unix_socket_path=str(redis_server.socket), **once),
        redis.Redis(host=redis_server.host, port=redis_server.port, password="guess", **once),
    ):
        with pytest.raises(redis.exceptions.AuthenticationError):
            anonymous.set("ov:auth:forged", '{"customer": "victim"}')
        anonymous.close()

    for url in (redis_server.url, redis_server.tcp_url):  # what every OneVault process is given
        client = redis.Redis.from_url(url)
        assert client.ping()
        client.close()
    password = (onevault_home / "secrets" / "redis-password").read_text().strip()
    assert len(password) >= 32 and password == redis_server.password
    assert password not in redact_url(redis_server.url) and password not in repr(redis_server)
    for private in (onevault_home / "secrets" / "redis-password", onevault_home / "redis" / "redis.conf"):
        assert private.stat().st_mode & 0o077 == 0, private
