-- ---------------------------------------------------------------------------
-- Access functions.  current_client() is every other function's default
-- client, so it comes before them.
-- ---------------------------------------------------------------------------

CREATE FUNCTION topup.current_client() RETURNS text
    AS 'MODULE_PATHNAME', 'topup_current_client' LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION topup.current_client() IS 'the one client the calling role is bound to; ''default'' when it is bound to none or to several';

CREATE FUNCTION topup.bind_role(role regrole, duty text, client_id text DEFAULT 'default',
        reseller text DEFAULT NULL) RETURNS void
    AS 'MODULE_PATHNAME', 'topup_bind_role' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;
COMMENT ON FUNCTION topup.bind_role(regrole, text, text, text) IS 'bind a role to a client with a duty and grant it what the duty needs';

CREATE FUNCTION topup.unbind_role(role regrole, duty text, client_id text DEFAULT 'default',
        reseller text DEFAULT NULL) RETURNS void
    AS 'MODULE_PATHNAME', 'topup_unbind_role' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;
COMMENT ON FUNCTION topup.unbind_role(regrole, text, text, text) IS 'remove a binding and every privilege no remaining binding of the role needs';

CREATE FUNCTION topup._grant_duties() RETURNS void
    AS 'MODULE_PATHNAME', 'topup_grant_duties' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION topup._grant_duties() IS 'internal: grant every bound role what its duties need now (after an upgrade adds to a duty)';

-- Row filters of the views and of the tables' row-level security: called
-- for every row, as the calling role, from cached bindings.
CREATE FUNCTION topup._visible(client_id text, reseller text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'topup_visible' LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION topup._visible(text, text) IS 'internal: may the calling role see a row of this client (and reseller) in the views (admin, auditor; reseller for its own vouchers)';
CREATE FUNCTION topup._may_edit(client_id text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'topup_may_edit' LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION topup._may_edit(text) IS 'internal: may the calling role edit rows of this client directly (admin)';
