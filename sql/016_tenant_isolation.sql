-- 016 · Tenant isolation (docs/security/tenant-isolation-and-faults.md).
--
-- A customer's concurrency limits: requests in flight at once, for the customer and for each of
-- its gateway keys, across every gateway process (leases in Redis). NULL = the gateway default
-- (ONEVAULT_MAX_CONCURRENT_PER_CUSTOMER / _PER_KEY); 0 = no limit for this customer. Late
-- columns (warehouse/hashing.py, "Late columns"): NULL leaves every existing hash diff as it was.
alter table raw_vault.sat_customer_config
  add column max_concurrent integer,
  add column max_concurrent_per_key integer;

-- BI roles made before this migration get the statement_timeout new ones get at creation
-- (ONEVAULT_BI_STATEMENT_TIMEOUT_S, default 30 s): one heavy query must not hold a backend, or
-- the marts' locks, for as long as it likes.
do $$
declare
  r record;
begin
  for r in select m.role_name from bi_access.role_customer m join pg_roles p on p.rolname = m.role_name loop
    execute format('alter role %I set statement_timeout = %L', r.role_name, '30s');
  end loop;
end $$;
