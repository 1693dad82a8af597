-- 013 · Full-fidelity traffic: what each request used (tools, content parts, structured output,
-- reasoning), the token kinds priced at their own rates (cache writes, audio input), and the
-- customer setting that lets the gateway drop options a provider cannot honour.
--
-- Every column is nullable and appended to an existing satellite. NULL is the documented
-- default (no tools, no tool calls, not validated, nothing dropped, zero tokens of the kind, no
-- own rate, drop_unsupported_params off): the loader writes a default as NULL, and a late
-- column takes part in the row's hash diff only when it is set (warehouse/hashing.py, "Late
-- columns"), so a row loaded before this migration and loaded again after it keeps its hash
-- diff and adds no satellite row.

-- ---------------------------------------------------------------------------------------
-- What the request used: for spend by feature (dbt: marts.spend_by_feature).
-- ---------------------------------------------------------------------------------------
alter table raw_vault.sat_api_request_details
  add column tools_offered integer,                     -- function tools offered (NULL = none)
  add column tool_calls_returned integer,               -- tool calls in the answer (NULL = none)
  add column input_modalities text[],                   -- text | image | audio | file (NULL = unknown/text)
  add column response_format text,                      -- text | json_object | json_schema
  add column reasoning_effort text,                     -- as asked (none | low | medium | high ...)
  add column validation_status text,                    -- passed | failed (NULL = not_applicable)
  add column dropped_params text[],                     -- drop_unsupported_params removed these
  add column cache_write_tokens integer,                -- part of input_tokens written to the cache
  add column audio_input_tokens integer,                -- part of input_tokens that was audio
  add column image_input_tokens integer;                -- part of input_tokens that was images

-- ---------------------------------------------------------------------------------------
-- The cost's own token kinds and the rates it was computed with (gateway/pricing/cost.py):
-- cache writes and audio input at their own rate where the price has one, else the input rate.
-- ---------------------------------------------------------------------------------------
alter table raw_vault.sat_cost_event_details
  add column cache_write_tokens integer,
  add column audio_input_tokens integer,
  add column image_input_tokens integer,                -- priced as input (recorded for analysis)
  add column cache_write_per_mtok numeric(24,12),
  add column input_audio_per_mtok numeric(24,12);

alter table raw_vault.sat_model_price
  add column cache_write_per_mtok numeric(24,12),
  add column input_audio_per_mtok numeric(24,12);

-- ---------------------------------------------------------------------------------------
-- Customer setting: options a provider cannot honour are dropped (and recorded on the request)
-- instead of refused with 400 unsupported_parameter. NULL = false (gateway/pipeline/data_policy.py).
-- ---------------------------------------------------------------------------------------
alter table raw_vault.sat_customer_config
  add column drop_unsupported_params boolean;
