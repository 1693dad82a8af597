"""An admin token anyone could guess never guards the admin API: under 32 characters (an empty
``ONEVAULT_ADMIN_TOKEN=`` let ``Authorization: Bearer`` in) the gateway refuses to start, with a
clear error; a generated token and one of 32 characters are accepted."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from tests.faults.faultkit import env_for, write_catalog
from warehouse.embedded import RedisEndpoint
from warehouse.settings import Settings


@pytest.mark.parametrize("token", ["", " " * 40, "x" * 31], ids=["empty", "blank", "31-chars"])
def test_a_short_configured_admin_token_is_refused(tmp_path: Path, token: str) -> None:
    from gateway.crypto.keyring import AdminTokenError, admin_token

    with pytest.raises(AdminTokenError, match="at least 32"):
        admin_token(Settings(home=tmp_path, admin_token=SecretStr(token)))


def test_a_short_token_file_is_refused_and_good_tokens_pass(tmp_path: Path) -> None:
    from gateway.crypto.keyring import AdminTokenError, admin_token

    assert admin_token(Settings(home=tmp_path / "a", admin_token=SecretStr("y" * 32))) == "y" * 32
    generated = admin_token(Settings(home=tmp_path / "b", admin_token=None))
    assert len(generated) >= 32
    (tmp_path / "c" / "secrets").mkdir(parents=True)
    (tmp_path / "c" / "secrets" / "admin-token").write_text("short\n")
    with pytest.raises(AdminTokenError, match="admin-token"):
        admin_token(Settings(home=tmp_path / "c", admin_token=None))


def test_serve_with_an_empty_admin_token_refuses_to_start(
    tmp_path: Path, vault_dsn: str, redis_server: RedisEndpoint, port_picker: Callable[[], int]
) -> None:
    port = port_picker()
    env = env_for(
        home=str(tmp_path / "home"),
        database_url=vault_dsn,
        redis_url=redis_server.url,
        providers_file=str(write_catalog(tmp_path, "http://127.0.0.1:9")),
        admin_token="",
    )
    onevault = Path(sys.executable).with_name("onevault")
    proc = subprocess.Popen(
        [str(onevault), "serve", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                served = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                served = False
            assert not served, "the gateway started with an empty admin token"
            time.sleep(0.2)
        assert proc.poll() == 2, "onevault serve should exit 2 with an empty admin token"
        output = proc.stdout.read() if proc.stdout else ""
        assert "ONEVAULT_ADMIN_TOKEN" in output and "at least 32" in output, output
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
