-- 001 · The raw_vault schema and the hash recipe (v1) shared with warehouse/hashing.py.
-- Conventions (ARCHITECTURE.md): sha256 hash keys as bytea(32); load_dts + record_source on
-- every row; no end dates stored (dbt derives load_end_dts with lead()); money is numeric.

create extension if not exists vector;
create schema if not exists raw_vault;

do $$
begin
  if pg_encoding_to_char(encoding) <> 'UTF8' from pg_database where datname = current_database() then
    raise exception 'OneVault needs a UTF8 database: the hash recipe hashes UTF-8 bytes';
  end if;
end $$;

-- ---------------------------------------------------------------------------------------
-- Hash recipe v1 — the SQL twin of warehouse/hashing.py (see its docstring for the why).
-- ---------------------------------------------------------------------------------------
create or replace function raw_vault.ov_hash_recipe_version() returns int
  language sql immutable parallel safe as $$ select 1 $$;

create or replace function raw_vault.ov_escape(p text) returns text
  language sql immutable parallel safe strict as $$
  select replace(replace(replace(p, '\', '\\'), '|', '\|'), '^', '\^')
$$;

create or replace function raw_vault.ov_key_part(p text) returns text
  language sql immutable parallel safe as $$
  select case when t is null or t = '' then '^^' else raw_vault.ov_escape(t) end
  from (select translate(btrim(p, E' \t\n\r'), 'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')) as s(t)
$$;

create or replace function raw_vault.ov_diff_part(p text) returns text
  language sql immutable parallel safe as $$
  select case when p is null or p = '' then '^^' else raw_vault.ov_escape(p) end
$$;

create or replace function raw_vault.ov_hash_key(variadic parts text[]) returns bytea
  language sql immutable parallel safe as $$
  select sha256(convert_to(string_agg(raw_vault.ov_key_part(p), '||' order by i), 'UTF8'))
  from unnest(parts) with ordinality as u(p, i)
$$;

create or replace function raw_vault.ov_hash_diff(variadic parts text[]) returns bytea
  language sql immutable parallel safe as $$
  select sha256(convert_to(string_agg(raw_vault.ov_diff_part(p), '||' order by i), 'UTF8'))
  from unnest(parts) with ordinality as u(p, i)
$$;

