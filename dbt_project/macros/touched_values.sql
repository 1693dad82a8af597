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

{% macro sql_list(values, cast) -%}
    {%- if values | length == 0 -%}
        (null::{{ cast }})
    {%- else -%}
        ({% for v in values %}'{{ v }}'::{{ cast }}{{ ", " if not loop.last }}{% endfor %})
    {%- endif -%}
{%- endmacro %}

{% macro touched_values(sql, cast) -%}
    {{ sql_list(query_values(sql), cast) }}
{%- endmacro %}
