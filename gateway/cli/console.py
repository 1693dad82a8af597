"""``onevault console create-user|users|set-role|disable|enable|set-password``: who may log in to the
web console (/console). The first operator user comes from here; each change is audited."""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

import asyncpg
import typer

from gateway.admin.console_users import (
    ROLES,
    create_user,
    get_user,
    list_users,
    set_password,
    update_user,
)
from gateway.admin.customers import AdminError
from gateway.cli.admin import admin_call, echo_result, fail, run_audited
from gateway.cli.runtime import operator, with_pool
from warehouse.embedded.files import write_secret

console = typer.Typer(help="Users of the web console (/console).", no_args_is_help=True)


def _password(from_stdin: bool) -> tuple[str, bool]:
    """The password from stdin (one line), or a generated one (returned to print once)."""
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise fail(AdminError("--password-stdin: no password on standard input"))
        return line, False
    return secrets.token_urlsafe(18), True


@console.command("create-user")
def create_user_cmd(
    email: str = typer.Option(..., help="The user's e-mail address (their login)."),
    role: str = typer.Option(..., help=" | ".join(ROLES) + "."),
    customer: str = typer.Option(None, help="The customer this user belongs to (sees only it)."),
    is_operator: bool = typer.Option(False, "--operator", help="A platform operator: every customer."),
    name: str = typer.Option(None, help="Display name."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from standard input (else one is generated)."
    ),
    sso_only: bool = typer.Option(False, "--sso-only", help="No password: logs in by single sign-on."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Create a console user (a customer's with --customer, or platform-wide with --operator)."""
    if is_operator == (customer is not None):
        raise fail(AdminError("give exactly one of --customer SLUG or --operator"))
    password, generated = (None, False) if sso_only else _password(password_stdin)
    user = run_audited(
        admin_call("console_users.create", email, customer),
        lambda pool: create_user(
            pool,
            email,
            role,
            customer=customer,
            operator=is_operator,
            password=password,
            display_name=name,
            changed_by=operator(),
            record_source="cli",
        ),
    )
    shown = user.public() | ({"password": password} if generated else {})
    text = f"created console user {user.email} ({user.role}, {user.customer or 'operator'})"
    if generated:
        text += f"\npassword (shown once): {password}"
    echo_result(shown, as_json, text)


@console.command("users")
def users_cmd(
    customer: str = typer.Option(None, help="The customer whose users to list (default: operators)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List a customer's console users, or the operator users."""
    found = with_pool(lambda pool: list_users(pool, customer))
    rows = [u.public() for u in found]
    text = "\n".join(f"{u.email:<40} {u.role:<10} {u.status}" for u in found) or "no console users"
    echo_result(rows, as_json, text)


def _update(email: str, action: str, **change: str) -> None:
    user = run_audited(
        admin_call(f"console_users.{action}", email),
        lambda pool: update_user(pool, email, changed_by=operator(), record_source="cli", **change),
    )
    typer.echo(f"{user.email}: {user.role}, {user.status}")


@console.command("set-role")
def set_role_cmd(
    email: str = typer.Argument(...), role: str = typer.Argument(..., help=" | ".join(ROLES))
) -> None:
    """Change a console user's role."""
    _update(email, "set_role", role=role)


@console.command("disable")
def disable_cmd(email: str = typer.Argument(...)) -> None:
    """Disable a console user (their sessions end at the next request)."""
    _update(email, "disable", status="disabled")


@console.command("enable")
def enable_cmd(email: str = typer.Argument(...)) -> None:
    """Re-enable a disabled or locked console user."""
    _update(email, "enable", status="active")


@console.command("set-password")
def set_password_cmd(
    email: str = typer.Argument(...),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read it from standard input."),
) -> None:
    """Set a console user's password (generated and printed once unless --password-stdin)."""
    password, generated = _password(password_stdin)
    run_audited(
        admin_call("console_users.set_password", email),
        lambda pool: set_password(pool, email, password, changed_by=operator(), record_source="cli"),
    )
    typer.echo(f"password set for {email}" + (f": {password}" if generated else ""))


DEMO_EMAIL = "admin@demo.example"


async def ensure_demo_user(pool: asyncpg.Pool, home: Path, customer: str) -> str | None:
    """``onevault up`` on a fresh home: the demo customer's admin, its password generated into
    ``secrets/console-password`` (like the demo key). Returns the e-mail address to log in with."""
    path = home / "secrets" / "console-password"
    if await get_user(pool, DEMO_EMAIL) is not None:
        return DEMO_EMAIL if path.exists() else None
    password = secrets.token_urlsafe(18)
    await create_user(
        pool,
        DEMO_EMAIL,
        "admin",
        customer=customer,
        password=password,
        display_name="Demo admin",
        changed_by=operator(),
        record_source="cli",
    )
    write_secret(path, password)
    return DEMO_EMAIL
