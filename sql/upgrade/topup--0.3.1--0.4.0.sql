-- topup 0.3.1 -> 0.4.0: access (SPEC §8).  Roles bound to clients with
-- duties, row-level security, the audit log; every client_id defaults to
-- topup.current_client(); the money and secret functions keep their
-- errors' statements out of the server log.
\echo Use "ALTER EXTENSION topup UPDATE TO '0.4.0'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Access (SPEC §8): roles bound to clients with duties.  A binding is the
-- whole interface: bind_role grants the role what its duty needs
-- (topup.duty_grants) and the functions, views and row-level security
-- policies act for the clients it is bound to.
-- ---------------------------------------------------------------------------

CREATE TABLE topup.role_bindings (
    role regrole NOT NULL,
    duty text NOT NULL CHECK (duty IN ('app', 'admin', 'reseller', 'auditor', 'provider')),
    client_id text NOT NULL REFERENCES topup.clients,
    reseller text,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CHECK ((duty OPERATOR(pg_catalog.=) 'reseller') = (reseller IS NOT NULL)),
    FOREIGN KEY (client_id, reseller) REFERENCES topup.resellers
);
COMMENT ON TABLE topup.role_bindings IS 'roles bound to clients with a duty (app, admin, reseller, auditor, provider); written by bind_role and unbind_role';
CREATE UNIQUE INDEX role_bindings_key
    ON topup.role_bindings (role, duty, client_id, (COALESCE(reseller, '')));
CREATE INDEX role_bindings_client_idx ON topup.role_bindings (client_id);

-- What each duty is granted.  A function joins a duty with one row here
-- (an upgrade script inserts it and calls topup._grant_duties()); the
-- functions check a caller's client against the duties that grant them.
CREATE TABLE topup.duty_grants (
    duty text NOT NULL,
    privilege text NOT NULL,
    object_kind text NOT NULL CHECK (object_kind IN ('schema', 'routine', 'table')),
    object text NOT NULL,
    columns text[],
    PRIMARY KEY (duty, privilege, object_kind, object)
);
COMMENT ON TABLE topup.duty_grants IS 'the privileges each duty needs; bind_role grants them, unbind_role revokes what no remaining binding needs';

CREATE SEQUENCE topup.audit_id_seq;
COMMENT ON SEQUENCE topup.audit_id_seq IS 'audit entry ids';

CREATE TABLE topup.audit_log (
    audit_id bigint NOT NULL DEFAULT pg_catalog.nextval('topup.audit_id_seq'),
    at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    role name NOT NULL,
    client_id text NOT NULL,
    action text NOT NULL CHECK (action IN ('update', 'delete', 'bind', 'unbind')),
    target text NOT NULL,
    old jsonb,
    new jsonb
);
COMMENT ON TABLE topup.audit_log IS 'every direct change of an admin to vouchers or accounts, and every bind and unbind; append-only';
COMMENT ON COLUMN topup.audit_log.role IS 'the acting role (the admin''s own role, never the extension owner)';
COMMENT ON COLUMN topup.audit_log.target IS 'the voucher''s serial, the account''s account_id, or the bound role''s name';
COMMENT ON COLUMN topup.audit_log.old IS 'the changed public columns before (never PIN data)';
CREATE INDEX audit_log_client_idx ON topup.audit_log (client_id, audit_id);

SELECT pg_catalog.pg_extension_config_dump('topup.role_bindings',
    'WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.oid OPERATOR(pg_catalog.=) role)');
