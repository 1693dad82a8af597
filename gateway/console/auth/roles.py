"""Who may do what, declared once: viewer < developer < admin, and the operator flag.

Pages ask ``allows(user, "developer")`` to decide which controls to draw; the POST handlers ask
the same question through ``gateway.console.deps`` and refuse with 403 whatever the page showed.
"""

from __future__ import annotations

from gateway.admin.console_users import ROLES, ConsoleUser

RANK: dict[str, int] = {role: i for i, role in enumerate(ROLES)}

# What each change needs (one table, read by the templates and the handlers alike).
NEEDS = {
    "keys": "developer",
    "provider_keys": "developer",
    "rules": "developer",
    "settings.data": "developer",  # cache and privacy settings
    "budgets": "admin",
    "users": "admin",
    "settings.billing": "admin",
    "audit_exports": "admin",
    "payloads": "developer",  # reading stored prompts and completions
}


def allows(user: ConsoleUser, what: str) -> bool:
    """Whether ``user`` may do ``what`` (a key of ``NEEDS`` or a role name)."""
    needed = NEEDS.get(what, what)
    return RANK[user.role] >= RANK[needed]
