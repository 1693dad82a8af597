"""The ``/_sim`` control endpoints a gateway test in another process drives the simulator with."""

from __future__ import annotations

import httpx
import pytest

from gateway.simulator import SimulatorServer

AUTH = {"authorization": "Bearer sk-sim"}


def body(model: str = "gpt-4o-mini", text: str = "hi") -> dict[str, object]:
    return {"model": model, "messages": [{"role": "user", "content": text}]}


@pytest.fixture
async def http(sim: SimulatorServer):
    async with httpx.AsyncClient(base_url=sim.url, trust_env=False, timeout=10) as client:
        yield client


async def call(http: httpx.AsyncClient, model: str = "gpt-4o-mini", text: str = "hi") -> int:
    return (await http.post("/v1/chat/completions", headers=AUTH, json=body(model, text))).status_code


async def test_fault_lifecycle(http: httpx.AsyncClient) -> None:
    created = await http.post(
        "/_sim/faults", json={"kind": "http_500", "match": {"model": "gpt-4o"}, "count": 2}
    )
    assert created.status_code == 201
    fault = created.json()["fault"]
    assert fault["kind"] == "http_500" and fault["remaining"] == 2 and fault["match"]["model"] == "gpt-4o"

    assert await call(http, "gpt-4o-mini") == 200  # filtered out by model
    assert await call(http, "gpt-4o") == 500
    listed = (await http.get("/_sim/faults")).json()["faults"]
    assert [(f["id"], f["remaining"], f["hits"]) for f in listed] == [(fault["id"], 1, 1)]
    assert await call(http, "gpt-4o") == 500
    assert (await http.get("/_sim/faults")).json()["faults"] == []  # used up
    assert await call(http, "gpt-4o") == 200


async def test_fault_until_cleared_and_delete(http: httpx.AsyncClient) -> None:
    first = (await http.post("/_sim/faults", json={"kind": "http_503", "count": None})).json()["fault"]
    await http.post("/_sim/faults", json={"kind": "http_429", "match": {"api_style": "anthropic"}})
    for _ in range(3):
        assert await call(http) == 503
    assert (await http.delete(f"/_sim/faults/{first['id']}")).json() == {"cleared": 1}
    assert (await http.delete(f"/_sim/faults/{first['id']}")).status_code == 404
    assert await call(http) == 200
    assert (await http.delete("/_sim/faults")).json() == {"cleared": 1}


async def test_openai_compatible_filter_means_the_openai_endpoint(http: httpx.AsyncClient) -> None:
    await http.post(
        "/_sim/faults", json={"kind": "http_500", "match": {"api_style": "openai_compatible"}, "count": 1}
    )
    assert await call(http) == 500


@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "explode"},
        {"kind": "http_500", "count": 0},
        {"kind": "http_429", "retry_after": -1},
        {"kind": "latency", "match": {"region": "eu"}},
        {"kind": "latency", "colour": "red"},
    ],
)
async def test_invalid_fault_specs_are_rejected(http: httpx.AsyncClient, spec: dict[str, object]) -> None:
    response = await http.post("/_sim/faults", json=spec)
    assert response.status_code == 422
    assert response.json()["error"]["details"]
    assert (await http.get("/_sim/faults")).json()["faults"] == []


async def test_stats_counts_and_recent_bodies(http: httpx.AsyncClient) -> None:
    await http.post("/_sim/faults", json={"kind": "http_429", "count": 1})
    for i in range(105):
        await call(http, "gpt-4o" if i % 2 else "gpt-4o-mini", f"prompt {i}")
    await http.post(
        "/v1/messages",
        headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
        json={"model": "claude", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
    )

    stats = (await http.get("/_sim/stats")).json()
    assert stats["total"] == 106
    assert stats["by_api_style"] == {"openai": 105, "anthropic": 1}
    assert stats["by_model"] == {"gpt-4o-mini": 53, "gpt-4o": 52, "claude": 1}
    recent = stats["recent"]
    assert len(recent) == 100  # the last 100 only
    assert recent[0]["body"]["messages"][0]["content"] == "prompt 6"
    assert recent[-1]["api_style"] == "anthropic" and recent[-1]["path"] == "/v1/messages"
    assert [r["seq"] for r in recent] == list(range(7, 107))
    assert all(r["status"] == 200 and r["fault"] is None for r in recent)
    assert recent[-2]["headers"]["authorization"] == "***"


async def test_stats_record_the_fault_and_status(http: httpx.AsyncClient) -> None:
    await http.post("/_sim/faults", json={"kind": "http_429", "count": 1, "retry_after": 2})
    assert await call(http) == 429
    entry = (await http.get("/_sim/stats")).json()["recent"][-1]
    assert (entry["fault"], entry["status"], entry["model"]) == ("http_429", 429, "gpt-4o-mini")


async def test_config_patch_and_reset(http: httpx.AsyncClient) -> None:
    original = (await http.get("/_sim/config")).json()
    assert original["output_tokens"] == 64 and original["latency_ms"] == 0

    patched = await http.patch("/_sim/config", json={"output_tokens": 3, "cached_fraction": 0.5})
    assert patched.status_code == 200 and patched.json()["output_tokens"] == 3
    answer = (await http.post("/v1/chat/completions", headers=AUTH, json=body(text="x" * 40))).json()
    assert answer["usage"]["completion_tokens"] == 3
    assert answer["usage"]["prompt_tokens_details"]["cached_tokens"] == 5

    for bad in ({"output_tokens": 0}, {"cached_fraction": 2}, {"no_such_knob": 1}, [1, 2]):
        assert (await http.patch("/_sim/config", json=bad)).status_code == 422
    assert (await http.get("/_sim/config")).json()["output_tokens"] == 3  # rejected patches change nothing

    await http.post("/_sim/faults", json={"kind": "http_500"})
    assert (await http.post("/_sim/reset")).json() == {"reset": True}
    assert (await http.get("/_sim/config")).json() == original
    assert (await http.get("/_sim/faults")).json()["faults"] == []
    assert (await http.get("/_sim/stats")).json()["total"] == 0
    assert await call(http) == 200


async def test_health(http: httpx.AsyncClient) -> None:
    assert (await http.get("/_sim/health")).json() == {"status": "ok"}


def test_in_process_controls_match_the_http_ones(sim: SimulatorServer) -> None:
    fault_id = sim.simulator.inject("latency", latency_ms=5, match={"model": "m"})
    assert [f["id"] for f in sim.simulator.faults.active()] == [fault_id]
    with pytest.raises(ValueError):
        sim.simulator.inject("nonsense")
    with pytest.raises(ValueError):
        sim.simulator.configure(latency_ms=-1)
    sim.simulator.reset()
    assert sim.simulator.faults.active() == []