SELECT pg_catalog.pg_extension_config_dump('topup.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('topup.audit_id_seq', '');

-- the vouchers trigger no longer queues row by row: the statement trigger
-- below queues a statement's due dates at once
CREATE OR REPLACE FUNCTION topup._vouchers_guard() RETURNS trigger
    AS 'MODULE_PATHNAME', 'topup_vouchers_guard_0_4_0' LANGUAGE C;

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

-- ---------------------------------------------------------------------------
-- Every client_id defaults to topup.current_client(); the SECURITY DEFINER
-- functions set log_min_error_statement = panic for their own run.
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION topup.create_client(client_id text, name text DEFAULT NULL) RETURNS void
    AS 'MODULE_PATHNAME', 'topup_create_client' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;

CREATE OR REPLACE FUNCTION topup.create_reseller(reseller text, client_id text DEFAULT topup.current_client()) RETURNS void
    AS 'MODULE_PATHNAME', 'topup_create_reseller' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;

CREATE OR REPLACE FUNCTION topup.open_account(account_id text, currency text, kind text DEFAULT 'customer',
        active boolean DEFAULT true, customer_info jsonb DEFAULT NULL,
        client_id text DEFAULT topup.current_client()) RETURNS void
    AS 'MODULE_PATHNAME', 'topup_open_account' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;

CREATE OR REPLACE FUNCTION topup.export_vouchers(series text, client_id text DEFAULT topup.current_client())
    RETURNS TABLE (serial topup.voucher_serial, pin text, amount numeric, currency text,
                   expires_at timestamptz, reseller text, status topup.voucher_status)
    AS 'MODULE_PATHNAME', 'topup_export_vouchers' LANGUAGE C VOLATILE STRICT
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;

CREATE OR REPLACE FUNCTION topup.redeem_voucher(pin text, account_id text, idempotency_key text DEFAULT NULL,
        source text DEFAULT NULL, client_id text DEFAULT topup.current_client())
    RETURNS topup.order_result
    AS 'MODULE_PATHNAME', 'topup_redeem_voucher' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;

CREATE OR REPLACE FUNCTION topup.redeem_voucher_by_serial(serial topup.voucher_serial, account_id text,
        idempotency_key text DEFAULT NULL, client_id text DEFAULT topup.current_client())
    RETURNS topup.order_result
    AS 'MODULE_PATHNAME', 'topup_redeem_voucher_by_serial' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;

CREATE OR REPLACE FUNCTION topup.expire_vouchers(max_rows integer DEFAULT 100000) RETURNS bigint
    AS 'MODULE_PATHNAME', 'topup_expire_vouchers_0_3_1' LANGUAGE C VOLATILE STRICT
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;

CREATE OR REPLACE FUNCTION topup.fund_master(amount numeric, currency text, reference text,
        client_id text DEFAULT topup.current_client()) RETURNS numeric
    AS 'MODULE_PATHNAME', 'topup_fund_master' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;

CREATE OR REPLACE FUNCTION topup.set_pricing(currency text, min_amount numeric, max_amount numeric,
        fee_fixed numeric DEFAULT 0, fee_percent numeric DEFAULT 0,
        client_id text DEFAULT topup.current_client()) RETURNS void
    AS 'MODULE_PATHNAME', 'topup_set_pricing' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;

CREATE OR REPLACE FUNCTION topup.topup_card(account_id text, amount numeric, idempotency_key text,
        currency text DEFAULT NULL, activate boolean DEFAULT false,
        customer_info jsonb DEFAULT NULL, entry_type text DEFAULT 'K',
        channel text DEFAULT NULL, client_id text DEFAULT topup.current_client())
    RETURNS topup.order_result
    AS 'MODULE_PATHNAME', 'topup_topup_card' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;

CREATE OR REPLACE FUNCTION topup.check_order(order_id bigint, client_id text DEFAULT topup.current_client())
    RETURNS topup.order_result
    AS 'MODULE_PATHNAME', 'topup_check_order_by_id' LANGUAGE C STABLE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;

CREATE OR REPLACE FUNCTION topup.check_order(idempotency_key text, order_type text DEFAULT 'card_topup',
        client_id text DEFAULT topup.current_client())
    RETURNS topup.order_result
    AS 'MODULE_PATHNAME', 'topup_check_order_by_key' LANGUAGE C STABLE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;

CREATE OR REPLACE FUNCTION topup.order_json(order_id bigint, client_id text DEFAULT topup.current_client()) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'topup_order_json' LANGUAGE C STABLE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;

CREATE OR REPLACE FUNCTION topup.generate_vouchers(series text, quantity integer, amount numeric,
        currency text DEFAULT 'USD', pin_length integer DEFAULT 12,
        expires_at timestamptz DEFAULT NULL, reseller text DEFAULT NULL,
        client_id text DEFAULT topup.current_client())
    RETURNS topup.series_list
    AS 'MODULE_PATHNAME', 'topup_generate_vouchers_0_3_1' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;

-- ---------------------------------------------------------------------------
-- Admin views.  They read the tables with the owner's rights and show the
-- calling role only the rows of its clients (topup._visible: admins and
-- auditors see their clients' rows, a reseller the vouchers of its own
-- reseller); the owner and superusers see everything.  security_barrier
-- keeps a caller's own functions from seeing the other rows.  (Views with
-- the caller's rights would need the caller to read pin_cipher for
-- pin_masked: see the README, "Access".)
-- ---------------------------------------------------------------------------

