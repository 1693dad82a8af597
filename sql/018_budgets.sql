-- 018 · Budgets as a vault entity (docs/billing/budgets.md): a budget is one limit on one scope of
-- one customer's spend per period — the customer, one gateway key, one tag value (team=search,
-- project=…, cost_center=…) or one end user (the request's `user`) — per UTC day or month.
-- Written by the admin plane only (API or CLI), with who changed it; insert-only like every
-- raw_vault table: a change is a new definition row, a removal a row with is_active = false.
-- The id is derived from (customer, scope type, scope value, period), so setting the same scope
-- and period again changes that budget rather than adding a second one.

create table raw_vault.hub_budget (
  budget_hk bytea primary key check (octet_length(budget_hk) = 32),
  budget_bk text not null,              -- 'bud_' + 16 hex digits (gateway/enforcement/budget.py budget_id)
  load_dts timestamptz not null default now(),
  record_source text not null
);
insert into raw_vault.hub_budget values (decode(repeat('00', 32), 'hex'), '(unknown)', '1900-01-01Z', 'system');

create table raw_vault.lnk_budget_customer (
  budget_customer_hk bytea primary key,
  budget_hk bytea not null,
  customer_hk bytea not null,
  load_dts timestamptz not null default now(),
  record_source text not null
);
create index lnk_budget_customer_customer_ix on raw_vault.lnk_budget_customer (customer_hk);

create table raw_vault.sat_budget_definition (
  budget_hk bytea not null,
  load_dts timestamptz not null default now(),
  hash_diff bytea not null,
  record_source text not null,          -- admin-api | cli
  changed_by text not null,
  scope_type text not null check (scope_type in ('customer', 'key', 'tag', 'end_user')),
  scope_value text not null,            -- the customer slug | key id | 'team=search' | end-user id
  period text not null check (period in ('day', 'month')),
  limit_usd numeric(18,6) not null check (limit_usd >= 0),
  is_soft boolean not null,             -- soft: alert (thresholds, forecast), never refuse
  alert_thresholds integer[] not null,  -- percentages of the limit that alert, e.g. {50,80,100}
  is_active boolean not null,           -- false: removed (the history stays)
  primary key (budget_hk, load_dts)
);

select raw_vault.protect_all();
