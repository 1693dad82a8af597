-- 012 · BRIN indexes on load_dts of the satellites the warehouse refreshes from.
-- dbt's incremental models (bridge_api_request, sat_cost_event_computed,
-- provider_performance_5m) find what is new by `load_dts > watermark`. Without an index that
-- is a sequential scan of every request, attempt and cost event ever loaded — seconds per
-- refresh at a million requests, growing with the vault. Rows are only ever appended and
-- stamped with their transaction's start time, so load_dts follows the physical order closely:
-- a BRIN index (a few kB, near-free to maintain on insert) lets a refresh read only the last
-- block ranges. A btree would cost the loader a second index write per row for the same plans.
create index if not exists sat_api_request_details_load_dts_brin
  on raw_vault.sat_api_request_details using brin (load_dts) with (pages_per_range = 32);
create index if not exists sat_api_request_attempt_load_dts_brin
  on raw_vault.sat_api_request_attempt using brin (load_dts) with (pages_per_range = 32);
create index if not exists sat_cost_event_details_load_dts_brin
  on raw_vault.sat_cost_event_details using brin (load_dts) with (pages_per_range = 32);
