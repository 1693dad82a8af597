{#- The billing facts (cost_event_billing, chargeback_weights) are incremental, but where an
    event is billed depends on which months are finalised and when: a new (or backdated)
    finalisation can move events already placed. Each row carries the digest of
    invoice_finalisations it was placed under; when the current digest differs, the model is
    rebuilt whole (the pre-hook empties it, the model's SQL reads everything) — once per
    billing run, while every refresh in between reads only the new events. -#}
{% macro finalisations_digest() -%}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set sql -%}
        select coalesce(md5(string_agg(
            customer_slug || '|' || billing_period_start || '|' || finalised_at,
            ',' order by customer_slug, billing_period_start
        )), 'none')
        from {{ ref('invoice_finalisations') }}
    {%- endset -%}
    {{ return(run_query(sql).columns[0].values()[0]) }}
{%- endmacro %}

{% macro finalisations_changed() -%}
    {%- if not execute or not is_incremental() -%}{{ return(not is_incremental()) }}{%- endif -%}
    {%- set stored = run_query('select finalisations_digest from ' ~ this ~ ' limit 1').columns[0].values() -%}
    {{ return(stored | length == 0 or stored[0] != finalisations_digest()) }}
{%- endmacro %}

{% macro reset_when_finalisations_change() -%}
    {%- if is_incremental() and finalisations_changed() -%}
        delete from {{ this }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}
