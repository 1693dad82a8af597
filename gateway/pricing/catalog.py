"""Where a unit price comes from: operator overrides first, then the ``genai-prices`` snapshot
bundled with the installed package (offline; upgrading the package upgrades the prices, and the
``source`` recorded with every cost says which version priced it).

Our provider names are mapped to ``genai-prices`` ids (``gemini`` → ``google``, ``azure_openai``
→ ``azure``); an OpenAI-compatible server is priced under its catalog name when ``genai-prices``
knows it (``groq``, ``together``, ``deepseek``…) and is otherwise unpriced unless overridden.
Tiered prices (e.g. Gemini above 200k prompt tokens) use the provider's cliff rule: once the
prompt crosses a tier, every token pays that tier's rate, so lookups take the prompt size.
Cache writes and audio input take ``genai-prices``' ``cache_write_mtok`` and ``input_audio_mtok``
where it lists them (the cache write rate is the default 5-minute one: usage reports no TTL).
A model neither knows is unpriced, unless the operator set a *fallback* price
(``ONEVAULT_FALLBACK_INPUT_PER_MTOK`` / ``_OUTPUT_PER_MTOK``): then it is billed at that price,
recorded with the source ``fallback:settings`` (docs/security/money.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from decimal import Decimal
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path
from typing import Any

from genai_prices import types as gp
from genai_prices.data_snapshot import get_snapshot

from gateway.pricing.images import ImagePrice, ImagePrices, image_override

_PROVIDER_IDS: dict[str, str | None] = {
    "openai": "openai",
    "azure_openai": "azure",
    "anthropic": "anthropic",
    "gemini": "google",
    "cohere": "cohere",
    "openai_compatible": None,
}
_SOURCE = f"genai-prices {version('genai-prices')}"
FALLBACK_SOURCE = "fallback:settings"


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """Unit prices in ``currency`` per million tokens, valid over ``[valid_from, valid_to)``.
    ``cache_write_per_mtok`` / ``input_audio_per_mtok``: rates of their own for input tokens
    written to the provider's cache and for audio input (None = billed at the input rate)."""

    provider: str
    model: str
    input_per_mtok: Decimal
    output_per_mtok: Decimal
    cached_input_per_mtok: Decimal | None = None
    reasoning_per_mtok: Decimal | None = None
    currency: str = "USD"
    source: str = _SOURCE
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    cache_write_per_mtok: Decimal | None = None
    input_audio_per_mtok: Decimal | None = None


class PriceFileError(ValueError):
    pass


def fallback_price(input_per_mtok: Decimal | None, output_per_mtok: Decimal | None) -> ModelPrice | None:
    """The operator's price for models no catalog knows (None: unpriced models stay unpriced)."""
    if input_per_mtok is None and output_per_mtok is None:
        return None
    if input_per_mtok is None or output_per_mtok is None:
        raise PriceFileError(
            "a fallback price needs both ONEVAULT_FALLBACK_INPUT_PER_MTOK and "
            "ONEVAULT_FALLBACK_OUTPUT_PER_MTOK"
        )
    return ModelPrice(
        "*", "*", input_per_mtok, output_per_mtok, reasoning_per_mtok=output_per_mtok, source=FALLBACK_SOURCE
    )


