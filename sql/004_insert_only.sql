-- 004 · Insert-only, enforced by the database: UPDATE, DELETE and TRUNCATE on raw_vault raise.
-- Later migrations that add raw_vault tables end with `select raw_vault.protect_all();`
-- (tests/warehouse assert that every raw_vault table carries the guard).

create or replace function raw_vault.forbid_mutation() returns trigger
  language plpgsql as $$
begin
  raise exception 'raw_vault is insert-only: % on %.% is not allowed', tg_op, tg_table_schema, tg_table_name
    using errcode = 'insufficient_privilege',
          hint = 'Record a change as a new satellite row; end-dating is computed in dbt.';
end $$;

create or replace function raw_vault.protect_all() returns integer
  language plpgsql as $$
declare
  t record;
  n integer := 0;
begin
  for t in
    select c.relname from pg_class c join pg_namespace ns on ns.oid = c.relnamespace
    where ns.nspname = 'raw_vault' and c.relkind in ('r', 'p')
      and not exists (select 1 from pg_trigger tg where tg.tgrelid = c.oid and tg.tgname = 'raw_vault_insert_only')
  loop
    execute format(
      'create trigger raw_vault_insert_only before update or delete or truncate on raw_vault.%I '
      'for each statement execute function raw_vault.forbid_mutation()', t.relname);
    n := n + 1;
  end loop;
  return n;
end $$;

select raw_vault.protect_all();
