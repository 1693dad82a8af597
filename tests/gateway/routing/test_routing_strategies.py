"""Rule conditions and strategies on their own: no servers, the real catalog and prices."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from gateway.admin.customers import AdminError
from gateway.admin.rules import build_rule
from gateway.cli.up import simulator_catalog
from gateway.pipeline.planning import Planner
from gateway.pricing import PriceCatalog
from gateway.routing.catalog import ProviderCatalog
from gateway.routing.performance import PairStats
from gateway.routing.rules import RequestFacts, RetryPolicy
from gateway.routing.strategies import candidate_pool, order

MONDAY_10H = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> ProviderCatalog:
    path = tmp_path_factory.mktemp("catalog") / "providers.json"
    import json

    doc = simulator_catalog("http://127.0.0.1:1")
    doc["providers"][2]["quality"] = {"gemini-1.5-flash": 95}  # an operator's own judgement
    path.write_text(json.dumps(doc))
    return ProviderCatalog.from_file(path)


def rule(**definition: object):  # type: ignore[no-untyped-def]
    return build_rule("rr_t", **({"name": "r", "priority": 1, "conditions": {}} | definition))


def test_conditions_compliance_max_cost_and_time_window() -> None:
    r = rule(
        target="openai/gpt-4o",
        conditions={
            "compliance": ["hipaa", "sox"],
            "max_cost": {"min": "0.001", "max": "0.05"},
            "hours_utc": [8, 18],
            "days": ["mon", "tue"],
        },
    )
    ok = RequestFacts(compliance="hipaa", max_cost=Decimal("0.01"), at=MONDAY_10H)
    assert r.mismatch(ok) is None
    assert "compliance level is 'none'" in r.mismatch(RequestFacts(max_cost=Decimal("0.01"), at=MONDAY_10H))
    assert "states no max_cost" in r.mismatch(RequestFacts(compliance="sox", at=MONDAY_10H))
    assert "above 0.05" in r.mismatch(RequestFacts(compliance="sox", max_cost=Decimal("1"), at=MONDAY_10H))
    evening = MONDAY_10H.replace(hour=19)
    assert "rule wants hours [8, 18)" in r.mismatch(
        RequestFacts(compliance="sox", max_cost=Decimal("0.01"), at=evening)
    )
    saturday = MONDAY_10H.replace(day=28)
    assert "it is sat" in r.mismatch(RequestFacts(compliance="sox", max_cost=Decimal("0.01"), at=saturday))
    night = rule(target="openai/gpt-4o", conditions={"hours_utc": [22, 6]})  # wraps midnight
    assert night.matches(RequestFacts(at=MONDAY_10H.replace(hour=23)))
    assert night.matches(RequestFacts(at=MONDAY_10H.replace(hour=2)))
    assert not night.matches(RequestFacts(at=MONDAY_10H))


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ({"conditions": {"hours_utc": [9]}}, "hours_utc"),
        ({"conditions": {"days": ["monday"]}}, "days"),
        ({"conditions": {"compliance": "pci"}}, "compliance"),
        ({"conditions": {"max_cost": {"min": 2, "max": 1}}}, "min <= max"),
        ({"strategy": "fastest-ish"}, "strategy must be one of"),
        ({"strategy": "target"}, "needs a target"),
        ({"strategy": "weighted"}, "options.weights"),
        ({"strategy": "cheapest", "options": {"min_quality": 101}}, "min_quality"),
        ({"target": "openai/gpt-4o", "options": {"on_budget_exceeded": "downgrade"}}, "downgrade_to"),
        ({"target": "openai/gpt-4o", "retry_policy": {"max_attempts": 0}}, "max_attempts"),
        ({"target": "openai/gpt-4o", "retry_policy": {"retry_on": ["sometimes"]}}, "retry_on"),
    ],
)
def test_bad_definitions_are_refused_with_the_reason(definition: dict, message: str) -> None:
    with pytest.raises(AdminError, match=message):
        rule(**definition)


def test_retry_policy_backoff_is_exponential_capped_and_honours_retry_after() -> None:
    p = RetryPolicy(max_attempts=4, backoff_ms=100, max_backoff_ms=300, retry_on=frozenset({"timeout"}))
    assert [p.backoff_s(i, None) for i in range(3)] == [0.1, 0.2, 0.3]
    assert p.backoff_s(0, 0.25) == 0.25 and p.backoff_s(0, 9.0) == 0.3
    assert p.retries("timeout") and not p.retries("server_error")


async def test_cheapest_meets_min_quality_by_list_price(catalog: ProviderCatalog) -> None:
    planner = Planner(catalog, PriceCatalog(), Decimal(20))
    cheap_good = rule(strategy="cheapest", options={"min_quality": 80})
    decision = await planner.decide(
        [cheap_good], RequestFacts(model="gpt-4o"), at=MONDAY_10H, prompt_tokens=100, max_output_tokens=500
    )
    names = [f"{r.name}/{m}" for r, m in decision.candidates]
    # The operator rated flash 95: cheapest of all; then o3-mini's 1.10/4.40 per Mtok beats
    # gemini-1.5-pro's 1.25/5.00.
    assert names[:3] == ["gemini/gemini-1.5-flash", "openai/o3-mini", "gemini/gemini-1.5-pro"]
    assert all(r.quality(m) >= 80 for r, m in decision.candidates)
    assert "openai/gpt-4o-mini" not in names
    costs = [Decimal(n.split("est. ")[1].split(" ")[0]) for n in decision.ordering.notes if "est." in n]
    assert costs == sorted(costs)
    assert any("gpt-4o-mini: left out, quality 70 < 80" in n for n in decision.ordering.notes)


def test_fastest_and_most_available_use_the_stats_unknown_last(catalog: ProviderCatalog) -> None:
    r = rule(
        strategy="fastest",
        target="openai/gpt-4o",
        fallback=["azure_openai/gpt-4o", "anthropic/claude-3-5-sonnet-latest"],
    )
    pool = candidate_pool(r, catalog, "gpt-4o")
    stats = {
        ("openai", "gpt-4o"): PairStats(100, 60, 120.0, "mart"),
        ("azure_openai", "gpt-4o"): PairStats(100, 99, 300.0, "gateway"),
    }
    fastest = order(r, pool, estimate=lambda *_: None, stats=stats)
    assert [c[0].name for c in fastest.candidates] == ["openai", "azure_openai", "anthropic"]
    assert "120 ms" in fastest.notes[0] and "(mart)" in fastest.notes[0]
    assert "no recent performance data" in fastest.notes[2]
    avail = order(
        rule(strategy="most_available", target="openai/gpt-4o", fallback=["azure_openai/gpt-4o"]),
        pool[:2],
        estimate=lambda *_: None,
        stats=stats,
    )
    assert [c[0].name for c in avail.candidates] == ["azure_openai", "openai"]


def test_weighted_balances_by_weight_deterministically_with_a_seed(catalog: ProviderCatalog) -> None:
    r = rule(strategy="weighted", options={"weights": {"openai/gpt-4o": 3, "azure_openai/gpt-4o": 1}})
    pool = candidate_pool(r, catalog, None)
    rng = random.Random(7)
    firsts = Counter(
        order(r, pool, estimate=lambda *_: None, rng=rng).candidates[0][0].name for _ in range(2000)
    )
    assert 0.70 < firsts["openai"] / 2000 < 0.80  # 3:1
    again = [
        order(r, pool, estimate=lambda *_: None, rng=random.Random(7)).candidates[0][0].name for _ in range(3)
    ]
    assert len(set(again)) == 1  # same seed, same choice
    assert len(order(r, pool, estimate=lambda *_: None, rng=rng).candidates) == 2  # the rest is the fallback
