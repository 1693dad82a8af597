"""What makes two requests the same for the caches, and how a request states its own choice."""

from __future__ import annotations

import math

import pytest

from gateway.cache.answer import CachedAnswer, exact_key, semantic_scope, semantic_split
from gateway.cache.request import cache_request
from gateway.cache.semantic import DIMS, fit
from gateway.errors import ApiError
from gateway.providers.types import ChatMessage, ChatRequest, Usage


def req(*turns: tuple[str, str], **params: object) -> ChatRequest:
    return ChatRequest("gpt-4o-mini", [ChatMessage(r, c) for r, c in turns], **params)  # type: ignore[arg-type]


def test_exact_key_changes_with_what_changes_the_answer_only() -> None:
    base = exact_key(req(("user", "hi")), "gpt-4o-mini", None)
    assert exact_key(req(("user", "hi"), user="bob", stream=True), "gpt-4o-mini", None) == base
    for other in (
        exact_key(req(("user", "hi ")), "gpt-4o-mini", None),
        exact_key(req(("user", "hi"), temperature=0.2), "gpt-4o-mini", None),
        exact_key(req(("user", "hi"), max_tokens=5), "gpt-4o-mini", None),
        exact_key(req(("system", "be brief"), ("user", "hi")), "gpt-4o-mini", None),
        exact_key(req(("user", "hi")), "gpt-4o", None),
        exact_key(req(("user", "hi")), "gpt-4o-mini", "azure_openai"),
    ):
        assert other != base


def test_semantic_scope_pins_the_conversation_around_the_last_user_turn() -> None:
    r = req(("system", "be brief"), ("user", "first"), ("assistant", "ok"), ("user", "capital of France?"))
    context, turn = semantic_split(r)  # type: ignore[misc]
    assert turn == "capital of France?" and [m.content for m in context] == ["be brief", "first", "ok"]
    scope = semantic_scope(r, "gpt-4o-mini", None, context, "text-embedding-3-small")
    assert scope != semantic_scope(r, "gpt-4o-mini", None, context, "embed-v4.0")
    assert semantic_split(req(("system", "only a system prompt"))) is None


def test_vectors_are_fitted_to_the_column_without_changing_cosines() -> None:
    a, b = [0.6, 0.8, 0.0], [0.0, 1.0, 0.0]
    fa, fb = fit(a), fit(b)
    assert len(fa) == DIMS and math.isclose(sum(x * y for x, y in zip(fa, fb, strict=True)), 0.8)
    assert math.isclose(sum(x * x for x in fit([1.0] * (DIMS * 2))), 1.0)


def test_cached_answer_round_trips() -> None:
    answer = CachedAnswer("text", "stop", Usage(10, 5, 2, 1), "openai", "gpt-4o-mini", "req_1")
    assert CachedAnswer.from_bytes(answer.to_bytes()) == answer


@pytest.mark.parametrize(
    ("mode", "ttl", "expected"),
    [
        (None, None, None),
        ("exact", None, {"mode": "exact", "ttl": None}),
        ("semantic", "60", {"mode": "semantic", "ttl": 60}),
        ('{"mode": "off"}', None, {"mode": "off", "ttl": None}),
        ('{"mode": "exact", "ttl": 5}', None, {"mode": "exact", "ttl": 5}),
        (None, "30", {"mode": None, "ttl": 30}),
    ],
)
def test_cache_request_from_metadata_or_headers(mode: str | None, ttl: str | None, expected: object) -> None:
    assert cache_request(mode, ttl) == expected


@pytest.mark.parametrize(
    ("mode", "ttl"), [("fuzzy", None), ("exact", "0"), ("exact", "soon"), ('{"mode": 1}', None)]
)
def test_bad_cache_choices_are_refused(mode: str, ttl: str | None) -> None:
    with pytest.raises(ApiError) as err:
        cache_request(mode, ttl)
    assert err.value.status == 400
