{#- The incremental predicate shared by every incremental model: rows loaded since the newest
    row already built, minus the lookback window (var lookback_minutes) for late commits. -#}
{% macro loaded_since_last_run(column, this_column='loaded_at') -%}
    {{ column }} > (
        select coalesce(max({{ this_column }}), '-infinity'::timestamptz)
        from {{ this }}
    ) - interval '{{ var("lookback_minutes") }} minutes'
{%- endmacro %}
