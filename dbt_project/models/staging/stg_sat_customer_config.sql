-- Staging view of raw_vault.sat_customer_config: renamed business keys, virtual end-dating.
select
    customer_hk,
    load_dts,
    hash_diff,
    record_source,
    changed_by,
    display_name,
    tier,
    status,
    markup_pct,
    budget_daily,
    budget_monthly,
    rate_limit_rpm,
    rate_limit_tpm,
    compliance_level,
    retention_mode,
    subscribed_services,
    tax_rate_pct,
    currency,
    budget_webhook_url,
    preferred_providers,
    cache_mode,
    cache_ttl_s,
    cache_similarity,
    cache_price_per_request,
    cache_price_per_1k_tokens,
    pii_mode,
    embedding_model,
    coalesce(drop_unsupported_params, false) as drop_unsupported_params,  -- 013 (NULL = false)
    coalesce(billing_mode, 'postpaid') as billing_mode,  -- 017 (NULL = postpaid)
    low_balance_threshold,
    rate_limit_rph,  -- 021 (NULL = the tier's default, seeds/tiers.csv)
    monthly_token_quota,
    coalesce(savings_share_pct, 0) as savings_share_pct,  -- 021 (NULL = none)
    markup_plan,
    {{ end_dating('customer_hk') }}
from {{ source('raw_vault', 'sat_customer_config') }}
