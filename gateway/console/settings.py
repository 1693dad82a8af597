"""The console's own settings (``ONEVAULT_CONSOLE_*``): sessions, login throttling, single sign-on.

Kept apart from the gateway's settings: none of them touches the API's hot path.
"""

from __future__ import annotations

import json
from functools import lru_cache

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ONEVAULT_CONSOLE_", extra="ignore")

    session_idle_s: int = Field(1800, ge=60, description="A session ends after this long unused.")
    session_absolute_s: int = Field(43200, ge=300, description="…and this long after login, used or not.")
    cookie_secure: bool | None = Field(
        None, description="Secure cookies: None = when the request came over https (the local http case)."
    )
    login_failures_per_minute: int = Field(20, ge=1, description="Failed logins per address per minute.")
    lockout_failures: int = Field(5, ge=1, description="Failed logins in a row that lock an account…")
    lockout_s: int = Field(900, ge=1, description="…for this many seconds (same generic error meanwhile).")
    dagster_url: str | None = Field(None, description="The Dagster UI, linked from the billing runs page.")
    # OpenID Connect single sign-on: on when the issuer and the client are set.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_group_claim: str = "groups"
    oidc_scopes: str = "openid email profile"
    # {"<group>": "<role>@<customer slug>" | "<role>@operator"}; the highest role a user's
    # groups give wins. A user none of whose groups is mapped is refused.
    oidc_groups: dict[str, str] = Field(default_factory=dict)

    @field_validator("oidc_groups", mode="before")
    @classmethod
    def _json(cls, value: object) -> object:
        return json.loads(value) if isinstance(value, str) else value

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id)


@lru_cache(maxsize=1)
def console_settings() -> ConsoleSettings:
    return ConsoleSettings()
