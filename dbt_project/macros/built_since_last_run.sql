{#- How a model downstream of another incremental model finds what is new: every incremental
    model stamps the rows it (re)writes with built_at, the start of its build's transaction, and
    a refresh reads the parent rows built after its own newest built_at. dbt builds a parent
    before its children and OneVault runs one dbt at a time (Dagster's run queue), so that is
    exactly what the parents wrote since this model last ran — no lookback, and a row the
    raw-vault lookback re-read unchanged is not passed down again.

    The predicate is rendered as equality with the parent's build times since then (usually
    one), found at compile time by a loose index scan of the parent's built_at index. A range
    (`built_at > x`) would leave the planner guessing: a table built in one go has a single
    built_at value and no histogram, so it estimates a third of the table and scans all of it;
    a value outside the statistics it estimates as a few rows, and probes the index.

    parent: the relation read (a ref); column: how the query names its built_at column. -#}
{% macro built_since_last_run(parent, column, this_column='built_at') -%}
    {%- if not execute -%}{{ return('false') }}{%- endif -%}
    {%- set name = column.split('.')[-1] -%}
    {%- set sql -%}
        with recursive watermark as (
            select coalesce(max({{ this_column }}), '-infinity'::timestamptz) as w from {{ this }}
        ),
        builds(t) as (
            select (select min({{ name }}) from {{ parent }} where {{ name }} > watermark.w)
            from watermark
            union all
            select (select min({{ name }}) from {{ parent }} where {{ name }} > builds.t)
            from builds
            where builds.t is not null
        )
        select t::text from builds where t is not null order by t
    {%- endset -%}
    {%- set builds = run_query(sql).columns[0].values() -%}
    {{ column }} in {{ sql_list(builds, 'timestamptz') }}
{%- endmacro %}
