{#- Schemas are named exactly as configured (staging, business_vault, marts), without dbt's
    default '<target schema>_' prefix: other parts (gateway, Dagster, BI roles) address them by name. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
