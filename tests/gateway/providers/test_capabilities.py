"""The capability table: what each (wire, model) can honour, and how operators override it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.providers.capabilities import ALL_FEATURES, check, model_features, parse_overrides
from gateway.providers.types import (
    AudioPart,
    ChatMessage,
    ChatRequest,
    ImagePart,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
)
from gateway.routing.catalog import CatalogError, ProviderCatalog

PLAIN = [ChatMessage("user", "hi")]


def req(**options: object) -> ChatRequest:
    return ChatRequest("m", list(PLAIN), **options)  # type: ignore[arg-type]


def test_plain_text_fits_every_model_of_every_wire() -> None:
    for style in ("openai", "azure_openai", "openai_compatible", "anthropic", "gemini", "cohere"):
        for model in ("gpt-4o", "claude-3-5-haiku-latest", "gemini-1.5-flash", "command-light", "my-llama"):
            assert check(style, model, req(temperature=0.5, stop=["x"])).empty, (style, model)


@pytest.mark.parametrize(
    ("style", "model", "options", "missing"),
    [
        (
            "anthropic",
            "claude-3-5-sonnet-latest",
            {"seed": 1, "logit_bias": {"1": 1.0}},
            ("seed", "logit_bias"),
        ),
        ("anthropic", "claude-3-5-sonnet-latest", {"temperature": 1.5}, ("temperature",)),
        ("anthropic", "claude-3-5-sonnet-latest", {"reasoning_effort": "high"}, ("reasoning_effort",)),
        ("anthropic", "claude-sonnet-4-5", {"reasoning_effort": "high"}, ()),
        ("gemini", "gemini-1.5-flash", {"logit_bias": {"1": 1.0}, "seed": 3}, ("logit_bias",)),
        ("gemini", "gemini-1.5-flash", {"parallel_tool_calls": False}, ("parallel_tool_calls",)),
        ("gemini", "gemini-1.5-flash", {"parallel_tool_calls": True}, ()),
        ("cohere", "command-r-plus", {"tool_choice": ToolChoice("function", "f")}, ("tool_choice",)),
        ("cohere", "command-r-plus", {"tool_choice": ToolChoice("required")}, ()),
        ("openai", "gpt-4o-mini", {"reasoning_effort": "low"}, ("reasoning_effort",)),
        ("openai", "o3-mini", {"reasoning_effort": "low", "seed": 1, "service_tier": "flex"}, ()),
        ("openai", "gpt-4o", {"top_k": 5}, ("top_k",)),
        ("openai_compatible", "llama-3", {"top_k": 5}, ()),
        (
            "openai",
            "gpt-3.5-turbo",
            {"response_format": ResponseFormat("json_schema", "x", {})},
            ("response_format",),
        ),
        ("openai", "gpt-4o", {"response_format": ResponseFormat("text")}, ()),
        ("cohere", "command-light", {"tools": [Tool("f")]}, ("tools",)),
    ],
)
def test_options_a_candidate_cannot_honour_are_named(
    style: str, model: str, options: dict, missing: tuple[str, ...]
) -> None:
    gap = check(style, model, req(**options))
    assert gap.options == missing and gap.content == ()


def test_content_needs_are_never_options() -> None:
    image = ChatMessage("user", [TextPart("what"), ImagePart("data:image/png;base64,AAAA")])
    audio = ChatMessage("user", [AudioPart("AAAA", "wav")])
    history = [
        ChatMessage("user", "go"),
        ChatMessage("assistant", None, tool_calls=[ToolCall("c1", "f", "{}")]),
        ChatMessage("tool", "ok", tool_call_id="c1"),
    ]
    assert check("openai", "o3-mini", ChatRequest("o3-mini", [image])).content == ("image_url",)
    assert check("anthropic", "claude-3-5-sonnet-latest", ChatRequest("c", [audio])).content == (
        "input_audio",
    )
    assert check("gemini", "gemini-1.5-pro", ChatRequest("g", [audio])).empty
    assert check("cohere", "command-light", ChatRequest("c", history)).content == ("tool_calls",)


def test_unknown_models_are_judged_by_their_provider() -> None:
    assert model_features("my-finetune-v2") == ALL_FEATURES


def test_operators_override_features_per_provider(tmp_path: Path) -> None:
    doc = {
        "providers": [
            {
                "name": "local",
                "api_style": "openai_compatible",
                "base_url": "http://127.0.0.1:1",
                "api_key": "x",
                "capabilities": {"tiny": [], "*": ["tools"]},
            }
        ]
    }
    path = tmp_path / "providers.json"
    path.write_text(json.dumps(doc))
    route = ProviderCatalog.from_file(path).routes["local"]
    with_tools = req(tools=[Tool("f")])
    assert route.gap("tiny", with_tools).options == ("tools",)
    assert route.gap("other", with_tools).empty
    doc["providers"][0]["capabilities"] = {"tiny": ["telepathy"]}
    path.write_text(json.dumps(doc))
    with pytest.raises(CatalogError, match="telepathy"):
        ProviderCatalog.from_file(path)
    assert parse_overrides(None) == {}
