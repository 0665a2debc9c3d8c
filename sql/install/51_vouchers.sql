-- ---------------------------------------------------------------------------
-- Vouchers
-- ---------------------------------------------------------------------------

CREATE FUNCTION topup._generate_batch(series text, first_number bigint,
        quantity integer, pin_length integer)
    RETURNS TABLE (serial topup.voucher_serial, pin_hash bytea, pin_cipher bytea)
    AS 'MODULE_PATHNAME', 'topup_generate_batch' LANGUAGE C VOLATILE STRICT ROWS 10000;
COMMENT ON FUNCTION topup._generate_batch(text, bigint, integer, integer) IS 'internal: serials with fresh random PINs (hashed and encrypted) for generate_vouchers';

CREATE FUNCTION topup.export_vouchers(series text, client_id text DEFAULT topup.current_client())
    RETURNS TABLE (serial topup.voucher_serial, pin text, amount numeric, currency text,
                   expires_at timestamptz, reseller text, status topup.voucher_status)
    AS 'MODULE_PATHNAME', 'topup_export_vouchers' LANGUAGE C VOLATILE STRICT
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;
COMMENT ON FUNCTION topup.export_vouchers(text, text) IS 'the vouchers of a series with their PINs, in serial order (for printing and CSV)';

CREATE FUNCTION topup.redeem_voucher(pin text, account_id text, idempotency_key text DEFAULT NULL,
        source text DEFAULT NULL, client_id text DEFAULT topup.current_client())
    RETURNS topup.order_result
    AS 'MODULE_PATHNAME', 'topup_redeem_voucher' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;
COMMENT ON FUNCTION topup.redeem_voucher(text, text, text, text, text) IS 'credit a voucher''s amount to an account, by PIN';

CREATE FUNCTION topup.redeem_voucher_by_serial(serial topup.voucher_serial, account_id text,
        idempotency_key text DEFAULT NULL, client_id text DEFAULT topup.current_client())
    RETURNS topup.order_result
    AS 'MODULE_PATHNAME', 'topup_redeem_voucher_by_serial' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;
COMMENT ON FUNCTION topup.redeem_voucher_by_serial(topup.voucher_serial, text, text, text) IS 'admin: credit a voucher''s amount to an account, by serial (no lockout)';
