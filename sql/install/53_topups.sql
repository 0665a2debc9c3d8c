-- ---------------------------------------------------------------------------
-- Functions
-- ---------------------------------------------------------------------------

CREATE FUNCTION topup.fund_master(amount numeric, currency text, reference text,
        client_id text DEFAULT topup.current_client()) RETURNS numeric
    AS 'MODULE_PATHNAME', 'topup_fund_master' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;
COMMENT ON FUNCTION topup.fund_master(numeric, text, text, text) IS 'credit a client''s master balance; idempotent on reference; returns the new balance';

CREATE FUNCTION topup.set_pricing(currency text, min_amount numeric, max_amount numeric,
        fee_fixed numeric DEFAULT 0, fee_percent numeric DEFAULT 0,
        client_id text DEFAULT topup.current_client()) RETURNS void
    AS 'MODULE_PATHNAME', 'topup_set_pricing' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;
COMMENT ON FUNCTION topup.set_pricing(text, numeric, numeric, numeric, numeric, text) IS 'set the top-up pricing rule of a client and currency (replaces the earlier one)';

CREATE FUNCTION topup.topup_card(account_id text, amount numeric, idempotency_key text,
        currency text DEFAULT NULL, activate boolean DEFAULT false,
        customer_info jsonb DEFAULT NULL, entry_type text DEFAULT 'K',
        channel text DEFAULT NULL, client_id text DEFAULT topup.current_client())
    RETURNS topup.order_result
    AS 'MODULE_PATHNAME', 'topup_topup_card' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;
COMMENT ON FUNCTION topup.topup_card(text, numeric, text, text, boolean, jsonb, text, text, text) IS 'top up a prepaid card; amount + fee is charged to the client''s master balance';

CREATE FUNCTION topup.check_order(order_id bigint, client_id text DEFAULT topup.current_client())
    RETURNS topup.order_result
    AS 'MODULE_PATHNAME', 'topup_check_order_by_id' LANGUAGE C STABLE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;
COMMENT ON FUNCTION topup.check_order(bigint, text) IS 'poll an order by id';

CREATE FUNCTION topup.check_order(idempotency_key text, order_type text DEFAULT 'card_topup',
        client_id text DEFAULT topup.current_client())
    RETURNS topup.order_result
    AS 'MODULE_PATHNAME', 'topup_check_order_by_key' LANGUAGE C STABLE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;
COMMENT ON FUNCTION topup.check_order(text, text, text) IS 'poll an order by its idempotency key and order type';

CREATE FUNCTION topup.order_json(order_id bigint, client_id text DEFAULT topup.current_client()) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'topup_order_json' LANGUAGE C STABLE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;
COMMENT ON FUNCTION topup.order_json(bigint, text) IS 'the CardTopupOrder document of an order';
