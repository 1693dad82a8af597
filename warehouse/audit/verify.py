"""Checking an export: signature, files, row counts, totals, the chain, and the vault.

Offline (the export directory and the public key are enough): the Ed25519 signature over
``manifest.json``; each listed file's SHA-256, size and row count; no unlisted files; the totals
re-derived from ``requests.jsonl``; optionally the previous export's manifest hash (the chain).
Online (when the vault is reachable): the export is recorded with this very manifest hash, its
predecessor in the customer's chain is the one it names, and the totals re-derived from the
vault as of the export's ``as_of`` match. Every failure names the file it is about.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from warehouse.audit import chain
from warehouse.audit.manifest import FORMAT, MANIFEST, SIGNATURE, sha256_file
from warehouse.audit.params import ExportScope
from warehouse.audit.queries import render_totals
from warehouse.audit.signing import key_id, signature_valid
from warehouse.audit.writers import tune


@dataclass
class Verification:
    directory: Path
    problems: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def fail(self, message: str) -> None:
        self.problems.append(message)


def _count_rows(path: Path, fmt: str) -> int:
    if fmt == "jsonl":
        with path.open("rb") as handle:
            return sum(1 for _ in handle)
    with path.open(newline="", encoding="utf-8") as handle:
        return max(sum(1 for _ in csv.reader(handle)) - 1, 0)  # less the header


def _request_totals(path: Path) -> tuple[int, Decimal, Decimal]:
    n, provider, customer = 0, Decimal(0), Decimal(0)
    with path.open("rb") as handle:
        for line in handle:
            row = json.loads(line)
            n += 1
            provider += Decimal(row["provider_cost"] or 0)
            customer += Decimal(row["customer_cost"] or 0)
    return n, provider, customer


def _confined(directory: Path, name: object) -> Path | None:
    """The listed file as a path inside ``directory`` — or None when the manifest names anything
    else (``../../etc/passwd``, ``/etc/passwd``, a sub-path, a symlink out): a forged manifest
    must not make the verifier read, hash or report on files outside the export."""
    if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\\" in name or "\0" in name:
        return None
    path = directory / name
    if path.is_symlink() or path.resolve().parent != directory.resolve():
        return None
    return path


def verify_offline(
    directory: Path,
    public_key: Ed25519PublicKey | None = None,
    previous: Path | None = None,
) -> Verification:
    """Everything that needs no database. ``public_key``: the published key (``onevault audit
    public-key``) — required: the key inside the manifest proves only that whoever wrote the
    manifest also signed it, so without a trusted key the export is not verified."""
    v = Verification(directory)
    body_path, sig_path = directory / MANIFEST, directory / SIGNATURE
    if not body_path.is_file():
        v.fail(f"{MANIFEST}: missing")
        return v
    body = body_path.read_bytes()
    try:
        doc = json.loads(body)
    except ValueError:
        v.fail(f"{MANIFEST}: not valid JSON (edited?)")
        return v
    v.manifest = doc
    if doc.get("format") != FORMAT:
        v.fail(f"{MANIFEST}: unknown format {doc.get('format')!r}")
        return v

    # -- signature ---------------------------------------------------------------------------
    signing = doc.get("signing", {})
    if public_key is None:
        v.fail(
            f"{MANIFEST}: no trusted public key to check the signature with — pass the published one "
            f"(--public-key, from `onevault audit public-key`); the manifest's own key "
            f"{signing.get('key_id')} proves nothing about who signed it"
        )
        return v
    if key_id(public_key) != signing.get("key_id"):
        v.fail(
            f"{MANIFEST}: signed by key {signing.get('key_id')}, not by the given key {key_id(public_key)}"
        )
    if not sig_path.is_file():
        v.fail(f"{SIGNATURE}: missing")
    elif not signature_valid(public_key, sig_path.read_bytes(), body):
        v.fail(
            f"{MANIFEST}: Ed25519 signature does not verify (manifest edited/swapped or signature altered)"
        )
    else:
        v.checked.append(f"{MANIFEST}: Ed25519 signature valid ({signing.get('key_id')})")

    # -- files -------------------------------------------------------------------------------
    listed = {f["name"]: f for f in doc.get("files", [])}
    for name, entry in listed.items():
        path = _confined(directory, name)
        if path is None:
            v.fail(f"{name!r}: not a file of the export directory (a path outside it is refused)")
            continue
        if not path.is_file():
            v.fail(f"{name}: missing (listed in the manifest)")
            continue
        problems_before = len(v.problems)
        if entry.get("rows") is not None:
            rows = _count_rows(path, entry["format"])
            if rows != entry["rows"]:
                v.fail(f"{name}: {rows} rows, the manifest says {entry['rows']} (rows deleted or added)")
        if path.stat().st_size != entry["bytes"]:
            v.fail(f"{name}: {path.stat().st_size} bytes, the manifest says {entry['bytes']}")
        if sha256_file(path) != entry["sha256"]:
            v.fail(f"{name}: SHA-256 does not match the manifest (file edited)")
        if len(v.problems) == problems_before:
            v.checked.append(f"{name}: SHA-256, size and {entry.get('rows', '-')} rows match")
    for path in sorted(directory.iterdir()):
        if path.name not in listed and path.name not in (MANIFEST, SIGNATURE):
            v.fail(f"{path.name}: not listed in the manifest")

    # -- totals from the requests file --------------------------------------------------------
    requests = _confined(directory, "requests.jsonl")
    totals = doc.get("totals", {})
    if "requests.jsonl" in listed and requests is not None and requests.is_file():
        try:
            n, provider, customer = _request_totals(requests)
        except (ValueError, KeyError, InvalidOperation):
            v.fail("requests.jsonl: not valid JSON Lines (edited?)")
        else:
            if (n, provider, customer) != (
                totals.get("requests"),
                Decimal(totals.get("provider_cost", "NaN")),
                Decimal(totals.get("customer_cost", "NaN")),
            ):
                v.fail(
                    f"requests.jsonl: totals {n} requests / {customer} customer cost differ from the "
                    f"manifest's {totals.get('requests')} / {totals.get('customer_cost')}"
                )
            else:
                v.checked.append(f"requests.jsonl: totals match ({n} requests, customer cost {customer})")

    # -- chain, from the previous export's directory --------------------------------------------
    if previous is not None:
        prev_body = previous / MANIFEST
        if not prev_body.is_file():
            v.fail(f"{previous / MANIFEST}: missing (previous export)")
        else:
            prev_doc = json.loads(prev_body.read_bytes())
            digest = hashlib.sha256(prev_body.read_bytes()).hexdigest()
            if prev_doc.get("customer") != doc.get("customer"):
                v.fail(f"{MANIFEST}: previous export is another customer's ({prev_doc.get('customer')!r})")
            elif doc.get("previous_manifest_sha256") != digest:
                v.fail(
                    f"{MANIFEST}: chain broken — names previous {doc.get('previous_manifest_sha256')}, "
                    f"but {previous.name}/{MANIFEST} hashes to {digest}"
                )
            else:
                v.checked.append(f"{MANIFEST}: chain links to {previous.name}/{MANIFEST} ({digest[:16]}…)")
    return v


async def verify_against_vault(pool: asyncpg.Pool, v: Verification) -> None:
    """The recorded chain and totals re-derived from the vault as of the export's ``as_of``."""
    doc = v.manifest
    if not doc:
        return
    digest = hashlib.sha256((v.directory / MANIFEST).read_bytes()).hexdigest()
    row = await chain.recorded(pool, doc["export_id"])
    if row is None:
        v.fail(f"{MANIFEST}: export {doc['export_id']} is not recorded in this vault")
        return
    if row["manifest_sha256"] != digest:
        v.fail(
            f"{MANIFEST}: the vault recorded {row['manifest_sha256']} for {doc['export_id']}, "
            f"this manifest hashes to {digest}"
        )
    if row["customer_bk"] != doc.get("customer"):
        v.fail(f"{MANIFEST}: recorded for customer {row['customer_bk']!r}, says {doc.get('customer')!r}")
    expected_prev = await chain.predecessor(pool, row["customer_bk"], row["load_dts"], doc["export_id"])
    if expected_prev != doc.get("previous_manifest_sha256"):
        v.fail(
            f"{MANIFEST}: chain broken — the vault's previous export is {expected_prev}, "
            f"the manifest names {doc.get('previous_manifest_sha256')}"
        )
    elif row["manifest_sha256"] == digest:
        v.checked.append(
            f"{MANIFEST}: recorded in the vault as the chain link after {expected_prev or '(first export)'}"
        )
    scope = ExportScope(
        doc["customer"],
        date.fromisoformat(doc["period"]["from"]),
        date.fromisoformat(doc["period"]["to"]),
        datetime.fromisoformat(doc["as_of"].replace("Z", "+00:00")),
    )
    async with pool.acquire() as conn:
        await tune(conn)
        totals = dict(await conn.fetchrow(render_totals(scope)))
    claimed = doc.get("totals", {})
    if (totals["requests"], totals["customer_cost"], totals["provider_cost"]) != (
        claimed.get("requests"),
        claimed.get("customer_cost"),
        claimed.get("provider_cost"),
    ):
        v.fail(
            f"{MANIFEST}: totals differ from the vault as of {doc['as_of']}: "
            f"vault {totals['requests']} requests / "
            f"{totals['customer_cost']}, manifest {claimed.get('requests')} / {claimed.get('customer_cost')}"
        )
    else:
        v.checked.append(
            f"{MANIFEST}: totals re-derived from the vault match ({totals['requests']} requests)"
        )