CREATE OR REPLACE VIEW topup.voucher_list WITH (security_barrier) AS
SELECT v.status, v.serial, v.series, v.amount, v.currency,
       topup._pin_masked(v.pin_cipher, v.pin_hash) AS pin_masked,
       v.reseller, v.activated_at, v.activated_by, v.created_at, v.expires_at,
       v.client_id
  FROM topup.vouchers v
 WHERE topup._visible(v.client_id, v.reseller);
COMMENT ON VIEW topup.voucher_list IS 'admin table of vouchers; the PIN is masked but for its last two digits';

-- A reseller sees only the series that hold its vouchers, counted over them.
CREATE OR REPLACE VIEW topup.series_list WITH (security_barrier) AS
SELECT s.client_id, s.series, s.amount, s.currency,
       pg_catalog.count(v.serial) AS quantity,
       pg_catalog.count(v.serial) FILTER (WHERE v.status OPERATOR(pg_catalog.=) 'new') AS new,
       pg_catalog.count(v.serial) FILTER (WHERE v.status OPERATOR(pg_catalog.=) 'activated') AS activated,
       pg_catalog.count(v.serial) FILTER (WHERE v.status OPERATOR(pg_catalog.=) 'expired') AS expired,
       pg_catalog.count(v.serial) FILTER (WHERE v.status OPERATOR(pg_catalog.=) 'blocked') AS blocked,
       s.amount OPERATOR(pg_catalog.*) pg_catalog.count(v.serial) FILTER (WHERE v.status OPERATOR(pg_catalog.=) 'new') AS value_outstanding,
       s.amount OPERATOR(pg_catalog.*) pg_catalog.count(v.serial) FILTER (WHERE v.status OPERATOR(pg_catalog.=) 'activated') AS value_redeemed,
       topup.make_serial(s.series, pg_catalog.min(topup.serial_number(v.serial))) AS first_serial,
       topup.make_serial(s.series, pg_catalog.max(topup.serial_number(v.serial))) AS last_serial,
       s.created_at, s.last_generated_at,
       pg_catalog.min(v.expires_at) AS expires_min,
       pg_catalog.max(v.expires_at) AS expires_max
  FROM topup.series s
  LEFT JOIN topup.vouchers v
    ON v.client_id OPERATOR(pg_catalog.=) s.client_id
   AND v.series OPERATOR(pg_catalog.=) s.series
   AND topup._visible(v.client_id, v.reseller)
 GROUP BY s.client_id, s.series
HAVING topup._visible(s.client_id, NULL) OR pg_catalog.count(v.serial) OPERATOR(pg_catalog.>) 0;
COMMENT ON VIEW topup.series_list IS 'admin table of voucher series with counts per status and outstanding value';

