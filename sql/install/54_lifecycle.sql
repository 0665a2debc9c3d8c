-- ---------------------------------------------------------------------------
-- The order lifecycle (SPEC §9): channels, provider-backed top-ups claimed
-- and reported by workers, their timeouts, reversals, charges, events.
-- ---------------------------------------------------------------------------

CREATE FUNCTION topup.set_channel(channel text, mode text, attempt_timeout interval DEFAULT '30 seconds',
        max_attempts integer DEFAULT 5, client_id text DEFAULT topup.current_client()) RETURNS void
    AS 'MODULE_PATHNAME', 'topup_set_channel' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;
COMMENT ON FUNCTION topup.set_channel(text, text, interval, integer, text) IS 'create or change a top-up channel: instant, or provider-backed (workers apply its top-ups)';

CREATE FUNCTION topup.claim_orders(channel text, max_orders integer DEFAULT 10, lease interval DEFAULT NULL,
        client_id text DEFAULT NULL) RETURNS SETOF topup.order_result
    AS 'MODULE_PATHNAME', 'topup_claim_orders' LANGUAGE C VOLATILE ROWS 10
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;
COMMENT ON FUNCTION topup.claim_orders(text, integer, interval, text) IS 'hand a worker up to max_orders due orders of a provider channel, oldest first, under a lease';

CREATE FUNCTION topup.report_order(order_id bigint, outcome text, provider_reference text DEFAULT NULL,
        error_slug text DEFAULT NULL, error_message text DEFAULT NULL,
        client_id text DEFAULT topup.current_client()) RETURNS topup.order_result
    AS 'MODULE_PATHNAME', 'topup_report_order' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;
COMMENT ON FUNCTION topup.report_order(bigint, text, text, text, text, text) IS 'a worker reports the outcome of a claimed order: completed, failed, error or unknown';

CREATE FUNCTION topup._order_timeouts() RETURNS bigint
    AS 'MODULE_PATHNAME', 'topup_order_timeouts' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION topup._order_timeouts() IS 'internal: put the orders whose lease ran out in doubt; returns how many';

-- Not SECURITY DEFINER: a procedure that commits cannot be.
CREATE PROCEDURE topup.run_order_timeouts()
    AS 'MODULE_PATHNAME', 'topup_run_order_timeouts' LANGUAGE C;
COMMENT ON PROCEDURE topup.run_order_timeouts() IS 'put every provider-backed order whose lease ran out without a report in doubt (provider_verification)';

CREATE FUNCTION topup.schedule_order_timeouts(schedule text DEFAULT '* * * * *') RETURNS bigint
    AS 'MODULE_PATHNAME', 'topup_schedule_order_timeouts' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION topup.schedule_order_timeouts(text) IS 'register CALL topup.run_order_timeouts() with pg_cron as job topup-order-timeouts; returns the job id';

CREATE FUNCTION topup.reverse_order(order_id bigint, reason text, idempotency_key text,
        refund_fee boolean DEFAULT false, amount numeric DEFAULT NULL,
        client_id text DEFAULT topup.current_client()) RETURNS topup.order_result
    AS 'MODULE_PATHNAME', 'topup_reverse_order' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;
COMMENT ON FUNCTION topup.reverse_order(bigint, text, text, boolean, numeric, text) IS 'move the money of a completed order back (whole or partial), as an order of type reversal';

CREATE FUNCTION topup.charge_account(account_id text, amount numeric, idempotency_key text,
        description text DEFAULT NULL, client_id text DEFAULT topup.current_client())
    RETURNS topup.order_result
    AS 'MODULE_PATHNAME', 'topup_charge_account' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;
COMMENT ON FUNCTION topup.charge_account(text, numeric, text, text, text) IS 'spend from a customer balance or a card (order type account_charge)';

CREATE FUNCTION topup.events_since(after_event_id bigint, max_events integer DEFAULT 1000,
        client_id text DEFAULT topup.current_client()) RETURNS SETOF topup.events
    AS 'MODULE_PATHNAME', 'topup_events_since' LANGUAGE C VOLATILE ROWS 1000
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;
COMMENT ON FUNCTION topup.events_since(bigint, integer, text) IS 'the client''s events after an event id, in event_id order; never skips one that commits later';

CREATE FUNCTION topup.purge_events(older_than interval, client_id text DEFAULT topup.current_client())
    RETURNS bigint
    AS 'MODULE_PATHNAME', 'topup_purge_events' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;
COMMENT ON FUNCTION topup.purge_events(interval, text) IS 'delete a client''s published events older than the interval; returns how many';

CREATE FUNCTION topup.set_low_balance(currency text, threshold numeric,
        client_id text DEFAULT topup.current_client()) RETURNS void
    AS 'MODULE_PATHNAME', 'topup_set_low_balance' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;
COMMENT ON FUNCTION topup.set_low_balance(text, numeric, text) IS 'the threshold below which a master balance raises a master.low event (NULL removes it)';
