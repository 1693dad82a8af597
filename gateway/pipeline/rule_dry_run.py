"""The routing dry run behind ``onevault rules test`` and ``POST …/rules/test``: which rule a
request would match, why each earlier one does not, and the candidate order the matched rule's
strategy produces now — computed by the same ``Planner.decide`` as live traffic, no provider
called."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import InvalidOperation
from typing import Any

import asyncpg

from gateway.admin.customers import AdminError, current_config
from gateway.pipeline.planning import Planner
from gateway.pricing import estimate_prompt_tokens
from gateway.providers.types import ChatMessage
from gateway.routing.rules import RequestFacts, customer_rules


def _messages(body: dict[str, Any]) -> list[ChatMessage]:
    if isinstance(body.get("messages"), list):
        return [
            ChatMessage(str(m.get("role", "user")), str(m.get("content", "")))
            for m in body["messages"]
            if isinstance(m, dict)
        ]
    return [ChatMessage("user", str(body.get("prompt", "")))]


async def explain_routing(
    pool: asyncpg.Pool, planner: Planner, customer: str, body: Any, at: datetime | None = None
) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise AdminError('the request to test is a JSON object, e.g. {"model": "gpt-4o"}')
    config = await current_config(pool, customer)  # also: 404 for an unknown customer
    at = at or datetime.now(timezone.utc)
    try:
        facts = RequestFacts.from_body(body, config.compliance_level, at)
    except (InvalidOperation, ValueError, TypeError) as exc:
        raise AdminError(f"max_cost is not a decimal number: {exc}") from exc
    rules = await customer_rules(pool, customer)
    max_tokens = body.get("max_tokens")
    decision = await planner.decide(
        rules,
        facts,
        at=at,
        prompt_tokens=estimate_prompt_tokens(_messages(body)),
        max_output_tokens=max_tokens if isinstance(max_tokens, int) else None,
    )
    if decision.rule is not None and decision.candidates:
        candidates = [f"{r.name}/{m}" for r, m in decision.candidates]
        why = decision.ordering.notes if decision.ordering else []
    else:
        default = planner.catalog.candidates(facts.model, body.get("provider"))
        candidates = [f"{r.name}/{m}" for r, m in default]
        why = ["the catalog's default order for the requested model"]
        if decision.rule is not None:
            why.insert(0, f"rule {decision.rule.name!r} matched but none of its candidates is in the catalog")
    if config.compliance_level == "hipaa":
        eligible = {r.name for r in planner.catalog.routes.values() if r.hipaa_eligible}
        kept = [c for c in candidates if c.split("/", 1)[0] in eligible]
        if kept != candidates:
            why.append(f"HIPAA customer: non-eligible providers dropped ({len(candidates) - len(kept)})")
        candidates = kept
    return {
        "match": decision.rule.as_json() if decision.rule else None,
        "evaluated": [{"rule_id": r.rule_id, "name": r.name, "why_not": w} for r, w in decision.verdicts],
        "strategy": decision.rule.strategy if decision.rule else None,
        "candidates": candidates,
        "why": why,
    }


def explanation_text(result: dict[str, Any]) -> str:
    lines = [
        f"  {v['name']}: {'MATCH' if v['why_not'] is None else 'no — ' + v['why_not']}"
        for v in result["evaluated"]
    ]
    match, order = result["match"], " then ".join(result["candidates"]) or "nothing"
    head = (
        f"-> rule {match['name']!r} ({match['strategy']}): {order}"
        if match
        else f"-> no rule matches: the catalog's default routing applies: {order}"
    )
    return "\n".join([*lines, head, *(f"     {w}" for w in result["why"])])