CREATE OR REPLACE VIEW topup.account_list WITH (security_barrier) AS
SELECT a.client_id, a.account_id, a.kind, a.currency, a.balance, a.status,
       a.created_at, a.activated_at,
       NULLIF(pg_catalog.concat_ws(' ',
                  NULLIF(a.customer_info OPERATOR(pg_catalog.->>) 'firstName', ''),
                  NULLIF(a.customer_info OPERATOR(pg_catalog.->>) 'middleName', ''),
                  NULLIF(a.customer_info OPERATOR(pg_catalog.->>) 'lastName', '')), '') AS customer_name
  FROM topup.accounts a
 WHERE topup._visible(a.client_id, NULL);
COMMENT ON VIEW topup.account_list IS 'admin table of customer accounts and prepaid cards';

CREATE OR REPLACE VIEW topup.account_payments WITH (security_barrier) AS
SELECT l.client_id, l.account_id, l.created_at,
       CASE o.order_type
           WHEN 'voucher_redeem' THEN 'voucher'
           WHEN 'card_topup' THEN 'topup'
           ELSE o.order_type
       END AS payment_type,
       l.amount, l.currency, l.balance_after,
       CASE o.order_type
           WHEN 'voucher_redeem' THEN 'voucher ' OPERATOR(pg_catalog.||) o.serial::text
           ELSE pg_catalog.concat_ws(' ', 'top-up', o.reference,
                                     'via ' OPERATOR(pg_catalog.||) o.channel)
       END AS comment,
       l.order_id
  FROM topup.ledger l
  JOIN topup.orders o ON o.order_id OPERATOR(pg_catalog.=) l.order_id
 WHERE l.book OPERATOR(pg_catalog.=) 'account'
   AND topup._visible(l.client_id, NULL);
COMMENT ON VIEW topup.account_payments IS 'a customer''s payment history: every credit to an account with its balance after';

CREATE OR REPLACE VIEW topup.order_list WITH (security_barrier) AS
SELECT o.order_id, o.order_type, o.status, o.topup_status, o.client_id, o.account_id,
       o.serial, o.amount, o.fee, o.currency, o.master_balance_before,
       o.master_balance_after, o.account_balance_after, o.error_slug, o.error_message,
       o.idempotency_key, o.reference, o.created_at, o.completed_at, o.failed_at
  FROM topup.orders o
 WHERE topup._visible(o.client_id, NULL);
COMMENT ON VIEW topup.order_list IS 'admin table of orders (the order_result columns but replayed)';

CREATE OR REPLACE VIEW topup.master_balances WITH (security_barrier) AS
SELECT client_id, currency, pg_catalog.sum(balance) AS balance
  FROM topup.balance_slots
 WHERE book OPERATOR(pg_catalog.=) 'master'
   AND topup._visible(client_id, NULL)
 GROUP BY client_id, currency;
COMMENT ON VIEW topup.master_balances IS 'master balance of each client and currency';

CREATE OR REPLACE VIEW topup.fee_balances WITH (security_barrier) AS
SELECT client_id, currency, pg_catalog.sum(balance) AS balance
  FROM topup.balance_slots
 WHERE book OPERATOR(pg_catalog.=) 'fee'
   AND topup._visible(client_id, NULL)
 GROUP BY client_id, currency;
COMMENT ON VIEW topup.fee_balances IS 'fee account balance of each client and currency';

-- ---------------------------------------------------------------------------
-- Audit
-- ---------------------------------------------------------------------------

