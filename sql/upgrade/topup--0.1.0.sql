-- topup 0.1.0 install script, assembled from sql/0.1.0/*.sql by the Makefile.
-- Released scripts are never edited: changes go into sql/topup--A--B.sql.

\echo Use "CREATE EXTENSION topup CASCADE" to load this file. \quit

-- topup.voucher_serial: the public, non-secret number printed on a voucher,
-- SERIES-DIGITS (e.g. 101-23423427), with a Luhn check digit.  Implemented in
-- src/serial.c as a fixed 16-byte value with btree and hash opclasses.

CREATE TYPE topup.voucher_serial;

CREATE FUNCTION topup.voucher_serial_in(pg_catalog.cstring)
RETURNS topup.voucher_serial
AS 'MODULE_PATHNAME', 'topup_serial_in'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION topup.voucher_serial_out(topup.voucher_serial)
RETURNS pg_catalog.cstring
AS 'MODULE_PATHNAME', 'topup_serial_out'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION topup.voucher_serial_recv(pg_catalog.internal)
RETURNS topup.voucher_serial
AS 'MODULE_PATHNAME', 'topup_serial_recv'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION topup.voucher_serial_send(topup.voucher_serial)
RETURNS pg_catalog.bytea
AS 'MODULE_PATHNAME', 'topup_serial_send'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE topup.voucher_serial (
    INTERNALLENGTH = 16,
    INPUT = topup.voucher_serial_in,
    OUTPUT = topup.voucher_serial_out,
    RECEIVE = topup.voucher_serial_recv,
    SEND = topup.voucher_serial_send,
    ALIGNMENT = double,
    STORAGE = plain
);

COMMENT ON TYPE topup.voucher_serial IS
    'public voucher serial number SERIES-DIGITS: 1-10 character series, sequence number and Luhn check digit';
COMMENT ON FUNCTION topup.voucher_serial_in(pg_catalog.cstring) IS
    'text input of voucher_serial';
COMMENT ON FUNCTION topup.voucher_serial_out(topup.voucher_serial) IS
    'text output of voucher_serial';
COMMENT ON FUNCTION topup.voucher_serial_recv(pg_catalog.internal) IS
    'binary input of voucher_serial';
COMMENT ON FUNCTION topup.voucher_serial_send(topup.voucher_serial) IS
    'binary output of voucher_serial';

-- Accessors and constructor.

CREATE FUNCTION topup.serial_series(topup.voucher_serial)
RETURNS pg_catalog.text
AS 'MODULE_PATHNAME', 'topup_serial_series'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION topup.serial_number(topup.voucher_serial)
RETURNS pg_catalog.int8
AS 'MODULE_PATHNAME', 'topup_serial_number'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION topup.make_serial(series pg_catalog.text, number pg_catalog.int8)
RETURNS topup.voucher_serial
AS 'MODULE_PATHNAME', 'topup_make_serial'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION topup.serial_series(topup.voucher_serial) IS
    'series part of a voucher serial, upper case';
COMMENT ON FUNCTION topup.serial_number(topup.voucher_serial) IS
    'sequence number of a voucher serial, without check digit';
COMMENT ON FUNCTION topup.make_serial(pg_catalog.text, pg_catalog.int8) IS
    'build a voucher serial from its series and sequence number; the check digit is computed';

-- Comparison and hash support.

CREATE FUNCTION topup.voucher_serial_eq(topup.voucher_serial, topup.voucher_serial)
RETURNS pg_catalog.bool
AS 'MODULE_PATHNAME', 'topup_serial_eq'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION topup.voucher_serial_ne(topup.voucher_serial, topup.voucher_serial)
RETURNS pg_catalog.bool
AS 'MODULE_PATHNAME', 'topup_serial_ne'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION topup.voucher_serial_lt(topup.voucher_serial, topup.voucher_serial)
RETURNS pg_catalog.bool
AS 'MODULE_PATHNAME', 'topup_serial_lt'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION topup.voucher_serial_le(topup.voucher_serial, topup.voucher_serial)
RETURNS pg_catalog.bool
AS 'MODULE_PATHNAME', 'topup_serial_le'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION topup.voucher_serial_gt(topup.voucher_serial, topup.voucher_serial)
RETURNS pg_catalog.bool
AS 'MODULE_PATHNAME', 'topup_serial_gt'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION topup.voucher_serial_ge(topup.voucher_serial, topup.voucher_serial)
RETURNS pg_catalog.bool
AS 'MODULE_PATHNAME', 'topup_serial_ge'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION topup.voucher_serial_cmp(topup.voucher_serial, topup.voucher_serial)
RETURNS pg_catalog.int4
AS 'MODULE_PATHNAME', 'topup_serial_cmp'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION topup.voucher_serial_hash(topup.voucher_serial)
RETURNS pg_catalog.int4
AS 'MODULE_PATHNAME', 'topup_serial_hash'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION topup.voucher_serial_hash_extended(topup.voucher_serial, pg_catalog.int8)
RETURNS pg_catalog.int8
AS 'MODULE_PATHNAME', 'topup_serial_hash_extended'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION topup.voucher_serial_eq(topup.voucher_serial, topup.voucher_serial) IS
    'implementation of = operator for voucher_serial';
COMMENT ON FUNCTION topup.voucher_serial_ne(topup.voucher_serial, topup.voucher_serial) IS
    'implementation of <> operator for voucher_serial';
COMMENT ON FUNCTION topup.voucher_serial_lt(topup.voucher_serial, topup.voucher_serial) IS
    'implementation of < operator for voucher_serial';
COMMENT ON FUNCTION topup.voucher_serial_le(topup.voucher_serial, topup.voucher_serial) IS
    'implementation of <= operator for voucher_serial';
COMMENT ON FUNCTION topup.voucher_serial_gt(topup.voucher_serial, topup.voucher_serial) IS
    'implementation of > operator for voucher_serial';
COMMENT ON FUNCTION topup.voucher_serial_ge(topup.voucher_serial, topup.voucher_serial) IS
    'implementation of >= operator for voucher_serial';
COMMENT ON FUNCTION topup.voucher_serial_cmp(topup.voucher_serial, topup.voucher_serial) IS
    'btree comparison function for voucher_serial';
COMMENT ON FUNCTION topup.voucher_serial_hash(topup.voucher_serial) IS
    'hash function for voucher_serial';
COMMENT ON FUNCTION topup.voucher_serial_hash_extended(topup.voucher_serial, pg_catalog.int8) IS
    'seeded 64-bit hash function for voucher_serial';

CREATE OPERATOR topup.= (
    LEFTARG = topup.voucher_serial,
    RIGHTARG = topup.voucher_serial,
    FUNCTION = topup.voucher_serial_eq,
    COMMUTATOR = OPERATOR(topup.=),
    NEGATOR = OPERATOR(topup.<>),
    RESTRICT = pg_catalog.eqsel,
    JOIN = pg_catalog.eqjoinsel,
    HASHES,
    MERGES
);

CREATE OPERATOR topup.<> (
    LEFTARG = topup.voucher_serial,
    RIGHTARG = topup.voucher_serial,
    FUNCTION = topup.voucher_serial_ne,
    COMMUTATOR = OPERATOR(topup.<>),
    NEGATOR = OPERATOR(topup.=),
    RESTRICT = pg_catalog.neqsel,
    JOIN = pg_catalog.neqjoinsel
);

CREATE OPERATOR topup.< (
    LEFTARG = topup.voucher_serial,
    RIGHTARG = topup.voucher_serial,
    FUNCTION = topup.voucher_serial_lt,
    COMMUTATOR = OPERATOR(topup.>),
    NEGATOR = OPERATOR(topup.>=),
    RESTRICT = pg_catalog.scalarltsel,
    JOIN = pg_catalog.scalarltjoinsel
);

CREATE OPERATOR topup.<= (
    LEFTARG = topup.voucher_serial,
    RIGHTARG = topup.voucher_serial,
    FUNCTION = topup.voucher_serial_le,
    COMMUTATOR = OPERATOR(topup.>=),
    NEGATOR = OPERATOR(topup.>),
    RESTRICT = pg_catalog.scalarlesel,
    JOIN = pg_catalog.scalarlejoinsel
);

CREATE OPERATOR topup.> (
    LEFTARG = topup.voucher_serial,
    RIGHTARG = topup.voucher_serial,
    FUNCTION = topup.voucher_serial_gt,
    COMMUTATOR = OPERATOR(topup.<),
    NEGATOR = OPERATOR(topup.<=),
    RESTRICT = pg_catalog.scalargtsel,
    JOIN = pg_catalog.scalargtjoinsel
);

CREATE OPERATOR topup.>= (
    LEFTARG = topup.voucher_serial,
    RIGHTARG = topup.voucher_serial,
    FUNCTION = topup.voucher_serial_ge,
    COMMUTATOR = OPERATOR(topup.<=),
    NEGATOR = OPERATOR(topup.<),
    RESTRICT = pg_catalog.scalargesel,
    JOIN = pg_catalog.scalargejoinsel
);

COMMENT ON OPERATOR topup.= (topup.voucher_serial, topup.voucher_serial) IS
    'equal';
COMMENT ON OPERATOR topup.<> (topup.voucher_serial, topup.voucher_serial) IS
    'not equal';
COMMENT ON OPERATOR topup.< (topup.voucher_serial, topup.voucher_serial) IS
    'less than: by series text, then by sequence number';
COMMENT ON OPERATOR topup.<= (topup.voucher_serial, topup.voucher_serial) IS
    'less than or equal: by series text, then by sequence number';
COMMENT ON OPERATOR topup.> (topup.voucher_serial, topup.voucher_serial) IS
    'greater than: by series text, then by sequence number';
COMMENT ON OPERATOR topup.>= (topup.voucher_serial, topup.voucher_serial) IS
    'greater than or equal: by series text, then by sequence number';

-- Operator classes.  Each access method has its own operator family, both
-- named voucher_serial_ops; the "=" operator is shared, which is what lets
-- the planner use a hash join or a merge join on the same join clause.
-- Support function 4 (btequalimage) allows btree deduplication: equal
-- values are always bitwise equal.

CREATE OPERATOR CLASS topup.voucher_serial_ops
DEFAULT FOR TYPE topup.voucher_serial USING btree AS
    OPERATOR 1 topup.< (topup.voucher_serial, topup.voucher_serial),
    OPERATOR 2 topup.<= (topup.voucher_serial, topup.voucher_serial),
    OPERATOR 3 topup.= (topup.voucher_serial, topup.voucher_serial),
    OPERATOR 4 topup.>= (topup.voucher_serial, topup.voucher_serial),
    OPERATOR 5 topup.> (topup.voucher_serial, topup.voucher_serial),
    FUNCTION 1 topup.voucher_serial_cmp(topup.voucher_serial, topup.voucher_serial),
    FUNCTION 4 pg_catalog.btequalimage(pg_catalog.oid);

CREATE OPERATOR CLASS topup.voucher_serial_ops
DEFAULT FOR TYPE topup.voucher_serial USING hash AS
    OPERATOR 1 topup.= (topup.voucher_serial, topup.voucher_serial),
    FUNCTION 1 topup.voucher_serial_hash(topup.voucher_serial),
    FUNCTION 2 topup.voucher_serial_hash_extended(topup.voucher_serial, pg_catalog.int8);

COMMENT ON OPERATOR FAMILY topup.voucher_serial_ops USING btree IS
    'btree operator family of voucher_serial';
COMMENT ON OPERATOR CLASS topup.voucher_serial_ops USING btree IS
    'default btree operator class of voucher_serial: series text, then sequence number';
COMMENT ON OPERATOR FAMILY topup.voucher_serial_ops USING hash IS
    'hash operator family of voucher_serial';
COMMENT ON OPERATOR CLASS topup.voucher_serial_ops USING hash IS
    'default hash operator class of voucher_serial';
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
-- ---------------------------------------------------------------------------
-- Internal functions: keys, PIN masking, triggers (owner only)
-- ---------------------------------------------------------------------------

CREATE FUNCTION topup._random_key() RETURNS bytea
    AS 'MODULE_PATHNAME', 'topup_random_key' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION topup._random_key() IS 'internal: 32 bytes from the strong random source, for the database secret';

INSERT INTO topup.secret (hmac_key, enc_key) VALUES (topup._random_key(), topup._random_key());

CREATE FUNCTION topup._pin_masked(pin_cipher bytea, pin_hash bytea) RETURNS text
    AS 'MODULE_PATHNAME', 'topup_pin_masked' LANGUAGE C STABLE STRICT PARALLEL SAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION topup._pin_masked(bytea, bytea) IS 'internal: the PIN with all but its last two digits replaced by *';

CREATE FUNCTION topup._secret_guard() RETURNS trigger
    AS 'MODULE_PATHNAME', 'topup_secret_guard' LANGUAGE C;
CREATE FUNCTION topup._vouchers_guard() RETURNS trigger
    AS 'MODULE_PATHNAME', 'topup_vouchers_guard' LANGUAGE C;
CREATE FUNCTION topup._accounts_guard() RETURNS trigger
    AS 'MODULE_PATHNAME', 'topup_accounts_guard' LANGUAGE C;
CREATE FUNCTION topup._ledger_guard() RETURNS trigger
    AS 'MODULE_PATHNAME', 'topup_ledger_guard' LANGUAGE C;
CREATE FUNCTION topup._orders_guard() RETURNS trigger
    AS 'MODULE_PATHNAME', 'topup_orders_guard' LANGUAGE C;
COMMENT ON FUNCTION topup._secret_guard() IS 'internal trigger: a restored secret replaces the one CREATE EXTENSION made';
COMMENT ON FUNCTION topup._vouchers_guard() IS 'internal trigger: voucher status rules, immutable columns';
COMMENT ON FUNCTION topup._accounts_guard() IS 'internal trigger: balances change only through the extension, status rules';
COMMENT ON FUNCTION topup._ledger_guard() IS 'internal trigger: the ledger is append-only and written by the extension';
COMMENT ON FUNCTION topup._orders_guard() IS 'internal trigger: orders are written by the extension and move forward only';

CREATE TRIGGER secret_guard BEFORE INSERT OR UPDATE OR DELETE ON topup.secret
    FOR EACH ROW EXECUTE FUNCTION topup._secret_guard();
CREATE TRIGGER secret_truncate_guard BEFORE TRUNCATE ON topup.secret
    FOR EACH STATEMENT EXECUTE FUNCTION topup._secret_guard();
CREATE TRIGGER vouchers_guard BEFORE INSERT OR UPDATE OR DELETE ON topup.vouchers
    FOR EACH ROW EXECUTE FUNCTION topup._vouchers_guard();
CREATE TRIGGER accounts_guard BEFORE INSERT OR UPDATE OR DELETE ON topup.accounts
    FOR EACH ROW EXECUTE FUNCTION topup._accounts_guard();
CREATE TRIGGER ledger_guard BEFORE INSERT OR UPDATE OR DELETE ON topup.ledger
    FOR EACH ROW EXECUTE FUNCTION topup._ledger_guard();
CREATE TRIGGER ledger_truncate_guard BEFORE TRUNCATE ON topup.ledger
    FOR EACH STATEMENT EXECUTE FUNCTION topup._ledger_guard();
CREATE TRIGGER orders_guard BEFORE INSERT OR UPDATE OR DELETE ON topup.orders
    FOR EACH ROW EXECUTE FUNCTION topup._orders_guard();
CREATE TRIGGER orders_truncate_guard BEFORE TRUNCATE ON topup.orders
    FOR EACH STATEMENT EXECUTE FUNCTION topup._orders_guard();
CREATE TRIGGER vouchers_truncate_guard BEFORE TRUNCATE ON topup.vouchers
    FOR EACH STATEMENT EXECUTE FUNCTION topup._vouchers_guard();
CREATE TRIGGER accounts_truncate_guard BEFORE TRUNCATE ON topup.accounts
    FOR EACH STATEMENT EXECUTE FUNCTION topup._accounts_guard();

-- ---------------------------------------------------------------------------
-- Clients and resellers
-- ---------------------------------------------------------------------------

CREATE FUNCTION topup.create_client(client_id text, name text DEFAULT NULL) RETURNS void
    AS 'MODULE_PATHNAME', 'topup_create_client' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION topup.create_client(text, text) IS 'create a client (operator or API developer)';

CREATE FUNCTION topup.create_reseller(reseller text, client_id text DEFAULT 'default') RETURNS void
    AS 'MODULE_PATHNAME', 'topup_create_reseller' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION topup.create_reseller(text, text) IS 'create a reseller of a client';

CREATE FUNCTION topup.open_account(account_id text, currency text, kind text DEFAULT 'customer',
        active boolean DEFAULT true, customer_info jsonb DEFAULT NULL,
        client_id text DEFAULT 'default') RETURNS void
    AS 'MODULE_PATHNAME', 'topup_open_account' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION topup.open_account(text, text, text, boolean, jsonb, text) IS 'open a customer account or a prepaid card with a zero balance';

-- ---------------------------------------------------------------------------
-- Vouchers
-- ---------------------------------------------------------------------------

CREATE FUNCTION topup._generate_batch(series text, first_number bigint,
        quantity integer, pin_length integer)
    RETURNS TABLE (serial topup.voucher_serial, pin_hash bytea, pin_cipher bytea)
    AS 'MODULE_PATHNAME', 'topup_generate_batch' LANGUAGE C VOLATILE STRICT ROWS 10000;
COMMENT ON FUNCTION topup._generate_batch(text, bigint, integer, integer) IS 'internal: serials with fresh random PINs (hashed and encrypted) for generate_vouchers';

CREATE FUNCTION topup.export_vouchers(series text, client_id text DEFAULT 'default')
    RETURNS TABLE (serial topup.voucher_serial, pin text, amount numeric, currency text,
                   expires_at timestamptz, reseller text, status topup.voucher_status)
    AS 'MODULE_PATHNAME', 'topup_export_vouchers' LANGUAGE C VOLATILE STRICT
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION topup.export_vouchers(text, text) IS 'the vouchers of a series with their PINs, in serial order (for printing and CSV)';

CREATE FUNCTION topup.redeem_voucher(pin text, account_id text, idempotency_key text DEFAULT NULL,
        source text DEFAULT NULL, client_id text DEFAULT 'default')
    RETURNS topup.order_result
    AS 'MODULE_PATHNAME', 'topup_redeem_voucher' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION topup.redeem_voucher(text, text, text, text, text) IS 'credit a voucher''s amount to an account, by PIN';

CREATE FUNCTION topup.redeem_voucher_by_serial(serial topup.voucher_serial, account_id text,
        idempotency_key text DEFAULT NULL, client_id text DEFAULT 'default')
    RETURNS topup.order_result
    AS 'MODULE_PATHNAME', 'topup_redeem_voucher_by_serial' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION topup.redeem_voucher_by_serial(topup.voucher_serial, text, text, text) IS 'admin: credit a voucher''s amount to an account, by serial (no lockout)';

-- ---------------------------------------------------------------------------
-- Expiry
-- ---------------------------------------------------------------------------

CREATE FUNCTION topup.expire_vouchers(max_rows integer DEFAULT 100000) RETURNS bigint
    AS 'MODULE_PATHNAME', 'topup_expire_vouchers' LANGUAGE C VOLATILE STRICT
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION topup.expire_vouchers(integer) IS 'mark up to max_rows due new/blocked vouchers expired; returns how many';

-- Not SECURITY DEFINER: a procedure that commits cannot be.  It calls
-- expire_vouchers, which is.
CREATE PROCEDURE topup.run_expiry(batch_size integer DEFAULT 10000)
    AS 'MODULE_PATHNAME', 'topup_run_expiry' LANGUAGE C;
COMMENT ON PROCEDURE topup.run_expiry(integer) IS 'expire every due voucher in batches, committing after each batch';

CREATE FUNCTION topup.schedule_expiry(schedule text DEFAULT '*/5 * * * *') RETURNS bigint
    AS 'MODULE_PATHNAME', 'topup_schedule_expiry' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION topup.schedule_expiry(text) IS 'register CALL topup.run_expiry() with pg_cron as job topup-expiry; returns the job id';

