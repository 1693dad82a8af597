{#- Views are re-created only when their SQL changed. dbt's view materialization replaces every
    view on every run (create, rename, drop: an exclusive lock a BI query on the view waits
    behind, and a second of a refresh spent on staging's 37 views). This one keeps a digest of the
    compiled SQL in the view's comment and leaves a view whose digest matches as it is; a changed
    view, a missing one, or --full-refresh goes through dbt's own materialization. (A view that
    selects `*` keeps the columns it was created with until its SQL changes or a full refresh —
    so staging lists its columns.) -#}
{% materialization view, adapter='postgres' %}
  {%- set digest = 'onevault-sql-md5:' ~ local_md5(sql) -%}
  {%- set existing = load_cached_relation(this) -%}
  {%- if existing is not none and existing.is_view and not should_full_refresh() -%}
    {%- set stored = run_query(
        "select obj_description(" ~ dbt.string_literal(this.render()) ~ "::regclass, 'pg_class')"
    ).columns[0].values()[0] -%}
    {%- if stored == digest -%}
      {%- call statement('main') -%} select 'unchanged' {%- endcall -%}
      {{ return({'relations': [this.incorporate(type='view')]}) }}
    {%- endif -%}
  {%- endif -%}
  {%- set result = dbt.materialization_view_default() -%}
  {%- call statement('sql_digest') -%}
    comment on view {{ this }} is {{ dbt.string_literal(digest) }}
  {%- endcall -%}
  {{ adapter.commit() }}
  {{ return(result) }}
{% endmaterialization %}
