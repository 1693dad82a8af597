-- 015 · A request whose payload could not be sealed is still recorded (never lost, never a 500
-- after the provider was paid): its payload row keeps the digests only (retention_mode 'hash')
-- and says why the encrypted payload is missing — e.g. 'KeyRingError' when the customer's data
-- key is wrapped by a KEK that is no longer loaded (docs/security/upstreams-and-secrets.md).
--
-- A late column (warehouse/hashing.py, "Late columns"): NULL, the default, leaves every existing
-- hash diff as it was.

alter table raw_vault.sat_api_request_payload
  add column seal_error text;                           -- NULL: sealed as the retention mode says