-- ---------------------------------------------------------------------------
-- Admin views
-- ---------------------------------------------------------------------------

CREATE VIEW topup.voucher_list AS
SELECT v.status, v.serial, v.series, v.amount, v.currency,
       topup._pin_masked(v.pin_cipher, v.pin_hash) AS pin_masked,
       v.reseller, v.activated_at, v.activated_by, v.created_at, v.expires_at,
       v.client_id
  FROM topup.vouchers v;
COMMENT ON VIEW topup.voucher_list IS 'admin table of vouchers; the PIN is masked but for its last two digits';

CREATE VIEW topup.series_list AS
SELECT s.client_id, s.series, s.amount, s.currency,
       pg_catalog.count(v.serial) AS quantity,
       pg_catalog.count(v.serial) FILTER (WHERE v.status OPERATOR(pg_catalog.=) 'new') AS new,
       pg_catalog.count(v.serial) FILTER (WHERE v.status OPERATOR(pg_catalog.=) 'activated') AS activated,
       pg_catalog.count(v.serial) FILTER (WHERE v.status OPERATOR(pg_catalog.=) 'expired') AS expired,
       pg_catalog.count(v.serial) FILTER (WHERE v.status OPERATOR(pg_catalog.=) 'blocked') AS blocked,
       s.amount OPERATOR(pg_catalog.*) pg_catalog.count(v.serial) FILTER (WHERE v.status OPERATOR(pg_catalog.=) 'new') AS value_outstanding,
       s.amount OPERATOR(pg_catalog.*) pg_catalog.count(v.serial) FILTER (WHERE v.status OPERATOR(pg_catalog.=) 'activated') AS value_redeemed,
       topup.make_serial(s.series, pg_catalog.min(topup.serial_number(v.serial))) AS first_serial,
       topup.make_serial(s.series, pg_catalog.max(topup.serial_number(v.serial))) AS last_serial,
       s.created_at, s.last_generated_at,
       pg_catalog.min(v.expires_at) AS expires_min,
       pg_catalog.max(v.expires_at) AS expires_max
  FROM topup.series s
  LEFT JOIN topup.vouchers v
    ON v.client_id OPERATOR(pg_catalog.=) s.client_id
   AND v.series OPERATOR(pg_catalog.=) s.series
 GROUP BY s.client_id, s.series;
