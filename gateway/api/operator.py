"""Who may read the gateway's operational detail (``/metrics``, the detailed ``/ready``): the
operator, presenting the admin token as ``Authorization: Bearer <token>``. Metrics name every
provider, model and error the gateway saw, and readiness names the spool path and the
dependencies' errors: nothing a tenant or a passer-by needs. ``/health`` stays public.

The comparison is constant-time, and an empty configured token never matches.
"""

from __future__ import annotations

import hmac

from fastapi import Request

from gateway.errors import ApiError


def is_operator(request: Request) -> bool:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    expected: str = getattr(request.app.state, "admin_token", "") or ""
    token = token.strip()
    return (
        scheme.lower() == "bearer"
        and bool(expected and token)
        and hmac.compare_digest(token.encode(), expected.encode())
    )


def require_operator(request: Request) -> None:
    """401 ``operator_only`` unless the caller presents the admin token."""
    if not is_operator(request):
        raise ApiError(
            401,
            "operator_only",
            f"{request.url.path} is for the operator: send 'Authorization: Bearer <admin token>'.",
            headers={"www-authenticate": "Bearer"},
        )
