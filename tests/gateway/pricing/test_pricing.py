"""Prices come from genai-prices (or overrides) and costs are exact Decimal arithmetic."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from genai_prices import Usage, calc_price
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.pricing import (
    ModelPrice,
    PriceCatalog,
    TokenUsage,
    compute_cost,
    estimate_max_cost,
    estimate_tokens,
)
from gateway.pricing.catalog import PriceFileError

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
CATALOG = PriceCatalog()


def test_known_model_is_priced_with_source() -> None:
    price = CATALOG.lookup("openai", "gpt-4o-mini", NOW)
    assert price is not None
    assert price.input_per_mtok == Decimal("0.15")
    assert price.output_per_mtok == Decimal("0.6")
    assert price.cached_input_per_mtok == Decimal("0.075")
    assert price.source.startswith("genai-prices ")
    assert isinstance(price.input_per_mtok, Decimal)


@pytest.mark.parametrize(
    ("ours", "model"),
    [
        ("gemini", "gemini-1.5-flash"),
        ("azure_openai", "gpt-4o"),
        ("cohere", "command-r-plus"),
        ("anthropic", "claude-3-5-haiku-latest"),
    ],
)
def test_our_provider_names_map_to_genai_prices_ids(ours: str, model: str) -> None:
    price = CATALOG.lookup(ours, model, NOW)
    assert price is not None and price.provider == ours and price.model == model


def test_unknown_model_and_anonymous_compatible_server_are_unpriced() -> None:
    assert CATALOG.lookup("openai", "definitely-not-a-model", NOW) is None
    assert CATALOG.lookup("openai_compatible", "llama3", NOW) is None
    assert CATALOG.lookup("openai", "", NOW) is None


def test_compatible_server_named_like_a_known_provider_is_priced() -> None:
    assert CATALOG.lookup("groq", "llama-3.3-70b-versatile", NOW) is not None


@pytest.mark.parametrize(
    ("provider", "model", "usage"),
    [
        ("openai", "gpt-4o-mini", TokenUsage(1200, 340, 0, 0)),
        ("openai", "gpt-4o", TokenUsage(5000, 1000, 2048, 0)),
        ("openai", "o3-mini", TokenUsage(800, 2000, 0, 1500)),
        ("anthropic", "claude-3-5-sonnet-latest", TokenUsage(3000, 700, 1000, 0)),
        ("gemini", "gemini-1.5-flash", TokenUsage(10_000, 99, 0, 0)),
    ],
)
def test_provider_cost_matches_genai_prices(provider: str, model: str, usage: TokenUsage) -> None:
    price = CATALOG.lookup(provider, model, NOW, usage.input_tokens)
    ours = compute_cost(price, usage, Decimal(0))
    theirs = calc_price(
        Usage(
            input_tokens=usage.input_tokens,
            cache_read_tokens=usage.cached_input_tokens,
            output_tokens=usage.output_tokens,
        ),
        model,
        provider_id={"gemini": "google"}.get(provider, provider),
        genai_request_timestamp=NOW,
    ).total_price
    assert ours.provider_cost == theirs.quantize(Decimal("0.000000000001"))


def test_cost_breakdown_is_exact_decimal() -> None:
    price = CATALOG.lookup("openai", "gpt-4o-mini", NOW)
    cost = compute_cost(price, TokenUsage(1000, 500, 200, 0), Decimal("20"))
    # 800 * 0.15 + 200 * 0.075 + 500 * 0.6 = 435 per million
    assert cost.provider_cost == Decimal("0.000435")
    assert cost.markup_amount == Decimal("0.000087")
    assert cost.customer_cost == Decimal("0.000522")
    assert cost.priced and cost.currency == "USD"
    assert all(isinstance(v, Decimal) for v in (cost.provider_cost, cost.markup_amount, cost.customer_cost))


def test_unpriced_cost_is_flagged_not_silently_free() -> None:
    cost = compute_cost(None, TokenUsage(100, 100), Decimal("20"))
    assert cost.priced is False
    assert cost.customer_cost == 0


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 2_000_000),
    st.integers(0, 200_000),
    st.integers(0, 2_000_000),
    st.decimals(0, 100, places=2),
)
def test_customer_cost_is_provider_cost_plus_markup(inp: int, out: int, cached: int, markup: Decimal) -> None:
    price = ModelPrice("x", "y", Decimal("2.5"), Decimal("10"), Decimal("1.25"))
    cost = compute_cost(price, TokenUsage(inp, out, cached), markup)
    assert cost.customer_cost == cost.provider_cost + cost.markup_amount
    assert cost.provider_cost >= 0 and cost.markup_amount >= 0
    # Cached reads never cost more than uncached ones.
    assert cost.provider_cost <= compute_cost(price, TokenUsage(inp, out, 0), markup).provider_cost


def test_tiered_price_uses_cliff_rule() -> None:
    small = CATALOG.lookup("gemini", "gemini-1.5-pro", NOW, input_tokens=1000)
    large = CATALOG.lookup("gemini", "gemini-1.5-pro", NOW, input_tokens=300_000)
    assert small is not None and large is not None
    assert large.input_per_mtok > small.input_per_mtok
    assert large.output_per_mtok > small.output_per_mtok


def test_dated_prices_carry_validity() -> None:
    before = CATALOG.lookup("anthropic", "claude-sonnet-4-6", datetime(2026, 1, 1, tzinfo=timezone.utc))
    after = CATALOG.lookup("anthropic", "claude-sonnet-4-6", NOW)
    assert before is not None and after is not None
    assert before.valid_to == datetime(2026, 3, 13, tzinfo=timezone.utc)
    assert after.valid_from == datetime(2026, 3, 13, tzinfo=timezone.utc) and after.valid_to is None


def test_overrides_win_and_respect_validity(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(
        json.dumps(
            {
                "prices": [
                    {
                        "provider": "ollama",
                        "model": "llama3",
                        "input_per_mtok": "0.10",
                        "output_per_mtok": "0.20",
                        "valid_from": "2026-01-01",
                    },
                    {
                        "provider": "openai",
                        "model": "gpt-4o-mini",
                        "input_per_mtok": "1",
                        "output_per_mtok": "2",
                        "valid_to": "2026-06-01T00:00:00+00:00",
                    },
                ]
            }
        )
    )
    catalog = PriceCatalog.from_file(path)
    own = catalog.lookup("ollama", "llama3", NOW)
    assert own is not None and own.input_per_mtok == Decimal("0.10") and own.source == "override:prices.json"
    assert catalog.lookup("ollama", "llama3", datetime(2025, 6, 1, tzinfo=timezone.utc)) is None
    assert (
        catalog.lookup("openai", "gpt-4o-mini", datetime(2026, 2, 1, tzinfo=timezone.utc)).input_per_mtok == 1
    )
    assert catalog.lookup("openai", "gpt-4o-mini", NOW).input_per_mtok == Decimal("0.15")


def test_bad_override_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"prices": [{"provider": "a", "model": "b", "input_per_mtok": "1"}]}))
    with pytest.raises(PriceFileError, match="needs input and output"):
        PriceCatalog.from_file(path)


def test_max_cost_estimate_is_worst_case() -> None:
    price = CATALOG.lookup("openai", "gpt-4o", NOW)
    estimate = estimate_max_cost(price, 1000, 1000, Decimal("0"))
    assert estimate == Decimal("0.0125")  # 1000 * 2.5 + 1000 * 10 per million
    assert estimate_max_cost(None, 1000, 1000, Decimal("0")) is None


def test_token_estimate_is_conservative() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("hello world") >= 2
    assert estimate_tokens("x" * 400) == 100


def test_prompt_estimate_counts_each_messages_framing() -> None:
    from gateway.pricing import estimate_prompt_tokens
    from gateway.providers.types import ChatMessage

    one = estimate_prompt_tokens([ChatMessage("user", "x" * 40)])
    two = estimate_prompt_tokens([ChatMessage("system", "x" * 40), ChatMessage("user", "x" * 40)])
    assert one == 10 + 4 and two == 2 * one


def test_embedding_models_are_priced_on_input_alone() -> None:
    price = CATALOG.lookup("openai", "text-embedding-3-small", NOW)
    assert price is not None and price.input_per_mtok == Decimal("0.02") and price.output_per_mtok == 0
    assert compute_cost(price, TokenUsage(1_000_000, 0), Decimal(0)).provider_cost == Decimal("0.02")


def test_cache_write_and_audio_rates_come_from_genai_prices() -> None:
    claude = CATALOG.lookup("anthropic", "claude-3-5-sonnet-latest", NOW)
    flash = CATALOG.lookup("gemini", "gemini-2.0-flash", NOW)
    mini = CATALOG.lookup("openai", "gpt-4o-mini", NOW)
    assert claude is not None and flash is not None and mini is not None
    assert claude.cache_write_per_mtok == Decimal("3.75") and claude.input_audio_per_mtok is None
    assert flash.input_audio_per_mtok == Decimal("0.7") and flash.cache_write_per_mtok is None
    assert mini.cache_write_per_mtok is None and mini.input_audio_per_mtok is None
    assert all(isinstance(v, Decimal) for v in (claude.cache_write_per_mtok, flash.input_audio_per_mtok))


@pytest.mark.parametrize(
    ("provider", "model", "usage"),
    [
        ("anthropic", "claude-3-5-sonnet-latest", TokenUsage(3000, 700, 1000, 0, cache_write_tokens=1500)),
        ("gemini", "gemini-2.0-flash", TokenUsage(10_000, 99, 2000, 0, audio_input_tokens=3000)),
        ("openai", "gpt-4o-mini", TokenUsage(5000, 100, 1000, 0, cache_write_tokens=2000)),  # no own rate
    ],
)
def test_cache_writes_and_audio_cost_what_genai_prices_says(
    provider: str, model: str, usage: TokenUsage
) -> None:
    price = CATALOG.lookup(provider, model, NOW, usage.input_tokens)
    ours = compute_cost(price, usage, Decimal(0))
    theirs = calc_price(
        Usage(
            input_tokens=usage.input_tokens,
            cache_read_tokens=usage.cached_input_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            input_audio_tokens=usage.audio_input_tokens,
            cache_audio_read_tokens=0,  # our cached reads are text (usage reports no cached audio)
            output_tokens=usage.output_tokens,
        ),
        model,
        provider_id={"gemini": "google"}.get(provider, provider),
        genai_request_timestamp=NOW,
    ).total_price
    assert ours.provider_cost == theirs.quantize(Decimal("0.000000000001"))


def test_cache_writes_are_billed_at_their_own_rate_else_at_input() -> None:
    own = ModelPrice(
        "x", "y", Decimal("3"), Decimal("15"), Decimal("0.3"), cache_write_per_mtok=Decimal("3.75")
    )
    usage = TokenUsage(1_000_000, 0, 200_000, 0, cache_write_tokens=300_000)
    # 500k uncached * 3 + 200k cached * 0.3 + 300k written * 3.75, per million
    assert compute_cost(own, usage, Decimal(0)).provider_cost == Decimal("2.685")
    folded = ModelPrice("x", "y", Decimal("3"), Decimal("15"), Decimal("0.3"))
    assert compute_cost(folded, usage, Decimal(0)).provider_cost == Decimal("2.46")  # 800k * 3 + 200k * 0.3


def test_audio_input_is_billed_at_its_own_rate_and_counts_never_exceed_the_input() -> None:
    price = ModelPrice("x", "y", Decimal("1"), Decimal("4"), input_audio_per_mtok=Decimal("7"))
    assert compute_cost(
        price, TokenUsage(1_000_000, 0, audio_input_tokens=250_000), Decimal(0)
    ).provider_cost == (
        Decimal("2.5")  # 750k * 1 + 250k * 7
    )
    # more audio than input (a provider's miscount) is capped: never billed above all-audio
    capped = compute_cost(price, TokenUsage(1000, 0, audio_input_tokens=5000), Decimal(0)).provider_cost
    assert capped == Decimal("0.007")


def test_token_usage_of_a_provider_usage_carries_every_priced_kind() -> None:
    from gateway.providers.types import Usage as ProviderUsage

    u = ProviderUsage(100, 20, 10, 5, cache_write_tokens=30, audio_input_tokens=7, image_input_tokens=9)
    assert TokenUsage.of(u) == TokenUsage(100, 20, 10, 5, cache_write_tokens=30, audio_input_tokens=7)


def test_override_files_carry_cache_write_and_audio_rates(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    item = {"provider": "ollama", "model": "m", "input_per_mtok": "1", "output_per_mtok": "2"}
    rates = {"cache_write_per_mtok": "1.25", "input_audio_per_mtok": 0.5}
    path.write_text(json.dumps({"prices": [{**item, **rates}, {**item, "model": "plain"}]}))
    catalog = PriceCatalog.from_file(path)
    own, plain = catalog.lookup("ollama", "m", NOW), catalog.lookup("ollama", "plain", NOW)
    assert own is not None and plain is not None
    assert (own.cache_write_per_mtok, own.input_audio_per_mtok) == (Decimal("1.25"), Decimal("0.5"))
    assert (plain.cache_write_per_mtok, plain.input_audio_per_mtok) == (None, None)
