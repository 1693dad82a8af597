{#- How a model downstream of another incremental model finds what is new: every incremental
    model stamps the rows it (re)writes with built_at, the start of its build's transaction, and
    a refresh reads the parent rows built after its own newest built_at. dbt builds a parent
    before its children and OneVault runs one dbt at a time (Dagster's run queue, the CLI's
    lock), so that is exactly what the parents wrote since this model last ran — no lookback,
    and a row the raw-vault lookback re-read unchanged is not passed down again. The watermark
    is a literal (looked up when the model is compiled) so the planner estimates it from the
    built_at index. -#}
{% macro built_since_last_run(column, this_column='built_at') -%}
    {%- set sql -%}
        select coalesce(max({{ this_column }}), '-infinity'::timestamptz)::text from {{ this }}
    {%- endset -%}
    {%- set watermark = run_query(sql).columns[0].values()[0] if execute else '-infinity' -%}
    {{ column }} > '{{ watermark }}'::timestamptz
{%- endmacro %}
