-- 003 · Raw vault satellites: descriptive history, one new row per change of hash diff.

-- ---------------------------------------------------------------------------------------
-- Satellites: descriptive history; a new row only when the hash diff changes.
-- ---------------------------------------------------------------------------------------
create table raw_vault.sat_customer_config (
  customer_hk bytea not null,
  load_dts timestamptz not null,
  hash_diff bytea not null,
  record_source text not null,
  changed_by text not null,
  display_name text,
  tier text,                            -- basic | standard | premium | enterprise
  status text,                          -- active | suspended
  markup_pct numeric(9,4),
  budget_daily numeric(18,2),
  budget_monthly numeric(18,2),
  rate_limit_rpm integer,
  rate_limit_tpm integer,
  compliance_level text,                -- none | hipaa | gdpr | sox
  retention_mode text,                  -- none | hash | encrypted
  subscribed_services text[],
  tax_rate_pct numeric(7,4),
  currency text,
  budget_webhook_url text,
  preferred_providers text[],
  primary key (customer_hk, load_dts)
);

create table raw_vault.sat_gateway_key_details (
  gateway_key_hk bytea not null,
  load_dts timestamptz not null,
  hash_diff bytea not null,
  record_source text not null,
  changed_by text not null,
  key_hash bytea not null,              -- sha256 of the secret key; the key itself is never stored
  key_prefix text not null,
  label text,
  status text not null,                 -- active | revoked | rotated
  expires_at timestamptz,
  grace_until timestamptz,
  budget_daily numeric(18,2),
  budget_monthly numeric(18,2),
  rate_limit_rpm integer,
  rate_limit_tpm integer,
  allowed_models text[],
  primary key (gateway_key_hk, load_dts)
);
create index sat_gateway_key_details_key_hash_ix on raw_vault.sat_gateway_key_details (key_hash);

create table raw_vault.sat_provider_details (
  provider_hk bytea not null,
  load_dts timestamptz not null,
  hash_diff bytea not null,
  record_source text not null,
  changed_by text not null,
  display_name text,
  api_style text,                       -- openai | anthropic | gemini | azure_openai | cohere | openai_compatible
  default_base_url text,
  hipaa_eligible boolean,
  is_active boolean,
  primary key (provider_hk, load_dts)
);

create table raw_vault.sat_model_price (
  model_hk bytea not null,
  load_dts timestamptz not null,
  hash_diff bytea not null,
  record_source text not null,          -- 'price-catalog' or 'admin-api'
  currency text not null,
  input_per_mtok numeric(24,12),
  output_per_mtok numeric(24,12),
  cached_input_per_mtok numeric(24,12),
  reasoning_per_mtok numeric(24,12),
  price_source text not null,           -- e.g. 'genai-prices@0.2.3', 'override'
  valid_from timestamptz,
  valid_to timestamptz,
  primary key (model_hk, load_dts)
);

create table raw_vault.sat_provider_key_details (
  provider_key_hk bytea not null,
  load_dts timestamptz not null,
  hash_diff bytea not null,
  record_source text not null,
  changed_by text not null,
  label text,
  api_style text not null,
  base_url text,
  ciphertext bytea not null,            -- AES-256-GCM under a per-record data key
  nonce bytea not null,
  wrapped_dek bytea not null,           -- the data key, wrapped by the KEK named below
  kek_id text not null,
  fingerprint text not null,            -- safe to show: identifies, never reveals
  status text not null,                 -- active | revoked
  allowed_models text[],
  budget_daily numeric(18,2),
  budget_monthly numeric(18,2),
  last_validated_at timestamptz,
  validation_status text,
  primary key (provider_key_hk, load_dts)
);

create table raw_vault.sat_routing_rule_definition (
  routing_rule_hk bytea not null,
  load_dts timestamptz not null,
  hash_diff bytea not null,
  record_source text not null,
  changed_by text not null,
  name text not null,
  priority integer not null,            -- lower = evaluated first
  conditions jsonb not null,
  strategy text not null,               -- target | cheapest | fastest | most_available | weighted
  target_provider text,
  target_model text,
  fallback_chain jsonb not null,
  retry_policy jsonb,
  is_active boolean not null,
  primary key (routing_rule_hk, load_dts)
);

