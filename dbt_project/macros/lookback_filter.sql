{#- The incremental predicate of the models that read the raw vault (bridge_api_request,
    sat_cost_event_computed, provider_performance_5m; the models after them read what these
    rebuilt, macros/built_since_last_run.sql): rows loaded since the newest row already built,
    minus the lookback window (var lookback_minutes) for loader transactions that commit late.
    The watermark is looked up when the model is compiled and written into the SQL as a literal:
    PostgreSQL then estimates the increment from its statistics (a few thousand rows → index
    probes) instead of guessing a third of the table behind a subquery (→ hash joins over every
    link and hub of a million requests). -#}
{% macro loaded_since_last_run(column, this_column='loaded_at') -%}
    {%- set sql -%}
        select (coalesce(max({{ this_column }}), '-infinity'::timestamptz)
                - interval '{{ var("lookback_minutes") }} minutes')::text
        from {{ this }}
    {%- endset -%}
    {%- set watermark = run_query(sql).columns[0].values()[0] if execute else '-infinity' -%}
    {{ column }} > '{{ watermark }}'::timestamptz
{%- endmacro %}

{#- The lookback re-reads satellite rows a previous refresh already built: keep only those whose
    key is not yet built from that same satellite row (loaded_at = its load_dts), so an
    unchanged row is neither rewritten nor handed to the models downstream. -#}
{% macro not_built_from_same_row(alias, key, load_column='load_dts') -%}
    not exists (
        select 1 from {{ this }} as built
        where built.{{ key }} = {{ alias }}.{{ key }} and built.loaded_at = {{ alias }}.{{ load_column }}
    )
{%- endmacro %}
