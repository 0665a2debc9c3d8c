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
    AS 'MODULE_PATHNAME', 'topup_vouchers_guard_0_4_0' LANGUAGE C;
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

-- balance_slots: balances change only through the extension
CREATE FUNCTION topup._slots_guard() RETURNS trigger
    AS 'MODULE_PATHNAME', 'topup_slots_guard' LANGUAGE C;
COMMENT ON FUNCTION topup._slots_guard() IS 'internal trigger: master and fee balances change only through the extension';
CREATE TRIGGER slots_guard BEFORE INSERT OR UPDATE OR DELETE ON topup.balance_slots
    FOR EACH ROW EXECUTE FUNCTION topup._slots_guard();
CREATE TRIGGER slots_truncate_guard BEFORE TRUNCATE ON topup.balance_slots
    FOR EACH STATEMENT EXECUTE FUNCTION topup._slots_guard();
CREATE TRIGGER fundings_guard BEFORE INSERT OR UPDATE OR DELETE ON topup.fundings
    FOR EACH ROW EXECUTE FUNCTION topup._slots_guard();
CREATE TRIGGER fundings_truncate_guard BEFORE TRUNCATE ON topup.fundings
    FOR EACH STATEMENT EXECUTE FUNCTION topup._slots_guard();

CREATE FUNCTION topup._expiry_guard() RETURNS trigger
    AS 'MODULE_PATHNAME', 'topup_expiry_guard' LANGUAGE C;
COMMENT ON FUNCTION topup._expiry_guard() IS 'internal trigger: the expiry queue is written only by the extension';
CREATE TRIGGER voucher_expiry_guard BEFORE INSERT OR UPDATE OR DELETE ON topup.voucher_expiry
    FOR EACH ROW EXECUTE FUNCTION topup._expiry_guard();
CREATE TRIGGER voucher_expiry_truncate_guard BEFORE TRUNCATE ON topup.voucher_expiry
    FOR EACH STATEMENT EXECUTE FUNCTION topup._expiry_guard();

-- What a statement changed in vouchers or accounts, set-based from its
-- transition tables: due dates for the expiry queue, the audit log of an
-- admin's direct changes.  Written with the extension owner's rights, so a
-- bound admin's mass edit works as the owner's does.
CREATE FUNCTION topup._vouchers_changed() RETURNS trigger
    AS 'MODULE_PATHNAME', 'topup_vouchers_changed' LANGUAGE C;
COMMENT ON FUNCTION topup._vouchers_changed() IS 'internal trigger: queues the due dates a statement gave live vouchers and audits an admin''s changes';
CREATE TRIGGER vouchers_changed AFTER UPDATE ON topup.vouchers
    REFERENCING OLD TABLE AS old_vouchers NEW TABLE AS new_vouchers
    FOR EACH STATEMENT EXECUTE FUNCTION topup._vouchers_changed();
CREATE TRIGGER vouchers_deleted AFTER DELETE ON topup.vouchers
    REFERENCING OLD TABLE AS old_vouchers
    FOR EACH STATEMENT EXECUTE FUNCTION topup._vouchers_changed();
CREATE FUNCTION topup._accounts_changed() RETURNS trigger
    AS 'MODULE_PATHNAME', 'topup_accounts_changed' LANGUAGE C;
COMMENT ON FUNCTION topup._accounts_changed() IS 'internal trigger: audits an admin''s changes of accounts';
CREATE TRIGGER accounts_changed AFTER UPDATE ON topup.accounts
    REFERENCING OLD TABLE AS old_accounts NEW TABLE AS new_accounts
    FOR EACH STATEMENT EXECUTE FUNCTION topup._accounts_changed();

-- role_bindings and audit_log: written by the extension only (or a restore)
CREATE FUNCTION topup._access_guard() RETURNS trigger
    AS 'MODULE_PATHNAME', 'topup_access_guard' LANGUAGE C;
COMMENT ON FUNCTION topup._access_guard() IS 'internal trigger: bindings and the audit log are written only by the extension';
CREATE TRIGGER role_bindings_guard BEFORE INSERT OR UPDATE OR DELETE ON topup.role_bindings
    FOR EACH ROW EXECUTE FUNCTION topup._access_guard();
CREATE TRIGGER role_bindings_truncate_guard BEFORE TRUNCATE ON topup.role_bindings
    FOR EACH STATEMENT EXECUTE FUNCTION topup._access_guard();
CREATE TRIGGER audit_log_guard BEFORE INSERT OR UPDATE OR DELETE ON topup.audit_log
    FOR EACH ROW EXECUTE FUNCTION topup._access_guard();
CREATE TRIGGER audit_log_truncate_guard BEFORE TRUNCATE ON topup.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION topup._access_guard();

-- events and expiry notices: written by the extension only (or a restore)
CREATE FUNCTION topup._events_guard() RETURNS trigger
    AS 'MODULE_PATHNAME', 'topup_events_guard' LANGUAGE C;
COMMENT ON FUNCTION topup._events_guard() IS 'internal trigger: the outbox is written only by the extension';
CREATE TRIGGER events_guard BEFORE INSERT OR UPDATE OR DELETE ON topup.events
    FOR EACH ROW EXECUTE FUNCTION topup._events_guard();
CREATE TRIGGER events_truncate_guard BEFORE TRUNCATE ON topup.events
    FOR EACH STATEMENT EXECUTE FUNCTION topup._events_guard();
CREATE TRIGGER expiry_notices_guard BEFORE INSERT OR UPDATE OR DELETE ON topup.expiry_notices
    FOR EACH ROW EXECUTE FUNCTION topup._events_guard();
CREATE TRIGGER expiry_notices_truncate_guard BEFORE TRUNCATE ON topup.expiry_notices
    FOR EACH STATEMENT EXECUTE FUNCTION topup._events_guard();
