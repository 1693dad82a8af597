-- 021 · Pricing plans (docs/billing/plans.md): per-customer overrides of the tier's default
-- limits, a savings share and a graduated markup plan.
--
-- Late columns (warehouse/hashing.py): NULL leaves every existing hash diff as it was.
--   rate_limit_rph       requests per hour, all keys together; NULL = the tier's default
--                        (dbt_project/seeds/tiers.csv), 0 = refuse all (as rate_limit_rpm)
--   monthly_token_quota  tokens per UTC calendar month; NULL = the tier's default, 0 = refuse all
--   savings_share_pct    percent of the month's attributed savings billed as its own invoice
--                        line (seed 000's value-based pricing); NULL or 0 = none
--   markup_plan          a plan of dbt_project/seeds/markup_plans.csv: the month's usage markup is
--                        graduated over its provider spend instead of markup_pct; NULL = none
alter table raw_vault.sat_customer_config
  add column rate_limit_rph integer,
  add column monthly_token_quota bigint,
  add column savings_share_pct numeric(7,4),
  add column markup_plan text;
