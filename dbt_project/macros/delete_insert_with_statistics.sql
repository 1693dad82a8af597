{#- delete+insert for every incremental model, with statistics on the batch first. dbt's batch
    is a fresh temporary table the planner knows nothing about, so it hashes the whole target
    (a million rows) to delete a few thousand; analysed, it hashes the batch and the delete of
    10,000 new requests' groups drops from seconds to a few hundred milliseconds. -#}
{% macro postgres__get_delete_insert_merge_sql(target, source, unique_key, dest_columns, incremental_predicates) -%}
    analyze {{ source }};
    {{ default__get_delete_insert_merge_sql(target, source, unique_key, dest_columns, incremental_predicates) }}
{%- endmacro %}
