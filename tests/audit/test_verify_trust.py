"""What ``audit verify`` must refuse however well-formed the export looks: a signature checked
with nothing but the key the manifest itself carries (anyone can re-sign an edited export with
a key of their own), and a manifest naming files outside the export directory (``../../etc/…``,
an absolute path, a symlink out) — even when it is validly signed."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli.main import app
from warehouse.audit import SigningKey, verify_offline
from warehouse.audit.manifest import FORMAT, MANIFEST, SIGNATURE, dumps
from warehouse.settings import get_settings

OUTSIDE = Path("/etc/passwd")


def _entry(name: str, data: bytes) -> dict:
    rows = max(data.count(b"\n") - 1, 0)
    return {
        "name": name,
        "format": "csv",
        "rows": rows,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def signed_export(out: Path, key: SigningKey, extra: list[dict] | None = None) -> Path:
    """A minimal export a signer made: one data file, a manifest listing it (and ``extra``), signed."""
    out.mkdir(parents=True, exist_ok=True)
    data = b"a,b\n1,2\n"
    (out / "notes.csv").write_bytes(data)
    doc = {
        "format": FORMAT,
        "customer": "acme",
        "signing": {"key_id": key.key_id, "public_key_pem": key.public_pem},
        "files": [_entry("notes.csv", data), *(extra or [])],
        "totals": {},
    }
    body = dumps(doc)
    (out / MANIFEST).write_bytes(body)
    (out / SIGNATURE).write_bytes(key.sign(body))
    return out


def test_the_manifests_own_key_is_not_trusted(tmp_path: Path) -> None:
    forger = SigningKey.generate()  # re-signed an edited export with a key of their own
    out = signed_export(tmp_path / "x", forger)
    assert verify_offline(out, forger.public).ok  # integrity alone is fine ...
    v = verify_offline(out)  # ... but without the published key nothing says who signed
    assert not v.ok
    assert any("no trusted public key" in p for p in v.problems), v.problems


@pytest.mark.parametrize("name", ["../" * 12 + "etc/passwd", str(OUTSIDE)], ids=["dot-dot", "absolute"])
def test_a_signed_manifest_naming_a_path_outside_the_export_is_refused(tmp_path: Path, name: str) -> None:
    key = SigningKey.generate()
    out = signed_export(tmp_path / "x", key, [_entry(name, OUTSIDE.read_bytes())])
    v = verify_offline(out, key.public)
    assert not v.ok
    assert any(p.startswith(repr(name)) and "outside" in p for p in v.problems), v.problems
    assert not any(name in c for c in v.checked), "a file outside the export was read and passed"


def test_a_symlink_out_of_the_export_is_refused(tmp_path: Path) -> None:
    key = SigningKey.generate()
    out = signed_export(tmp_path / "x", key, [_entry("passwd.csv", OUTSIDE.read_bytes())])
    (out / "passwd.csv").symlink_to(OUTSIDE)
    v = verify_offline(out, key.public)
    assert not v.ok and any(p.startswith("'passwd.csv'") for p in v.problems), v.problems


@pytest.fixture
def auditor_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An auditor's machine: no warehouse, no OneVault home, no key of its own."""
    home = tmp_path / "auditor"
    for var in ("ONEVAULT_DATABASE_URL", "ONEVAULT_AUDIT_SIGNING_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ONEVAULT_HOME", str(home))
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


def test_cli_verify_without_a_trusted_key_fails(tmp_path: Path, auditor_home: Path) -> None:
    key = SigningKey.generate()
    out = signed_export(tmp_path / "x", key)
    refused = CliRunner().invoke(app, ["audit", "verify", str(out), "--offline"])
    assert refused.exit_code == 1, refused.output
    assert "no trusted public key" in refused.output and "--public-key" in refused.output
    assert "export NOT verified" in refused.output

    pem = tmp_path / "published.pem"
    pem.write_text(key.public_pem)
    trusted = CliRunner().invoke(app, ["audit", "verify", str(out), "--offline", "--public-key", str(pem)])
    assert trusted.exit_code == 0, trusted.output
    assert not auditor_home.exists()  # verify created no key, no server
