-- 019 · Spend-anomaly alerts (docs/billing/anomalies.md): which flags of marts.spend_anomalies
-- were sent as the `spend.anomaly` webhook, and every delivery attempt. Insert-only like every
-- raw_vault table; hash keys and diffs by the recipe of 001 (warehouse/hashing.py).

-- One anomaly alert = one flag: 'acme|acme-key-0|openai/gpt-4o|2026-10-29T10:00Z|spike'
-- (the mart's anomaly_id) — sent at most once.
create table raw_vault.hub_anomaly_alert (
  anomaly_alert_hk bytea primary key check (octet_length(anomaly_alert_hk) = 32),
  anomaly_alert_bk text not null,
  load_dts timestamptz not null,
  record_source text not null
);
insert into raw_vault.hub_anomaly_alert values (decode(repeat('00', 32), 'hex'), '(unknown)', '1900-01-01Z', 'system');

create table raw_vault.lnk_anomaly_alert_customer (
  anomaly_alert_customer_hk bytea primary key,
  anomaly_alert_hk bytea not null,
  customer_hk bytea not null,
  load_dts timestamptz not null,
  record_source text not null
);
create index lnk_anomaly_alert_customer_customer_ix on raw_vault.lnk_anomaly_alert_customer (customer_hk);

-- Multi-active: one row per delivery attempt of the flag's webhook, with what was flagged.
create table raw_vault.sat_anomaly_alert_delivery (
  anomaly_alert_hk bytea not null,
  attempt_no integer not null,
  load_dts timestamptz not null,
  hash_diff bytea not null,
  record_source text not null,          -- alerts
  hour_start timestamptz not null,      -- the UTC hour flagged
  kind text not null,                   -- spike | drop
  gateway_key_id text,
  provider text,
  model text,
  requests bigint not null,
  requests_median numeric(24,6),
  customer_cost numeric(24,12) not null,
  spend_median numeric(24,12),
  webhook_url text not null,
  attempted_ts timestamptz not null,
  http_status integer,                  -- null: no HTTP answer (refused, timed out)
  outcome text not null,                -- delivered | failed | gave_up
  error text,
  primary key (anomaly_alert_hk, attempt_no, load_dts)
);
create index sat_anomaly_alert_delivery_ts_ix on raw_vault.sat_anomaly_alert_delivery (attempted_ts);

select raw_vault.protect_all();
