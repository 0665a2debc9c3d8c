-- generate_vouchers returns a row of series_list, so it follows the view.
CREATE FUNCTION topup.generate_vouchers(series text, quantity integer, amount numeric,
        currency text DEFAULT 'USD', pin_length integer DEFAULT 12,
        expires_at timestamptz DEFAULT NULL, reseller text DEFAULT NULL,
        client_id text DEFAULT topup.current_client())
    RETURNS topup.series_list
    AS 'MODULE_PATHNAME', 'topup_generate_vouchers_0_3_1' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;
COMMENT ON FUNCTION topup.generate_vouchers(text, integer, numeric, text, integer, timestamptz, text, text) IS 'generate a batch of vouchers with random PINs, continuing a series; returns the series'' row of series_list';
