-- 017 · Prepaid credits and wallets (docs/billing/credits.md).
--
-- A credit grant is money a customer may spend before paying: an amount in a currency, usable
-- from `effective_at` until `expires_at` (NULL = never), applied in `priority` order (lower
-- first, then the earliest expiry), on the usage its scope names (NULL = all usage). A grant is
-- never deleted: voiding it is a new satellite row with status 'voided'. It replaces
-- dbt_project/seeds/customer_credits.csv: a credit line on an invoice is now a grant used.

create table raw_vault.hub_credit_grant (
  credit_grant_hk bytea primary key check (octet_length(credit_grant_hk) = 32),
  credit_grant_bk text not null,          -- the grant id, e.g. cg_3f9a1c2b7d4e
  load_dts timestamptz not null default now(),
  record_source text not null
);
insert into raw_vault.hub_credit_grant values (decode(repeat('00', 32), 'hex'), '(unknown)', '1900-01-01Z', 'system');

create table raw_vault.lnk_credit_grant_customer (
  credit_grant_customer_hk bytea primary key,
  credit_grant_hk bytea not null,
  customer_hk bytea not null,
  load_dts timestamptz not null default now(),
  record_source text not null
);
create index lnk_credit_grant_customer_customer_ix on raw_vault.lnk_credit_grant_customer (customer_hk);

create table raw_vault.sat_credit_grant_details (
  credit_grant_hk bytea not null,
  load_dts timestamptz not null default now(),
  hash_diff bytea not null,
  record_source text not null,            -- admin-api | cli
  changed_by text not null,
  status text not null,                   -- active | voided
  amount numeric(18,2) not null,          -- granted (positive)
  currency text not null,                 -- ISO 4217; applied only to invoices in this currency
  priority integer not null,              -- lower applies first (0..1000)
  effective_at timestamptz,               -- usable from; NULL = any invoice still open when granted
  expires_at timestamptz,                 -- usable until (exclusive); NULL = never
  scope_kind text,                        -- NULL (all usage) | provider | model | tag
  scope_key text,                         -- the tag key for a tag scope
  scope_value text,                       -- provider slug, model, or tag value
  description text,                       -- what the invoice's credit line says
  void_reason text,                       -- why it was voided (status 'voided')
  primary key (credit_grant_hk, load_dts)
);

-- Billing mode and the low-balance webhook threshold of a customer. Late columns
-- (warehouse/hashing.py): NULL leaves every existing hash diff as it was; NULL billing_mode is
-- 'postpaid', NULL low_balance_threshold sends no low-balance webhook.
alter table raw_vault.sat_customer_config
  add column billing_mode text,
  add column low_balance_threshold numeric(18,2);

