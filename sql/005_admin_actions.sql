-- 005 · Admin actions: every call to the admin plane (API or CLI) is itself recorded —
-- who, what, on which target, from where, with what outcome (SOC 2 CC7.2 / HIPAA §164.312(b)).

create table raw_vault.hub_admin_action (
  admin_action_hk bytea primary key check (octet_length(admin_action_hk) = 32),
  admin_action_bk text not null,        -- a unique id per call
  load_dts timestamptz not null,
  record_source text not null
);
insert into raw_vault.hub_admin_action values (decode(repeat('00', 32), 'hex'), '(unknown)', '1900-01-01Z', 'system');

create table raw_vault.lnk_admin_action_customer (
  admin_action_customer_hk bytea primary key,
  admin_action_hk bytea not null,
  customer_hk bytea not null,           -- ghost when the action concerns no single customer
  load_dts timestamptz not null,
  record_source text not null
);
create index lnk_admin_action_customer_customer_ix on raw_vault.lnk_admin_action_customer (customer_hk);

create table raw_vault.sat_admin_action_details (
  admin_action_hk bytea not null,
  load_dts timestamptz not null,
  hash_diff bytea not null,
  record_source text not null,          -- admin-api | cli
  action_ts timestamptz not null,
  actor text not null,                  -- e.g. admin-token, cli:alice@host
  action text not null,                 -- e.g. customers.update, keys.revoke
  target text,                          -- customer slug, key id, provider key id
  outcome text not null,                -- ok | refused | error
  status_code integer,
  detail text,                          -- what changed (names of fields), or why it was refused
  source_ip inet,
  user_agent text,
  primary key (admin_action_hk, load_dts)
);
create index sat_admin_action_details_ts_ix on raw_vault.sat_admin_action_details (action_ts);

select raw_vault.protect_all();
