-- ---------------------------------------------------------------------------
-- Enums
-- ---------------------------------------------------------------------------

CREATE TYPE topup.voucher_status AS ENUM ('new', 'activated', 'expired', 'blocked');
COMMENT ON TYPE topup.voucher_status IS 'life cycle of a voucher: new, activated (redeemed, final), expired, blocked';

CREATE TYPE topup.account_status AS ENUM ('inactive', 'active', 'blocked', 'closed');
COMMENT ON TYPE topup.account_status IS 'status of a customer account or prepaid card';

CREATE TYPE topup.order_status AS ENUM ('new', 'activating', 'processing', 'completed', 'failed');
COMMENT ON TYPE topup.order_status IS 'overall status of an order; moves forward only';

CREATE TYPE topup.topup_status AS ENUM ('new', 'provider_in_progress', 'new_error',
    'provider_in_progress_error', 'provider_verification',
    'provider_verification_error', 'completed', 'failed');
COMMENT ON TYPE topup.topup_status IS 'sub-status of top-up processing';

CREATE TYPE topup.order_result AS (
    order_id bigint,
    order_type text,
    status topup.order_status,
    topup_status topup.topup_status,
    client_id text,
    account_id text,
    serial topup.voucher_serial,
    amount numeric,
    fee numeric,
    currency text,
    master_balance_before numeric,
    master_balance_after numeric,
    account_balance_after numeric,
    error_slug text,
    error_message text,
    idempotency_key text,
    reference text,
    replayed boolean,
    created_at timestamptz,
    completed_at timestamptz,
    failed_at timestamptz
);
COMMENT ON TYPE topup.order_result IS 'result of every money-moving function and of check_order';

-- ---------------------------------------------------------------------------
-- Reference data
-- ---------------------------------------------------------------------------

