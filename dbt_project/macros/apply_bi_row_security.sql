{#- Post-hook of every mart: row-level security for BI roles (sql/007_bi_access.sql). A mart with
    a customer_slug column shows a per-customer role only that customer's rows; a mart without
    one (provider_performance_5m: every customer's traffic) only roles created with --all.
    Superusers and the table owner (dbt, the gateway, Dagster) bypass RLS. Applied after each
    rebuild because a table materialisation replaces the table, policies and grants included; an
    incremental refresh keeps its table, and its policy (no exclusive lock on a mart BI tools
    are reading). Skipped where migration 007 is absent. -#}
{% macro apply_bi_row_security() %}
{%- if execute -%}
  {%- set names = adapter.get_columns_in_relation(this) | map(attribute='name') | list -%}
  {%- set scope = 'customer_slug' if 'customer_slug' in names else 'null' -%}
do $bi$
begin
  if to_regprocedure('bi_access.can_see(text)') is not null and not exists (
    select 1 from pg_policy where polrelid = '{{ this }}'::regclass and polname = 'bi_tenant'
  ) then
    execute 'alter table {{ this }} enable row level security';
    execute 'create policy bi_tenant on {{ this }} for select to public using (bi_access.can_see({{ scope }}))';
    execute 'grant select on {{ this }} to onevault_bi';
  end if;
end
$bi$
{%- endif -%}
{% endmacro %}
