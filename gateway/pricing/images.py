"""Per-image prices for image generation: operator overrides first, then a documented default table.

``genai-prices`` lists token prices only. GPT image models are billed by tokens (their answers
report usage, and ``genai-prices`` has their token rates), so an answer that reports tokens is
priced like a chat answer; DALL-E and Imagen are billed per image by size and quality and report
no tokens, so they are priced here. The defaults are the providers' published list prices (USD,
OpenAI's and Google's pricing pages as of 2026-01); Azure OpenAI lists the same prices as OpenAI
for the same models. An OpenAI-compatible server's image models are unpriced unless overridden.

Overrides come from the price file (``ONEVAULT_PRICES_FILE``, default ``HOME/prices.json``)::

    {"image_prices": [{"provider": "openai", "model": "dall-e-3", "size": "1024x1024",
                       "quality": "hd", "per_image": "0.08", "currency": "USD"}]}

``provider`` is OneVault's provider name or the wire format (``openai``, ``azure_openai``,
``gemini``, ``openai_compatible``); ``size`` and ``quality`` may be left out (any). A request
that names no size or quality (or ``auto``) is priced at what the provider reports it made, else
at the model's default (the first row listed for it below).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from gateway.pricing.cost import CostBreakdown, money

ANY: Final = "*"
DEFAULT_SOURCE: Final = "onevault image list prices 2026-01"
_FAMILY: Final = {"azure_openai": "openai"}  # whose list prices a wire format's defaults are


@dataclass(frozen=True, slots=True)
class ImagePrice:
    provider: str
    model: str
    size: str
    quality: str
    per_image: Decimal
    currency: str = "USD"
    source: str = DEFAULT_SOURCE

    def matches(self, size: str | None, quality: str | None) -> bool:
        return self.size in (ANY, size) and self.quality in (ANY, quality)


def _rows(provider: str, model: str, table: dict[str, dict[str, str]]) -> list[ImagePrice]:
    return [
        ImagePrice(provider, model, size, quality, Decimal(price))
        for quality, by_size in table.items()
        for size, price in by_size.items()
    ]


_GPT_IMAGE_SIZES = ("1024x1024", "1024x1536", "1536x1024")
# Model → {quality → {size → USD per image}}; the first quality and size listed are the default.
DEFAULT_TABLE: Final[dict[str, dict[str, dict[str, dict[str, str]]]]] = {
    "openai": {
        "dall-e-3": {
            "standard": {"1024x1024": "0.04", "1024x1792": "0.08", "1792x1024": "0.08"},
            "hd": {"1024x1024": "0.08", "1024x1792": "0.12", "1792x1024": "0.12"},
        },
        "dall-e-2": {"standard": {"1024x1024": "0.02", "512x512": "0.018", "256x256": "0.016"}},
        "gpt-image-1": {
            "medium": dict(zip(_GPT_IMAGE_SIZES, ("0.042", "0.063", "0.063"), strict=True)),
            "low": dict(zip(_GPT_IMAGE_SIZES, ("0.011", "0.016", "0.016"), strict=True)),
            "high": dict(zip(_GPT_IMAGE_SIZES, ("0.167", "0.25", "0.25"), strict=True)),
        },
        "gpt-image-1-mini": {
            "medium": dict(zip(_GPT_IMAGE_SIZES, ("0.011", "0.015", "0.015"), strict=True)),
            "low": dict(zip(_GPT_IMAGE_SIZES, ("0.005", "0.006", "0.006"), strict=True)),
            "high": dict(zip(_GPT_IMAGE_SIZES, ("0.036", "0.052", "0.052"), strict=True)),
        },
    },
    "gemini": {  # Imagen: one price per image whatever the aspect ratio
        "imagen-3.0-generate-002": {ANY: {ANY: "0.03"}},
        "imagen-4.0-generate-001": {ANY: {ANY: "0.04"}},
        "imagen-4.0-fast-generate-001": {ANY: {ANY: "0.02"}},
        "imagen-4.0-ultra-generate-001": {ANY: {ANY: "0.06"}},
    },
}
DEFAULTS: Final[dict[tuple[str, str], list[ImagePrice]]] = {
    (provider, model): _rows(provider, model, table)
    for provider, models in DEFAULT_TABLE.items()
    for model, table in models.items()
}


class ImagePrices:
    def __init__(self, overrides: list[ImagePrice] | None = None) -> None:
        self._overrides: dict[tuple[str, str], list[ImagePrice]] = {}
        for p in overrides or []:
            self._overrides.setdefault((p.provider.lower(), p.model.lower()), []).append(p)

    def rows(self, provider: str, model: str) -> list[ImagePrice]:
        """The model's prices under ``provider``: the overrides if any, else the defaults."""
        key = (provider.lower(), model.lower())
        if key in self._overrides:
            return self._overrides[key]
        return DEFAULTS.get((_FAMILY.get(key[0], key[0]), key[1]), [])

    def lookup(self, provider: str, model: str, size: str | None, quality: str | None) -> ImagePrice | None:
        """The price of one image of ``size`` and ``quality`` (None or ``auto``: the model's default)."""
        rows = self.rows(provider, model)
        if not rows:
            return None
        size = size if size not in (None, "auto") else rows[0].size
        quality = quality if quality not in (None, "auto") else rows[0].quality
        return next((p for p in rows if p.matches(size, quality)), None)

    def worst(self, provider: str, model: str, size: str | None, quality: str | None) -> Decimal | None:
        """The most one image can cost: over every size or quality the request leaves open."""
        rows = self.rows(provider, model)
        size = None if size == "auto" else size
        quality = None if quality == "auto" else quality
        fits = [
            p.per_image
            for p in rows
            if (size is None or p.size in (ANY, size)) and (quality is None or p.quality in (ANY, quality))
        ]
        return max(fits, default=None)


def image_override(item: dict[str, Any], source: str) -> ImagePrice:
    """One ``image_prices`` item of the price file (KeyError/ValueError when malformed)."""
    try:
        per_image = Decimal(str(item["per_image"]))
    except InvalidOperation:
        per_image = Decimal("NaN")
    if not per_image.is_finite() or per_image < 0:
        raise ValueError(f"{item.get('provider')}/{item.get('model')}: per_image must be a price >= 0")
    return ImagePrice(
        provider=str(item["provider"]),
        model=str(item["model"]),
        size=str(item.get("size") or ANY),
        quality=str(item.get("quality") or ANY),
        per_image=per_image,
        currency=str(item.get("currency", "USD")),
        source=source,
    )


def image_cost(price: ImagePrice, images: int, markup_pct: Decimal) -> CostBreakdown:
    """``images`` × the unit price, with the customer's markup (12 places, half-up)."""
    base = money(price.per_image * max(images, 0))
    markup = money(base * markup_pct / Decimal(100))
    return CostBreakdown(base, markup, base + markup, priced=True, currency=price.currency)
