"""How a matched rule orders its candidates, with one line of "why" per candidate.

- ``target``: the rule's target, then its fallback chain, as written.
- ``cheapest``: every candidate whose quality score (``gateway.routing.quality``) reaches the
  rule's ``min_quality``, by estimated list price for *this* request (its prompt and
  ``max_tokens``), cheapest first. Candidates: the rule's target + fallback if it lists any,
  else every model the provider catalog names. Unpriced candidates are left out: a cheapest
  route must be provably cheap.
- ``fastest``: by typical latency of successful calls (mart p50, else the gateway's own mean).
- ``most_available``: by share of successful attempts, then latency.
  For both: candidates are the rule's list, else every provider serving the requested model;
  pairs without data keep their order after those with data.
- ``weighted``: load balancing — a weighted random order without replacement (each candidate
  first with probability weight/total; the rest follow as the fallback order), from an
  injectable RNG so tests are deterministic.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from gateway.routing.catalog import ProviderCatalog, ProviderRoute
from gateway.routing.performance import Pair, PairStats
from gateway.routing.rules import RoutingRule

Candidate = tuple[ProviderRoute, str]
NEEDS_PERFORMANCE = frozenset({"fastest", "most_available"})


@dataclass(slots=True)
class Ordering:
    candidates: list[Candidate]
    notes: list[str] = field(default_factory=list)  # why each candidate is where it is (or left out)


def label(candidate: Candidate) -> str:
    return f"{candidate[0].name}/{candidate[1]}"


def candidate_pool(rule: RoutingRule, catalog: ProviderCatalog, model: str | None) -> list[Candidate]:
    """The (route, model) pairs a rule's strategy chooses among, served by the catalog."""
    listed = rule.candidates()
    if listed:
        routes = catalog.routes
        return [(routes[p], m) for p, m in listed if p in routes and routes[p].serves(m)]
    if rule.strategy == "cheapest":
        return catalog.models()
    return catalog.candidates(model, None)


def order(
    rule: RoutingRule,
    pool: list[Candidate],
    *,
    estimate: Callable[[ProviderRoute, str], Decimal | None],
    stats: dict[Pair, PairStats] | None = None,
    rng: random.Random | None = None,
) -> Ordering:
    if rule.strategy == "cheapest":
        return _cheapest(pool, rule.options.get("min_quality", 0), estimate)
    if rule.strategy in NEEDS_PERFORMANCE:
        return _by_performance(pool, rule.strategy, stats or {})
    if rule.strategy == "weighted":
        return _weighted(pool, rule.options["weights"], rng or random.Random())
    return Ordering(
        list(pool), [f"{label(c)}: {'target' if i == 0 else 'fallback'}" for i, c in enumerate(pool)]
    )


def _cheapest(
    pool: list[Candidate], min_quality: int, estimate: Callable[[ProviderRoute, str], Decimal | None]
) -> Ordering:
    priced: list[tuple[Decimal, int, Candidate]] = []
    notes: list[str] = []
    for i, (route, model) in enumerate(pool):
        quality = route.quality(model)
        if quality < min_quality:
            notes.append(f"{route.name}/{model}: left out, quality {quality} < {min_quality}")
            continue
        cost = estimate(route, model)
        if cost is None:
            notes.append(f"{route.name}/{model}: left out, no known price")
            continue
        priced.append((cost, i, (route, model)))
    priced.sort(key=lambda t: (t[0], t[1]))
    ranked = [f"{label(c)}: est. {cost:.8f} USD, quality {c[0].quality(c[1])}" for cost, _, c in priced]
    return Ordering([c for _, _, c in priced], ranked + notes)


def _by_performance(pool: list[Candidate], strategy: str, stats: dict[Pair, PairStats]) -> Ordering:
    def key(item: tuple[int, Candidate]) -> tuple:
        i, (route, model) = item
        s = stats.get((route.name, model))
        if s is None:
            return (1, 0.0, 0.0, i)
        latency = s.latency_ms if s.latency_ms is not None else float("inf")
        if strategy == "fastest":
            return (0, latency, -(s.availability or 0.0), i)
        return (0, -(s.availability or 0.0), latency, i)

    ranked = [c for _, c in sorted(enumerate(pool), key=key)]
    notes = []
    for c in ranked:
        s = stats.get((c[0].name, c[1]))
        if s is None:
            notes.append(f"{label(c)}: no recent performance data")
            continue
        latency = f"{s.latency_ms:.0f} ms" if s.latency_ms is not None else "no successes"
        avail = f"{(s.availability or 0) * 100:.1f}% of {s.attempts} attempts ok"
        notes.append(f"{label(c)}: {latency}, {avail} ({'mart' if s.source == 'mart' else 'gateway window'})")
    return Ordering(ranked, notes)


def _weighted(pool: list[Candidate], weights: dict[str, float], rng: random.Random) -> Ordering:
    total = sum(float(weights.get(label(c), 0)) for c in pool) or 1.0
    # Efraimidis–Spirakis: sorting by u^(1/w) draws without replacement in proportion to w.
    keyed = [(rng.random() ** (1.0 / float(weights.get(label(c), 0) or 1e-9)), c) for c in pool]
    keyed.sort(key=lambda t: t[0], reverse=True)
    ranked = [c for _, c in keyed]
    notes = [
        f"{label(c)}: weight {weights.get(label(c))} ({float(weights.get(label(c), 0)) / total:.0%})"
        for c in ranked
    ]
    return Ordering(ranked, notes)
