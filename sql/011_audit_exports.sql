-- 011 · Audit exports: every export is recorded, and its manifest hash is the head of the
-- customer's chain (each manifest names the previous one's SHA-256, like CloudTrail digests).
-- The vault is insert-only, so the chain cannot be rewritten here either.

create table raw_vault.hub_audit_export (
  audit_export_hk bytea primary key check (octet_length(audit_export_hk) = 32),
  audit_export_bk text not null,        -- the export id written in its manifest
  load_dts timestamptz not null default now(),
  record_source text not null
);
insert into raw_vault.hub_audit_export values (decode(repeat('00', 32), 'hex'), '(unknown)', '1900-01-01Z', 'system');

create table raw_vault.lnk_audit_export_customer (
  audit_export_customer_hk bytea primary key,
  audit_export_hk bytea not null,
  customer_hk bytea not null,
  load_dts timestamptz not null default now(),
  record_source text not null
);
create index lnk_audit_export_customer_customer_ix on raw_vault.lnk_audit_export_customer (customer_hk);

create table raw_vault.sat_audit_export_manifest (
  audit_export_hk bytea not null,
  load_dts timestamptz not null default now(),
  hash_diff bytea not null,
  record_source text not null,          -- audit-export
  changed_by text not null,             -- who ran it (cli:user@host, dagster:<run id>)
  customer_bk text not null,
  period_from date not null,
  period_to date not null,              -- exclusive
  as_of timestamptz not null,
  manifest_sha256 bytea not null,       -- SHA-256 of manifest.json as written
  previous_manifest_sha256 bytea,       -- the chain: NULL for a customer's first export
  signing_key_id text not null,         -- SHA-256 fingerprint of the Ed25519 public key
  requests bigint not null,
  customer_cost numeric(24,12) not null,
  software_version text not null,
  primary key (audit_export_hk, load_dts)
);

select raw_vault.protect_all();
