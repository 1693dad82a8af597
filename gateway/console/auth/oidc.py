"""Single sign-on over OpenID Connect with Authlib (discovery, state, nonce, PKCE-less code flow,
ID-token validation), configured by ``ONEVAULT_CONSOLE_OIDC_*``.

A user's groups (the ``oidc_group_claim`` claim) give their role and customer through
``oidc_groups``: ``{"acme-finance": "viewer@acme", "platform": "admin@operator"}``. The highest
role wins; groups naming two different customers, or none mapped, are refused. The first login
creates the console user (no password); later logins bring its role up to date.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authlib.integrations.starlette_client import OAuth

from gateway.admin.console_users import ROLES
from gateway.console.auth.roles import RANK
from gateway.console.settings import ConsoleSettings


class SsoRefused(Exception):
    """The identity provider's answer does not map to a console user."""


@dataclass(frozen=True, slots=True)
class SsoIdentity:
    email: str
    name: str | None
    role: str
    customer: str | None  # None = operator


def client(settings: ConsoleSettings) -> Any:
    oauth = OAuth()
    issuer = (settings.oidc_issuer or "").rstrip("/")
    oauth.register(
        "oidc",
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else None,
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        client_kwargs={"scope": settings.oidc_scopes},
    )
    return oauth.oidc


def identity(claims: dict[str, Any], settings: ConsoleSettings) -> SsoIdentity:
    """Map the ID token's (or userinfo's) claims to a role and customer."""
    email = claims.get("email")
    if not isinstance(email, str) or not email or claims.get("email_verified") is False:
        raise SsoRefused("the identity provider sent no verified e-mail address")
    groups = claims.get(settings.oidc_group_claim) or []
    if isinstance(groups, str):
        groups = [groups]
    best: tuple[int, str, str | None] | None = None
    customers: set[str | None] = set()
    for group in groups:
        mapped = settings.oidc_groups.get(str(group))
        if not mapped or "@" not in mapped:
            continue
        role, _, where = mapped.partition("@")
        if role not in ROLES:
            continue
        customer = None if where == "operator" else where
        customers.add(customer)
        if best is None or RANK[role] > best[0]:
            best = (RANK[role], role, customer)
    if best is None:
        raise SsoRefused("none of your groups gives access to the console")
    if len(customers) > 1:
        raise SsoRefused("your groups give access to more than one customer; ask for one")
    return SsoIdentity(email.lower(), claims.get("name"), best[1], best[2])
