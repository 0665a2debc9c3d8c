-- ---------------------------------------------------------------------------
-- Clients and resellers
-- ---------------------------------------------------------------------------

CREATE FUNCTION topup.create_client(client_id text, name text DEFAULT NULL) RETURNS void
    AS 'MODULE_PATHNAME', 'topup_create_client' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;
COMMENT ON FUNCTION topup.create_client(text, text) IS 'create a client (operator or API developer)';

CREATE FUNCTION topup.create_reseller(reseller text, client_id text DEFAULT topup.current_client()) RETURNS void
    AS 'MODULE_PATHNAME', 'topup_create_reseller' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;
COMMENT ON FUNCTION topup.create_reseller(text, text) IS 'create a reseller of a client';

CREATE FUNCTION topup.open_account(account_id text, currency text, kind text DEFAULT 'customer',
        active boolean DEFAULT true, customer_info jsonb DEFAULT NULL,
        client_id text DEFAULT topup.current_client()) RETURNS void
    AS 'MODULE_PATHNAME', 'topup_open_account' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;
COMMENT ON FUNCTION topup.open_account(text, text, text, boolean, jsonb, text) IS 'open a customer account or a prepaid card with a zero balance';
