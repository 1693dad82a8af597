"""Codex CLI (``@openai/codex`` from npm) runs non-interactively through OneVault's Responses
door: a ``[model_providers.onevault]`` entry with ``wire_api = "responses"`` points it at the
gateway, ``codex exec`` streams its turn (developer-role items, function and namespace tools,
``store: false``, ``include: ["reasoning.encrypted_content"]``) and must finish, print the
simulator's answer, and leave its requests in the vault with endpoint, model, tokens and cost —
on an OpenAI model and on an Anthropic one.

Hosted tools cannot be carried to other providers, so the config turns Codex's web search off
(``web_search = "disabled"``); with it on, the door refuses with a 400 that says so.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

import asyncpg
import pytest

from gateway.simulator.textgen import PREFIX
from tests.gateway.e2e.conftest import Gateway, wait_for_rows

pytestmark = pytest.mark.slow  # installs and runs a real CLI from npm

RUN_TIMEOUT_S = 120
ROWS_SQL = """
select d.*, c.customer_cost, c.is_priced from raw_vault.sat_api_request_details d
join raw_vault.lnk_cost_event_api_request l using (api_request_hk)
join raw_vault.sat_cost_event_details c using (cost_event_hk)
where d.endpoint = '/v1/responses'
"""


@pytest.fixture(scope="session")
def codex(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Codex CLI, installed from the npm registry once per session."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed to install the Codex CLI (@openai/codex); not on this machine")
    prefix = tmp_path_factory.mktemp("codex-npm")
    subprocess.run(
        ["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "@openai/codex"],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return prefix / "node_modules" / ".bin" / "codex"


def codex_home(root: Path, gateway: Gateway, model: str, *, web_search: bool = False) -> Path:
    home = root / "codex-home"
    home.mkdir()
    (home / "config.toml").write_text(
        f'model_provider = "onevault"\nmodel = "{model}"\n'
        + ("" if web_search else 'web_search = "disabled"\n')
        + "\n[model_providers.onevault]\n"
        'name = "OneVault"\n'
        f'base_url = "{gateway.url}/v1"\n'
        'env_key = "ONEVAULT_KEY"\n'
        'wire_api = "responses"\n'
    )
    return home


async def run_codex(codex: Path, home: Path, key: str, prompt: str) -> tuple[int, str, str]:
    work = home.parent / "work"
    work.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home.parent),
        "CODEX_HOME": str(home),
        "ONEVAULT_KEY": key,
        "NO_COLOR": "1",
    }
    proc = await asyncio.create_subprocess_exec(
        str(codex),
        "exec",
        "--skip-git-repo-check",
        prompt,
        cwd=work,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), RUN_TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"codex exec did not finish within {RUN_TIMEOUT_S} s") from None
    return proc.returncode or 0, out.decode(), err.decode()


@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude-3-5-sonnet-latest"])
async def test_codex_exec_answers_through_onevault(
    gateway: Gateway, vault_pool: asyncpg.Pool, codex: Path, tmp_path: Path, model: str
) -> None:
    home = codex_home(tmp_path, gateway, model)
    code, out, err = await run_codex(codex, home, gateway.key, "Say hello")
    assert code == 0, f"codex exec failed:\n{err[-3000:]}"
    assert PREFIX in out, out  # the simulator's answer, printed by Codex

    sent = gateway.sim.simulator.stats.snapshot()["recent"][-1]
    assert sent["model"] == model and "Codex" in str(sent["body"])  # Codex's own instructions arrived
    assert await wait_for_rows(vault_pool, f"select count(*) from ({ROWS_SQL}) r", 1) >= 1
    rows = await vault_pool.fetch(ROWS_SQL)
    for row in rows:
        assert (row["status"], row["http_status"], row["stream"]) == ("success", 200, True)
        assert row["requested_model"] == model and row["user_agent"].startswith("codex_exec")
        assert row["input_tokens"] > 0 and row["output_tokens"] == 64
        assert row["is_priced"] and row["customer_cost"] > 0


async def test_codex_with_web_search_on_gets_a_clear_refusal(
    gateway: Gateway, codex: Path, tmp_path: Path
) -> None:
    home = codex_home(tmp_path, gateway, "gpt-4o-mini", web_search=True)
    code, out, err = await run_codex(codex, home, gateway.key, "Say hello")
    assert code != 0 and PREFIX not in out
    assert "web_search" in err and 'web_search = \\"disabled\\"' in err, err[-2000:]
    assert gateway.sim.simulator.stats.snapshot()["total"] == 0  # refused before any provider call