-- Every broken invariant, with the client it belongs to (owner only).
CREATE FUNCTION topup._ledger_problems() RETURNS TABLE (client_id text, problem text, detail text)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    -- each account's balance equals the sum of its ledger entries
    SELECT a.client_id, 'balance_mismatch',
           pg_catalog.format('account %s of client %s has balance %s but its ledger sums to %s',
                             a.account_id, a.client_id, a.balance, COALESCE(l.total, 0))
      FROM topup.accounts a
      LEFT JOIN (SELECT client_id, account_id, pg_catalog.sum(amount) AS total
                   FROM topup.ledger WHERE book = 'account'
                  GROUP BY client_id, account_id) l
        ON l.client_id = a.client_id AND l.account_id = a.account_id
     WHERE a.balance <> COALESCE(l.total, 0)
    UNION ALL
    -- each master balance and fee account equals the sum of its entries
    SELECT COALESCE(s.client_id, l.client_id), 'balance_mismatch',
           pg_catalog.format('%s balance of client %s in %s is %s but its ledger sums to %s',
                             COALESCE(s.book, l.book), COALESCE(s.client_id, l.client_id),
                             COALESCE(s.currency, l.currency), COALESCE(s.total, 0), COALESCE(l.total, 0))
      FROM (SELECT client_id, currency, book, pg_catalog.sum(balance) AS total
              FROM topup.balance_slots GROUP BY client_id, currency, book) s
      FULL JOIN (SELECT client_id, currency, book, pg_catalog.sum(amount) AS total
                   FROM topup.ledger WHERE book IN ('master', 'fee')
                  GROUP BY client_id, currency, book) l
        ON l.client_id = s.client_id AND l.currency = s.currency AND l.book = s.book
     WHERE COALESCE(s.total, 0) <> COALESCE(l.total, 0)
    UNION ALL
    -- ledger entries of accounts that do not exist
    SELECT l.client_id, 'orphan_entry',
           pg_catalog.format('ledger entry %s names account %s of client %s, which does not exist',
                             l.entry_id, l.account_id, l.client_id)
      FROM topup.ledger l
     WHERE l.book = 'account'
       AND NOT EXISTS (SELECT 1 FROM topup.accounts a
                        WHERE a.client_id = l.client_id AND a.account_id = l.account_id)
    UNION ALL
    -- each order's (and funding's) entries sum to zero per currency
    SELECT pg_catalog.min(client_id), 'unbalanced_order',
           pg_catalog.format('entries of order %s sum to %s %s instead of zero',
                             order_id, pg_catalog.sum(amount), currency)
      FROM topup.ledger
     WHERE order_id IS NOT NULL
     GROUP BY order_id, currency
    HAVING pg_catalog.sum(amount) <> 0
    UNION ALL
    SELECT pg_catalog.min(client_id), 'unbalanced_funding',
           pg_catalog.format('entries of funding %s sum to %s %s instead of zero',
                             funding_id, pg_catalog.sum(amount), currency)
      FROM topup.ledger
     WHERE funding_id IS NOT NULL
     GROUP BY funding_id, currency
    HAVING pg_catalog.sum(amount) <> 0
    UNION ALL
    -- no balance is negative
    SELECT client_id, 'negative_balance',
           pg_catalog.format('account %s of client %s has negative balance %s',
                             account_id, client_id, balance)
      FROM topup.accounts
     WHERE balance < 0
    UNION ALL
    SELECT client_id, 'negative_balance',
           pg_catalog.format('%s slot %s of client %s in %s has negative balance %s',
                             book, slot, client_id, currency, balance)
      FROM topup.balance_slots
     WHERE balance < 0
    UNION ALL
    -- each completed order has its entries, each failed order none
    SELECT o.client_id, 'completed_without_entries',
           pg_catalog.format('completed order %s has no ledger entries', o.order_id)
      FROM topup.orders o
     WHERE o.status = 'completed'
       AND NOT EXISTS (SELECT 1 FROM topup.ledger l WHERE l.order_id = o.order_id)
    UNION ALL
    SELECT o.client_id, 'failed_with_entries',
           pg_catalog.format('%s order %s has ledger entries', o.status, o.order_id)
      FROM topup.orders o
     WHERE o.status <> 'completed'
       AND EXISTS (SELECT 1 FROM topup.ledger l WHERE l.order_id = o.order_id)
    UNION ALL
    SELECT l.client_id, 'entries_without_order',
           pg_catalog.format('ledger entry %s belongs to order %s, which does not exist',
                             l.entry_id, l.order_id)
      FROM topup.ledger l
     WHERE l.order_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM topup.orders o WHERE o.order_id = l.order_id)
    UNION ALL
    SELECT l.client_id, 'entries_without_funding',
           pg_catalog.format('ledger entry %s belongs to funding %s, which does not exist',
                             l.entry_id, l.funding_id)
      FROM topup.ledger l
     WHERE l.funding_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM topup.fundings f WHERE f.funding_id = l.funding_id)
    UNION ALL
    -- a completed redeem credits exactly its amount to its account
    SELECT o.client_id, 'redeem_credit_mismatch',
           pg_catalog.format('completed redeem order %s of %s %s credited %s to account %s',
                             o.order_id, o.amount, o.currency, COALESCE(c.total, 0), o.account_id)
      FROM topup.orders o
      LEFT JOIN (SELECT order_id, account_id, pg_catalog.sum(amount) AS total
                   FROM topup.ledger WHERE book = 'account'
                  GROUP BY order_id, account_id) c
        ON c.order_id = o.order_id AND c.account_id = o.account_id
     WHERE o.order_type = 'voucher_redeem' AND o.status = 'completed'
       AND COALESCE(c.total, 0) <> o.amount
    UNION ALL
    -- a completed top-up credits its amount to the card, charges amount + fee
    -- to the master balance and credits the fee; before - after = amount + fee
    SELECT o.client_id, 'topup_entries_mismatch',
           pg_catalog.format('completed top-up %s of %s + fee %s %s: card %s, master %s, fee %s, balance %s -> %s',
                             o.order_id, o.amount, o.fee, o.currency, COALESCE(e.card, 0),
                             COALESCE(e.master, 0), COALESCE(e.fee, 0),
                             o.master_balance_before, o.master_balance_after)
      FROM topup.orders o
      LEFT JOIN (SELECT order_id,
                        pg_catalog.sum(amount) FILTER (WHERE book = 'account') AS card,
                        pg_catalog.sum(amount) FILTER (WHERE book = 'master') AS master,
                        pg_catalog.sum(amount) FILTER (WHERE book = 'fee') AS fee
                   FROM topup.ledger WHERE order_id IS NOT NULL
                  GROUP BY order_id) e
        ON e.order_id = o.order_id
     WHERE o.order_type = 'card_topup' AND o.status = 'completed'
       AND (COALESCE(e.card, 0) <> o.amount
            OR COALESCE(e.master, 0) <> - (o.amount + o.fee)
            OR COALESCE(e.fee, 0) <> o.fee
            OR o.master_balance_before - o.master_balance_after <> o.amount + o.fee
            OR o.master_balance_after < 0)
    UNION ALL
    -- each activated voucher has a completed redeem order for its amount
    SELECT v.client_id, 'voucher_without_order',
           pg_catalog.format('activated voucher %s of client %s has no completed redeem order for %s %s',
                             v.serial, v.client_id, v.amount, v.currency)
      FROM topup.vouchers v
     WHERE v.status = 'activated'
       AND NOT EXISTS (SELECT 1 FROM topup.orders o
                        WHERE o.order_id = v.order_id
                          AND o.client_id = v.client_id
                          AND o.order_type = 'voucher_redeem'
                          AND o.status = 'completed'
                          AND o.serial OPERATOR(topup.=) v.serial
                          AND o.amount = v.amount
                          AND o.currency = v.currency)