class PriceCatalog:
    def __init__(
        self,
        overrides: list[ModelPrice] | None = None,
        image_prices: list[ImagePrice] | None = None,
        fallback: ModelPrice | None = None,
    ) -> None:
        self.images = ImagePrices(image_prices)  # per-image prices (gateway/pricing/images.py)
        self.fallback = fallback
        self._overrides: dict[tuple[str, str], list[ModelPrice]] = {}
        for p in overrides or []:
            self._overrides.setdefault((p.provider.lower(), p.model.lower()), []).append(p)
        self._resolve = lru_cache(maxsize=4096)(self._resolve_uncached)

    @classmethod
    def from_file(cls, path: Path | None, fallback: ModelPrice | None = None) -> PriceCatalog:
        """Overrides from an optional JSON file: ``{"prices": [{"provider", "model", ...}]}``
        (per item: ``input_per_mtok`` and ``output_per_mtok``, optionally ``cached_input_per_mtok``,
        ``cache_write_per_mtok``, ``input_audio_per_mtok``, ``reasoning_per_mtok``, ``currency``,
        ``valid_from``, ``valid_to``); per-image prices under ``"image_prices"``
        (gateway/pricing/images.py)."""
        if path is None or not path.exists():
            return cls(fallback=fallback)
        try:
            doc = json.loads(path.read_text())
            source = f"override:{path.name}"
            return cls(
                [_override(item, path) for item in doc.get("prices", [])],
                [image_override(item, source) for item in doc.get("image_prices", [])],
                fallback,
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise PriceFileError(f"{path}: {exc}") from exc

    def lookup(self, provider: str, model: str, at: datetime, input_tokens: int = 0) -> ModelPrice | None:
        """The price in force at ``at`` for ``model`` served by ``provider``, or None if unknown."""
        if not model:
            return None
        # Cache per minute: time-of-day prices (off-peak rates) change on minute boundaries.
        minute = at.astimezone(timezone.utc).replace(second=0, microsecond=0)
        found = self._resolve(provider.lower(), model.lower(), minute)
        if found is None:
            return None
        base, tiers = found
        if not tiers or input_tokens <= 0:
            return base
        return _apply_tiers(base, tiers, input_tokens)

    def fallback_for(self, provider: str, model: str) -> ModelPrice | None:
        """The fallback price as applied to one model (its own name in the price history)."""
        if self.fallback is None or not model:
            return None
        return ModelPrice(**{**_fields(self.fallback), "provider": provider, "model": model})

    def _resolve_uncached(
        self, provider: str, model: str, at: datetime
    ) -> tuple[ModelPrice, dict[str, gp.TieredPrices]] | None:
        for p in self._overrides.get((provider, model), []):
            if (p.valid_from is None or p.valid_from <= at) and (p.valid_to is None or at < p.valid_to):
                return p, {}
        provider_id = _PROVIDER_IDS.get(provider, provider)
        if provider_id is None:
            return None
        try:
            _, info = get_snapshot().find_provider_model(model, None, provider_id, None)
        except LookupError:
            return None
        return _from_genai(provider, model, info, at)


def _from_genai(
    provider: str, model: str, info: gp.ModelInfo, at: datetime
) -> tuple[ModelPrice, dict[str, gp.TieredPrices]] | None:
    raw = info.get_prices(at)
    if raw.input_mtok is None:
        return None  # priced per request/second only (e.g. audio): not a token price we can apply
    tiers: dict[str, gp.TieredPrices] = {}

    def unit(name: str, value: Any) -> Decimal | None:
        if isinstance(value, gp.TieredPrices):
            tiers[name] = value
            return value.base
        return value

    valid_from, valid_to = _validity(info, at)
    # Embedding models list an input price only: they produce no output tokens to price.
    output = unit("output_per_mtok", raw.output_mtok) if raw.output_mtok is not None else Decimal(0)
    price = ModelPrice(
        provider=provider,
        model=model,
        input_per_mtok=unit("input_per_mtok", raw.input_mtok),  # type: ignore[arg-type]
        output_per_mtok=output,  # type: ignore[arg-type]
        cached_input_per_mtok=unit("cached_input_per_mtok", raw.cache_read_mtok),
        reasoning_per_mtok=output,
        valid_from=valid_from,
        valid_to=valid_to,
        cache_write_per_mtok=unit("cache_write_per_mtok", raw.cache_write_mtok),
        input_audio_per_mtok=unit("input_audio_per_mtok", raw.input_audio_mtok),
    )
    return price, tiers


def _validity(info: gp.ModelInfo, at: datetime) -> tuple[datetime | None, datetime | None]:
    """Bounds of the dated price period containing ``at`` (None where open-ended)."""
    if isinstance(info.prices, gp.ModelPrice):
        return None, None
    starts = sorted(
        c.constraint.start_date for c in info.prices if isinstance(c.constraint, gp.StartDateConstraint)
    )
    today = at.astimezone(timezone.utc).date()
    begun = [d for d in starts if d <= today]
    upcoming = [d for d in starts if d > today]
    return (_midnight(begun[-1]) if begun else None), (_midnight(upcoming[0]) if upcoming else None)


def _midnight(d: date) -> datetime:
    return datetime.combine(d, time.min, tzinfo=timezone.utc)


def _apply_tiers(base: ModelPrice, tiers: dict[str, gp.TieredPrices], input_tokens: int) -> ModelPrice:
    values = {}
    for name, tiered in tiers.items():
        rate = tiered.base
        for tier in tiered.tiers:  # sorted ascending by start
            if input_tokens > tier.start:
                rate = tier.price
        values[name] = rate
    if "output_per_mtok" in values:
        values["reasoning_per_mtok"] = values["output_per_mtok"]
    return ModelPrice(**{**_fields(base), **values})


def _fields(p: ModelPrice) -> dict[str, Any]:
    return {name: getattr(p, name) for name in ModelPrice.__slots__}


def _override(item: dict[str, Any], path: Path) -> ModelPrice:
    def dec(key: str) -> Decimal | None:
        value = item.get(key)
        return None if value is None else Decimal(str(value))

    def ts(key: str) -> datetime | None:
        value = item.get(key)
        if value is None:
            return None
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)

    input_price, output_price = dec("input_per_mtok"), dec("output_per_mtok")
    if input_price is None or output_price is None:
        raise PriceFileError(
            f"{path}: {item.get('provider')}/{item.get('model')} needs input and output prices"
        )
    return ModelPrice(
        provider=str(item["provider"]),
        model=str(item["model"]),
        input_per_mtok=input_price,
        output_per_mtok=output_price,
        cached_input_per_mtok=dec("cached_input_per_mtok"),
        reasoning_per_mtok=dec("reasoning_per_mtok") or output_price,
        currency=str(item.get("currency", "USD")),
        source=f"override:{path.name}",
        valid_from=ts("valid_from"),
        valid_to=ts("valid_to"),
        cache_write_per_mtok=dec("cache_write_per_mtok"),
        input_audio_per_mtok=dec("input_audio_per_mtok"),
    )
