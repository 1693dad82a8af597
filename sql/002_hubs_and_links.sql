-- 002 · Raw vault hubs and links (Data Vault 2.0), with the ghost record in every hub.

-- ---------------------------------------------------------------------------------------
-- Hubs: one row per business key, ever.
-- ---------------------------------------------------------------------------------------
create table raw_vault.hub_customer (
  customer_hk bytea primary key check (octet_length(customer_hk) = 32),
  customer_bk text not null,            -- the tenant's slug
  load_dts timestamptz not null,
  record_source text not null
);
create table raw_vault.hub_gateway_key (
  gateway_key_hk bytea primary key check (octet_length(gateway_key_hk) = 32),
  gateway_key_bk text not null,         -- the key's public id (never the secret)
  load_dts timestamptz not null,
  record_source text not null
);
create table raw_vault.hub_provider (
  provider_hk bytea primary key check (octet_length(provider_hk) = 32),
  provider_bk text not null,            -- 'openai', 'anthropic', 'sim-openai', ...
  load_dts timestamptz not null,
  record_source text not null
);
create table raw_vault.hub_model (
  model_hk bytea primary key check (octet_length(model_hk) = 32),
  provider_bk text not null,            -- a model is a provider's offering: prices differ by provider
  model_bk text not null,
  load_dts timestamptz not null,
  record_source text not null
);
create table raw_vault.hub_provider_key (
  provider_key_hk bytea primary key check (octet_length(provider_key_hk) = 32),
  provider_key_bk text not null,        -- the key record's id (never the secret)
  load_dts timestamptz not null,
  record_source text not null
);
create table raw_vault.hub_routing_rule (
  routing_rule_hk bytea primary key check (octet_length(routing_rule_hk) = 32),
  routing_rule_bk text not null,
  load_dts timestamptz not null,
  record_source text not null
);
create table raw_vault.hub_end_user (
  end_user_hk bytea primary key check (octet_length(end_user_hk) = 32),
  customer_bk text not null,            -- end-user ids are the customer's own: scoped by customer
  end_user_bk text not null,
  load_dts timestamptz not null,
  record_source text not null
);
create table raw_vault.hub_api_request (
  api_request_hk bytea primary key check (octet_length(api_request_hk) = 32),
  api_request_bk text not null,         -- the request id returned to the client
  load_dts timestamptz not null,
  record_source text not null
);
create table raw_vault.hub_cost_event (
  cost_event_hk bytea primary key check (octet_length(cost_event_hk) = 32),
  cost_event_bk text not null,
  load_dts timestamptz not null,
  record_source text not null
);
create table raw_vault.hub_invoice (
  invoice_hk bytea primary key check (octet_length(invoice_hk) = 32),
  invoice_bk text not null,             -- '<customer>/<yyyy-mm>'
  load_dts timestamptz not null,
  record_source text not null
);

-- ---------------------------------------------------------------------------------------
-- Links: relationships between hubs; never NULL (the ghost key stands for "none").
-- ---------------------------------------------------------------------------------------
create table raw_vault.lnk_api_request_context (
  api_request_context_hk bytea primary key,
  api_request_hk bytea not null,
  customer_hk bytea not null,
  gateway_key_hk bytea not null,
  provider_hk bytea not null,
  model_hk bytea not null,
  provider_key_hk bytea not null,
  routing_rule_hk bytea not null,
  end_user_hk bytea not null,
  load_dts timestamptz not null,
  record_source text not null
);
create index lnk_api_request_context_request_ix on raw_vault.lnk_api_request_context (api_request_hk);
create index lnk_api_request_context_customer_ix on raw_vault.lnk_api_request_context (customer_hk);

create table raw_vault.lnk_cost_event_api_request (
  cost_event_api_request_hk bytea primary key,
  cost_event_hk bytea not null,
  api_request_hk bytea not null,
  load_dts timestamptz not null,
  record_source text not null
);
create index lnk_cost_event_api_request_request_ix on raw_vault.lnk_cost_event_api_request (api_request_hk);

create table raw_vault.lnk_gateway_key_customer (
  gateway_key_customer_hk bytea primary key,
  gateway_key_hk bytea not null,
  customer_hk bytea not null,
  load_dts timestamptz not null,
  record_source text not null
);
create index lnk_gateway_key_customer_customer_ix on raw_vault.lnk_gateway_key_customer (customer_hk);

create table raw_vault.lnk_provider_key_customer (
  provider_key_customer_hk bytea primary key,
  provider_key_hk bytea not null,
  customer_hk bytea not null,
  provider_hk bytea not null,
  load_dts timestamptz not null,
  record_source text not null
);
create index lnk_provider_key_customer_customer_ix on raw_vault.lnk_provider_key_customer (customer_hk);

create table raw_vault.lnk_routing_rule_customer (
  routing_rule_customer_hk bytea primary key,
  routing_rule_hk bytea not null,
  customer_hk bytea not null,
  load_dts timestamptz not null,
  record_source text not null
);
create index lnk_routing_rule_customer_customer_ix on raw_vault.lnk_routing_rule_customer (customer_hk);

create table raw_vault.lnk_end_user_customer (
  end_user_customer_hk bytea primary key,
  end_user_hk bytea not null,
  customer_hk bytea not null,
  load_dts timestamptz not null,
  record_source text not null
);
create index lnk_end_user_customer_customer_ix on raw_vault.lnk_end_user_customer (customer_hk);

create table raw_vault.lnk_model_provider (
  model_provider_hk bytea primary key,
  model_hk bytea not null,
  provider_hk bytea not null,
  load_dts timestamptz not null,
  record_source text not null
);

create table raw_vault.lnk_invoice_customer (
  invoice_customer_hk bytea primary key,
  invoice_hk bytea not null,
  customer_hk bytea not null,
  load_dts timestamptz not null,
  record_source text not null
);
create index lnk_invoice_customer_customer_ix on raw_vault.lnk_invoice_customer (customer_hk);

-- ---------------------------------------------------------------------------------------
-- Ghost records: the zero key in every hub means "unknown / none".
-- ---------------------------------------------------------------------------------------
insert into raw_vault.hub_customer values (decode(repeat('00', 32), 'hex'), '(unknown)', '1900-01-01Z', 'system');
insert into raw_vault.hub_gateway_key values (decode(repeat('00', 32), 'hex'), '(unknown)', '1900-01-01Z', 'system');
insert into raw_vault.hub_provider values (decode(repeat('00', 32), 'hex'), '(unknown)', '1900-01-01Z', 'system');
insert into raw_vault.hub_model values (decode(repeat('00', 32), 'hex'), '(unknown)', '(unknown)', '1900-01-01Z', 'system');
insert into raw_vault.hub_provider_key values (decode(repeat('00', 32), 'hex'), '(unknown)', '1900-01-01Z', 'system');
insert into raw_vault.hub_routing_rule values (decode(repeat('00', 32), 'hex'), '(unknown)', '1900-01-01Z', 'system');
insert into raw_vault.hub_end_user values (decode(repeat('00', 32), 'hex'), '(unknown)', '(unknown)', '1900-01-01Z', 'system');
insert into raw_vault.hub_api_request values (decode(repeat('00', 32), 'hex'), '(unknown)', '1900-01-01Z', 'system');
insert into raw_vault.hub_cost_event values (decode(repeat('00', 32), 'hex'), '(unknown)', '1900-01-01Z', 'system');
insert into raw_vault.hub_invoice values (decode(repeat('00', 32), 'hex'), '(unknown)', '1900-01-01Z', 'system');