-- The allocation of usage to grants: the one implementation, called by the gateway (a prepaid
-- wallet's balance) and by dbt (business_vault.credit_grant_allocations, the invoices' credit
-- lines), so the two can never disagree.
--
-- grants: [{grant_id, amount, currency, priority, granted_at, effective_at, expires_at, voided_at,
--           scope_kind, scope_key, scope_value}]
-- usage:  [{period (first day of a month), cutoff (the month's finalised_at, or null), currency,
--           provider, model, team, project, cost_center, end_user, amount}]
-- Month by month (oldest first), each grant usable in the month — granted before the month's
-- cutoff (a finalised invoice never changes), effective (if it says from when) before the month
-- ends, not expired at the month's start, not voided unless the void
-- came after the month was finalised, in the month's currency — takes, in priority order then
-- the earliest expiry, what is left of the usage its scope matches, never more than what is left
-- of the grant. Returns what each grant took in each month (rows with an amount > 0 only).
create or replace function raw_vault.ov_allocate_credits(grants jsonb, usage jsonb)
returns table (grant_id text, billing_period_start date, amount numeric)
language plpgsql immutable as $$
declare
  g_id text[]; g_left numeric[]; g_cur text[]; g_eff timestamptz[]; g_exp timestamptz[]; g_at timestamptz[];
  g_void timestamptz[]; g_kind text[]; g_key text[]; g_val text[];
  b_amt numeric[]; b_cur text[]; b_provider text[]; b_model text[]; b_tags jsonb[];
  p record;
  i integer; j integer;
  took numeric; take numeric; period_start timestamptz; period_end timestamptz; matches boolean;
begin
  select coalesce(array_agg(e->>'grant_id' order by k), '{}'),
         coalesce(array_agg((e->>'amount')::numeric order by k), '{}'),
         coalesce(array_agg(e->>'currency' order by k), '{}'),
         coalesce(array_agg((e->>'effective_at')::timestamptz order by k), '{}'),
         coalesce(array_agg((e->>'expires_at')::timestamptz order by k), '{}'),
         coalesce(array_agg((e->>'voided_at')::timestamptz order by k), '{}'),
         coalesce(array_agg(e->>'scope_kind' order by k), '{}'),
         coalesce(array_agg(e->>'scope_key' order by k), '{}'),
         coalesce(array_agg(e->>'scope_value' order by k), '{}'),
         coalesce(array_agg((e->>'granted_at')::timestamptz order by k), '{}')
    into g_id, g_left, g_cur, g_eff, g_exp, g_void, g_kind, g_key, g_val, g_at
  from (
    select e, row_number() over (
      order by (e->>'priority')::integer, (e->>'expires_at')::timestamptz nulls last,
               (e->>'granted_at')::timestamptz, e->>'grant_id') as k
    from jsonb_array_elements(coalesce(grants, '[]')) as e
  ) as ordered;
  if cardinality(g_id) = 0 then
    return;
  end if;

  for p in
    select (e->>'period')::date as period, max((e->>'cutoff')::timestamptz) as cutoff
    from jsonb_array_elements(coalesce(usage, '[]')) as e
    group by 1 order by 1
  loop
    period_start := p.period::timestamp at time zone 'UTC';  -- invoices are calendar months, UTC
    period_end := (p.period + interval '1 month') at time zone 'UTC';
    select coalesce(array_agg((e->>'amount')::numeric order by k), '{}'),
           coalesce(array_agg(e->>'currency' order by k), '{}'),
           coalesce(array_agg(e->>'provider' order by k), '{}'),
           coalesce(array_agg(e->>'model' order by k), '{}'),
           coalesce(array_agg(jsonb_build_object(
             'team', e->>'team', 'project', e->>'project', 'cost_center', e->>'cost_center',
             'end_user', e->>'end_user', 'user', e->>'end_user') order by k), '{}')
      into b_amt, b_cur, b_provider, b_model, b_tags
    from (
      select e, row_number() over (
        order by e->>'provider' nulls last, e->>'model' nulls last, e->>'team', e->>'project',
                 e->>'cost_center', e->>'end_user') as k
      from jsonb_array_elements(usage) as e
      where (e->>'period')::date = p.period and (e->>'amount')::numeric > 0
    ) as ordered;

    for i in 1 .. cardinality(g_id) loop
      continue when g_left[i] <= 0
        or g_eff[i] >= period_end
        or (p.cutoff is not null and g_at[i] >= p.cutoff)
        or (g_exp[i] is not null and g_exp[i] <= period_start)
        or (g_void[i] is not null and (p.cutoff is null or g_void[i] < p.cutoff));
      took := 0;
      for j in 1 .. coalesce(cardinality(b_amt), 0) loop
        exit when g_left[i] <= 0;
        continue when b_amt[j] <= 0 or b_cur[j] is distinct from g_cur[i];
        matches := case g_kind[i]
          when 'provider' then b_provider[j] = g_val[i]
          when 'model' then b_model[j] = g_val[i] or (b_provider[j] || '/' || b_model[j]) = g_val[i]
          when 'tag' then b_tags[j]->>g_key[i] = g_val[i]
          else true
        end;
        continue when not coalesce(matches, false);
        take := least(b_amt[j], g_left[i]);
        b_amt[j] := b_amt[j] - take;
        g_left[i] := g_left[i] - take;
        took := took + take;
      end loop;
      if took > 0 then
        grant_id := g_id[i];
        billing_period_start := p.period;
        amount := took;
        return next;
      end if;
    end loop;
  end loop;
end $$;

select raw_vault.protect_all();
