"""``onevault rules ...``: a customer's routing rules, and a dry run that explains a match."""

from __future__ import annotations

import json
from typing import Any

import typer

from gateway.admin.customers import AdminError
from gateway.admin.rules import create_rule, disable_rule
from gateway.cli.admin import admin_call, echo_result, fail, run_audited
from gateway.cli.runtime import operator, with_pool
from gateway.routing.rules import RoutingRule, customer_rules

rules = typer.Typer(
    help="A customer's routing rules: target, fallback chain, conditions.", no_args_is_help=True
)


def _rule_json(rule: RoutingRule) -> dict[str, Any]:
    return {
        "rule_id": rule.rule_id,
        "name": rule.name,
        "priority": rule.priority,
        "conditions": rule.conditions,
        "target": "/".join(rule.target),
        "fallback": ["/".join(f) for f in rule.fallback],
        "active": rule.active,
    }


@rules.command("create")
def rules_create(
    customer: str = typer.Argument(..., help="The customer."),
    name: str = typer.Option(..., help="A name to recognise the rule by."),
    target: str = typer.Option(..., help="provider/model to send matching requests to."),
    fallback: str = typer.Option("", help="Comma-separated provider/model chain tried after the target."),
    when: str = typer.Option(
        "{}", help='Conditions as JSON: {"type", "priority", "model", "model_prefix", "tags"}.'
    ),
    priority: int = typer.Option(100, help="Lower numbers are evaluated first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Create a routing rule (takes effect on every gateway within seconds)."""
    try:
        conditions = json.loads(when)
    except json.JSONDecodeError as exc:
        raise fail(AdminError(f"--when is not JSON: {exc}")) from exc
    chain = [f.strip() for f in fallback.split(",") if f.strip()]
    rule = run_audited(
        admin_call("rules.create", customer, customer),
        lambda pool: create_rule(
            pool,
            customer,
            name=name,
            priority=priority,
            conditions=conditions,
            target=target,
            fallback=chain,
            changed_by=operator(),
        ),
    )
    echo_result(_rule_json(rule), as_json, f"created rule {rule.rule_id} ({name})")


@rules.command("list")
def rules_list(
    customer: str = typer.Argument(..., help="The customer."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List the customer's rules in evaluation order (disabled ones included)."""
    found = with_pool(lambda pool: customer_rules(pool, customer, active_only=False))
    text = "\n".join(
        f"{r.rule_id}  {r.priority:>4}  {'on ' if r.active else 'off'}  {r.name}: {'/'.join(r.target)}"
        for r in found
    )
    echo_result([_rule_json(r) for r in found], as_json, text or f"{customer} has no routing rules")


@rules.command("disable")
def rules_disable(rule_id: str = typer.Argument(..., help="The rule id (rr_...).")) -> None:
    """Disable a rule (its history stays in the vault)."""
    run_audited(
        admin_call("rules.disable", rule_id), lambda pool: disable_rule(pool, rule_id, changed_by=operator())
    )
    typer.echo(f"disabled {rule_id}")


@rules.command("test")
def rules_test(
    customer: str = typer.Argument(..., help="The customer."),
    request_json: str = typer.Argument(
        ..., help='A request body, e.g. \'{"model": "gpt-4o", "type": "chat"}\'.'
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Explain which rule a request would match and why (dry run: no provider is called)."""
    try:
        body = json.loads(request_json)
    except json.JSONDecodeError as exc:
        raise fail(AdminError(f"the request is not JSON: {exc}")) from exc
    request = {
        "request_type": body.get("type"),
        "priority": body.get("priority"),
        "model": body.get("model"),
        "tags": body.get("tags") or {},
    }
    found = with_pool(lambda pool: customer_rules(pool, customer))
    verdicts = [{"rule_id": r.rule_id, "name": r.name, "why_not": r.mismatch(**request)} for r in found]
    match = next((r for r, v in zip(found, verdicts, strict=True) if v["why_not"] is None), None)
    result = {"match": _rule_json(match) if match else None, "evaluated": verdicts}
    lines = [
        f"  {v['name']}: {'MATCH' if v['why_not'] is None else 'no — ' + v['why_not']}" for v in verdicts
    ]
    decision = (
        f"-> rule {match.name!r}: {' then '.join('/'.join(c) for c in match.candidates())}"
        if match
        else "-> no rule matches: the catalog's default routing applies"
    )
    echo_result(result, as_json, "\n".join([*lines, decision]))
