"""The egress policy a process runs with, from its settings (``ONEVAULT_EGRESS_ALLOW``)."""

from __future__ import annotations

import hashlib

from gateway.egress.policy import EgressPolicy
from warehouse.settings import Settings


def egress_policy(settings: Settings, *, hop_secret: str = "") -> EgressPolicy:
    """The policy for customer URLs; ``hop_secret`` (the admin token) names this deployment in the
    hop header, the same on every worker and host, without revealing the secret."""
    hop = hashlib.sha256(b"onevault-hop\0" + hop_secret.encode()).hexdigest()[:24] if hop_secret else ""
    return EgressPolicy.parse(settings.egress_allow, hop_id=hop)
