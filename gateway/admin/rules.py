"""Routing rules as admin changes: each create/update/disable is a new satellite row (history
kept, with ``changed_by``), so "which rule routed this at 14:03" is always answerable."""

from __future__ import annotations

import json
import secrets
from dataclasses import replace
from typing import Any

import asyncpg

from gateway.admin.customers import SOURCE, AdminError, customer_exists
from gateway.routing.rules import (
    RetryPolicy,
    RoutingRule,
    RuleError,
    check_conditions,
    check_options,
    parse_target,
    rule_by_id,
)
from warehouse import tables as t
from warehouse.batch import VaultBatch
from warehouse.loader import VaultLoader

EDITABLE = frozenset(
    {"name", "priority", "conditions", "strategy", "target", "fallback", "options", "retry_policy", "active"}
)


async def _write(pool: asyncpg.Pool, customer: str, rule: RoutingRule, *, changed_by: str) -> None:
    batch = VaultBatch()
    hk = batch.hub(t.HUB_ROUTING_RULE, rule.rule_id, record_source=SOURCE)
    c = batch.hub(t.HUB_CUSTOMER, customer, record_source=SOURCE)
    batch.link(t.LNK_ROUTING_RULE_CUSTOMER, (hk, c), (rule.rule_id, customer), record_source=SOURCE)
    batch.sat(
        t.SAT_ROUTING_RULE_DEFINITION,
        hk,
        t.SAT_ROUTING_RULE_DEFINITION.row(
            changed_by=changed_by,
            name=rule.name,
            priority=rule.priority,
            conditions=json.dumps(rule.conditions, sort_keys=True),
            strategy=rule.strategy,
            target_provider=rule.target[0] if rule.target else None,
            target_model=rule.target[1] if rule.target else None,
            fallback_chain=json.dumps([f"{p}/{m}" for p, m in rule.fallback]),
            retry_policy=json.dumps(rule.retry.as_json(), sort_keys=True) if rule.retry else None,
            is_active=rule.active,
            options=json.dumps(rule.options, sort_keys=True),
        ),
        record_source=SOURCE,
    )
    await VaultLoader(pool).load(batch)


def build_rule(
    rule_id: str,
    *,
    name: str,
    priority: int = 100,
    conditions: Any = None,
    strategy: str = "target",
    target: str | None = None,
    fallback: list[str] | None = None,
    options: Any = None,
    retry_policy: Any = None,
    active: bool = True,
) -> RoutingRule:
    """A complete, checked rule from operator input (AdminError names what is wrong)."""
    try:
        if not name or not str(name).strip():
            raise RuleError("a rule needs a name")
        if not isinstance(priority, int) or isinstance(priority, bool):
            raise RuleError("priority is an integer (lower is evaluated first)")
        conditions = check_conditions(conditions or {})
        parsed_target = parse_target(target) if target else None
        if not isinstance(fallback or [], list):
            raise RuleError("fallback is a list of provider/model")
        chain = tuple(parse_target(f) for f in fallback or [])
        opts = check_options(strategy, parsed_target, options or {})
        return RoutingRule(
            rule_id,
            str(name).strip(),
            priority,
            conditions,
            parsed_target,
            chain,
            bool(active),
            strategy,
            opts,
            RetryPolicy.parse(retry_policy),
        )
    except RuleError as exc:
        raise AdminError(str(exc)) from exc


async def create_rule(
    pool: asyncpg.Pool, customer: str, *, changed_by: str, **definition: Any
) -> RoutingRule:
    rule = build_rule("rr_" + secrets.token_hex(6), **definition)
    if not await customer_exists(pool, customer):
        raise AdminError(f"no customer {customer!r}")
    await _write(pool, customer, rule, changed_by=changed_by)
    return rule


async def _current(pool: asyncpg.Pool, rule_id: str) -> tuple[str, RoutingRule]:
    found = await rule_by_id(pool, rule_id)
    if found is None:
        raise AdminError(f"no routing rule {rule_id!r}")
    return found


async def update_rule(
    pool: asyncpg.Pool, rule_id: str, changes: dict[str, Any], *, changed_by: str
) -> tuple[str, RoutingRule]:
    """Apply ``changes`` (any of ``EDITABLE``) on top of the rule in force; returns (customer, rule)."""
    unknown = set(changes) - EDITABLE
    if unknown:
        raise AdminError(f"unknown rule field(s) {sorted(unknown)}; editable: {sorted(EDITABLE)}")
    if not changes:
        raise AdminError("nothing to change")
    customer, rule = await _current(pool, rule_id)
    current = rule.as_json()
    merged = {k: current[k] for k in EDITABLE} | changes
    updated = build_rule(rule.rule_id, **merged)
    await _write(pool, customer, updated, changed_by=changed_by)
    return customer, updated


async def disable_rule(pool: asyncpg.Pool, rule_id: str, *, changed_by: str) -> tuple[str, RoutingRule]:
    customer, rule = await _current(pool, rule_id)
    if not rule.active:
        raise AdminError(f"routing rule {rule_id} is already disabled")
    disabled = replace(rule, active=False)
    await _write(pool, customer, disabled, changed_by=changed_by)
    return customer, disabled
