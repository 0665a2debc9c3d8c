-- topup 0.3.0 -> 0.3.1: the house laid out (install script in parts, tests
-- by what they test); C entry points bound to this version's schema.
\echo Use "ALTER EXTENSION topup UPDATE TO '0.3.1'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- The functions whose C code depends on the schema bind to the entry points
-- of this version (as pg_stat_statements does): the expiry queue is part of
-- the schema from here on, so these no longer look for it.  The entry points
-- the scripts of 0.1.0 to 0.3.0 bound stay in the library for databases not
-- yet updated.
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION topup._vouchers_guard() RETURNS trigger
    AS 'MODULE_PATHNAME', 'topup_vouchers_guard_0_3_1' LANGUAGE C;

CREATE OR REPLACE FUNCTION topup.expire_vouchers(max_rows integer DEFAULT 100000) RETURNS bigint
    AS 'MODULE_PATHNAME', 'topup_expire_vouchers_0_3_1' LANGUAGE C VOLATILE STRICT
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION topup.generate_vouchers(series text, quantity integer, amount numeric,
        currency text DEFAULT 'USD', pin_length integer DEFAULT 12,
        expires_at timestamptz DEFAULT NULL, reseller text DEFAULT NULL,
        client_id text DEFAULT 'default')
    RETURNS topup.series_list
    AS 'MODULE_PATHNAME', 'topup_generate_vouchers_0_3_1' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
