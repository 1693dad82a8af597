"""Compliance audit exports: tamper-evident, verifiable offline, reproducible as of any moment.

``export.export_customer`` writes one customer's record kinds (``queries``) through ``writers``,
the FOCUS chargeback (``chargeback``) and records of processing (``processing``), a signed
``manifest`` (``signing``) chained to the customer's previous export (``chain``); ``verify``
checks all of it. A library: it never imports the gateway.
"""

from warehouse.audit.export import ExportError, ExportResult, export_customer
from warehouse.audit.params import ExportScope
from warehouse.audit.signing import SigningKey
from warehouse.audit.verify import Verification, verify_against_vault, verify_offline

__all__ = [
    "ExportError",
    "ExportResult",
    "ExportScope",
    "SigningKey",
    "Verification",
    "export_customer",
    "verify_against_vault",
    "verify_offline",
]
