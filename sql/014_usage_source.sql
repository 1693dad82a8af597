-- 014 · What a request's tokens, and so its cost, were counted from (warehouse/events.py
-- UsageSource): the provider's own usage report (NULL, the default: nearly every request), the
-- gateway's estimate when the provider reported none ('estimate'), or, for a stream whose client
-- left early, 'provider_after_disconnect' (the gateway read on and billed the provider's count)
-- or 'estimate_after_disconnect' (reading on hit its time/byte bound, the upstream was cancelled
-- and everything received was estimated). docs/security/money.md.
--
-- A late column (warehouse/hashing.py, "Late columns"): NULL leaves every existing hash diff as
-- it was, so reloading an old event adds no satellite row.

alter table raw_vault.sat_api_request_details
  add column usage_source text;