COMMENT ON VIEW topup.series_list IS 'admin table of voucher series with counts per status and outstanding value';

CREATE VIEW topup.account_list AS
SELECT a.client_id, a.account_id, a.kind, a.currency, a.balance, a.status,
       a.created_at, a.activated_at,
       NULLIF(pg_catalog.concat_ws(' ',
                  NULLIF(a.customer_info OPERATOR(pg_catalog.->>) 'firstName', ''),
                  NULLIF(a.customer_info OPERATOR(pg_catalog.->>) 'middleName', ''),
                  NULLIF(a.customer_info OPERATOR(pg_catalog.->>) 'lastName', '')), '') AS customer_name
  FROM topup.accounts a;
COMMENT ON VIEW topup.account_list IS 'admin table of customer accounts and prepaid cards';

CREATE VIEW topup.account_payments AS
SELECT l.client_id, l.account_id, l.created_at,
       CASE o.order_type
           WHEN 'voucher_redeem' THEN 'voucher'
           WHEN 'card_topup' THEN 'topup'
           ELSE o.order_type
       END AS payment_type,
       l.amount, l.currency, l.balance_after,
       CASE o.order_type
           WHEN 'voucher_redeem' THEN 'voucher ' OPERATOR(pg_catalog.||) o.serial::text
           ELSE 'order ' OPERATOR(pg_catalog.||) o.reference
       END AS comment,
       l.order_id
  FROM topup.ledger l
  JOIN topup.orders o ON o.order_id OPERATOR(pg_catalog.=) l.order_id
 WHERE l.book OPERATOR(pg_catalog.=) 'account';
