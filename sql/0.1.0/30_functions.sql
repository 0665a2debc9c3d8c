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

