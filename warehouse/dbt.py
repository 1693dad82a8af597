"""Running dbt against the warehouse: the environment ``dbt_project/profiles.yml`` reads.

dbt is configured by environment variables (``ONEVAULT_DBT_*``) rather than a profile with
secrets in it; this module derives them from the same database URL every other OneVault process
uses — the embedded server's unix socket, or ``ONEVAULT_DATABASE_URL``.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"


def dbt_env(database_url: str) -> dict[str, str]:
    """``ONEVAULT_DBT_*`` variables for a ``postgresql://`` URL (TCP or ``?host=<socket dir>``)."""
    url = urlsplit(database_url)
    if url.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"not a PostgreSQL URL: {url.scheme}://…")
    query = parse_qs(url.query)
    host = query.get("host", [url.hostname or "localhost"])[0]
    port = query.get("port", [str(url.port or 5432)])[0]
    return {
        "ONEVAULT_DBT_HOST": host,
        "ONEVAULT_DBT_PORT": port,
        "ONEVAULT_DBT_USER": unquote(url.username or "postgres"),
        "ONEVAULT_DBT_PASSWORD": unquote(url.password or ""),
        "ONEVAULT_DBT_DBNAME": url.path.lstrip("/") or "postgres",
    }


def dbt_args(command: list[str], target_dir: Path | None = None) -> list[str]:
    """dbt CLI arguments for this project (target/log paths under ``target_dir`` if given)."""
    args = [*command, "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR)]
    if target_dir is not None:
        args += ["--target-path", str(target_dir / "target"), "--log-path", str(target_dir / "logs")]
    return args
