-- Staging view of raw_vault.sat_provider_report_import: each day's report as last imported.
select
    provider_report_import_hk,
    load_dts,
    hash_diff,
    record_source,
    provider_bk as provider,
    usage_date,
    source,
    line_count,
    amount_total,
    currency,
    content_sha256,
    imported_by,
    {{ end_dating('provider_report_import_hk') }}
from {{ source('provider_reports', 'sat_provider_report_import') }}