$$;
COMMENT ON FUNCTION topup._ledger_problems() IS 'internal: every broken invariant of balances, ledger, orders and vouchers, with its client';

CREATE FUNCTION topup._forget_dropped_roles() RETURNS void
    AS 'MODULE_PATHNAME', 'topup_forget_dropped_roles' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION topup._forget_dropped_roles() IS 'internal: remove the bindings of roles that no longer exist';

-- The auditor's view of it: the problems of the caller's clients (all of
-- them for the owner).  It also removes the bindings of dropped roles.
CREATE OR REPLACE FUNCTION topup.verify_ledger() RETURNS TABLE (problem text, detail text)
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic
AS $$
    SELECT topup._forget_dropped_roles();
    SELECT p.problem, p.detail FROM topup._ledger_problems() p WHERE topup._visible(p.client_id, NULL);
$$;
COMMENT ON FUNCTION topup.verify_ledger() IS 'audit: one row per broken invariant of balances, ledger, orders and vouchers; empty when all holds';

-- ---------------------------------------------------------------------------
-- Row-level security on the tables a bound admin edits directly (the
-- mass-edit interface of §2 and the account status) and on the audit log
-- its admins and auditors read.  Rows of other clients are invisible, not
-- refused.  The extension owner bypasses these policies as the tables'
-- owner; the extension's own functions run as the owner.
-- ---------------------------------------------------------------------------

