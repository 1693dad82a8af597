"""Claude Code (``@anthropic-ai/claude-code`` from the npm registry) run non-interactively through
OneVault's Messages door: ``claude -p`` with ``ANTHROPIC_BASE_URL`` at the gateway and a OneVault
key. Claude Code sends what a real session sends — two dozen tools, system blocks and user blocks
with ``cache_control``, ``metadata.user_id``, ``anthropic-beta`` — so this proves the door takes a
real agent's traffic, prints the simulator's answer, and leaves billed rows in the vault.

The CLI is installed once per machine into ``~/.cache/onevault-tests/claude-code`` (a few seconds
from the registry; reused after). The test is skipped, saying why, only when ``node``/``npm`` are
not installed.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

import asyncpg
import pytest

from tests.gateway.e2e.conftest import Gateway, wait_for_rows

pytestmark = pytest.mark.slow  # installs and runs a real CLI from npm

PACKAGE = "@anthropic-ai/claude-code@2"
CACHE = Path.home() / ".cache" / "onevault-tests" / "claude-code"
MODEL = "claude-3-5-sonnet-latest"
RUN_TIMEOUT_S = 120

ROWS_SQL = """
select d.requested_model, d.stream, d.status, d.input_tokens, d.output_tokens, d.user_agent,
       c.provider_cost, c.customer_cost, c.is_priced
from raw_vault.sat_api_request_details d
join raw_vault.lnk_cost_event_api_request l using (api_request_hk)
join raw_vault.sat_cost_event_details c using (cost_event_hk)
where d.endpoint = '/v1/messages'
"""


@pytest.fixture(scope="session")
def claude_cli() -> Path:
    """The ``claude`` executable, installed from npm into the test cache on first use."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Claude Code needs node and npm, which are not installed on this machine")
    binary = CACHE / "node_modules" / ".bin" / "claude"
    if not binary.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(CACHE), PACKAGE],
            check=True,
            capture_output=True,
            timeout=600,
        )
    return binary


def cli_env(gateway: Gateway, home: Path) -> dict[str, str]:
    """Only what Claude Code needs: nothing of the caller's own Anthropic settings leaks in."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "ANTHROPIC_BASE_URL": gateway.url,
        "ANTHROPIC_API_KEY": gateway.key,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
    }


async def test_claude_code_answers_through_onevault_and_is_billed(
    gateway: Gateway, vault_pool: asyncpg.Pool, claude_cli: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    process = await asyncio.create_subprocess_exec(
        str(claude_cli),
        "-p",
        "Say hello",
        "--model",
        MODEL,
        cwd=home,
        env=cli_env(gateway, home),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=RUN_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        raise
    assert process.returncode == 0, f"claude exited {process.returncode}: {err.decode()[-2000:]}"
    assert "Simulated reply to:" in out.decode()

    sent = [r for r in gateway.sim.simulator.stats.snapshot()["recent"] if r["path"] == "/v1/messages"]
    assert sent, "Claude Code's requests never reached the provider"
    # What Claude Code sent came through: its tools, its beta header (Anthropic upstream only).
    assert len(sent[-1]["body"]["tools"]) > 5
    assert "claude-code" in sent[-1]["headers"]["anthropic-beta"]

    assert await wait_for_rows(vault_pool, f"select count(*) from ({ROWS_SQL}) r", len(sent)) >= len(sent)
    rows = await vault_pool.fetch(ROWS_SQL)
    assert {r["requested_model"] for r in rows} == {MODEL}
    for row in rows:
        assert row["status"] == "success" and row["user_agent"].startswith("claude-cli/")
        assert row["input_tokens"] > 1000 and row["output_tokens"] > 0  # its system prompt and tools
        assert row["is_priced"] and row["provider_cost"] > 0 and row["customer_cost"] > 0
