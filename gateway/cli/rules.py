"""``onevault rules ...``: a customer's routing rules, and a dry run that explains a match."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import redis.asyncio as aioredis
import typer

from gateway.admin.customers import AdminError
from gateway.admin.rules import create_rule, disable_rule, update_rule
from gateway.cli.admin import admin_call, echo_result, fail, run_audited
from gateway.cli.runtime import operator, settings, with_pool, with_pool_and_redis
from gateway.pipeline.planning import Planner, configured_planner
from gateway.pipeline.rule_dry_run import explain_routing, explanation_text
from gateway.routing.catalog import CatalogError, ProviderCatalog
from gateway.routing.performance import OwnWindow, PerformanceSource
from gateway.routing.rules import STRATEGIES, customer_rules

rules = typer.Typer(
    help="A customer's routing rules: conditions, strategy, target and fallback chain, retries.",
    no_args_is_help=True,
)

WHEN_HELP = (
    'Conditions as JSON: {"type", "priority", "model", "model_prefix", "tags", "compliance", '
    '"max_cost": {"min", "max"}, "hours_utc": [from, to], "days": ["mon", ...]}.'
)
OPTIONS_HELP = (
    'Strategy options as JSON: {"min_quality": 0-100, "weights": {"p/m": w}, '
    '"on_budget_exceeded": "refuse"|"downgrade", "downgrade_to": "p/m"}.'
)
RETRY_HELP = 'Retry policy as JSON: {"max_attempts", "backoff_ms", "max_backoff_ms", "retry_on": [...]}.'


def _json_arg(text: str | None, what: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise fail(AdminError(f"{what} is not JSON: {exc}")) from exc


def _chain(text: str | None) -> list[str] | None:
    return None if text is None else [f.strip() for f in text.split(",") if f.strip()]


@rules.command("create")
def rules_create(
    customer: str = typer.Argument(..., help="The customer."),
    name: str = typer.Option(..., help="A name to recognise the rule by."),
    target: str = typer.Option(None, help="provider/model to send matching requests to."),
    fallback: str = typer.Option("", help="Comma-separated provider/model chain tried after the target."),
    strategy: str = typer.Option("target", help=f"How candidates are ordered: {' | '.join(STRATEGIES)}."),
    when: str = typer.Option("{}", help=WHEN_HELP),
    options: str = typer.Option("{}", help=OPTIONS_HELP),
    retry: str = typer.Option(None, help=RETRY_HELP),
    priority: int = typer.Option(100, help="Lower numbers are evaluated first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Create a routing rule (takes effect on every gateway within seconds)."""
    definition = {
        "name": name,
        "priority": priority,
        "conditions": _json_arg(when, "--when"),
        "strategy": strategy,
        "target": target,
        "fallback": _chain(fallback),
        "options": _json_arg(options, "--options"),
        "retry_policy": _json_arg(retry, "--retry"),
    }
    rule = run_audited(
        admin_call("rules.create", customer, customer),
        lambda pool: create_rule(pool, customer, changed_by=operator(), **definition),
    )
    echo_result(rule.as_json(), as_json, f"created rule {rule.rule_id} ({name})")


@rules.command("update")
def rules_update(
    rule_id: str = typer.Argument(..., help="The rule id (rr_...)."),
    name: str = typer.Option(None, help="New name."),
    target: str = typer.Option(None, help="New target provider/model."),
    fallback: str = typer.Option(None, help="New comma-separated fallback chain ('' clears it)."),
    strategy: str = typer.Option(None, help=f"New strategy: {' | '.join(STRATEGIES)}."),
    when: str = typer.Option(None, help="New conditions (replace the old ones). " + WHEN_HELP),
    options: str = typer.Option(None, help="New strategy options (replace the old ones)."),
    retry: str = typer.Option(None, help="New retry policy ('null' removes it). " + RETRY_HELP),
    priority: int = typer.Option(None, help="New priority."),
    active: bool = typer.Option(None, "--active/--inactive", help="Re-enable or disable."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Change a rule: a new history row with who changed it; unspecified fields stay."""
    changes = {
        k: v
        for k, v in {
            "name": name,
            "target": target,
            "fallback": _chain(fallback),
            "strategy": strategy,
            "conditions": _json_arg(when, "--when"),
            "options": _json_arg(options, "--options"),
            "priority": priority,
            "active": active,
        }.items()
        if v is not None
    }
    if retry is not None:
        changes["retry_policy"] = _json_arg(retry, "--retry")
    customer, rule = run_audited(
        admin_call("rules.update", rule_id),
        lambda pool: update_rule(pool, rule_id, changes, changed_by=operator()),
    )
    echo_result(rule.as_json() | {"customer": customer}, as_json, f"updated rule {rule_id}")


@rules.command("list")
def rules_list(
    customer: str = typer.Argument(..., help="The customer."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List the customer's rules in evaluation order (disabled ones included)."""
    found = with_pool(lambda pool: customer_rules(pool, customer, active_only=False))
    text = "\n".join(
        f"{r.rule_id}  {r.priority:>4}  {'on ' if r.active else 'off'}  {r.name}: {r.strategy}"
        + (f" {'/'.join(r.target)}" if r.target else "")
        for r in found
    )
    echo_result([r.as_json() for r in found], as_json, text or f"{customer} has no routing rules")


@rules.command("disable")
def rules_disable(rule_id: str = typer.Argument(..., help="The rule id (rr_...).")) -> None:
    """Disable a rule (its history stays in the vault)."""
    run_audited(
        admin_call("rules.disable", rule_id), lambda pool: disable_rule(pool, rule_id, changed_by=operator())
    )
    typer.echo(f"disabled {rule_id}")


def cli_planner(pool: asyncpg.Pool, redis: aioredis.Redis) -> Planner:
    """A planner as the gateway builds it, from this machine's catalog, prices and data."""
    s = settings()
    catalog = ProviderCatalog.from_file(s.catalog_path)
    return configured_planner(s, catalog, PerformanceSource(pool, OwnWindow(redis)))


@rules.command("test")
def rules_test(
    customer: str = typer.Argument(..., help="The customer."),
    request_json: str = typer.Argument(
        ..., help='A request body, e.g. \'{"model": "gpt-4o", "type": "chat"}\'.'
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Explain which rule a request would match, why, and the candidate order (dry run)."""
    body = _json_arg(request_json, "the request")

    async def run(pool: asyncpg.Pool, redis: aioredis.Redis) -> dict[str, Any]:
        return await explain_routing(pool, cli_planner(pool, redis), customer, body)

    try:
        result = with_pool_and_redis(run)
    except (AdminError, CatalogError) as exc:
        raise fail(exc) from exc
    echo_result(result, as_json, explanation_text(result))
