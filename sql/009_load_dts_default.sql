-- 009 · load_dts defaults to now(), the loading transaction's start time.
-- The loader COPYs a load's per-event hubs and the links hanging off them straight into their
-- tables (warehouse/loader.py). With this default PostgreSQL stamps those rows exactly as the
-- loader's insert-selects stamp every other row of the load (now() is fixed per transaction),
-- so no timestamp has to be encoded and sent with each row. NOT NULL stays; no row changes.
-- Tables added later declare `load_dts timestamptz not null default now()` themselves (the
-- loader still sends the time for a table without the default).
do $$
declare
  t record;
begin
  for t in
    select c.table_name
    from information_schema.columns c
    join information_schema.tables tb using (table_schema, table_name)
    where c.table_schema = 'raw_vault' and c.column_name = 'load_dts'
      and c.column_default is null and tb.table_type = 'BASE TABLE'
  loop
    execute format('alter table raw_vault.%I alter column load_dts set default now()', t.table_name);
  end loop;
end $$;
