{#- Post-hook: give the planner statistics for a table that has none yet — every table
    materialisation (a new table each build) and an incremental model's first build. Without
    them the next model's plan is a guess ("1 row") over what may be a million rows. Later
    incremental runs leave it to autovacuum: re-analysing a large table each refresh costs more
    than the few rows the refresh added change the statistics. -#}
{% macro analyze_relation() %}
  {%- if config.get('materialized') in ('table', 'incremental') -%}
do $analyze$
begin
  if (select c.reltuples < 0 from pg_class c where c.oid = '{{ this }}'::regclass) then
    analyze {{ this }};
  end if;
end
$analyze$
  {%- else -%}
    select 1
  {%- endif -%}
{% endmacro %}
