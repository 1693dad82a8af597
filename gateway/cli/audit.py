"""``onevault audit export | verify | public-key``: compliance exports from the insert-only vault.

The work is ``warehouse.audit``; this module parses options, finds the servers and the signing
key, and prints what an operator needs (where the export is, its chain link, what failed).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg
import typer

from gateway.cli.runtime import operator, servers, settings
from gateway.crypto.data_keys import DataKeys, PayloadUnreadable
from gateway.crypto.keyring import keyring_from
from warehouse.audit import (
    ExportError,
    ExportResult,
    ExportScope,
    SigningKey,
    export_customer,
    verify_against_vault,
    verify_offline,
)
from warehouse.audit.payloads import PayloadOpener
from warehouse.audit.signing import load_public_key
from warehouse.db import create_pool

audit = typer.Typer(help="Audit exports: signed, chained, verifiable offline.", no_args_is_help=True)


def _date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter("use YYYY-MM-DD", param_hint=option) from exc


def _as_of(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise typer.BadParameter(
            "an ISO-8601 timestamp, e.g. 2026-11-30T23:59:59Z", param_hint="--as-of"
        ) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def payload_opener(pool: asyncpg.Pool, customer: str) -> PayloadOpener:
    """Opens sealed prompts/completions with the customer's data key (None once erased)."""
    keys = DataKeys(pool, keyring_from(settings()))

    async def open_texts(request_id: str, row: asyncpg.Record) -> tuple[str, str] | None:
        key = await keys.find(customer, row["data_key_id"])
        if key is None:
            return None
        try:
            return (
                key.open(row["prompt_nonce"], row["prompt_ciphertext"], f"{request_id}:prompt"),
                key.open(row["completion_nonce"], row["completion_ciphertext"], f"{request_id}:completion"),
            )
        except PayloadUnreadable:
            return None

    return open_texts


