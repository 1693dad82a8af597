"""Customers' routing rules: which requests they catch, how they order the candidates, how hard
each candidate is retried, and what happens when a budget runs out.

Conditions (all given must hold): ``type``, ``priority``, requested ``model`` (exact) or
``model_prefix`` (a family), ``tags`` (every given tag equal), ``compliance`` (the customer's
level, one or a list), ``max_cost`` (``{"min", "max"}``: the request must state a ``max_cost``
inside that range, USD), ``hours_utc`` (``[from, to)``, may wrap midnight: ``[22, 6]``) and
``days`` (``["mon", …]``, UTC). The active rule with the lowest ``priority`` number that
matches decides; no match means the catalog's default order.

A rule's ``strategy`` orders its candidates (see ``gateway.routing.strategies``): ``target``
(its target, then the fallback chain), ``cheapest``, ``fastest``, ``most_available`` or
``weighted``; strategy parameters and the over-budget action live in ``options``.

Request-shape options: ``drop_unsupported_params`` (true: options a candidate cannot honour
are dropped and recorded instead of refused with 400), ``on_invalid_output`` (``fail`` or
``retry``: an answer that fails the request's ``json_schema`` is tried again, on the same
candidate then the next, at most ``max_output_retries`` times, default 1).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

import asyncpg

from gateway.providers.types import ERROR_CLASSES, RETRYABLE_ERROR_CLASSES

CONDITION_KEYS = frozenset(
    {"type", "priority", "model", "model_prefix", "tags", "compliance", "max_cost", "hours_utc", "days"}
)
STRATEGIES = ("target", "cheapest", "fastest", "most_available", "weighted")
OPTION_KEYS = frozenset(
    {
        "min_quality",
        "weights",
        "on_budget_exceeded",
        "downgrade_to",
        "cache_mode",
        "cache_ttl_s",
        "pii_mode",
        "drop_unsupported_params",
        "on_invalid_output",
        "max_output_retries",
    }
)
MAX_OUTPUT_RETRIES = 5
# Per-rule data settings, read by gateway/pipeline/data_stages.py (they override the customer's).
DATA_OPTIONS = {"cache_mode": ("off", "exact", "semantic"), "pii_mode": ("off", "flag", "redact", "block")}
RETRY_KEYS = frozenset({"max_attempts", "backoff_ms", "max_backoff_ms", "retry_on"})
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
COMPLIANCE_LEVELS = ("none", "hipaa", "gdpr", "sox")

LATEST_RULES = """
select distinct on (s.routing_rule_hk) h.routing_rule_bk as rule_id, c.customer_bk as customer, s.*
from raw_vault.sat_routing_rule_definition s
join raw_vault.hub_routing_rule h using (routing_rule_hk)
join raw_vault.lnk_routing_rule_customer l using (routing_rule_hk)
join raw_vault.hub_customer c on c.customer_hk = l.customer_hk
where {where}
order by s.routing_rule_hk, s.load_dts desc
"""

Target = tuple[str, str]  # (provider, model)


class RuleError(ValueError):
    """A rule definition that cannot work, in words fit for the operator."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard one candidate is tried before the next: attempts, backoff, which errors retry."""

    max_attempts: int = 2
    backoff_ms: int = 50
    max_backoff_ms: int = 2000
    retry_on: frozenset[str] = RETRYABLE_ERROR_CLASSES

    def retries(self, error_class: str) -> bool:
        return error_class in self.retry_on

    def backoff_s(self, try_no: int, retry_after: float | None) -> float:
        """Exponential from ``backoff_ms``; a provider's ``retry-after`` wins, both capped."""
        cap = self.max_backoff_ms / 1000
        if retry_after is not None:
            return min(retry_after, cap)
        return min(self.backoff_ms / 1000 * (2**try_no), cap)

    def as_json(self) -> dict[str, Any]:
        return {
            "max_attempts": self.max_attempts,
            "backoff_ms": self.backoff_ms,
            "max_backoff_ms": self.max_backoff_ms,
            "retry_on": sorted(self.retry_on),
        }

    @classmethod
    def parse(cls, doc: dict[str, Any] | None) -> RetryPolicy | None:
        if doc is None:
            return None
        if not isinstance(doc, dict):
            raise RuleError("retry policy is an object of max_attempts, backoff_ms, max_backoff_ms, retry_on")
        unknown = set(doc) - RETRY_KEYS
        if unknown:
            raise RuleError(f"unknown retry policy field(s) {sorted(unknown)}; use {sorted(RETRY_KEYS)}")
        policy = cls(
            max_attempts=_int(doc, "max_attempts", 2, 1, 10),
            backoff_ms=_int(doc, "backoff_ms", 50, 0, 60_000),
            max_backoff_ms=_int(doc, "max_backoff_ms", 2000, 0, 60_000),
            retry_on=frozenset(doc.get("retry_on", RETRYABLE_ERROR_CLASSES)),
        )
        bad = policy.retry_on - ERROR_CLASSES
        if bad or not isinstance(doc.get("retry_on", []), list):
            raise RuleError(f"retry_on is a list of error classes from {sorted(ERROR_CLASSES)}")
        return policy