CREATE TABLE topup.currencies (
    code text PRIMARY KEY CHECK (code OPERATOR(pg_catalog.~) '^[A-Z]{3}$'),
    minor_units integer NOT NULL CHECK (minor_units BETWEEN 0 AND 4),
    name text,
    seeded boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE topup.currencies IS 'ISO 4217 currencies and their minor units; admins may add rows';

INSERT INTO topup.currencies (code, minor_units, name, seeded) SELECT c, m, n, true FROM (VALUES
    ('USD', 2, 'US Dollar'),
    ('EUR', 2, 'Euro'),
    ('GBP', 2, 'Pound Sterling'),
    ('JPY', 0, 'Yen'),
    ('MAD', 2, 'Moroccan Dirham'),
    ('BHD', 3, 'Bahraini Dinar'),
    ('KWD', 3, 'Kuwaiti Dinar'),
    ('CNY', 2, 'Yuan Renminbi'),
    ('INR', 2, 'Indian Rupee'),
    ('CHF', 2, 'Swiss Franc'),
    ('CAD', 2, 'Canadian Dollar'),
    ('AUD', 2, 'Australian Dollar')) AS seed (c, m, n);

CREATE TABLE topup.error_codes (
    slug text PRIMARY KEY,
    sqlstate text NOT NULL UNIQUE,
    description text NOT NULL
);
COMMENT ON TABLE topup.error_codes IS 'every error slug the extension raises or stores in a failed order, with its SQLSTATE';

INSERT INTO topup.error_codes (slug, sqlstate, description) VALUES
    ('invalid_pin',              'TU001', 'No voucher has this PIN, or the PIN is malformed.'),
    ('voucher_already_redeemed', 'TU002', 'The voucher has already been redeemed.'),
    ('voucher_expired',          'TU003', 'The voucher has expired.'),
    ('voucher_blocked',          'TU004', 'The voucher is blocked.'),
    ('account_not_found',        'TU005', 'No such account for this client.'),
    ('account_not_active',       'TU006', 'The account is not active.'),
    ('currency_mismatch',        'TU007', 'The currency does not match the account''s currency.'),
    ('too_many_attempts',        'TU008', 'Too many failed redeem attempts; try again later.'),
    ('idempotency_key_reused',   'TU009', 'The idempotency key was used before with other parameters.'),
    ('order_not_found',          'TU010', 'No such order for this client.'),
    ('voucher_not_found',        'TU011', 'No voucher has this serial for this client.'),
    ('invalid_customer_info',    'TU012', 'A customer_info key is unknown or its value is invalid.');

-- ---------------------------------------------------------------------------
-- Tenancy
-- ---------------------------------------------------------------------------

CREATE TABLE topup.clients (
    client_id text PRIMARY KEY CHECK (client_id OPERATOR(pg_catalog.<>) ''),
    name text,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE topup.clients IS 'operators and API developers; every row of the extension belongs to one';

INSERT INTO topup.clients (client_id, name) VALUES ('default', 'Default client');

CREATE TABLE topup.resellers (
    client_id text NOT NULL REFERENCES topup.clients,
    reseller text NOT NULL CHECK (reseller OPERATOR(pg_catalog.<>) ''),
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (client_id, reseller)
);
COMMENT ON TABLE topup.resellers IS 'resellers that own vouchers; names are unique within a client';

-- ---------------------------------------------------------------------------
-- The per-database secret (HMAC key for PIN lookup, AES key for export).
-- Readable only by the extension owner; dumped with the data so that a
-- restored database still redeems its PINs (see the secret trigger).
-- ---------------------------------------------------------------------------

CREATE TABLE topup.secret (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    hmac_key bytea NOT NULL CHECK (pg_catalog.length(hmac_key) OPERATOR(pg_catalog.=) 32),
    enc_key bytea NOT NULL CHECK (pg_catalog.length(enc_key) OPERATOR(pg_catalog.=) 32),
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE topup.secret IS 'per-database keys: HMAC-SHA-256 for PIN lookup, AES-256 for PIN export';

-- ---------------------------------------------------------------------------
-- Vouchers
-- ---------------------------------------------------------------------------

CREATE TABLE topup.series (
    client_id text NOT NULL REFERENCES topup.clients,
    series text NOT NULL,
    amount numeric NOT NULL CHECK (amount OPERATOR(pg_catalog.>) 0),
    currency text NOT NULL REFERENCES topup.currencies,
    last_number bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    last_generated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (client_id, series)
);
COMMENT ON TABLE topup.series IS 'voucher series: amount and currency fixed by the first generation, last sequence number';

CREATE TABLE topup.vouchers (
    serial topup.voucher_serial NOT NULL,
    client_id text NOT NULL,
    series text NOT NULL,
    amount numeric NOT NULL,
    currency text NOT NULL,
    status topup.voucher_status NOT NULL DEFAULT 'new',
    reseller text,
    expires_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    activated_at timestamptz,
    activated_by text,
    order_id bigint,
    pin_length smallint NOT NULL,
    pin_hash bytea NOT NULL,
    pin_cipher bytea NOT NULL,
    PRIMARY KEY (serial, client_id)
);
COMMENT ON TABLE topup.vouchers IS 'top-up vouchers; admins may UPDATE expires_at, reseller, status and DELETE rows (guarded by a trigger)';
COMMENT ON COLUMN topup.vouchers.pin_hash IS 'HMAC-SHA-256 of the PIN under the database secret; unique across all vouchers';
COMMENT ON COLUMN topup.vouchers.pin_cipher IS 'AES-256-CBC ciphertext of the PIN (IV = first 16 bytes of pin_hash), readable with pgcrypto decrypt_iv';

CREATE UNIQUE INDEX vouchers_pin_hash_key ON topup.vouchers (pin_hash);
CREATE INDEX vouchers_series_idx ON topup.vouchers (client_id, series, status);
CREATE INDEX vouchers_expiry_idx ON topup.vouchers (expires_at)
    WHERE status IN ('new', 'blocked') AND expires_at IS NOT NULL;
CREATE INDEX vouchers_live_pin_length_idx ON topup.vouchers (pin_length)
    WHERE status IN ('new', 'blocked');

-- ---------------------------------------------------------------------------
-- Accounts and ledger
-- ---------------------------------------------------------------------------

CREATE TABLE topup.accounts (
    client_id text NOT NULL REFERENCES topup.clients,
    account_id text NOT NULL CHECK (account_id OPERATOR(pg_catalog.<>) ''),
    kind text NOT NULL CHECK (kind IN ('customer', 'card')),
    currency text NOT NULL REFERENCES topup.currencies,
    balance numeric NOT NULL DEFAULT 0 CHECK (balance OPERATOR(pg_catalog.>=) 0),
    status topup.account_status NOT NULL DEFAULT 'active',
    customer_info jsonb,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    activated_at timestamptz,
    PRIMARY KEY (client_id, account_id)
);
COMMENT ON TABLE topup.accounts IS 'customer balances and prepaid cards; admins may UPDATE status (guarded by a trigger)';

CREATE SEQUENCE topup.order_id_seq;
COMMENT ON SEQUENCE topup.order_id_seq IS 'order ids';

CREATE TABLE topup.orders (
    order_id bigint PRIMARY KEY DEFAULT pg_catalog.nextval('topup.order_id_seq'),
    order_type text NOT NULL CHECK (order_type IN ('voucher_redeem', 'card_topup')),
    status topup.order_status NOT NULL DEFAULT 'new',
    topup_status topup.topup_status,
    client_id text NOT NULL,
    account_id text,
    serial topup.voucher_serial,
    amount numeric,
    fee numeric,
    currency text,
    master_balance_before numeric,
    master_balance_after numeric,
    account_balance_after numeric,
    error_slug text,
    error_message text,
    idempotency_key text CHECK (pg_catalog.length(idempotency_key) BETWEEN 1 AND 255),
    reference text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    completed_at timestamptz,
    failed_at timestamptz,
    source text,
    request_hash bytea,
    UNIQUE (client_id, order_type, idempotency_key)
);
COMMENT ON TABLE topup.orders IS 'every order (voucher redeems, card top-ups); status moves forward only';
COMMENT ON COLUMN topup.orders.request_hash IS 'keyed hash of the request parameters, compared on idempotent retries';
COMMENT ON COLUMN topup.orders.source IS 'caller-supplied origin of a redeem (e.g. IP address), used by the lockout';

-- Lockout look-ups: recent invalid_pin failures by account and by source.
CREATE INDEX orders_failed_pin_account_idx ON topup.orders (client_id, account_id, created_at)
    WHERE error_slug = 'invalid_pin';
CREATE INDEX orders_failed_pin_source_idx ON topup.orders (client_id, source, created_at)
    WHERE error_slug = 'invalid_pin' AND source IS NOT NULL;
CREATE INDEX orders_account_idx ON topup.orders (client_id, account_id);

CREATE TABLE topup.ledger (
    entry_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id bigint NOT NULL,
    client_id text NOT NULL,
    book text NOT NULL CHECK (book IN ('account', 'voucher_float', 'master', 'fee', 'funding')),
    account_id text,
    currency text NOT NULL,
    amount numeric NOT NULL CHECK (amount OPERATOR(pg_catalog.<>) 0),
    balance_after numeric,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CHECK ((book = 'account') = (account_id IS NOT NULL))
);
COMMENT ON TABLE topup.ledger IS 'append-only double-entry ledger; each order''s entries sum to zero per currency';
COMMENT ON COLUMN topup.ledger.book IS 'account: a row of topup.accounts; voucher_float: value of issued vouchers (no stored balance); master, fee: a client''s master balance and fee account; funding: money paid in from outside';

CREATE INDEX ledger_order_idx ON topup.ledger (order_id);
CREATE INDEX ledger_account_idx ON topup.ledger (client_id, account_id) WHERE account_id IS NOT NULL;

-- pg_dump carries the rows of these tables (and sequences).
-- Rows the install script seeds are left out: CREATE EXTENSION makes them again.
SELECT pg_catalog.pg_extension_config_dump('topup.currencies', 'WHERE NOT seeded');
SELECT pg_catalog.pg_extension_config_dump('topup.clients', $$WHERE client_id OPERATOR(pg_catalog.<>) 'default'$$);
SELECT pg_catalog.pg_extension_config_dump('topup.resellers', '');
SELECT pg_catalog.pg_extension_config_dump('topup.secret', '');
SELECT pg_catalog.pg_extension_config_dump('topup.series', '');
SELECT pg_catalog.pg_extension_config_dump('topup.vouchers', '');
SELECT pg_catalog.pg_extension_config_dump('topup.accounts', '');
SELECT pg_catalog.pg_extension_config_dump('topup.orders', '');
SELECT pg_catalog.pg_extension_config_dump('topup.ledger', '');
SELECT pg_catalog.pg_extension_config_dump('topup.order_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('topup.ledger_entry_id_seq', '');
