-- 006 · Control plane: routing-rule strategy options, budget alerts and their delivery log,
-- per-customer webhook signing secrets (sealed like provider keys).

-- Strategy parameters and the over-budget action of a rule, e.g.
-- {"min_quality": 80, "weights": {"openai/gpt-4o": 3}, "on_budget_exceeded": "downgrade",
--  "downgrade_to": "openai/gpt-4o-mini"}. Rows written before this column have none.
alter table raw_vault.sat_routing_rule_definition add column options jsonb;

-- One budget alert = one threshold of one budget in one period, e.g.
-- 'customer:acme|daily|2026-11-23|80' — fired at most once per period.
create table raw_vault.hub_budget_alert (
  budget_alert_hk bytea primary key check (octet_length(budget_alert_hk) = 32),
  budget_alert_bk text not null,
  load_dts timestamptz not null,
  record_source text not null
);
insert into raw_vault.hub_budget_alert values (decode(repeat('00', 32), 'hex'), '(unknown)', '1900-01-01Z', 'system');

create table raw_vault.lnk_budget_alert_customer (
  budget_alert_customer_hk bytea primary key,
  budget_alert_hk bytea not null,
  customer_hk bytea not null,
  load_dts timestamptz not null,
  record_source text not null
);
create index lnk_budget_alert_customer_customer_ix on raw_vault.lnk_budget_alert_customer (customer_hk);

-- Multi-active: one row per delivery attempt of the alert's webhook.
create table raw_vault.sat_budget_alert_delivery (
  budget_alert_hk bytea not null,
  attempt_no integer not null,
  load_dts timestamptz not null,
  hash_diff bytea not null,
  record_source text not null,          -- alerts
  scope text not null,                  -- customer:<slug> | key:<key id>
  period text not null,                 -- daily | monthly
  period_start date not null,
  threshold_pct integer not null,       -- 50 | 80 | 100
  budget numeric(18,2) not null,
  spent numeric(24,12) not null,        -- settled spend when the threshold was crossed
  webhook_url text not null,
  attempted_ts timestamptz not null,
  http_status integer,                  -- null: no HTTP answer (refused, timed out)
  outcome text not null,                -- delivered | failed | gave_up
  error text,
  primary key (budget_alert_hk, attempt_no, load_dts)
);
create index sat_budget_alert_delivery_ts_ix on raw_vault.sat_budget_alert_delivery (attempted_ts);

-- The customer's webhook signing secret (HMAC-SHA256 key for X-OneVault-Signature), sealed
-- with the same AES-256-GCM envelope as provider keys; shown once when generated.
create table raw_vault.sat_customer_webhook_secret (
  customer_hk bytea not null,
  load_dts timestamptz not null,
  hash_diff bytea not null,
  record_source text not null,
  changed_by text not null,
  ciphertext bytea not null,
  nonce bytea not null,
  wrapped_dek bytea not null,
  kek_id text not null,
  fingerprint text not null,
  primary key (customer_hk, load_dts)
);

select raw_vault.protect_all();
