"""The embedded servers: start once, are found again, survive stale files, listen on loopback."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import asyncpg
import psutil
import pytest
import redis

from warehouse.embedded import EmbeddedPostgres, EmbeddedRedis


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_postgres_is_reused_and_listens_on_loopback_tcp(pg_server, onevault_home: Path) -> None:
    again = EmbeddedPostgres(onevault_home, port=pg_server.port)
    pid_before = psutil.Process(int((onevault_home / "pg" / "postmaster.pid").read_text().split()[0])).pid
    assert again.is_running()
    assert again.ensure_running().port == pg_server.port
    assert int((onevault_home / "pg" / "postmaster.pid").read_text().split()[0]) == pid_before
    listening = {
        c.laddr
        for c in psutil.net_connections("tcp")
        if c.status == psutil.CONN_LISTEN and c.laddr.port == pg_server.port
    }
    assert listening and all(addr.ip == "127.0.0.1" for addr in listening)


async def test_tcp_needs_the_generated_password(pg_server) -> None:
    conn = await asyncpg.connect(pg_server.tcp_dsn(show_password=True))
    assert await conn.fetchval("select current_database()") == "onevault"
    await conn.close()
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(f"postgresql://postgres:wrong@127.0.0.1:{pg_server.port}/onevault")
    assert "<password>" in pg_server.tcp_dsn()


def test_postgres_recovers_from_a_crash(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path / "home", port=_free_port())
    server.ensure_running()
    pid = int((server.pgdata / "postmaster.pid").read_text().split()[0])
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while psutil.pid_exists(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (server.pgdata / "postmaster.pid").exists()  # the stale file a crash leaves
    assert not server.is_running()
    try:
        server.ensure_running()
        assert server.is_running()
    finally:
        server.stop()
    assert not server.is_running()


def test_redis_reuse_and_stale_pidfile(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "home", port=_free_port())
    endpoint = server.ensure_running()
    try:
        first_pid = server.pid()
        assert server.ensure_running() == endpoint and server.pid() == first_pid
        client = redis.Redis.from_url(endpoint.url)
        client.set("k", "v")
        client.close()
        os.kill(first_pid, signal.SIGKILL)
        time.sleep(0.2)
        server.pidfile.write_text("999999")  # a pid from another life
        endpoint = server.ensure_running()
        assert server.pid() not in (None, first_pid)
        client = redis.Redis.from_url(endpoint.tcp_url)
        assert client.ping()
        client.close()
    finally:
        server.stop()
    assert not server.is_running()
