-- 023 · Console users: who may log in to the web console (/console), as a vault entity like
-- every other thing the admin plane writes — insert-only, each change a new satellite row with
-- who made it. An operator user sees every customer; a customer user belongs to one customer
-- (the link; the ghost customer for operators). The business key is the lower-cased e-mail
-- address, so a login looks its user up by hash key. Roles: viewer (read), developer (keys,
-- provider keys, rules, cache and privacy settings), admin (users, budgets, billing settings).
-- The credential satellite holds an Argon2id hash (PHC string) only, never a password; it is
-- apart from the details so a password change never rewrites (or re-hashes) the profile.

create table raw_vault.hub_console_user (
  console_user_hk bytea primary key check (octet_length(console_user_hk) = 32),
  console_user_bk text not null,         -- the e-mail address, lower-cased
  load_dts timestamptz not null default now(),
  record_source text not null
);
insert into raw_vault.hub_console_user values (decode(repeat('00', 32), 'hex'), '(unknown)', '1900-01-01Z', 'system');

create table raw_vault.lnk_console_user_customer (
  console_user_customer_hk bytea primary key,
  console_user_hk bytea not null,
  customer_hk bytea not null,            -- ghost for an operator user (every customer)
  load_dts timestamptz not null default now(),
  record_source text not null
);
create index lnk_console_user_customer_user_ix on raw_vault.lnk_console_user_customer (console_user_hk);
create index lnk_console_user_customer_customer_ix on raw_vault.lnk_console_user_customer (customer_hk);

create table raw_vault.sat_console_user_details (
  console_user_hk bytea not null,
  load_dts timestamptz not null default now(),
  hash_diff bytea not null,
  record_source text not null,           -- admin-api | cli | console
  changed_by text not null,              -- e.g. console:alice@example.com, cli:root@host
  email text not null,
  display_name text,
  role text not null check (role in ('viewer', 'developer', 'admin')),
  is_operator boolean not null,          -- platform-wide (every customer) rather than one customer
  status text not null check (status in ('active', 'locked', 'disabled')),
  primary key (console_user_hk, load_dts)
);

create table raw_vault.sat_console_user_credential (
  console_user_hk bytea not null,
  load_dts timestamptz not null default now(),
  hash_diff bytea not null,
  record_source text not null,
  changed_by text not null,
  password_hash text,                    -- argon2id PHC string; NULL = single sign-on only
  primary key (console_user_hk, load_dts)
);

select raw_vault.protect_all();
