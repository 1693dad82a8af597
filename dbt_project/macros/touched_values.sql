{#- Incremental models filter on the keys their new rows touch with literals rather than a
    subquery: the planner then probes an index for a few keys instead of hashing the whole table
    behind an estimate it cannot make. query_values runs a query at compile time and returns its
    first column as text; touched_values renders such a list as ('v1'::cast, …) — (null) when
    there is none, which matches nothing. -#}
{% macro query_values(sql) -%}
    {%- if not execute -%}{{ return([]) }}{%- endif -%}
    {%- set values = run_query('select v::text from (' ~ sql ~ ') as q(v) where v is not null order by 1').columns[0].values() -%}
    {{ return(values | list) }}
{%- endmacro %}

{#- A value as a quoted SQL literal with its cast: quotes doubled, so no value can end the literal. -#}
{% macro sql_literal(value, cast) -%}
    '{{ value | string | replace("'", "''") }}'::{{ cast }}
{%- endmacro %}

{% macro sql_list(values, cast) -%}
    {%- if values | length == 0 -%}
        (null::{{ cast }})
    {%- else -%}
        ({% for v in values %}{{ sql_literal(v, cast) }}{{ ", " if not loop.last }}{% endfor %})
    {%- endif -%}
{%- endmacro %}

{% macro touched_values(sql, cast) -%}
    {{ sql_list(query_values(sql), cast) }}
{%- endmacro %}

{#- The request dates a day-grained spend mart must recompute: days with requests or cost events
    rebuilt since this model's last run (spend_daily, spend_by_feature), and the day a daily
    partition run names (var spend_date, Dagster's daily_spend job), so a re-run or backfill of a
    day recomputes that day whether or not anything changed. -#}
{% macro touched_request_dates_sql() -%}
    select distinct request_date
    from {{ ref('bridge_api_request') }}
    where {{ built_since_last_run(ref('bridge_api_request'), 'built_at') }}
    union
    select distinct b.request_date
    from {{ ref('sat_cost_event_computed') }} as c
    cross join lateral (
        -- the request of each rebuilt cost event, by its index (offset 0: a probe per event,
        -- not a join the planner may hash over every request)
        select request_date from {{ ref('bridge_api_request') }} as r
        where r.api_request_hk = c.api_request_hk
        offset 0
    ) as b
    where {{ built_since_last_run(ref('sat_cost_event_computed'), 'c.built_at') }}
    {%- if var('spend_date', none) %}
    union
    select {{ sql_literal(var('spend_date'), 'date') }}
    {%- endif %}
{%- endmacro %}
