"""Embeddings through every adapter that has an embeddings API, against the simulator's wires."""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import Callable

import httpx
import pytest

from gateway.providers.base import ProviderEndpoint, get_adapter
from gateway.providers.http import UpstreamClient
from gateway.providers.types import EmbeddingRequest, ProviderError
from gateway.simulator import SimulatorServer
from gateway.simulator.embeddings import embed_text

STYLES = ("openai", "azure_openai", "openai_compatible", "gemini", "cohere")
MODELS = {"gemini": "gemini-embedding-001", "cohere": "embed-v4.0"}
TEXTS = [
    "What is the capital city of France?",
    "what's the capital of France",
    "Quarterly invoice totals for the finance team",
]


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("style", STYLES)
async def test_embed_returns_one_unit_vector_per_input_with_similar_texts_near(
    style: str, client: UpstreamClient, sim_endpoint: Callable[..., ProviderEndpoint], sim: SimulatorServer
) -> None:
    model = MODELS.get(style, "text-embedding-3-small")
    request = EmbeddingRequest(model, TEXTS, dimensions=64)
    response = await get_adapter(style).embed(client, sim_endpoint(style), request)

    assert [len(v) for v in response.vectors] == [64, 64, 64]
    assert all(math.isclose(cosine(v, v), 1.0, rel_tol=1e-6) for v in response.vectors)
    paraphrase, unrelated = cosine(*response.vectors[:2]), cosine(response.vectors[0], response.vectors[2])
    assert paraphrase > 0.5 > unrelated
    assert response.vectors[0] == pytest.approx(embed_text(TEXTS[0], 64))
    assert response.usage.input_tokens > 0 and response.usage.output_tokens == 0
    stats = sim.simulator.stats.snapshot()
    assert stats["total"] == 1 and stats["recent"][0]["kind"] == "embedding"
    assert stats["recent"][0]["model"] == model


async def test_wire_details_reach_the_provider(
    client: UpstreamClient, sim_endpoint: Callable[..., ProviderEndpoint], sim: SimulatorServer
) -> None:
    """Task type and dimensions travel in each provider's own field names."""
    await get_adapter("gemini").embed(
        client, sim_endpoint("gemini"), EmbeddingRequest("gemini-embedding-001", ["a", "b"], 32, "document")
    )
    await get_adapter("cohere").embed(
        client, sim_endpoint("cohere"), EmbeddingRequest("embed-v4.0", ["a"], 32)
    )
    gemini, cohere = (r["body"] for r in sim.simulator.stats.snapshot()["recent"])
    assert gemini["requests"][1] == {
        "model": "models/gemini-embedding-001",
        "taskType": "RETRIEVAL_DOCUMENT",
        "outputDimensionality": 32,
        "content": {"parts": [{"text": "b"}]},
    }
    assert cohere["input_type"] == "search_query" and cohere["output_dimension"] == 32


async def test_anthropic_has_no_embeddings_api(
    client: UpstreamClient, sim_endpoint: Callable[..., ProviderEndpoint]
) -> None:
    with pytest.raises(ProviderError) as err:
        await get_adapter("anthropic").embed(
            client, sim_endpoint("anthropic"), EmbeddingRequest("claude", ["x"])
        )
    assert err.value.error_class == "bad_request"


async def test_provider_errors_are_classified(
    client: UpstreamClient, sim_endpoint: Callable[..., ProviderEndpoint], sim: SimulatorServer
) -> None:
    sim.simulator.inject("http_429", count=1, retry_after=2)
    with pytest.raises(ProviderError) as err:
        await get_adapter("openai").embed(
            client, sim_endpoint("openai"), EmbeddingRequest("text-embedding-3-small", ["x"])
        )
    assert err.value.error_class == "rate_limited" and err.value.retry_after == 2
    with pytest.raises(ProviderError) as bad_key:
        await get_adapter("cohere").embed(
            client, sim_endpoint("cohere", api_key="invalid"), EmbeddingRequest("embed-v4.0", ["x"])
        )
    assert bad_key.value.error_class == "auth"


def test_simulator_answers_base64_and_single_gemini_embeddings(sim: SimulatorServer) -> None:
    """The official OpenAI SDK asks for base64 float32; Gemini's embedContent embeds one text."""
    r = httpx.post(
        f"{sim.url}/v1/embeddings",
        headers={"authorization": "Bearer k"},
        json={"model": "text-embedding-3-small", "input": "hello", "encoding_format": "base64"},
    )
    packed = base64.b64decode(r.json()["data"][0]["embedding"])
    assert list(struct.unpack(f"<{len(packed) // 4}f", packed)) == pytest.approx(
        embed_text("hello", 256), abs=1e-6
    )
    g = httpx.post(
        f"{sim.url}/v1beta/models/gemini-embedding-001:embedContent",
        headers={"x-goog-api-key": "k"},
        json={"content": {"parts": [{"text": "hello"}]}, "outputDimensionality": 8},
    )
    assert g.json()["embedding"]["values"] == pytest.approx(embed_text("hello", 8))
    bad = httpx.post(
        f"{sim.url}/v2/embed", headers={"authorization": "Bearer k"}, json={"model": "m", "texts": ["x"]}
    )
    assert bad.status_code == 400 and "input_type" in bad.json()["message"]