ALTER TABLE topup.vouchers ENABLE ROW LEVEL SECURITY;
CREATE POLICY bound_admins ON topup.vouchers
    USING (topup._may_edit(client_id)) WITH CHECK (topup._may_edit(client_id));
ALTER TABLE topup.accounts ENABLE ROW LEVEL SECURITY;
CREATE POLICY bound_admins ON topup.accounts
    USING (topup._may_edit(client_id)) WITH CHECK (topup._may_edit(client_id));
ALTER TABLE topup.audit_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY bound_readers ON topup.audit_log FOR SELECT
    USING (topup._visible(client_id, NULL));

-- ---------------------------------------------------------------------------
-- The duties of §8: what bind_role grants a role for each.  Every duty gets
-- what its calls need to work at all: USAGE on the schema, current_client,
-- and the serial type's functions and operators (a mass edit's WHERE
-- serial = '101-00000420' calls them).  A function that joins a duty later
-- is one row more (see topup._grant_duties).
-- ---------------------------------------------------------------------------

INSERT INTO topup.duty_grants (duty, privilege, object_kind, object, columns)
SELECT d.duty, g.privilege, g.object_kind, g.object, g.columns
  FROM (VALUES ('app'), ('admin'), ('reseller'), ('auditor'), ('provider')) AS d(duty),
       (VALUES ('USAGE', 'schema', 'topup', NULL::text[]),
               ('EXECUTE', 'routine', 'topup.current_client()', NULL),
               ('EXECUTE', 'routine', 'topup.serial_series(topup.voucher_serial)', NULL),
               ('EXECUTE', 'routine', 'topup.serial_number(topup.voucher_serial)', NULL),
               ('EXECUTE', 'routine', 'topup.make_serial(text,bigint)', NULL),
               ('EXECUTE', 'routine', 'topup.voucher_serial_eq(topup.voucher_serial,topup.voucher_serial)', NULL),
               ('EXECUTE', 'routine', 'topup.voucher_serial_ne(topup.voucher_serial,topup.voucher_serial)', NULL),
               ('EXECUTE', 'routine', 'topup.voucher_serial_lt(topup.voucher_serial,topup.voucher_serial)', NULL),
               ('EXECUTE', 'routine', 'topup.voucher_serial_le(topup.voucher_serial,topup.voucher_serial)', NULL),
               ('EXECUTE', 'routine', 'topup.voucher_serial_gt(topup.voucher_serial,topup.voucher_serial)', NULL),
               ('EXECUTE', 'routine', 'topup.voucher_serial_ge(topup.voucher_serial,topup.voucher_serial)', NULL),
               ('EXECUTE', 'routine', 'topup.voucher_serial_cmp(topup.voucher_serial,topup.voucher_serial)', NULL),
               ('EXECUTE', 'routine', 'topup.voucher_serial_hash(topup.voucher_serial)', NULL),
               ('EXECUTE', 'routine', 'topup.voucher_serial_hash_extended(topup.voucher_serial,bigint)', NULL))
       AS g(privilege, object_kind, object, columns);

