SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS topup CASCADE;
RESET client_min_messages;

--
-- Access (SPEC §8): roles bound to clients with duties.  Every function is
-- tried as the roles that may and may not call it (SET ROLE), for the
-- role's own client, another client and a client that does not exist; the
-- views, the mass edit and the audit log as each duty; the calling role
-- with SET ROLE and inherited roles; a dropped role's binding.
--
SET client_min_messages = warning;
DROP ROLE IF EXISTS acc_app, acc_admin, acc_reseller, acc_auditor, acc_provider, acc_nobody,
    acc_multi, acc_group, acc_member, acc_noinherit, acc_dropped;
RESET client_min_messages;
CREATE ROLE acc_app;
CREATE ROLE acc_admin;
CREATE ROLE acc_reseller;
CREATE ROLE acc_auditor;
CREATE ROLE acc_provider;
CREATE ROLE acc_nobody;
CREATE ROLE acc_multi;
CREATE ROLE acc_group NOLOGIN;
CREATE ROLE acc_member IN ROLE acc_group;
CREATE ROLE acc_noinherit NOINHERIT IN ROLE acc_group;

SELECT topup.create_client('acc_a');
SELECT topup.create_client('acc_b');
SELECT topup.create_reseller('shop1', 'acc_a');
SELECT topup.create_reseller('shop2', 'acc_a');
SELECT topup.create_reseller('shop1', 'acc_b');
SELECT topup.open_account(c || '_cust', 'USD', client_id => c) FROM (VALUES ('acc_a'), ('acc_b')) AS x(c);
SELECT topup.open_account(c || '_card', 'USD', 'card', client_id => c) FROM (VALUES ('acc_a'), ('acc_b')) AS x(c);
SELECT topup.set_pricing('USD', 1, 100, 0.5, 0, c) FROM (VALUES ('acc_a'), ('acc_b')) AS x(c);
SELECT topup.fund_master(1000, 'USD', 'fund-' || c, c) FROM (VALUES ('acc_a'), ('acc_b')) AS x(c);
SELECT series, quantity FROM topup.generate_vouchers('S1', 4, 10, 'USD', reseller => 'shop1', client_id => 'acc_a');
SELECT series, quantity FROM topup.generate_vouchers('S2', 3, 10, 'USD', reseller => 'shop2', client_id => 'acc_a');
SELECT series, quantity FROM topup.generate_vouchers('S1', 2, 10, 'USD', reseller => 'shop1', client_id => 'acc_b');
SELECT series, quantity FROM topup.generate_vouchers('BX', 2, 10, 'USD', expires_at => now() + interval '30 days',
                                                    client_id => 'acc_b');
CREATE TEMP TABLE acc_pins AS
SELECT 'acc_a' AS client_id, * FROM topup.export_vouchers('S1', 'acc_a')
UNION ALL SELECT 'acc_a', * FROM topup.export_vouchers('S2', 'acc_a')
UNION ALL SELECT 'acc_b', * FROM topup.export_vouchers('S1', 'acc_b')
UNION ALL SELECT 'acc_b', * FROM topup.export_vouchers('BX', 'acc_b');
GRANT SELECT ON acc_pins TO PUBLIC;
SELECT client_id, count(*) FROM acc_pins GROUP BY client_id ORDER BY 1;