COMMENT ON VIEW topup.account_payments IS 'a customer''s payment history: every credit to an account with its balance after';

CREATE VIEW topup.order_list AS
SELECT o.order_id, o.order_type, o.status, o.topup_status, o.client_id, o.account_id,
       o.serial, o.amount, o.fee, o.currency, o.master_balance_before,
       o.master_balance_after, o.account_balance_after, o.error_slug, o.error_message,
       o.idempotency_key, o.reference, o.created_at, o.completed_at, o.failed_at
  FROM topup.orders o;
COMMENT ON VIEW topup.order_list IS 'admin table of orders (the order_result columns but replayed)';

-- generate_vouchers returns a row of series_list, so it follows the view.
CREATE FUNCTION topup.generate_vouchers(series text, quantity integer, amount numeric,
        currency text DEFAULT 'USD', pin_length integer DEFAULT 12,
        expires_at timestamptz DEFAULT NULL, reseller text DEFAULT NULL,
        client_id text DEFAULT 'default')
    RETURNS topup.series_list
    AS 'MODULE_PATHNAME', 'topup_generate_vouchers' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION topup.generate_vouchers(text, integer, numeric, text, integer, timestamptz, text, text) IS 'generate a batch of vouchers with random PINs, continuing a series; returns the series'' row of series_list';
