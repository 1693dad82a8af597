"""Budget alerts: thresholds crossed on the request path, delivered to the customer's webhook by
a background worker (signed, retried with backoff, every attempt recorded in the vault)."""
