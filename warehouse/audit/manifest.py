"""``manifest.json``: what an export holds, how to check it, and which export came before.

The manifest is written once, as canonical JSON (sorted keys, two-space indent, UTF-8, final
newline), and signed as those exact bytes (``manifest.json.sig``). Its SHA-256 is the export's
identity in the customer's chain: the next export of the customer names it as
``previous_manifest_sha256``, and the vault records it (``sat_audit_export_manifest``).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

FORMAT = "onevault-audit-export/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.json.sig"
CHECKSUMS = "SHA256SUMS"


@dataclass(frozen=True, slots=True)
class FileEntry:
    name: str
    kind: str  # requests, admin_actions, ..., chargeback, processing, checksums
    format: str  # jsonl | csv | json | sha256sum
    rows: int | None  # data rows (CSV: without the header); None for documents
    sha256: str
    bytes: int
    period_column: str | None
    description: str


def dumps(data: dict[str, Any]) -> bytes:
    """Canonical JSON bytes: the same data always gives the same bytes."""
    return (json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@lru_cache(maxsize=1)
def software() -> dict[str, str]:
    """The exporting software: package version and the git commit it was built from."""
    try:
        version = metadata.version("onevault")
    except metadata.PackageNotFoundError:
        version = "unknown"
    commit = os.environ.get("ONEVAULT_GIT_COMMIT")
    if not commit:
        root = Path(__file__).resolve().parents[2]
        try:
            commit = subprocess.run(
                ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            commit = ""
    return {"name": "onevault", "version": version, "git_commit": commit or "unknown"}


def build(
    *,
    export_id: str,
    customer: str,
    period: tuple[str, str],
    as_of: str,
    created_at: str,
    created_by: str,
    files: list[FileEntry],
    totals: dict[str, Any],
    chargeback_note: str,
    previous_manifest_sha256: str | None,
    key_id: str,
    public_key_pem: str,
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "export_id": export_id,
        "customer": customer,
        "period": {"from": period[0], "to": period[1], "to_is_exclusive": True},
        "as_of": as_of,
        "created_at": created_at,
        "created_by": created_by,
        "software": software(),
        "files": [asdict(f) for f in files],
        "totals": totals,
        "chargeback": chargeback_note,
        "previous_manifest_sha256": previous_manifest_sha256,
        "signing": {
            "algorithm": "Ed25519",
            "key_id": key_id,
            "public_key_pem": public_key_pem,
            "signature_file": SIGNATURE,
            "signed_bytes": f"{MANIFEST} exactly as written",
        },
    }


def checksums_text(files: list[FileEntry]) -> bytes:
    """``sha256sum -c`` input for the data files, so they can be checked with stock tools."""
    return "".join(f"{f.sha256}  {f.name}\n" for f in files).encode()
