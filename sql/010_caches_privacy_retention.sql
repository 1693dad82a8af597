-- 010 · Caches, privacy and retention: customer settings for them, the payload satellite,
-- destroyable per-customer data keys, and the semantic cache.

-- ---------------------------------------------------------------------------------------
-- Customer settings. NULL means the documented default (see gateway/pipeline/data_policy.py).
-- ---------------------------------------------------------------------------------------
alter table raw_vault.sat_customer_config
  add column cache_mode text,                           -- off | exact | semantic
  add column cache_ttl_s integer,                       -- how long a cached answer may be served
  add column cache_similarity numeric(5,4),             -- semantic: least cosine similarity for a hit
  add column cache_price_per_request numeric(24,12),    -- what the customer pays for a hit ...
  add column cache_price_per_1k_tokens numeric(24,12),  -- ... or per 1,000 tokens served from cache
  add column pii_mode text,                             -- off | flag | redact | block
  add column embedding_model text;                      -- [provider/]model for the semantic cache

-- ---------------------------------------------------------------------------------------
-- What was sent and answered, as the customer's retention mode allows (never for 'none').
-- 'hash': SHA-256 of each only, to prove later what was sent. 'encrypted': also AES-256-GCM
-- ciphertexts under the customer's data key (keystore below), the request id bound as
-- associated data. Destroying the data key makes every ciphertext of that key unreadable
-- while these rows, like the whole vault, stay insert-only.
-- ---------------------------------------------------------------------------------------
create table raw_vault.sat_api_request_payload (
  api_request_hk bytea not null,
  load_dts timestamptz not null,
  hash_diff bytea not null,
  record_source text not null,
  retention_mode text not null,                         -- hash | encrypted
  prompt_sha256 bytea not null,                         -- over the prompt as sent (after redaction)
  completion_sha256 bytea not null,
  data_key_id text,                                     -- encrypted: the customer data key used
  prompt_nonce bytea,
  prompt_ciphertext bytea,
  completion_nonce bytea,
  completion_ciphertext bytea,
  primary key (api_request_hk, load_dts)
);

-- ---------------------------------------------------------------------------------------
-- Key store: one data key per customer, wrapped by the KEK (ONEVAULT_MASTER_KEY). Outside the
-- raw vault on purpose: a row here CAN be deleted, which is how erasure (crypto-shredding)
-- works. The erasure itself is recorded in the vault (sat_admin_action_details).
-- ---------------------------------------------------------------------------------------
create schema if not exists keystore;
create table keystore.customer_data_key (
  customer_hk bytea primary key,
  key_id text not null unique,
  wrapped_dek bytea not null,                           -- nonce || AES-GCM(KEK, data key), aad = key_id
  kek_id text not null,
  created_at timestamptz not null default now()
);

-- ---------------------------------------------------------------------------------------
-- Semantic cache: expiring entries (not vault history), found by cosine distance (HNSW).
-- scope_hash pins everything that must match exactly (model, output-changing parameters,
-- the conversation before the last user turn, the embedding model); the embedding is of the
-- last user turn. The answer is sealed under the customer's data key, so erasure empties it too.
-- ---------------------------------------------------------------------------------------
create schema if not exists semantic_cache;
create table semantic_cache.entry (
  entry_id bigint generated always as identity primary key,
  customer_hk bytea not null,
  scope_hash bytea not null,
  embedding vector(256) not null,                       -- unit vectors, 256 dimensions (see README)
  data_key_id text not null,
  nonce bytea not null,
  ciphertext bytea not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null
);
create index entry_embedding_hnsw_ix on semantic_cache.entry using hnsw (embedding vector_cosine_ops);
create index entry_scope_ix on semantic_cache.entry (customer_hk, scope_hash, expires_at);

select raw_vault.protect_all();