-- ---------------------------------------------------------------------------
-- Audit
-- ---------------------------------------------------------------------------

CREATE FUNCTION topup.verify_ledger() RETURNS TABLE (problem text, detail text)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    -- each account's balance equals the sum of its ledger entries
    SELECT 'balance_mismatch',
           pg_catalog.format('account %s of client %s has balance %s but its ledger sums to %s',
                             a.account_id, a.client_id, a.balance, COALESCE(l.total, 0))
      FROM topup.accounts a
      LEFT JOIN (SELECT client_id, account_id, pg_catalog.sum(amount) AS total
                   FROM topup.ledger WHERE book = 'account'
                  GROUP BY client_id, account_id) l
        ON l.client_id = a.client_id AND l.account_id = a.account_id
     WHERE a.balance <> COALESCE(l.total, 0)
    UNION ALL
    -- ledger entries of accounts that do not exist
    SELECT 'orphan_entry',
           pg_catalog.format('ledger entry %s names account %s of client %s, which does not exist',
                             l.entry_id, l.account_id, l.client_id)
      FROM topup.ledger l
     WHERE l.book = 'account'
       AND NOT EXISTS (SELECT 1 FROM topup.accounts a
                        WHERE a.client_id = l.client_id AND a.account_id = l.account_id)
    UNION ALL
    -- each order's entries sum to zero per currency
    SELECT 'unbalanced_order',
           pg_catalog.format('entries of order %s sum to %s %s instead of zero',
                             order_id, pg_catalog.sum(amount), currency)
      FROM topup.ledger
     GROUP BY order_id, currency
    HAVING pg_catalog.sum(amount) <> 0
    UNION ALL
    -- no balance is negative
    SELECT 'negative_balance',
           pg_catalog.format('account %s of client %s has negative balance %s',
                             account_id, client_id, balance)
      FROM topup.accounts
     WHERE balance < 0
    UNION ALL
    -- each completed order has its entries, each failed order none
    SELECT 'completed_without_entries',
           pg_catalog.format('completed order %s has no ledger entries', o.order_id)
      FROM topup.orders o
     WHERE o.status = 'completed'
       AND NOT EXISTS (SELECT 1 FROM topup.ledger l WHERE l.order_id = o.order_id)
    UNION ALL
    SELECT 'failed_with_entries',
           pg_catalog.format('%s order %s has ledger entries', o.status, o.order_id)
      FROM topup.orders o
     WHERE o.status <> 'completed'
       AND EXISTS (SELECT 1 FROM topup.ledger l WHERE l.order_id = o.order_id)
    UNION ALL
    SELECT 'entries_without_order',
           pg_catalog.format('ledger entry %s belongs to order %s, which does not exist',
                             l.entry_id, l.order_id)
      FROM topup.ledger l
     WHERE NOT EXISTS (SELECT 1 FROM topup.orders o WHERE o.order_id = l.order_id)
    UNION ALL
    -- a completed redeem credits exactly its amount to its account
    SELECT 'redeem_credit_mismatch',
           pg_catalog.format('completed redeem order %s of %s %s credited %s to account %s',
                             o.order_id, o.amount, o.currency, COALESCE(c.total, 0), o.account_id)
      FROM topup.orders o
      LEFT JOIN (SELECT order_id, account_id, pg_catalog.sum(amount) AS total
                   FROM topup.ledger WHERE book = 'account'
                  GROUP BY order_id, account_id) c
        ON c.order_id = o.order_id AND c.account_id = o.account_id
     WHERE o.order_type = 'voucher_redeem' AND o.status = 'completed'
       AND COALESCE(c.total, 0) <> o.amount
    UNION ALL
    -- each activated voucher has a completed redeem order for its amount
    SELECT 'voucher_without_order',
           pg_catalog.format('activated voucher %s of client %s has no completed redeem order for %s %s',
                             v.serial, v.client_id, v.amount, v.currency)
      FROM topup.vouchers v
     WHERE v.status = 'activated'
       AND NOT EXISTS (SELECT 1 FROM topup.orders o
                        WHERE o.order_id = v.order_id
                          AND o.client_id = v.client_id
                          AND o.order_type = 'voucher_redeem'
                          AND o.status = 'completed'
                          AND o.serial OPERATOR(topup.=) v.serial
                          AND o.amount = v.amount
                          AND o.currency = v.currency)
$$;
COMMENT ON FUNCTION topup.verify_ledger() IS 'audit: one row per broken invariant of balances, ledger, orders and vouchers; empty when all holds';
-- ---------------------------------------------------------------------------
-- Privileges: nothing for PUBLIC.  The schema itself grants no USAGE; the
-- secret and PIN data stay with the extension owner.
-- ---------------------------------------------------------------------------

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA topup FROM PUBLIC;
REVOKE ALL ON ALL PROCEDURES IN SCHEMA topup FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA topup FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA topup FROM PUBLIC;
