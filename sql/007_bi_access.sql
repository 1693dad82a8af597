-- 007 · BI access to the marts: read-only login roles for BI tools (Metabase, Superset, psql),
-- created by `onevault bi-role create`. Every such role is a member of `onevault_bi`, which may
-- read schema `marts` and nothing else; `bi_access.role_customer` says which customer's rows a
-- role sees (customer_slug null = every customer). dbt's post-hook (macros/
-- apply_bi_row_security.sql) puts a row-level-security policy calling bi_access.can_see() on
-- every mart after each rebuild. Not a raw_vault table: this is access control, not history.

do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'onevault_bi') then
    create role onevault_bi nologin;
  end if;
end $$;

create schema if not exists bi_access;
create schema if not exists marts;

create table bi_access.role_customer (
  role_name text primary key,
  customer_slug text,                   -- null = all customers (`bi-role create --all`)
  created_at timestamptz not null default now(),
  created_by text not null
);

-- SECURITY DEFINER so BI roles never read the mapping itself (it names other customers);
-- session_user is the login role that connected (current_user would be this function's owner).
create function bi_access.can_see(row_customer text) returns boolean
  language sql stable security definer
  set search_path = pg_catalog, bi_access
as $$
  select exists (
    select 1 from bi_access.role_customer r
    where r.role_name = session_user
      and (r.customer_slug is null or r.customer_slug = row_customer)
  )
$$;

revoke all on schema bi_access from public;
revoke all on function bi_access.can_see(text) from public;
grant usage on schema bi_access to onevault_bi;
grant execute on function bi_access.can_see(text) to onevault_bi;
grant usage on schema marts to onevault_bi;
alter default privileges in schema marts grant select on tables to onevault_bi;