create table raw_vault.sat_api_request_details (
  api_request_hk bytea not null,
  load_dts timestamptz not null,
  hash_diff bytea not null,
  record_source text not null,
  request_ts timestamptz not null,
  completed_ts timestamptz,
  endpoint text not null,               -- '/v1/ai/completions', '/v1/chat/completions', ...
  request_type text,
  priority text,
  requested_provider text,
  requested_model text,
  stream boolean not null,
  status text not null,                 -- success | error | rejected
  http_status integer not null,
  error_code text,
  error_message text,
  finish_reason text,
  latency_ms numeric(12,3),
  upstream_latency_ms numeric(12,3),
  route_reason text,
  attempt_count integer not null,
  cache_status text,                    -- none | hit | miss
  max_cost numeric(24,12),
  input_tokens integer,
  output_tokens integer,
  cached_input_tokens integer,
  reasoning_tokens integer,
  total_tokens integer,
  client_ip inet,
  user_agent text,
  compliance_flags text[],
  pii_actions text[],
  primary key (api_request_hk, load_dts)
);
create index sat_api_request_details_ts_ix on raw_vault.sat_api_request_details (request_ts);

-- Multi-active: one row per upstream try, so a failover counts against the provider that failed.
create table raw_vault.sat_api_request_attempt (
  api_request_hk bytea not null,
  attempt_no integer not null,
  load_dts timestamptz not null,
  hash_diff bytea not null,
  record_source text not null,
  provider_hk bytea not null,
  model_hk bytea not null,
  provider_key_hk bytea not null,
  provider_bk text not null,
  model_bk text not null,
  started_ts timestamptz not null,
  latency_ms numeric(12,3),
  outcome text not null,                -- success | error
  http_status integer,
  error_class text,                     -- rate_limited | server_error | timeout | ...
  error_message text,
  input_tokens integer,
  output_tokens integer,
  primary key (api_request_hk, attempt_no, load_dts)
);
create index sat_api_request_attempt_ts_ix on raw_vault.sat_api_request_attempt (started_ts);

-- Multi-active: one row per tag key (team, project, cost_center, free-form) for chargeback.
create table raw_vault.sat_api_request_tags (
  api_request_hk bytea not null,
  tag_key text not null,
  load_dts timestamptz not null,
  hash_diff bytea not null,
  record_source text not null,
  tag_value text,
  primary key (api_request_hk, tag_key, load_dts)
);

create table raw_vault.sat_cost_event_details (
  cost_event_hk bytea not null,
  load_dts timestamptz not null,
  hash_diff bytea not null,
  record_source text not null,
  event_ts timestamptz not null,
  charge_class text not null,           -- regular | correction (FOCUS ChargeClass)
  currency text not null,
  input_tokens integer not null,
  output_tokens integer not null,
  cached_input_tokens integer not null,
  reasoning_tokens integer not null,
  input_per_mtok numeric(24,12),
  output_per_mtok numeric(24,12),
  cached_input_per_mtok numeric(24,12),
  reasoning_per_mtok numeric(24,12),
  price_source text,
  is_priced boolean not null,           -- false = unknown model: flagged, never silently $0
  provider_cost numeric(24,12) not null,
  markup_pct numeric(9,4) not null,
  markup_amount numeric(24,12) not null,
  customer_cost numeric(24,12) not null,
  baseline_model text,
  baseline_cost numeric(24,12),
  optimisation text,                    -- none | routing | cache_exact | cache_semantic
  primary key (cost_event_hk, load_dts)
);
create index sat_cost_event_details_ts_ix on raw_vault.sat_cost_event_details (event_ts);

create table raw_vault.sat_invoice_snapshot (
  invoice_hk bytea not null,
  load_dts timestamptz not null,
  hash_diff bytea not null,
  record_source text not null,          -- 'billing-run'
  invoice_number text,
  customer_bk text not null,
  period_start date not null,
  period_end date not null,             -- exclusive
  status text not null,                 -- draft | finalised
  currency text not null,
  subtotal numeric(18,2) not null,
  tax numeric(18,2) not null,
  total numeric(18,2) not null,
  lines jsonb not null,
  content_hash bytea,
  issued_ts timestamptz,
  issuer text,
  primary key (invoice_hk, load_dts)
);