--
-- 1. Binding: only the owner binds; every bad argument is 22023; binding
-- what is bound changes nothing.
--
CREATE FUNCTION pg_temp.try(cmd text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    st text;
    msg text;
BEGIN
    EXECUTE cmd;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    RETURN st || ': ' || msg;
END $$;
GRANT EXECUTE ON FUNCTION pg_temp.try(text) TO PUBLIC;

SELECT topup.bind_role('acc_app', 'app', 'acc_a');
SELECT topup.bind_role('acc_admin', 'admin', 'acc_a');
SELECT topup.bind_role('acc_reseller', 'reseller', 'acc_a', 'shop1');
SELECT topup.bind_role('acc_auditor', 'auditor', 'acc_a');
SELECT topup.bind_role('acc_provider', 'provider', 'acc_a');
SELECT topup.bind_role('acc_multi', 'app', 'acc_a');
SELECT topup.bind_role('acc_multi', 'app', 'acc_b');
SELECT topup.bind_role('acc_group', 'admin', 'acc_b');
SELECT pg_temp.try(c) FROM (VALUES
    ($$SELECT topup.bind_role('acc_app', 'cashier', 'acc_a')$$),
    ($$SELECT topup.bind_role('acc_app', NULL, 'acc_a')$$),
    ($$SELECT topup.bind_role('acc_app', 'app', 'acc_none')$$),
    ($$SELECT topup.bind_role('acc_app', 'app', NULL)$$),
    ($$SELECT topup.bind_role(NULL, 'app', 'acc_a')$$),
    ($$SELECT topup.bind_role('acc_app', 'reseller', 'acc_a')$$),
    ($$SELECT topup.bind_role('acc_app', 'app', 'acc_a', 'shop1')$$),
    ($$SELECT topup.bind_role('acc_app', 'reseller', 'acc_a', 'shop9')$$),
    ($$SELECT topup.bind_role('acc_none_role', 'app', 'acc_a')$$),
    ($$SELECT topup.unbind_role('acc_app', 'cashier', 'acc_a')$$),
    ($$SELECT topup.unbind_role('acc_app', 'app', 'acc_none')$$)) AS x(c);
CREATE TEMP VIEW acc_counts AS
SELECT (SELECT count(*) FROM topup.role_bindings) AS bindings,
       (SELECT count(*) FROM topup.audit_log WHERE action IN ('bind', 'unbind')) AS audited;
SELECT * FROM acc_counts;
SELECT topup.bind_role('acc_app', 'app', 'acc_a');
SELECT * FROM acc_counts;
SELECT role, duty, client_id, reseller FROM topup.role_bindings ORDER BY role::text, duty, client_id;
SELECT role, client_id, action, target, old, new FROM topup.audit_log
 WHERE target = 'acc_reseller' ORDER BY audit_id;
-- only the owner (or a superuser) binds, whatever EXECUTE says
SET ROLE acc_admin;
SELECT pg_temp.try($$SELECT topup.bind_role('acc_admin', 'admin', 'acc_b')$$);
RESET ROLE;
GRANT EXECUTE ON FUNCTION topup.bind_role(regrole, text, text, text) TO acc_admin;
SET ROLE acc_admin;
SELECT pg_temp.try($$SELECT topup.bind_role('acc_admin', 'admin', 'acc_b')$$);
RESET ROLE;
REVOKE EXECUTE ON FUNCTION topup.bind_role(regrole, text, text, text) FROM acc_admin;

--
-- 2. current_client(): the one client of the calling role, 'default' for
-- none or several (and for the owner); inherited bindings count.
--
CREATE TEMP TABLE acc_roles (r text PRIMARY KEY);
INSERT INTO acc_roles VALUES ('acc_app'), ('acc_admin'), ('acc_reseller'), ('acc_auditor'),
    ('acc_provider'), ('acc_nobody'), ('acc_multi'), ('acc_member'), ('acc_noinherit');
GRANT SELECT ON acc_roles TO PUBLIC;
SELECT topup.current_client() AS owner;
SET ROLE acc_app;
SELECT topup.current_client() AS app;
SET ROLE acc_multi;
SELECT topup.current_client() AS multi;
SET ROLE acc_member;
SELECT topup.current_client() AS member_inherits;
RESET ROLE;
SET ROLE acc_noinherit;
SELECT pg_temp.try('SELECT topup.current_client()') AS noinherit;
RESET ROLE;
SET ROLE acc_noinherit;
SET ROLE acc_group;
SELECT topup.current_client() AS noinherit_after_set_role_group;
RESET ROLE;

--
-- 3. Every function, as every kind of role, for its own client, another
-- client and a client that does not exist.  Each call runs in a
-- subtransaction that is rolled back, so the calls leave nothing behind.
-- "same" says the other client's error is exactly the unknown one's (with
-- the names swapped).
--
CREATE TEMP TABLE acc_calls (n serial, name text, sql text);
INSERT INTO acc_calls (name, sql) VALUES
    ('redeem_voucher', $$SELECT status FROM topup.redeem_voucher('123456789012', '%1$s_cust', NULL, NULL, '%1$s')$$),
    ('redeem_voucher_by_serial', $$SELECT status FROM topup.redeem_voucher_by_serial(topup.make_serial('S1', 1), '%1$s_cust', NULL, '%1$s')$$),
    ('topup_card', $$SELECT status FROM topup.topup_card('%1$s_card', 5, 'k-%1$s', client_id => '%1$s')$$),
    ('check_order(key)', $$SELECT status FROM topup.check_order('no-such-key'::text, 'card_topup', '%1$s')$$),
    ('check_order(id)', $$SELECT status FROM topup.check_order(0::bigint, '%1$s')$$),
    ('order_json', $$SELECT topup.order_json(0, '%1$s')$$),
    ('open_account', $$SELECT topup.open_account('new', 'USD', client_id => '%1$s')$$),
    ('generate_vouchers', $$SELECT series FROM topup.generate_vouchers('G', 1, 5, client_id => '%1$s')$$),
    ('export_vouchers', $$SELECT count(*) FROM topup.export_vouchers('S1', '%1$s')$$),
    ('create_reseller', $$SELECT topup.create_reseller('shop7', '%1$s')$$),
    ('fund_master', $$SELECT topup.fund_master(1, 'USD', 'r', '%1$s')$$),
    ('set_pricing', $$SELECT topup.set_pricing('USD', 1, 2, client_id => '%1$s')$$),
    ('verify_ledger', $$SELECT count(*) FROM topup.verify_ledger()$$),
    ('create_client', $$SELECT topup.create_client('%1$s_x')$$),
    ('expire_vouchers', $$SELECT topup.expire_vouchers()$$),
    ('schedule_expiry', $$SELECT topup.schedule_expiry()$$),
    ('unbind_role', $$SELECT topup.unbind_role('acc_app', 'app', '%1$s')$$);

CREATE FUNCTION pg_temp.call_as(r text, cmd text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    st text;
    msg text;
BEGIN
    BEGIN
        EXECUTE format('SET LOCAL ROLE %I', r);
        EXECUTE cmd;
        RAISE EXCEPTION 'rolled back' USING ERRCODE = 'XX999';
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    END;
    RETURN CASE WHEN st = 'XX999' THEN 'ok' ELSE st || ': ' || msg END;
END $$;

CREATE TEMP TABLE acc_results AS
SELECT r.r AS role, c.n, c.name,
       pg_temp.call_as(r.r, format(c.sql, 'acc_a')) AS own,
       pg_temp.call_as(r.r, format(c.sql, 'acc_b')) AS other,
       pg_temp.call_as(r.r, format(c.sql, 'acc_none')) AS unknown
  FROM acc_roles r CROSS JOIN acc_calls c
 WHERE r.r IN ('acc_app', 'acc_admin', 'acc_reseller', 'acc_auditor', 'acc_provider', 'acc_nobody');
SELECT name, role, own, other = unknown_as_other AS same, left(other, 60) AS other
  FROM (SELECT *, replace(unknown, 'acc_none', 'acc_b') AS unknown_as_other FROM acc_results) x
 ORDER BY n, role;
-- the owner, for the record: everything works for a client, unknown is 22023
SELECT c.name, pg_temp.call_as('postgres', format(c.sql, 'acc_a')) AS own,
       left(pg_temp.call_as('postgres', format(c.sql, 'acc_none')), 60) AS unknown
  FROM acc_calls c WHERE c.name NOT IN ('verify_ledger', 'create_client', 'expire_vouchers', 'schedule_expiry')
 ORDER BY c.n;
-- nothing was left behind by the calls
SELECT count(*) AS orders FROM topup.orders WHERE client_id IN ('acc_a', 'acc_b');

--
-- 4. Default client: a role bound to one client acts for it without naming
-- it.  From here on topup is on the search_path, as the README recommends
-- (the serial type's operators live in schema topup).
--
SET search_path = "$user", public, topup;
SET ROLE acc_app;
SELECT status, error_slug, client_id, account_id, amount
  FROM topup.redeem_voucher((SELECT pin FROM acc_pins WHERE client_id = 'acc_a' AND serial = topup.make_serial('S1', 1)),
                            'acc_a_cust');
SELECT status, client_id, amount, fee FROM topup.topup_card('acc_a_card', 20, 'app-k1');
SELECT status, client_id FROM topup.check_order('app-k1'::text);
RESET ROLE;
SET ROLE acc_multi;
-- bound to two clients: the default is 'default', which it is not bound to
SELECT pg_temp.try($$SELECT topup.topup_card('acc_a_card', 20, 'multi-k1')$$);
SELECT status, client_id FROM topup.topup_card('acc_b_card', 20, 'multi-k1', client_id => 'acc_b');
RESET ROLE;

--
-- 5. Views: each duty sees its clients' rows (a reseller its own vouchers),
-- never another client's; the role with no duty sees nothing.
--
CREATE FUNCTION pg_temp.view_counts() RETURNS TABLE (view text, clients text, rows bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v text;
BEGIN
    FOREACH v IN ARRAY ARRAY['voucher_list', 'series_list', 'account_list', 'account_payments',
                             'order_list', 'master_balances', 'fee_balances', 'audit_log'] LOOP
        BEGIN
            RETURN QUERY EXECUTE format(
                'SELECT %L, string_agg(DISTINCT client_id, %L ORDER BY client_id), count(*) FROM topup.%I
                  WHERE client_id LIKE %L', v, ',', v, 'acc_%');
        EXCEPTION WHEN insufficient_privilege THEN
            RETURN QUERY SELECT v, 'permission denied'::text, NULL::bigint;
        END;
    END LOOP;
END $$;
SELECT * FROM pg_temp.view_counts();
SET ROLE acc_admin;
SELECT * FROM pg_temp.view_counts();
SET ROLE acc_auditor;
SELECT * FROM pg_temp.view_counts();
SET ROLE acc_reseller;
SELECT * FROM pg_temp.view_counts();
SELECT series, reseller, count(*) FROM topup.voucher_list GROUP BY 1, 2 ORDER BY 1, 2;
-- series_list counts only its vouchers, and shows only series holding some
SELECT client_id, series, quantity, new, activated, value_outstanding, first_serial, last_serial
  FROM topup.series_list ORDER BY 1, 2;
SET ROLE acc_app;
SELECT * FROM pg_temp.view_counts();
SET ROLE acc_provider;
SELECT * FROM pg_temp.view_counts();
SET ROLE acc_nobody;
SELECT * FROM pg_temp.view_counts();
RESET ROLE;
-- the admin's series_list counts every voucher of its series
SET ROLE acc_admin;
SELECT client_id, series, quantity, new, activated, value_outstanding FROM topup.series_list ORDER BY 1, 2;
RESET ROLE;

--
-- 6. Secrets: no duty reads pin_hash, pin_cipher or the secret; no PIN
-- appears in anything any duty can select (every table and view it may
-- read, whole rows).
--
CREATE FUNCTION pg_temp.pins_seen() RETURNS TABLE (relation text, pins bigint)
LANGUAGE plpgsql AS $$
DECLARE
    rel regclass;
    cols text;
    n bigint;
BEGIN
    FOR rel IN SELECT c.oid FROM pg_class c
                WHERE c.relnamespace = 'topup'::regnamespace AND c.relkind IN ('r', 'v', 'S')
                ORDER BY c.relname LOOP
        SELECT string_agg(quote_ident(a.attname), ', ') INTO cols
          FROM pg_attribute a
         WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
           AND has_column_privilege(rel, a.attnum, 'SELECT');
        CONTINUE WHEN cols IS NULL;
        EXECUTE format('SELECT count(*) FROM (SELECT %s FROM %s) t, acc_pins p
                         WHERE strpos(t::text, p.pin) > 0', cols, rel) INTO n;
        relation := rel::text;
        pins := n;
        RETURN NEXT;
    END LOOP;
END $$;
CREATE FUNCTION pg_temp.pins_seen_as(r text) RETURNS TABLE (relation text, pins bigint)
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('SET LOCAL ROLE %I', r);
    RETURN QUERY SELECT * FROM pg_temp.pins_seen();
    RESET ROLE;
END $$;
SELECT r.r AS role, string_agg(p.relation, ', ' ORDER BY p.relation) AS readable,
       sum(p.pins) AS pins_found
  FROM acc_roles r CROSS JOIN LATERAL pg_temp.pins_seen_as(r.r) p
 WHERE r.r IN ('acc_app', 'acc_admin', 'acc_reseller', 'acc_auditor', 'acc_provider', 'acc_nobody')
 GROUP BY r.r ORDER BY r.r;
-- the same search finds the PINs where they are (the check can fail)
SELECT count(*) AS pins_in_export FROM topup.export_vouchers('S1', 'acc_a') t, acc_pins p
 WHERE strpos(t::text, p.pin) > 0;
SET ROLE acc_admin;
SELECT pg_temp.try(c) FROM (VALUES
    ('SELECT pin_hash FROM topup.vouchers'),
    ('SELECT pin_cipher FROM topup.vouchers'),
    ('SELECT * FROM topup.vouchers'),
    ('SELECT * FROM topup.secret'),
    ('SELECT * FROM topup.role_bindings'),
    ('SELECT * FROM topup.voucher_expiry'),
    ('SELECT topup._pin_masked(pin_cipher, pin_hash) FROM topup.vouchers')) AS x(c);
RESET ROLE;

--
-- 7. The mass edit as a bound admin: its own vouchers only (another
-- client's rows are invisible, not refused); the expiry queue and the audit
-- log are written for it, with its own role.
--
SET ROLE acc_admin;
UPDATE topup.vouchers SET expires_at = now() + interval '10 days' WHERE series = 'S1' AND status = 'new';
UPDATE topup.vouchers SET expires_at = now() + interval '10 days' WHERE client_id = 'acc_b';
UPDATE topup.vouchers SET status = 'blocked' WHERE serial = 'S2-00000025';
UPDATE topup.vouchers SET reseller = 'shop2' WHERE serial OPERATOR(topup.=) topup.make_serial('S1', 4);
SELECT pg_temp.try($$UPDATE topup.vouchers SET reseller = 'shop9' WHERE serial OPERATOR(topup.=) topup.make_serial('S1', 4)$$);
SELECT pg_temp.try($$UPDATE topup.vouchers SET amount = 1 WHERE series = 'S1'$$);
DELETE FROM topup.vouchers WHERE serial OPERATOR(topup.=) topup.make_serial('S2', 3);
DELETE FROM topup.vouchers WHERE client_id = 'acc_b';
UPDATE topup.accounts SET status = 'blocked' WHERE account_id LIKE 'acc_%_cust';
SELECT pg_temp.try($$UPDATE topup.accounts SET balance = 0$$);
RESET ROLE;
SELECT client_id, series, topup.serial_number(serial) AS n, status, reseller, expires_at > now() AS due_later
  FROM topup.vouchers WHERE client_id LIKE 'acc_%' ORDER BY 1, 2, 3;
SELECT q.client_id, topup.serial_number(q.serial) AS n FROM topup.voucher_expiry q
 WHERE q.client_id LIKE 'acc_%' ORDER BY 1, q.serial;
SELECT client_id, account_id, status FROM topup.accounts WHERE client_id LIKE 'acc_%' ORDER BY 1, 2;
SELECT role, client_id, action, target, old - 'created_at' - 'expires_at' AS old,
       new - 'expires_at' AS new, old ? 'expires_at' AS old_expires, new ? 'expires_at' AS new_expires
  FROM topup.audit_log
 WHERE action IN ('update', 'delete') AND client_id LIKE 'acc_%' ORDER BY audit_id;
-- the audit log is append-only, also for the owner
SELECT pg_temp.try(c) FROM (VALUES ('DELETE FROM topup.audit_log'), ('UPDATE topup.audit_log SET role = role'),
    ('TRUNCATE topup.audit_log'),
    ($$INSERT INTO topup.audit_log (role, client_id, action, target) VALUES ('x', 'acc_a', 'update', 'x')$$),
    ('DELETE FROM topup.role_bindings'), ('TRUNCATE topup.role_bindings')) AS x(c);
-- the auditor and the admin read their client's entries; the app role none
SET ROLE acc_auditor;
SELECT client_id, action, count(*) FROM topup.audit_log GROUP BY 1, 2 ORDER BY 1, 2;
SET ROLE acc_app;
SELECT pg_temp.try('SELECT count(*) FROM topup.audit_log');
RESET ROLE;

--
-- 8. verify_ledger() as an auditor: the problems of its clients only.
--
BEGIN;
ALTER TABLE topup.accounts DISABLE TRIGGER accounts_guard;
UPDATE topup.accounts SET balance = balance + 1 WHERE account_id IN ('acc_a_card', 'acc_b_card');
ALTER TABLE topup.accounts ENABLE TRIGGER accounts_guard;
SELECT problem, detail FROM topup.verify_ledger() ORDER BY detail;
SET LOCAL ROLE acc_auditor;
SELECT problem, detail FROM topup.verify_ledger() ORDER BY detail;
ROLLBACK;

--
-- 9. The calling role: SET ROLE changes it; an inherited binding counts, a
-- NOINHERIT membership does not until SET ROLE to the group.
--
SET ROLE acc_member;
SELECT count(*) AS member_sees_b FROM topup.voucher_list WHERE client_id = 'acc_b';
UPDATE topup.vouchers SET status = 'blocked' WHERE client_id = 'acc_b' AND series = 'BX';
RESET ROLE;
SET ROLE acc_noinherit;
SELECT pg_temp.try($$SELECT count(*) FROM topup.voucher_list$$);
SET ROLE acc_group;
SELECT count(*) AS group_sees_b FROM topup.voucher_list WHERE client_id = 'acc_b';
RESET ROLE;
SELECT role, action, target, new FROM topup.audit_log WHERE client_id = 'acc_b' AND action = 'update' ORDER BY audit_id;

--
-- 10. unbind_role takes back what no remaining binding needs.
--
SELECT has_function_privilege('acc_multi', 'topup.topup_card(text,numeric,text,text,boolean,jsonb,text,text,text)', 'EXECUTE') AS before;
SELECT topup.unbind_role('acc_multi', 'app', 'acc_b');
SELECT has_function_privilege('acc_multi', 'topup.topup_card(text,numeric,text,text,boolean,jsonb,text,text,text)', 'EXECUTE') AS still_bound_to_a;
SET ROLE acc_multi;
SELECT topup.current_client() AS multi_now;
SELECT pg_temp.try($$SELECT topup.check_order('multi-k1'::text, 'card_topup', 'acc_b')$$);
RESET ROLE;
SELECT topup.unbind_role('acc_multi', 'app', 'acc_a');
SELECT has_function_privilege('acc_multi', 'topup.topup_card(text,numeric,text,text,boolean,jsonb,text,text,text)', 'EXECUTE') AS unbound,
       has_schema_privilege('acc_multi', 'topup', 'USAGE') AS usage;
-- unbinding what is not bound changes nothing
SELECT * FROM acc_counts;
SELECT topup.unbind_role('acc_multi', 'app', 'acc_a');
SELECT * FROM acc_counts;
-- an admin unbound from one client keeps what its other duty needs
SELECT topup.bind_role('acc_auditor', 'auditor', 'acc_b');
SELECT topup.unbind_role('acc_auditor', 'auditor', 'acc_b');
SELECT has_table_privilege('acc_auditor', 'topup.audit_log', 'SELECT') AS auditor_keeps_audit_log;

--
-- 11. A dropped role's binding is void: a new role of the same name
-- inherits nothing, and the binding is removed by the next verify_ledger().
--
CREATE ROLE acc_dropped;
SELECT topup.bind_role('acc_dropped', 'admin', 'acc_a');
REVOKE ALL ON SCHEMA topup FROM acc_dropped;
DROP OWNED BY acc_dropped;
DROP ROLE acc_dropped;
SELECT count(*) AS dangling FROM topup.role_bindings b
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles r WHERE r.oid = b.role);
CREATE ROLE acc_dropped;
SET ROLE acc_dropped;
SELECT pg_temp.try($$SELECT count(*) FROM topup.voucher_list$$);
RESET ROLE;
SELECT topup._visible('acc_a', NULL) AS owner_sees;
SELECT count(*) AS problems FROM topup.verify_ledger();
SELECT count(*) AS dangling FROM topup.role_bindings b
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles r WHERE r.oid = b.role);
DROP ROLE acc_dropped;

--
-- 12. A later call in one statement sees what an earlier call wrote.
--
SELECT topup.create_client('acc_c'), topup.open_account('c1', 'USD', client_id => 'acc_c'),
       topup.create_reseller('shop3', 'acc_c');
SELECT client_id, account_id FROM topup.accounts WHERE client_id = 'acc_c';

SELECT * FROM topup.verify_ledger();
RESET search_path;

-- the roles go again
SET client_min_messages = warning;
DROP OWNED BY acc_app, acc_admin, acc_reseller, acc_auditor, acc_provider, acc_nobody,
    acc_multi, acc_group, acc_member, acc_noinherit;
DROP ROLE acc_app, acc_admin, acc_reseller, acc_auditor, acc_provider, acc_nobody,
    acc_multi, acc_member, acc_noinherit, acc_group;
RESET client_min_messages;
SELECT count(*) AS dangling FROM topup.role_bindings b
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles r WHERE r.oid = b.role);
SELECT count(*) AS problems FROM topup.verify_ledger();
SELECT count(*) AS bindings_left FROM topup.role_bindings;
