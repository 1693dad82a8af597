"""Running the simulator: in-process on a background thread, and as ``python -m gateway.simulator``."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from gateway.providers.base import ProviderEndpoint, get_adapter
from gateway.providers.http import create_http_client
from gateway.providers.types import ChatMessage, ChatRequest, ProviderError
from gateway.simulator import SimulatorConfig, SimulatorServer

REPO = Path(__file__).resolve().parents[3]
BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
AUTH = {"authorization": "Bearer k"}


def test_start_on_a_free_port_and_stop() -> None:
    server = SimulatorServer(SimulatorConfig(output_tokens=2))
    with pytest.raises(RuntimeError):
        _ = server.url
    assert server.start() is server and server.running
    assert server.port > 0 and server.url == f"http://127.0.0.1:{server.port}"
    answer = httpx.post(f"{server.url}/v1/chat/completions", headers=AUTH, json=BODY, trust_env=False)
    assert answer.json()["usage"]["completion_tokens"] == 2
    server.stop()
    assert not server.running
    with pytest.raises(httpx.ConnectError):
        httpx.post(f"{server.url}/v1/chat/completions", headers=AUTH, json=BODY, trust_env=False)


def test_servers_are_independent_and_ports_exclusive() -> None:
    with SimulatorServer() as one, SimulatorServer() as two:
        assert one.port != two.port
        one.simulator.inject("http_500")
        assert httpx.post(f"{one.url}/v1/chat/completions", headers=AUTH, json=BODY).status_code == 500
        assert httpx.post(f"{two.url}/v1/chat/completions", headers=AUTH, json=BODY).status_code == 200
        with pytest.raises(OSError):
            SimulatorServer(port=one.port).start()


async def test_async_context_manager() -> None:
    async with SimulatorServer() as server, httpx.AsyncClient(trust_env=False) as client:
        response = await client.post(f"{server.url}/v1/chat/completions", headers=AUTH, json=BODY)
        assert response.status_code == 200
    assert not server.running


async def test_stalled_answers_do_not_hold_up_shutdown() -> None:
    """A 'timeout' fault stalls 30 s, but stops once the caller has given up."""
    server = SimulatorServer(SimulatorConfig(timeout_fault_s=30)).start()
    client = create_http_client(trust_env=False)
    try:
        server.simulator.inject("timeout")
        endpoint = ProviderEndpoint("openai", f"{server.url}/v1", "k", timeout_s=0.2)
        request = ChatRequest("m", [ChatMessage("user", "hi")])
        with pytest.raises(ProviderError) as info:
            await get_adapter("openai").complete(client, endpoint, request)
        assert info.value.error_class == "timeout"
        # the stalled handler noticed the caller hang up and gave up too (status 499)
        deadline = time.monotonic() + 2
        while server.simulator.stats.snapshot()["recent"][-1].get("status") != 499:
            assert time.monotonic() < deadline, "the stalled answer kept waiting after the client left"
            await asyncio.sleep(0.02)
    finally:
        await client.aclose()
        started = time.perf_counter()
        server.stop()
    assert time.perf_counter() - started < 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_python_dash_m_serves_every_wire() -> None:
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gateway.simulator",
            "--port",
            str(port),
            "--output-tokens",
            "3",
            "--seed",
            "7",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while True:
            try:
                if httpx.get(f"{url}/_sim/health", trust_env=False).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "simulator did not start"
            time.sleep(0.05)
        answer = httpx.post(f"{url}/v1/chat/completions", headers=AUTH, json=BODY, trust_env=False).json()
        assert answer["usage"]["completion_tokens"] == 3
        assert httpx.get(f"{url}/_sim/config", trust_env=False).json()["seed"] == 7
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