-- app: the API client's calls; admin: all of app
INSERT INTO topup.duty_grants (duty, privilege, object_kind, object)
SELECT d.duty, 'EXECUTE', 'routine', f.fn
  FROM (VALUES ('app'), ('admin')) AS d(duty),
       (VALUES ('topup.redeem_voucher(text,text,text,text,text)'),
               ('topup.topup_card(text,numeric,text,text,boolean,jsonb,text,text,text)'),
               ('topup.check_order(bigint,text)'),
               ('topup.check_order(text,text,text)'),
               ('topup.order_json(bigint,text)'),
               ('topup.open_account(text,text,text,boolean,jsonb,text)')) AS f(fn);

-- admin, reseller, auditor: the views and what they call
INSERT INTO topup.duty_grants (duty, privilege, object_kind, object)
SELECT d.duty, g.privilege, g.object_kind, g.object
  FROM (VALUES ('admin'), ('auditor')) AS d(duty),
       (VALUES ('SELECT', 'table', 'topup.voucher_list'),
               ('SELECT', 'table', 'topup.series_list'),
               ('SELECT', 'table', 'topup.account_list'),
               ('SELECT', 'table', 'topup.account_payments'),
               ('SELECT', 'table', 'topup.order_list'),
               ('SELECT', 'table', 'topup.master_balances'),
               ('SELECT', 'table', 'topup.fee_balances')) AS g(privilege, object_kind, object)
UNION ALL
SELECT d.duty, 'SELECT', 'table', v.view
  FROM (VALUES ('reseller')) AS d(duty),
       (VALUES ('topup.voucher_list'), ('topup.series_list')) AS v(view)
UNION ALL
SELECT d.duty, 'EXECUTE', 'routine', f.fn
  FROM (VALUES ('admin'), ('reseller'), ('auditor')) AS d(duty),
       (VALUES ('topup._visible(text,text)'), ('topup._pin_masked(bytea,bytea)')) AS f(fn);

-- admin: vouchers, the mass-edit interface
INSERT INTO topup.duty_grants (duty, privilege, object_kind, object, columns) VALUES
    ('admin', 'EXECUTE', 'routine', 'topup.generate_vouchers(text,integer,numeric,text,integer,timestamp with time zone,text,text)', NULL),
    ('admin', 'EXECUTE', 'routine', 'topup.export_vouchers(text,text)', NULL),
    ('admin', 'EXECUTE', 'routine', 'topup.create_reseller(text,text)', NULL),
    ('admin', 'EXECUTE', 'routine', 'topup.redeem_voucher_by_serial(topup.voucher_serial,text,text,text)', NULL),
    ('admin', 'EXECUTE', 'routine', 'topup._may_edit(text)', NULL),
    ('admin', 'SELECT', 'table', 'topup.vouchers',
        '{serial,client_id,series,amount,currency,status,reseller,expires_at,created_at,activated_at,activated_by,order_id}'),
    ('admin', 'UPDATE', 'table', 'topup.vouchers', '{expires_at,reseller,status}'),
    ('admin', 'DELETE', 'table', 'topup.vouchers', NULL),
    ('admin', 'SELECT', 'table', 'topup.accounts',
        '{client_id,account_id,kind,currency,balance,status,customer_info,created_at,activated_at}'),
    ('admin', 'UPDATE', 'table', 'topup.accounts', '{status,customer_info}'),
    ('admin', 'SELECT', 'table', 'topup.audit_log', NULL),
    -- reseller: its own cards
    ('reseller', 'EXECUTE', 'routine', 'topup.export_vouchers(text,text)', NULL),
    -- auditor: the audit log and the ledger check
    ('auditor', 'SELECT', 'table', 'topup.audit_log', NULL),
    ('auditor', 'EXECUTE', 'routine', 'topup.verify_ledger()', NULL);

-- nothing for PUBLIC
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA topup FROM PUBLIC;
REVOKE ALL ON ALL PROCEDURES IN SCHEMA topup FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA topup FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA topup FROM PUBLIC;