def _int(doc: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = doc.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise RuleError(f"{name} must be an integer from {low} to {high}")
    return value


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What a rule can look at: the request's own fields plus the customer's compliance level."""

    request_type: str | None = None
    priority: str | None = None
    model: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    compliance: str = "none"
    max_cost: Decimal | None = None
    at: datetime | None = None

    @classmethod
    def from_body(
        cls, body: dict[str, Any], compliance: str = "none", at: datetime | None = None
    ) -> RequestFacts:
        """From a request body as a client sends it (for dry runs)."""
        max_cost = body.get("max_cost")
        return cls(
            body.get("type"),
            body.get("priority"),
            body.get("model"),
            dict(body.get("tags") or {}),
            compliance,
            Decimal(str(max_cost)) if max_cost is not None else None,
            at,
        )


@dataclass(frozen=True, slots=True)
class RoutingRule:
    rule_id: str
    name: str
    priority: int
    conditions: dict[str, Any]
    target: Target | None  # (provider, model); None for strategies that need none
    fallback: tuple[Target, ...]
    active: bool = True
    strategy: str = "target"
    options: dict[str, Any] = field(default_factory=dict)
    retry: RetryPolicy | None = None

    def matches(self, facts: RequestFacts) -> bool:
        return self.mismatch(facts) is None

    def mismatch(self, facts: RequestFacts) -> str | None:
        """The first condition the request fails, in words (None: the rule matches)."""
        c = self.conditions
        model = facts.model
        if "type" in c and c["type"] != facts.request_type:
            return f"type is {facts.request_type!r}, rule wants {c['type']!r}"
        if "priority" in c and c["priority"] != (facts.priority or "standard"):
            return f"priority is {facts.priority or 'standard'!r}, rule wants {c['priority']!r}"
        if "model" in c and c["model"] != model:
            return f"model is {model!r}, rule wants {c['model']!r}"
        if "model_prefix" in c and not (model or "").startswith(c["model_prefix"]):
            return f"model {model!r} does not start with {c['model_prefix']!r}"
        for k, v in (c.get("tags") or {}).items():
            if facts.tags.get(k) != v:
                return f"tag {k!r} is {facts.tags.get(k)!r}, rule wants {v!r}"
        if "compliance" in c:
            wanted = c["compliance"] if isinstance(c["compliance"], list) else [c["compliance"]]
            if facts.compliance not in wanted:
                return f"compliance level is {facts.compliance!r}, rule wants {' or '.join(wanted)}"
        if "max_cost" in c:
            low, high = c["max_cost"].get("min"), c["max_cost"].get("max")
            if facts.max_cost is None:
                return "the request states no max_cost, rule wants one"
            if low is not None and facts.max_cost < Decimal(str(low)):
                return f"max_cost {facts.max_cost} is below {low}"
            if high is not None and facts.max_cost > Decimal(str(high)):
                return f"max_cost {facts.max_cost} is above {high}"
        at = (facts.at or datetime.now(timezone.utc)).astimezone(timezone.utc)
        if "hours_utc" in c:
            start, end = c["hours_utc"]
            inside = start <= at.hour < end if start <= end else (at.hour >= start or at.hour < end)
            if not inside:
                return f"it is {at:%H:%M} UTC, rule wants hours [{start}, {end})"
        if "days" in c and DAYS[at.weekday()] not in c["days"]:
            return f"it is {DAYS[at.weekday()]} (UTC), rule wants {', '.join(c['days'])}"
        return None

    def candidates(self) -> list[Target]:
        """The rule's own list: target then fallback chain (for ``weighted``: the weighted pairs)."""
        if self.strategy == "weighted":
            return [parse_target(t) for t in self.options.get("weights", {})]
        return [*([self.target] if self.target else []), *self.fallback]

    @property
    def downgrade_to(self) -> Target | None:
        """Where requests go when a budget is exhausted (None: refuse with 402)."""
        if self.options.get("on_budget_exceeded") != "downgrade":
            return None
        return parse_target(self.options["downgrade_to"])

    def as_json(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "name": self.name,
            "priority": self.priority,
            "conditions": self.conditions,
            "strategy": self.strategy,
            "target": "/".join(self.target) if self.target else None,
            "fallback": ["/".join(f) for f in self.fallback],
            "options": self.options,
            "retry_policy": self.retry.as_json() if self.retry else None,
            "active": self.active,
        }


def parse_target(text: str) -> Target:
    provider, sep, model = str(text).partition("/")
    if not sep or not provider or not model:
        raise RuleError(f"a target is 'provider/model', got {text!r}")
    return provider, model


def check_conditions(conditions: Any) -> dict[str, Any]:
    """Refuse conditions a rule could never evaluate (so a typo cannot silently match all)."""
    if not isinstance(conditions, dict):
        raise RuleError("conditions are a JSON object")
    unknown = set(conditions) - CONDITION_KEYS
    if unknown:
        raise RuleError(f"unknown rule condition(s) {sorted(unknown)}; use {sorted(CONDITION_KEYS)}")
    c = conditions
    if "tags" in c and not isinstance(c["tags"], dict):
        raise RuleError("the 'tags' condition is an object of tag: value")
    if "compliance" in c:
        levels = c["compliance"] if isinstance(c["compliance"], list) else [c["compliance"]]
        if not levels or any(level not in COMPLIANCE_LEVELS for level in levels):
            raise RuleError(f"the 'compliance' condition is one or a list of {', '.join(COMPLIANCE_LEVELS)}")
    if "max_cost" in c:
        rng = c["max_cost"]
        if not isinstance(rng, dict) or not rng or set(rng) - {"min", "max"}:
            raise RuleError("the 'max_cost' condition is an object with 'min' and/or 'max' (USD)")
        try:
            bounds = [Decimal(str(v)) for v in rng.values()]
        except InvalidOperation as exc:
            raise RuleError("max_cost bounds are decimal numbers (USD)") from exc
        if any(b < 0 for b in bounds) or ("min" in rng and "max" in rng and bounds[0] > bounds[1]):
            raise RuleError("max_cost bounds must be non-negative with min <= max")
    if "hours_utc" in c:
        hours = c["hours_utc"]
        if (
            not isinstance(hours, list)
            or len(hours) != 2
            or not all(isinstance(h, int) and 0 <= h <= 24 for h in hours)
            or hours[0] == hours[1]
        ):
            raise RuleError("the 'hours_utc' condition is [from, to) in whole UTC hours 0-24, e.g. [9, 17]")
    if "days" in c and (
        not isinstance(c["days"], list) or not c["days"] or any(d not in DAYS for d in c["days"])
    ):
        raise RuleError(f"the 'days' condition is a list of {', '.join(DAYS)}")
    return conditions


def check_options(strategy: str, target: Target | None, options: Any) -> dict[str, Any]:
    """A strategy's parameters must be complete and sane before the rule is stored."""
    if strategy not in STRATEGIES:
        raise RuleError(f"strategy must be one of {', '.join(STRATEGIES)}")
    if not isinstance(options, dict):
        raise RuleError("options are a JSON object")
    unknown = set(options) - OPTION_KEYS
    if unknown:
        raise RuleError(f"unknown rule option(s) {sorted(unknown)}; use {sorted(OPTION_KEYS)}")
    if strategy == "target" and target is None:
        raise RuleError("the 'target' strategy needs a target provider/model")
    for name, allowed in DATA_OPTIONS.items():
        if name in options and options[name] not in allowed:
            raise RuleError(f"{name} is one of {', '.join(allowed)}")
    ttl = options.get("cache_ttl_s", 1)
    if not isinstance(ttl, int) or isinstance(ttl, bool) or not 1 <= ttl <= 30 * 86400:
        raise RuleError("cache_ttl_s is whole seconds from 1 to 2592000")
    if "min_quality" in options:
        q = options["min_quality"]
        if not isinstance(q, int) or isinstance(q, bool) or not 0 <= q <= 100:
            raise RuleError("min_quality is an integer quality score from 0 to 100")
    if strategy == "weighted":
        weights = options.get("weights")
        if not isinstance(weights, dict) or not weights:
            raise RuleError('the weighted strategy needs options.weights, e.g. {"openai/gpt-4o": 3}')
        for pair, w in weights.items():
            parse_target(pair)
            if not isinstance(w, (int, float)) or isinstance(w, bool) or w <= 0:
                raise RuleError(f"weight of {pair} must be a positive number")
    elif "weights" in options:
        raise RuleError("weights only apply to the weighted strategy")
    if not isinstance(options.get("drop_unsupported_params", False), bool):
        raise RuleError("drop_unsupported_params is true or false")
    if options.get("on_invalid_output", "fail") not in ("fail", "retry"):
        raise RuleError("on_invalid_output is 'fail' or 'retry'")
    retries = options.get("max_output_retries", 1)
    if not isinstance(retries, int) or isinstance(retries, bool) or not 1 <= retries <= MAX_OUTPUT_RETRIES:
        raise RuleError(f"max_output_retries is a whole number from 1 to {MAX_OUTPUT_RETRIES}")
    action = options.get("on_budget_exceeded", "refuse")
    if action not in ("refuse", "downgrade"):
        raise RuleError("on_budget_exceeded is 'refuse' (402) or 'downgrade'")
    if action == "downgrade":
        if "downgrade_to" not in options:
            raise RuleError("on_budget_exceeded 'downgrade' needs downgrade_to: a cheaper provider/model")
        parse_target(options["downgrade_to"])
    elif "downgrade_to" in options:
        raise RuleError("downgrade_to needs on_budget_exceeded: 'downgrade'")
    return options


def _jsonb(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def rule_from_row(row: asyncpg.Record) -> RoutingRule:
    chain = _jsonb(row["fallback_chain"])
    target = (row["target_provider"], row["target_model"]) if row["target_provider"] else None
    return RoutingRule(
        row["rule_id"],
        row["name"],
        row["priority"],
        _jsonb(row["conditions"]) or {},
        target,
        tuple(parse_target(t) for t in chain or []),
        row["is_active"],
        row["strategy"] or "target",
        _jsonb(row["options"]) or {},
        RetryPolicy.parse(_jsonb(row["retry_policy"])),
    )


async def customer_rules(pool: asyncpg.Pool, customer: str, *, active_only: bool = True) -> list[RoutingRule]:
    rows = await pool.fetch(LATEST_RULES.format(where="c.customer_bk = $1"), customer)
    rules = [rule_from_row(r) for r in rows]
    return sorted((r for r in rules if r.active or not active_only), key=lambda r: (r.priority, r.name))


async def rule_by_id(pool: asyncpg.Pool, rule_id: str) -> tuple[str, RoutingRule] | None:
    """(customer, rule) as it stands now, or None."""
    row = await pool.fetchrow(LATEST_RULES.format(where="h.routing_rule_bk = $1"), rule_id)
    return (row["customer"], rule_from_row(row)) if row is not None else None


def first_match(rules: list[RoutingRule], facts: RequestFacts) -> RoutingRule | None:
    return next((r for r in rules if r.matches(facts)), None)