@audit.command("export")
def export(
    customer: str = typer.Option(..., "--customer", help="Customer slug."),
    from_: str = typer.Option(..., "--from", help="First day of the period, YYYY-MM-DD."),
    to: str = typer.Option(..., "--to", help="Day after the period (exclusive), YYYY-MM-DD."),
    out: Path = typer.Option(..., "--out", help="New (or empty) directory to write the export into."),
    as_of: str = typer.Option(
        None,
        "--as-of",
        help="The vault as it stood at this load time (default: now, written in the manifest).",
    ),
    include_payloads: bool = typer.Option(
        False,
        "--include-payloads",
        help="Also export what retention kept of prompts/completions: digests, and the texts while readable.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Export a customer's audit record for a period: JSONL + CSV per record kind, FOCUS chargeback,
    records of processing, and a signed manifest chained to the customer's previous export."""
    try:
        scope = ExportScope(customer, _date(from_, "--from"), _date(to, "--to"), _as_of(as_of))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    key = SigningKey.from_settings(settings())
    dsn = servers().database_url
    target = out.resolve()

    async def run() -> ExportResult:
        pool = await create_pool(dsn, min_size=1, max_size=4)  # lock + 2 writers + key lookups
        try:
            exists = await pool.fetchval(
                "select 1 from raw_vault.hub_customer where customer_bk = $1", customer
            )
            if not exists:
                raise ExportError(f"no customer {customer!r}")
            return await export_customer(
                pool,
                scope,
                target,
                key,
                created_by=operator(),
                issuer=settings().billing_issuer,
                include_payloads=include_payloads,
                payload_opener=payload_opener(pool, customer) if include_payloads else None,
            )
        finally:
            await pool.close()

    try:
        result = asyncio.run(run())
    except ExportError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from exc
    summary = {
        "out": str(result.out),
        "export_id": result.export_id,
        "manifest_sha256": result.manifest_sha256,
        "previous_manifest_sha256": result.previous_manifest_sha256,
        "as_of": result.as_of.isoformat(),
        "totals": result.totals,
        "files": {f.name: f.rows for f in result.files},
    }
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    if not result.settled:
        typer.secho(
            "note: a transaction older than --as-of was still open after 30 s; a later export with the same "
            "--as-of may include its rows (recorded as as_of_settled: false in the manifest)",
            fg=typer.colors.YELLOW,
            err=True,
        )
    typer.echo(f"exported {customer} {from_}..{to} as of {summary['as_of']} to {result.out}")
    for f in result.files:
        typer.echo(f"  {f.name:<28} {'' if f.rows is None else f.rows}")
    typer.echo(f"requests {result.totals['requests']}, customer cost {result.totals['customer_cost']}")
    typer.echo(f"manifest sha256 {result.manifest_sha256} (previous: {result.previous_manifest_sha256})")


@audit.command("public-key")
def public_key(
    as_json: bool = typer.Option(False, "--json", help="Print JSON with the key id and PEM."),
) -> None:
    """Print the public key that verifies audit manifests (publish it to your auditors)."""
    key = SigningKey.from_settings(settings())
    if as_json:
        typer.echo(json.dumps({"key_id": key.key_id, "public_key_pem": key.public_pem}, indent=2))
    else:
        typer.echo(key.public_pem, nl=False)
        typer.secho(f"key id: {key.key_id}", err=True)


def _vault_dsn() -> str | None:
    """The warehouse to check against, if this machine has one — an auditor's machine running
    ``verify`` must not get an empty embedded PostgreSQL created for it."""
    configured = settings()
    if configured.database_url is not None:
        return configured.database_url.get_secret_value()
    if not (configured.home_dir / "pg").is_dir():
        return None
    return servers().database_url


@audit.command("verify")
def verify(
    directory: Path = typer.Argument(..., exists=True, file_okay=False, help="The export directory."),
    public_key_file: Path = typer.Option(
        None,
        "--public-key",
        exists=True,
        dir_okay=False,
        help="The published public key (PEM); required unless this installation signed the export.",
    ),
    previous: Path = typer.Option(
        None,
        "--previous",
        exists=True,
        file_okay=False,
        help="The customer's previous export (checks the chain).",
    ),
    offline: bool = typer.Option(False, "--offline", help="Do not consult the vault."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Check an export: signature, every file's SHA-256 and row count, totals, the chain and, unless
    --offline, the vault's record of it and its totals. Exit 1 and name the file on any failure."""
    if public_key_file is not None:
        public = load_public_key(public_key_file.read_bytes())
    else:  # this installation's own key if it has one; else none, and the export is not verified
        local = SigningKey.existing(settings())
        public = local.public if local else None
    result = verify_offline(directory, public, previous)
    dsn = None if offline or not result.manifest else _vault_dsn()
    if dsn is None and not offline:
        result.warnings.append("no OneVault warehouse configured here: checked offline only")
    if dsn is not None:
        try:

            async def online() -> None:
                pool = await create_pool(dsn, min_size=1, max_size=1)
                try:
                    await verify_against_vault(pool, result)
                finally:
                    await pool.close()

            asyncio.run(online())
        except (OSError, asyncpg.PostgresError) as exc:
            result.warnings.append(f"vault not reachable ({exc.__class__.__name__}): checked offline only")
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "ok": result.ok,
                    "problems": result.problems,
                    "checked": result.checked,
                    "warnings": result.warnings,
                },
                indent=2,
            )
        )
    else:
        for line in result.checked:
            typer.echo(f"ok    {line}")
        for line in result.warnings:
            typer.secho(f"note  {line}", fg=typer.colors.YELLOW)
        for line in result.problems:
            typer.secho(f"FAIL  {line}", fg=typer.colors.RED)
        typer.echo(
            "export verified" if result.ok else f"export NOT verified: {len(result.problems)} problem(s)"
        )
    if not result.ok:
        raise typer.Exit(1)
