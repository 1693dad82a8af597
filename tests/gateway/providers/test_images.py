"""Image generation through every adapter that has an image API, against the simulator's wires;
what each wire refuses before a call; per-image prices (defaults, overrides, worst cases)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from gateway.pricing import PriceCatalog
from gateway.pricing.catalog import PriceFileError
from gateway.pricing.images import ImagePrices, image_cost
from gateway.providers.base import ProviderEndpoint, get_adapter
from gateway.providers.gemini import aspect_ratio
from gateway.providers.http import UpstreamClient
from gateway.providers.types import ImageRequest, ProviderError
from gateway.simulator import SimulatorServer
from gateway.simulator.images import png

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("style", "model"),
    [
        ("openai", "gpt-image-1"),
        ("azure_openai", "gpt-image-1"),
        ("openai_compatible", "dall-e-2"),
        ("gemini", "imagen-4.0-generate-001"),
    ],
)
async def test_generate_image_answers_real_pngs(
    style: str,
    model: str,
    client: UpstreamClient,
    sim_endpoint: Callable[..., ProviderEndpoint],
    sim: SimulatorServer,
) -> None:
    endpoint = (
        sim_endpoint(style, api_version="2024-10-21") if style == "azure_openai" else sim_endpoint(style)
    )
    response = await get_adapter(style).generate_image(  # type: ignore[attr-defined]
        client, endpoint, ImageRequest(model, "a blue whale", n=2, size="1024x1024")
    )
    assert len(response.images) == 2
    data = [base64.b64decode(i.b64_json or "") for i in response.images]
    assert all(d.startswith(PNG_MAGIC) for d in data) and data[0] != data[1]
    assert data[0] == png("a blue whale#0")  # deterministic: the same prompt, the same picture
    sent = sim.simulator.stats.snapshot()["recent"][-1]
    assert sent["kind"] == "image" and sent["model"] == model
    if model.startswith("gpt-image"):  # billed by tokens: the answer says how many
        assert response.usage.output_tokens == 2 * 1056 and response.usage.input_tokens > 0
        assert "response_format" not in sent["body"]
    else:
        assert response.usage.total_tokens == 0
    if style == "openai_compatible":
        assert sent["body"]["response_format"] == "b64_json"


async def test_a_provider_refusal_is_a_bad_request(
    client: UpstreamClient, sim_endpoint: Callable[..., ProviderEndpoint]
) -> None:
    with pytest.raises(ProviderError) as refused:
        await get_adapter("openai").generate_image(  # type: ignore[attr-defined]
            client, sim_endpoint("openai"), ImageRequest("gpt-4o-mini", "a cat")
        )
    assert refused.value.error_class == "bad_request" and "does not generate images" in refused.value.message


def test_which_wires_generate_images_and_what_they_carry() -> None:
    request = ImageRequest("imagen-4.0-generate-001", "a cat")
    assert get_adapter("anthropic").image_gaps(request) is None  # type: ignore[attr-defined]
    assert get_adapter("cohere").image_gaps(request) is None  # type: ignore[attr-defined]
    assert get_adapter("openai").image_gaps(ImageRequest("dall-e-3", "a cat", quality="hd")) == []  # type: ignore[attr-defined]
    gemini = get_adapter("gemini")
    assert gemini.image_gaps(ImageRequest("gemini-1.5-flash", "a cat")) is None  # type: ignore[attr-defined]
    assert gemini.image_gaps(request) == []  # type: ignore[attr-defined]
    wide = ImageRequest("imagen-4.0-generate-001", "a cat", n=5, size="1536x1024", quality="hd")
    assert gemini.image_gaps(wide) == ["size", "quality", "n"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("size", "ratio"),
    [
        ("1024x1024", "1:1"),
        ("1792x1024", "16:9"),
        ("1024x1792", "9:16"),
        ("768x1024", "3:4"),
        ("1536x1024", None),
    ],
)
def test_sizes_map_to_imagen_aspect_ratios(size: str, ratio: str | None) -> None:
    assert aspect_ratio(size) == ratio


def test_default_image_prices() -> None:
    prices = ImagePrices()
    assert prices.lookup("openai", "dall-e-3", None, None).per_image == Decimal("0.04")  # type: ignore[union-attr]
    assert prices.lookup("openai", "dall-e-3", "1792x1024", "hd").per_image == Decimal("0.12")  # type: ignore[union-attr]
    assert prices.lookup("azure_openai", "gpt-image-1", "1024x1536", "high").per_image == Decimal("0.25")  # type: ignore[union-attr]
    assert prices.lookup("gemini", "imagen-4.0-fast-generate-001", "1792x1024", None).per_image == Decimal(
        "0.02"
    )  # type: ignore[union-attr]
    assert prices.lookup("openai", "dall-e-3", "512x512", None) is None  # no such size: unpriced
    assert prices.lookup("openai_compatible", "dall-e-3", None, None) is None
    assert prices.worst("openai", "gpt-image-1", None, None) == Decimal("0.25")
    assert prices.worst("openai", "gpt-image-1", "1024x1024", None) == Decimal("0.167")
    assert prices.worst("openai", "unknown-image-model", None, None) is None
    cost = image_cost(prices.lookup("openai", "dall-e-3", None, "hd"), 3, Decimal(20))  # type: ignore[arg-type]
    assert (cost.provider_cost, cost.markup_amount, cost.customer_cost) == (
        Decimal("0.24"),
        Decimal("0.048"),
        Decimal("0.288"),
    )


def test_image_prices_from_the_price_file(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(
        json.dumps(
            {
                "image_prices": [
                    {"provider": "openai", "model": "dall-e-3", "quality": "hd", "per_image": "0.07"},
                    {"provider": "local", "model": "sdxl", "per_image": 0.001},
                ]
            }
        )
    )
    prices = PriceCatalog.from_file(path).images
    hd = prices.lookup("openai", "dall-e-3", "1024x1792", "hd")
    assert hd is not None and hd.per_image == Decimal("0.07") and hd.source == "override:prices.json"
    assert prices.lookup("openai", "dall-e-3", None, "standard") is None  # the override replaces the defaults
    assert prices.lookup("local", "sdxl", "512x512", None).per_image == Decimal("0.001")  # type: ignore[union-attr]
    path.write_text(json.dumps({"image_prices": [{"provider": "openai", "model": "x", "per_image": "free"}]}))
    with pytest.raises(PriceFileError):
        PriceCatalog.from_file(path)
