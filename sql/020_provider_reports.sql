-- 020 · What the providers say they charged (docs/billing/reconciliation.md).
--
-- Importers (warehouse/reconciliation/) land each provider's own report — OpenAI's Costs and
-- Usage APIs, Anthropic's Admin cost and usage reports, Azure Cost Management and GCP Cloud
-- Billing exports — so dbt's marts.provider_reconciliation can hold it against OneVault's own
-- cost events. Insert-only like the rest of raw_vault; record_source names the report
-- ('openai-costs-api', 'anthropic-usage-report', 'azure-cost-export', 'gcp-billing-export', …).
--
-- One report line = one provider × report × UTC day × its dimensions (model, project or
-- workspace, API key, line item). A re-import of the same figures adds nothing (hubs and links
-- by key, satellites only when the hash diff changes); a provider restating a day adds a new
-- satellite row (the staging view's is_current picks it); a line that vanished from a re-import
-- gets a tombstone row (is_deleted, amount 0), never a DELETE.

create table raw_vault.hub_provider_report_line (
  provider_report_line_hk bytea primary key check (octet_length(provider_report_line_hk) = 32),
  provider_report_line_bk text not null, -- '<provider>|<record_source>|<yyyy-mm-dd>|<dimensions>'
  load_dts timestamptz not null default now(),
  record_source text not null
);
insert into raw_vault.hub_provider_report_line
  values (decode(repeat('00', 32), 'hex'), '(unknown)', '1900-01-01Z', 'system');

-- One import = one provider's report for one UTC day, as last fetched or read from a file.
create table raw_vault.hub_provider_report_import (
  provider_report_import_hk bytea primary key check (octet_length(provider_report_import_hk) = 32),
  provider_report_import_bk text not null, -- '<provider>|<record_source>|<yyyy-mm-dd>'
  load_dts timestamptz not null default now(),
  record_source text not null
);
insert into raw_vault.hub_provider_report_import
  values (decode(repeat('00', 32), 'hex'), '(unknown)', '1900-01-01Z', 'system');

-- A line belongs to one provider (hub_provider, the name OneVault routes to), one model
-- (hub_model, ghost when the line names none, e.g. a web-search fee) and one import.
create table raw_vault.lnk_provider_report_line (
  provider_report_line_link_hk bytea primary key,
  provider_report_line_hk bytea not null,
  provider_hk bytea not null,
  model_hk bytea not null,
  provider_report_import_hk bytea not null,
  load_dts timestamptz not null default now(),
  record_source text not null
);
create index lnk_provider_report_line_line_ix on raw_vault.lnk_provider_report_line (provider_report_line_hk);

create table raw_vault.sat_provider_report_line (
  provider_report_line_hk bytea not null,
  load_dts timestamptz not null default now(),
  hash_diff bytea not null,
  record_source text not null,
  provider_bk text not null,             -- OneVault's name for the provider ('openai', 'azure_openai', ...)
  usage_date date not null,              -- the UTC day of the provider's bucket
  bucket_start timestamptz not null,
  bucket_end timestamptz not null,
  model_reported text,                   -- as the provider wrote it ('gpt-4o-mini-2024-07-18')
  model text,                            -- normalised (date suffix dropped) to match OneVault's model names
  project_id text,                       -- OpenAI project / Anthropic workspace / Azure resource / GCP project
  api_key_id text,
  line_item text,                        -- OpenAI line_item, Anthropic description, Azure meter, GCP SKU
  amount numeric(24,12),                 -- cost in currency units (NULL on usage-only lines)
  currency text,                         -- upper-case ISO 4217
  quantity numeric(24,6),
  quantity_unit text,
  input_tokens bigint,                   -- incl. cached reads and cache writes, as OneVault counts them
  cached_input_tokens bigint,
  cache_write_tokens bigint,
  output_tokens bigint,
  requests bigint,
  is_deleted boolean not null default false, -- tombstone: gone from a later import of the same day
  raw jsonb not null,                    -- the line exactly as received
  primary key (provider_report_line_hk, load_dts)
);
create index sat_provider_report_line_day_ix on raw_vault.sat_provider_report_line (usage_date);

create table raw_vault.sat_provider_report_import (
  provider_report_import_hk bytea not null,
  load_dts timestamptz not null default now(),
  hash_diff bytea not null,
  record_source text not null,
  provider_bk text not null,
  usage_date date not null,
  source text not null,                  -- the URL pulled, or 'file:<name>'
  line_count integer not null,
  amount_total numeric(24,12) not null,
  currency text,
  content_sha256 bytea not null,         -- over the day's lines as parsed: equal = same report
  imported_by text not null,             -- 'cli:<user>@<host>' | 'dagster:<run id>'
  primary key (provider_report_import_hk, load_dts)
);
create index sat_provider_report_import_day_ix on raw_vault.sat_provider_report_import (usage_date);

select raw_vault.protect_all();
