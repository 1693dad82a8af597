"""Customers' routing rules: which provider and model serve which requests, with a fallback chain.

A rule matches on the request's ``type``, ``priority``, requested ``model`` (exact) or
``model_prefix`` (a family), and ``tags`` (every given tag must be equal). The active rule
with the lowest ``priority`` number that matches decides the candidates: its target first,
then its fallback chain in order. No match: the catalog's default order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import asyncpg

CONDITION_KEYS = frozenset({"type", "priority", "model", "model_prefix", "tags"})

LATEST_RULES = """
select distinct on (s.routing_rule_hk) h.routing_rule_bk as rule_id, c.customer_bk as customer, s.*
from raw_vault.sat_routing_rule_definition s
join raw_vault.hub_routing_rule h using (routing_rule_hk)
join raw_vault.lnk_routing_rule_customer l using (routing_rule_hk)
join raw_vault.hub_customer c on c.customer_hk = l.customer_hk
where {where}
order by s.routing_rule_hk, s.load_dts desc
"""


@dataclass(frozen=True, slots=True)
class RoutingRule:
    rule_id: str
    name: str
    priority: int
    conditions: dict[str, Any]
    target: tuple[str, str]  # (provider, model)
    fallback: tuple[tuple[str, str], ...]
    active: bool = True

    def matches(
        self, *, request_type: str | None, priority: str | None, model: str | None, tags: dict
    ) -> bool:
        return self.mismatch(request_type=request_type, priority=priority, model=model, tags=tags) is None

    def mismatch(
        self, *, request_type: str | None, priority: str | None, model: str | None, tags: dict
    ) -> str | None:
        """The first condition the request fails, in words (None: the rule matches)."""
        c = self.conditions
        if "type" in c and c["type"] != request_type:
            return f"type is {request_type!r}, rule wants {c['type']!r}"
        if "priority" in c and c["priority"] != (priority or "standard"):
            return f"priority is {priority or 'standard'!r}, rule wants {c['priority']!r}"
        if "model" in c and c["model"] != model:
            return f"model is {model!r}, rule wants {c['model']!r}"
        if "model_prefix" in c and not (model or "").startswith(c["model_prefix"]):
            return f"model {model!r} does not start with {c['model_prefix']!r}"
        for k, v in (c.get("tags") or {}).items():
            if tags.get(k) != v:
                return f"tag {k!r} is {tags.get(k)!r}, rule wants {v!r}"
        return None

    def candidates(self) -> list[tuple[str, str]]:
        return [self.target, *self.fallback]


def parse_target(text: str) -> tuple[str, str]:
    provider, sep, model = text.partition("/")
    if not sep or not provider or not model:
        raise ValueError(f"a target is 'provider/model', got {text!r}")
    return provider, model


def rule_from_row(row: asyncpg.Record) -> RoutingRule:
    conditions = row["conditions"]
    chain = row["fallback_chain"]
    conditions = json.loads(conditions) if isinstance(conditions, str) else conditions
    chain = json.loads(chain) if isinstance(chain, str) else chain
    return RoutingRule(
        row["rule_id"],
        row["name"],
        row["priority"],
        conditions or {},
        (row["target_provider"], row["target_model"]),
        tuple(parse_target(t) for t in chain or []),
        row["is_active"],
    )


async def customer_rules(pool: asyncpg.Pool, customer: str, *, active_only: bool = True) -> list[RoutingRule]:
    rows = await pool.fetch(LATEST_RULES.format(where="c.customer_bk = $1"), customer)
    rules = [rule_from_row(r) for r in rows]
    return sorted((r for r in rules if r.active or not active_only), key=lambda r: (r.priority, r.name))


def first_match(rules: list[RoutingRule], **request: Any) -> RoutingRule | None:
    return next((r for r in rules if r.matches(**request)), None)
