"""``onevault bi-role create|list|drop``: read-only PostgreSQL logins for BI tools.

A BI role can read schema ``marts`` and nothing else (it is a member of ``onevault_bi``, which
migration 007 grants exactly that) and runs read-only transactions. A per-customer role sees
only that customer's rows: row-level security on every mart (dbt's post-hook) checks
``bi_access.role_customer``, where this command records the role's customer. The password is
printed once and stored only as PostgreSQL's SCRAM verifier.

Every login can list every role (``pg_roles`` is readable by all, and revoking that breaks
clients), so a role's name must not say whose it is: the default is random (``bi_<12 hex>``);
which customer a role serves is only in ``bi_access.role_customer``, which BI roles cannot read.
A role's queries stop after ``statement_timeout`` (``ONEVAULT_BI_STATEMENT_TIMEOUT_S``), so one
dashboard cannot hold a backend — or the marts' locks that dbt's rebuild waits for — at will.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import asdict, dataclass
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
import typer

from gateway.admin.customers import AdminError, customer_exists
from gateway.cli.admin import admin_call, run_audited
from gateway.cli.runtime import operator, servers, settings, with_pool

bi_role = typer.Typer(help="Read-only database logins for BI tools (marts only).", no_args_is_help=True)
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True, slots=True)
class BiRole:
    role: str
    customer: str | None  # None = every customer
    password: str | None = None  # only when just created


def default_role_name(customer: str | None) -> str:
    """A name that reveals nothing, not even whether the role sees one customer or all."""
    return "bi_" + secrets.token_hex(6)


def connection_string(base_url: str, role: str, password: str) -> str:
    """The warehouse's BI URL with this role's credentials in it (host, port, database kept)."""
    url = urlsplit(base_url)
    host = url.hostname or ""
    netloc = f"{quote(role, safe='')}:{quote(password, safe='')}@{host}" + (
        f":{url.port}" if url.port else ""
    )
    return urlunsplit((url.scheme, netloc, url.path, url.query, ""))


async def create_bi_role(
    pool: asyncpg.Pool,
    customer: str | None,
    role: str,
    *,
    created_by: str,
    statement_timeout_s: float = 30.0,
) -> BiRole:
    if not _NAME.match(role):
        raise AdminError("a role name is 1-63 characters of a-z, 0-9 and '_', not starting with a digit")
    if customer is not None and not await customer_exists(pool, customer):
        raise AdminError(f"no customer {customer!r}")
    password = secrets.token_urlsafe(24)
    async with pool.acquire() as conn, conn.transaction():
        if await conn.fetchval("select to_regprocedure('bi_access.can_see(text)') is null"):
            raise AdminError("BI access is not set up: run `onevault migrate`")
        if await conn.fetchval("select 1 from pg_roles where rolname = $1", role):
            raise AdminError(f"role {role!r} already exists (drop it first, or choose --name)")
        # Identifiers cannot be bind parameters: format() quotes them (and the password) safely.
        create_sql = await conn.fetchval(
            "select format('create role %I login password %L connection limit 20 in role onevault_bi', "
            "$1::text, $2::text)",
            role,
            password,
        )
        await conn.execute(create_sql)
        for setting, value in (
            ("default_transaction_read_only", "on"),
            ("statement_timeout", f"{max(1, round(statement_timeout_s * 1000))}ms"),
        ):
            await conn.execute(
                await conn.fetchval(
                    "select format('alter role %I set %s = %L', $1::text, $2::text, $3::text)",
                    role,
                    setting,
                    value,
                )
            )
        await conn.execute(
            "insert into bi_access.role_customer (role_name, customer_slug, created_by) values ($1, $2, $3)",
            role,
            customer,
            created_by,
        )
    return BiRole(role, customer, password)


async def list_bi_roles(pool: asyncpg.Pool) -> list[BiRole]:
    rows = await pool.fetch("select role_name, customer_slug from bi_access.role_customer order by role_name")
    return [BiRole(r["role_name"], r["customer_slug"]) for r in rows]


async def drop_bi_role(pool: asyncpg.Pool, role: str) -> None:
    async with pool.acquire() as conn, conn.transaction():
        deleted = await conn.fetchval(
            "delete from bi_access.role_customer where role_name = $1 returning 1", role
        )
        if not deleted:
            raise AdminError(f"{role!r} is not a BI role created by `onevault bi-role create`")
        await conn.execute(await conn.fetchval("select format('drop role if exists %I', $1::text)", role))


@bi_role.command("create")
def create(
    customer: str = typer.Argument(None, help="The customer whose rows the role may see."),
    all_customers: bool = typer.Option(False, "--all", help="A role that sees every customer's rows."),
    name: str = typer.Option(
        None, help="Role name (default: random, bi_<12 hex>). Every BI login can list every role name."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Create a read-only login for BI tools; prints its password and connection string once."""
    if (customer is None) == (not all_customers):
        typer.secho("error: give a customer or --all (not both)", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    scope = None if all_customers else customer
    role = name or default_role_name(scope)
    created = run_audited(
        admin_call("bi-roles.create", role, scope),
        lambda pool: create_bi_role(
            pool, scope, role, created_by=operator(), statement_timeout_s=settings().bi_statement_timeout_s
        ),
    )
    assert created.password is not None
    url = connection_string(servers().bi_database_url, role, created.password)
    if as_json:
        typer.echo(json.dumps({**asdict(created), "connection_string": url}))
        return
    typer.echo(
        f"created BI role {role} ({'every customer' if scope is None else 'customer ' + scope}), marts only"
    )
    typer.echo(f"password (shown once): {created.password}")
    typer.echo(f"connection string:     {url}")


@bi_role.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """BI roles and the customer each may see."""
    roles = with_pool(list_bi_roles)
    if as_json:
        typer.echo(json.dumps([{"role": r.role, "customer": r.customer} for r in roles]))
        return
    for r in roles:
        typer.echo(f"{r.role:<32} {r.customer or '(every customer)'}")


@bi_role.command("drop")
def drop(role: str = typer.Argument(..., help="Role name, as listed by `bi-role list`.")) -> None:
    """Remove a BI role (its sessions end at their next connection)."""
    run_audited(admin_call("bi-roles.drop", role), lambda pool: drop_bi_role(pool, role))
    typer.echo(f"dropped BI role {role}")
