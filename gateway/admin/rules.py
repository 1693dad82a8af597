"""Routing rules as admin changes: each create/disable is a new satellite row (history kept)."""

from __future__ import annotations

import json
import secrets
from typing import Any

import asyncpg

from gateway.admin.customers import SOURCE, AdminError, customer_exists
from gateway.routing.rules import CONDITION_KEYS, LATEST_RULES, RoutingRule, parse_target, rule_from_row
from warehouse import tables as t
from warehouse.batch import VaultBatch
from warehouse.loader import VaultLoader


async def _write(pool: asyncpg.Pool, customer: str, rule: RoutingRule, *, changed_by: str) -> None:
    batch = VaultBatch()
    hk = batch.hub(t.HUB_ROUTING_RULE, rule.rule_id, record_source=SOURCE)
    c = batch.hub(t.HUB_CUSTOMER, customer, record_source=SOURCE)
    batch.link(t.LNK_ROUTING_RULE_CUSTOMER, (hk, c), (rule.rule_id, customer), record_source=SOURCE)
    batch.sat(
        t.SAT_ROUTING_RULE_DEFINITION,
        hk,
        (
            changed_by,
            rule.name,
            rule.priority,
            json.dumps(rule.conditions, sort_keys=True),
            "target",
            rule.target[0],
            rule.target[1],
            json.dumps([f"{p}/{m}" for p, m in rule.fallback]),
            None,
            rule.active,
        ),
        record_source=SOURCE,
    )
    await VaultLoader(pool).load(batch)


async def create_rule(
    pool: asyncpg.Pool,
    customer: str,
    *,
    name: str,
    priority: int,
    conditions: dict[str, Any],
    target: str,
    fallback: list[str],
    changed_by: str,
) -> RoutingRule:
    unknown = set(conditions) - CONDITION_KEYS
    if unknown:
        raise AdminError(f"unknown rule condition(s) {sorted(unknown)}; use {sorted(CONDITION_KEYS)}")
    if "tags" in conditions and not isinstance(conditions["tags"], dict):
        raise AdminError("the 'tags' condition is an object of tag: value")
    try:
        parsed_target, parsed_fallback = parse_target(target), tuple(parse_target(f) for f in fallback)
    except ValueError as exc:
        raise AdminError(str(exc)) from exc
    if not await customer_exists(pool, customer):
        raise AdminError(f"no customer {customer!r}")
    rule = RoutingRule(
        "rr_" + secrets.token_hex(6), name, priority, conditions, parsed_target, parsed_fallback, True
    )
    await _write(pool, customer, rule, changed_by=changed_by)
    return rule


async def disable_rule(pool: asyncpg.Pool, rule_id: str, *, changed_by: str) -> RoutingRule:
    row = await pool.fetchrow(LATEST_RULES.format(where="h.routing_rule_bk = $1"), rule_id)
    if row is None:
        raise AdminError(f"no routing rule {rule_id!r}")
    rule = rule_from_row(row)
    if not rule.active:
        raise AdminError(f"routing rule {rule_id} is already disabled")
    disabled = RoutingRule(
        rule.rule_id, rule.name, rule.priority, rule.conditions, rule.target, rule.fallback, False
    )
    await _write(pool, row["customer"], disabled, changed_by=changed_by)
    return disabled
