{#- How marts.chargeback refreshes (models/marts/chargeback.sql). A direct allocation is its
    bucket's own customer cost, so it changes only when chargeback_weights rebuilt that bucket:
    it is keyed by the bucket and rewritten then. The invoice-level rows — each line's rounding
    adjustment and the shared lines' proportional split — are recomputed for the touched
    invoices: those with a rebuilt bucket, and every invoice not yet finalised (its fee,
    subscriptions and credits may still change). When chargeback_weights was rebuilt whole (the
    finalisations changed, or a full refresh) chargeback is too: a bucket may have moved. -#}
{% macro chargeback_rebuilds() -%}
    {%- if not execute or not is_incremental() -%}{{ return(true) }}{%- endif -%}
    {%- set sql -%}
        select coalesce(
            (select min(built_at) from {{ ref('chargeback_weights') }})
                > (select coalesce(max(x_updated_at), '-infinity'::timestamptz) from {{ this }}),
            true
        )
    {%- endset -%}
    {{ return(run_query(sql).columns[0].values()[0]) }}
{%- endmacro %}

{% macro chargeback_touched_invoices() -%}
    {%- set sql -%}
        select distinct customer_slug || '/' || to_char(billing_period_start, 'YYYY-MM')
        from {{ ref('chargeback_weights') }}
        where {{ built_since_last_run(ref('chargeback_weights'), 'built_at', 'x_updated_at') }}
        union
        select invoice_id from {{ ref('billing_periods') }} where finalised_at is null
    {%- endset -%}
    {{ return(query_values(sql)) }}
{%- endmacro %}

{#- Pre-hook: empty the model for a rebuild, else drop the touched invoices' invoice-level rows
    (a shared line's buckets or a rounding adjustment may be gone); direct rows are replaced by
    key. -#}
{% macro chargeback_clear() -%}
    {%- if is_incremental() and chargeback_rebuilds() -%}
        delete from {{ this }}
    {%- elif is_incremental() -%}
        delete from {{ this }}
        where x_invoice_id in {{ sql_list(chargeback_touched_invoices(), 'text') }}
          and (x_allocation_method = 'rounding' or x_line_type in {{ shared_line_types() }})
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{#- Invoice lines that belong to the whole invoice, not to the cost events of a bucket: the
    tier's fee, subscriptions, credits, and the pricing plans' month-level charges (markup
    bands over the month's spend, the savings share: docs/billing/plans.md). -#}
{% macro shared_line_types() -%}
    ('base_fee', 'subscription', 'credit', 'markup', 'savings_share')
{%- endmacro %}
