-- ---------------------------------------------------------------------------
-- Expiry
-- ---------------------------------------------------------------------------

CREATE FUNCTION topup.expire_vouchers(max_rows integer DEFAULT 100000) RETURNS bigint
    AS 'MODULE_PATHNAME', 'topup_expire_vouchers_0_3_1' LANGUAGE C VOLATILE STRICT
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;
COMMENT ON FUNCTION topup.expire_vouchers(integer) IS 'mark up to max_rows due new/blocked vouchers expired; returns how many';

-- Not SECURITY DEFINER: a procedure that commits cannot be.  It calls
-- expire_vouchers, which is.
CREATE PROCEDURE topup.run_expiry(batch_size integer DEFAULT 10000)
    AS 'MODULE_PATHNAME', 'topup_run_expiry' LANGUAGE C;
COMMENT ON PROCEDURE topup.run_expiry(integer) IS 'expire every due voucher in batches, committing after each batch';

CREATE FUNCTION topup.schedule_expiry(schedule text DEFAULT '*/5 * * * *') RETURNS bigint
    AS 'MODULE_PATHNAME', 'topup_schedule_expiry' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION topup.schedule_expiry(text) IS 'register CALL topup.run_expiry() with pg_cron as job topup-expiry; returns the job id';
