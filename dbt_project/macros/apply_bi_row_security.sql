{#- Post-hook of every mart: row-level security for BI roles (sql/007_bi_access.sql). A mart with
    a customer_slug column shows a per-customer role only that customer's rows; a mart without
    one (provider_performance_5m: every customer's traffic) only roles created with --all.
    Superusers and the table owner (dbt, the gateway, Dagster) bypass RLS. Re-applied after each
    rebuild because a table materialisation replaces the table, policies and grants included.
    Skipped where migration 007 is absent. -#}
{% macro apply_bi_row_security() %}
{%- if execute -%}
  {%- set names = adapter.get_columns_in_relation(this) | map(attribute='name') | list -%}
  {%- set scope = 'customer_slug' if 'customer_slug' in names else 'null' -%}
do $bi$
begin
  if to_regprocedure('bi_access.can_see(text)') is not null then
    execute 'alter table {{ this }} enable row level security';
    execute 'drop policy if exists bi_tenant on {{ this }}';
    execute 'create policy bi_tenant on {{ this }} for select to public using (bi_access.can_see({{ scope }}))';
    execute 'grant select on {{ this }} to onevault_bi';
  end if;
end
$bi$
{%- endif -%}
{% endmacro %}
