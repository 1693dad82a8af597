"""``/admin/v1``: the control plane over HTTP, for operators and automation (not for customers).

Authenticated by the admin token (``ONEVAULT_ADMIN_TOKEN``; generated into
``ONEVAULT_HOME/secrets/admin-token`` on the embedded default); a OneVault customer key is never
accepted here. Every call — refused ones included — is recorded in the vault
(``sat_admin_action_details``): who, what, on which target, from where, with what outcome.
Calls without the token are recorded in batches and, past a per-address limit, refused with 429
and counted rather than recorded one by one (docs/security/authentication-and-admission.md).
An ``x-onevault-actor`` header names the person or system behind the token.
"""

from fastapi import APIRouter

from gateway.api.admin import budgets, credits, customers, keys, provider_keys, rules

router = APIRouter(prefix="/admin/v1", tags=["admin"])
for _module in (customers, keys, provider_keys, rules, budgets, credits):
    router.include_router(_module.router)
