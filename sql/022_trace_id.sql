-- 022 · The request's OpenTelemetry trace id (32 lower-case hex digits), when the gateway traced
-- it and the trace was sampled (docs/operations/tracing-and-dashboards.md): a vault row leads to
-- its trace, as the trace's onevault.request_id leads back to the row. NULL: not traced.
--
-- A late column (warehouse/hashing.py, "Late columns"): NULL, the default, leaves every existing
-- hash diff as it was, so reloading an old event adds no satellite row.

alter table raw_vault.sat_api_request_details
  add column trace_id text;
