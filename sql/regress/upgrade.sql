SET client_min_messages = warning;
DROP EXTENSION IF EXISTS topup CASCADE;
CREATE EXTENSION topup VERSION '0.1.0' CASCADE;
RESET client_min_messages;

--
-- Upgrade 0.1.0 -> 0.2.0 with data in place: vouchers, accounts, orders
-- and the ledger survive unchanged, the old PINs still redeem, the ledger
-- still verifies, and the 0.2.0 functions work on old and new accounts.
-- The test ends with a fresh default install for the tests after it.
--
SELECT extversion FROM pg_extension WHERE extname = 'topup';
-- 0.1.0 has none of the top-up objects
SELECT to_regproc('topup.topup_card') IS NULL AS no_topup_card,
       to_regclass('topup.balance_slots') IS NULL AS no_slots,
       to_regclass('topup.master_balances') IS NULL AS no_master_balances;

--
-- 0.1.0 data
--
SELECT topup.create_client('t_upgrade');
SELECT topup.create_reseller('shop1', 't_upgrade');
SELECT topup.open_account('u_acc', 'USD', client_id => 't_upgrade');
SELECT topup.open_account('u_card', 'USD', kind => 'card', active => false,
    customer_info => '{"firstName": "Old"}', client_id => 't_upgrade');
SELECT series, quantity, new, amount, currency
  FROM topup.generate_vouchers('UP', 5, 12.50, 'USD', reseller => 'shop1', client_id => 't_upgrade');
SELECT series, quantity, new, amount, currency
  FROM topup.generate_vouchers('UPJ', 2, 500, 'JPY', pin_length => 10, client_id => 't_upgrade');

-- the PINs, exported before the update (kept in a temp table, never shown)
CREATE TEMP TABLE pins_before AS SELECT * FROM topup.export_vouchers('UP', 't_upgrade')
UNION ALL SELECT * FROM topup.export_vouchers('UPJ', 't_upgrade');
SELECT pin AS pin1 FROM pins_before WHERE serial OPERATOR(topup.=) topup.make_serial('UP', 1) \gset
SELECT pin AS pin2 FROM pins_before WHERE serial OPERATOR(topup.=) topup.make_serial('UP', 2) \gset

SELECT status, error_slug, account_id, serial, amount, currency, account_balance_after, replayed
  FROM topup.redeem_voucher(:'pin1', 'u_acc', 'up-key-1', client_id => 't_upgrade');
-- a failed redeem: no such PIN
SELECT status, error_slug, account_id, serial, amount, replayed
  FROM topup.redeem_voucher('99999', 'u_acc', 'up-key-2', client_id => 't_upgrade');
-- a blocked voucher
UPDATE topup.vouchers SET status = 'blocked' WHERE client_id = 't_upgrade' AND serial OPERATOR(topup.=) topup.make_serial('UP', 4);
SELECT * FROM topup.verify_ledger();

-- what the update must keep
CREATE TEMP TABLE v_before AS
SELECT serial::text, client_id, series, amount, currency, status, reseller, expires_at, created_at,
       activated_at, activated_by, order_id, pin_hash, pin_cipher
  FROM topup.vouchers WHERE client_id = 't_upgrade';
CREATE TEMP TABLE a_before AS
SELECT client_id, account_id, kind, currency, balance, status, customer_info, created_at, activated_at
  FROM topup.accounts WHERE client_id = 't_upgrade';
CREATE TEMP TABLE o_before AS
SELECT order_id, order_type, status, topup_status, client_id, account_id, serial::text, amount, fee, currency,
       master_balance_before, master_balance_after, account_balance_after, error_slug, error_message,
       idempotency_key, reference, created_at, completed_at, failed_at, source, request_hash
  FROM topup.orders WHERE client_id = 't_upgrade';
CREATE TEMP TABLE l_before AS
SELECT entry_id, order_id, client_id, book, account_id, currency, amount, balance_after, created_at
  FROM topup.ledger WHERE client_id = 't_upgrade';
CREATE TEMP TABLE secret_before AS SELECT hmac_key, enc_key FROM topup.secret;
SELECT (SELECT count(*) FROM v_before) AS vouchers, (SELECT count(*) FROM a_before) AS accounts,
       (SELECT count(*) FROM o_before) AS orders, (SELECT count(*) FROM l_before) AS ledger,
       (SELECT sum(balance) FROM a_before) AS balances;
SELECT count(*) AS error_codes FROM topup.error_codes;

--
-- The update
--
ALTER EXTENSION topup UPDATE TO '0.2.0';
SELECT extversion FROM pg_extension WHERE extname = 'topup';

-- the data is preserved, row for row
SELECT (SELECT count(*) FROM (
          (SELECT serial::text, client_id, series, amount, currency, status, reseller, expires_at, created_at,
                  activated_at, activated_by, order_id, pin_hash, pin_cipher
             FROM topup.vouchers WHERE client_id = 't_upgrade' EXCEPT ALL SELECT * FROM v_before)
          UNION ALL
          (SELECT * FROM v_before EXCEPT ALL
           SELECT serial::text, client_id, series, amount, currency, status, reseller, expires_at, created_at,
                  activated_at, activated_by, order_id, pin_hash, pin_cipher
             FROM topup.vouchers WHERE client_id = 't_upgrade')) d) AS vouchers_differ,
       (SELECT count(*) FROM (
          (SELECT client_id, account_id, kind, currency, balance, status, customer_info, created_at, activated_at
             FROM topup.accounts WHERE client_id = 't_upgrade' EXCEPT ALL SELECT * FROM a_before)
          UNION ALL
          (SELECT * FROM a_before EXCEPT ALL
           SELECT client_id, account_id, kind, currency, balance, status, customer_info, created_at, activated_at
             FROM topup.accounts WHERE client_id = 't_upgrade')) d) AS accounts_differ,
       (SELECT count(*) FROM (
          (SELECT order_id, order_type, status, topup_status, client_id, account_id, serial::text, amount, fee,
                  currency, master_balance_before, master_balance_after, account_balance_after, error_slug,
                  error_message, idempotency_key, reference, created_at, completed_at, failed_at, source,
                  request_hash
             FROM topup.orders WHERE client_id = 't_upgrade' EXCEPT ALL SELECT * FROM o_before)
          UNION ALL
          (SELECT * FROM o_before EXCEPT ALL
           SELECT order_id, order_type, status, topup_status, client_id, account_id, serial::text, amount, fee,
                  currency, master_balance_before, master_balance_after, account_balance_after, error_slug,
                  error_message, idempotency_key, reference, created_at, completed_at, failed_at, source,
                  request_hash
             FROM topup.orders WHERE client_id = 't_upgrade')) d) AS orders_differ,
       (SELECT count(*) FROM (
          (SELECT entry_id, order_id, client_id, book, account_id, currency, amount, balance_after, created_at
             FROM topup.ledger WHERE client_id = 't_upgrade' EXCEPT ALL SELECT * FROM l_before)
          UNION ALL
          (SELECT * FROM l_before EXCEPT ALL
           SELECT entry_id, order_id, client_id, book, account_id, currency, amount, balance_after, created_at
             FROM topup.ledger WHERE client_id = 't_upgrade')) d) AS ledger_differ,
       (SELECT count(*) FROM topup.secret s JOIN secret_before b USING (hmac_key, enc_key)) AS same_secret;
SELECT (SELECT count(*) FROM topup.vouchers WHERE client_id = 't_upgrade') AS vouchers,
       (SELECT count(*) FROM topup.accounts WHERE client_id = 't_upgrade') AS accounts,
       (SELECT count(*) FROM topup.orders WHERE client_id = 't_upgrade') AS orders,
       (SELECT count(*) FROM topup.ledger WHERE client_id = 't_upgrade') AS ledger,
       (SELECT sum(balance) FROM topup.accounts WHERE client_id = 't_upgrade') AS balances;
SELECT series, quantity, new, activated, blocked, value_outstanding, value_redeemed
  FROM topup.series_list WHERE client_id = 't_upgrade' ORDER BY series;
-- the new columns are empty on the old rows
SELECT count(*) FILTER (WHERE entry_type IS NULL AND channel IS NULL AND card_activated IS NULL) AS orders_new_cols_null,
       count(*) AS orders
  FROM topup.orders WHERE client_id = 't_upgrade';
SELECT count(*) FILTER (WHERE funding_id IS NULL AND order_id IS NOT NULL) AS entries_of_orders, count(*) AS entries
  FROM topup.ledger WHERE client_id = 't_upgrade';
-- the error codes of the top-up path were added
SELECT count(*) AS error_codes FROM topup.error_codes;
SELECT slug, sqlstate FROM topup.error_codes WHERE sqlstate >= 'TU013' ORDER BY sqlstate;
SELECT * FROM topup.verify_ledger();

-- the PINs exported before the update are still the PINs
SELECT count(*) AS pins, count(*) FILTER (WHERE a.pin = b.pin) AS same
  FROM pins_before b JOIN (SELECT * FROM topup.export_vouchers('UP', 't_upgrade')
                           UNION ALL SELECT * FROM topup.export_vouchers('UPJ', 't_upgrade')) a
    ON a.serial OPERATOR(topup.=) b.serial;
-- ... and still redeem; the one redeemed before stays redeemed; the
-- idempotency keys of old orders still replay
SELECT status, error_slug, serial, amount, account_balance_after, replayed
  FROM topup.redeem_voucher(:'pin2', 'u_acc', client_id => 't_upgrade');
SELECT status, error_slug, serial, amount, replayed
  FROM topup.redeem_voucher(:'pin1', 'u_acc', client_id => 't_upgrade');
SELECT status, error_slug, serial, amount, replayed
  FROM topup.redeem_voucher(:'pin1', 'u_acc', 'up-key-1', client_id => 't_upgrade');
SELECT status, error_slug, replayed
  FROM topup.redeem_voucher('99999', 'u_acc', 'up-key-2', client_id => 't_upgrade');
SELECT status, error_slug, serial, amount, account_balance_after, replayed
  FROM topup.redeem_voucher_by_serial(topup.make_serial('UP', 3), 'u_acc', client_id => 't_upgrade');
SELECT status, error_slug, serial, replayed
  FROM topup.redeem_voucher_by_serial(topup.make_serial('UP', 4), 'u_acc', client_id => 't_upgrade');
SELECT * FROM topup.verify_ledger();

-- check_order and order_json know the old orders too
SELECT status, order_type, serial, amount
  FROM topup.check_order('up-key-1'::text, 'voucher_redeem', 't_upgrade');
SELECT o.order_id AS old_id FROM topup.orders o
 WHERE o.client_id = 't_upgrade' AND o.idempotency_key = 'up-key-1' \gset
SELECT d ->> 'order_type' AS order_type, d ->> 'status' AS status, d ->> 'card_id' AS card_id,
       d #>> '{data,amount}' AS amount, jsonb_typeof(d -> 'balance_before') AS balance_before,
       jsonb_typeof(d #> '{data,entry_type}') AS entry_type
  FROM (SELECT topup.order_json(:old_id, 't_upgrade') AS d) j;

--
-- The 0.2.0 functions
--
SELECT topup.fund_master(100, 'USD', 'up-fund', 't_upgrade');
SELECT topup.set_pricing('USD', 1, 50, 0.10, 1, 't_upgrade');
SELECT client_id, currency, balance FROM topup.master_balances WHERE client_id = 't_upgrade';
-- the card opened under 0.1.0, activated by its first top-up
SELECT status, error_slug, account_id, amount, fee, account_balance_after, replayed,
       master_balance_before - master_balance_after = amount + fee AS charged
  FROM topup.topup_card('u_card', 20, 'up-top-1', activate => true, customer_info => '{"lastName": "Card"}',
                        channel => 'WEB', client_id => 't_upgrade');
SELECT status, activated_at IS NOT NULL AS activated, balance, customer_info
  FROM topup.accounts WHERE client_id = 't_upgrade' AND account_id = 'u_card';
-- a new card
SELECT topup.open_account('u_card2', 'USD', kind => 'card', client_id => 't_upgrade');
SELECT status, error_slug, account_id, amount, fee, account_balance_after, replayed
  FROM topup.topup_card('u_card2', 50, 'up-top-2', client_id => 't_upgrade');
SELECT status, error_slug, amount, replayed
  FROM topup.topup_card('u_card2', 50.01, 'up-top-3', client_id => 't_upgrade');
SELECT status, error_slug, amount, replayed
  FROM topup.topup_card('u_card2', 50, 'up-top-2', client_id => 't_upgrade');
-- a customer account from 0.1.0 is not a card
SELECT status, error_slug, replayed
  FROM topup.topup_card('u_acc', 10, 'up-top-4', client_id => 't_upgrade');
SELECT m.balance AS master, f.balance AS fees
  FROM topup.master_balances m JOIN topup.fee_balances f USING (client_id, currency)
 WHERE m.client_id = 't_upgrade';
SELECT account_id, kind, balance, status FROM topup.accounts WHERE client_id = 't_upgrade' ORDER BY account_id;
SELECT payment_type, account_id, amount FROM topup.account_payments
 WHERE client_id = 't_upgrade' ORDER BY payment_type, account_id, amount;
SELECT * FROM topup.verify_ledger();

--
-- Upgrade 0.2.0 -> 0.3.0: status leaves the voucher indexes and due dates
-- move to the expiry queue.  Under 0.2.0 (with this library) the sweep
-- reads the vouchers table; after the update, every live voucher with an
-- expiry date is in the queue and the sweep works from there.
--
-- Independent of the machine's speed: UE1 is due before the 0.2.0 sweep
-- (it waits for that), UE2 is generated and one of it blocked in one
-- transaction (now() is its start, so its due date is still ahead for the
-- trigger) and no sweep runs before the update queues it.
SELECT series, quantity FROM topup.generate_vouchers('UE1', 2, 5, 'USD', expires_at => now() + interval '1 second',
                                                    client_id => 't_upgrade');
SELECT series, quantity FROM topup.generate_vouchers('UE3', 2, 5, 'USD', expires_at => now() + interval '30 days',
                                                    client_id => 't_upgrade');
SELECT to_regclass('topup.voucher_expiry') IS NULL AS no_queue_yet;
SELECT pg_sleep(GREATEST(0, EXTRACT(epoch FROM max(expires_at) - clock_timestamp())) + 0.05)
  FROM topup.vouchers WHERE client_id = 't_upgrade' AND series = 'UE1';
SELECT topup.expire_vouchers() AS swept_under_020;
BEGIN;
SELECT series, quantity FROM topup.generate_vouchers('UE2', 3, 5, 'USD', expires_at => now() + interval '1 second',
                                                    client_id => 't_upgrade');
UPDATE topup.vouchers SET status = 'blocked'
 WHERE client_id = 't_upgrade' AND serial OPERATOR(topup.=) topup.make_serial('UE2', 1);
COMMIT;
SELECT series, status, count(*) FROM topup.vouchers
 WHERE client_id = 't_upgrade' AND series LIKE 'UE%' GROUP BY series, status ORDER BY series, status;

ALTER EXTENSION topup UPDATE TO '0.3.0';
SELECT extversion FROM pg_extension WHERE extname = 'topup';
SELECT reloptions FROM pg_class WHERE oid = 'topup.vouchers'::regclass;
SELECT indexrelid::regclass AS index, pg_get_expr(indpred, indrelid) AS predicate,
       (SELECT string_agg(a.attname, ', ' ORDER BY k.i) FROM unnest(indkey) WITH ORDINALITY k(n, i)
          JOIN pg_attribute a ON a.attrelid = indrelid AND a.attnum = k.n) AS columns
  FROM pg_index WHERE indrelid = 'topup.vouchers'::regclass ORDER BY indexrelid::regclass::text;
-- every live voucher with an expiry date of this client is queued, nothing else
SELECT q.serial::text, v.status FROM topup.voucher_expiry q
  JOIN topup.vouchers v ON v.client_id = q.client_id AND v.serial OPERATOR(topup.=) q.serial
 WHERE q.client_id = 't_upgrade' ORDER BY q.serial;
SELECT count(*) AS live_with_expiry_not_queued FROM topup.vouchers v
 WHERE v.status IN ('new', 'blocked') AND v.expires_at IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM topup.voucher_expiry q
                    WHERE q.client_id = v.client_id AND q.serial OPERATOR(topup.=) v.serial);
-- the queue belongs to the extension
\set VERBOSITY terse
DELETE FROM topup.voucher_expiry;
\set VERBOSITY default
SELECT pg_sleep(GREATEST(0, EXTRACT(epoch FROM max(expires_at) - clock_timestamp())) + 0.05)
  FROM topup.vouchers WHERE client_id = 't_upgrade' AND series = 'UE2';
SELECT topup.expire_vouchers() AS swept_under_030;
SELECT series, status, count(*) FROM topup.vouchers
 WHERE client_id = 't_upgrade' AND series LIKE 'UE%' GROUP BY series, status ORDER BY series, status;
SELECT count(*) AS queued FROM topup.voucher_expiry WHERE client_id = 't_upgrade';
-- old PINs still redeem after this update too
SELECT status, error_slug, amount FROM topup.redeem_voucher(
    (SELECT pin FROM pins_before WHERE serial OPERATOR(topup.=) topup.make_serial('UP', 5)),
    'u_acc', client_id => 't_upgrade');
SELECT * FROM topup.verify_ledger();

-- nothing of the extension is granted to PUBLIC, old or new
SELECT count(*) AS public_functions FROM pg_proc p
 WHERE p.pronamespace = 'topup'::regnamespace
   AND EXISTS (SELECT 1 FROM aclexplode(COALESCE(p.proacl, acldefault('f', p.proowner))) a WHERE a.grantee = 0);
SELECT count(*) AS public_relations FROM pg_class c
 WHERE c.relnamespace = 'topup'::regnamespace AND c.relkind IN ('r', 'v', 'S')
   AND EXISTS (SELECT 1 FROM aclexplode(COALESCE(c.relacl, acldefault(CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END::"char", c.relowner))) a
                WHERE a.grantee = 0);

-- The update path is the only one: no downgrade script.
SELECT source, target, path FROM pg_extension_update_paths('topup') WHERE path IS NOT NULL ORDER BY source, target;

--
-- Upgrade 0.3.0 -> 0.3.1, then to 0.4.0 and 0.5.0 (the default version).  A database upgraded from
-- 0.1.0 must end with exactly the catalog that a fresh install of the
-- default version makes (sql/install/ and sql/upgrade/ describe one schema):
-- every member object, column, constraint, index, trigger, function body,
-- view, enum label, comment, privilege, option and dumped table, and the
-- seeded reference rows.
--
ALTER EXTENSION topup UPDATE TO '0.3.1';
SELECT extversion FROM pg_extension WHERE extname = 'topup';

--
-- Upgrade 0.3.1 -> 0.4.0 (access) with data in place: a role bound after
-- the update works at once, acting for its client by default; its views
-- show its client only; an admin's mass edit is audited and queued.
--
ALTER EXTENSION topup UPDATE TO '0.4.0';
SELECT extversion FROM pg_extension WHERE extname = 'topup';
SELECT count(*) AS bindings, (SELECT count(*) FROM topup.audit_log) AS audited FROM topup.role_bindings;
SET client_min_messages = warning;
DROP ROLE IF EXISTS up_app, up_admin;
RESET client_min_messages;
CREATE ROLE up_app;
CREATE ROLE up_admin;
SELECT topup.bind_role('up_app', 'app', 't_upgrade');
SELECT topup.bind_role('up_admin', 'admin', 't_upgrade');
SELECT pin AS pinj FROM pins_before WHERE serial OPERATOR(topup.=) topup.make_serial('UPJ', 1) \gset
SET ROLE up_app;
SELECT topup.current_client();
SELECT status, error_slug, client_id, serial, amount FROM topup.redeem_voucher(:'pinj', 'u_acc');
SELECT status, error_slug, client_id, replayed FROM topup.redeem_voucher(:'pin1', 'u_acc', 'up-key-1');
RESET ROLE;
SET ROLE up_admin;
SELECT client_id, series, quantity, new, activated FROM topup.series_list ORDER BY series;
UPDATE topup.vouchers SET expires_at = now() + interval '5 days' WHERE series = 'UE3';
RESET ROLE;
SELECT role, action, target, new ? 'expires_at' AS new_expiry FROM topup.audit_log WHERE action = 'update' ORDER BY target;
SELECT count(*) AS queued_ue3 FROM topup.voucher_expiry q
  JOIN topup.vouchers v ON v.client_id = q.client_id AND v.serial OPERATOR(topup.=) q.serial
 WHERE v.series = 'UE3' AND q.expires_at = v.expires_at;
SELECT * FROM topup.verify_ledger();

--
-- Upgrade 0.4.0 -> 0.5.0 (the order lifecycle) with data and bindings in
-- place: every master balance gets its hold slots; the roles bound before
-- the update may call what joined their duties at once; a provider channel
-- works for a card opened under 0.2.0; the orders of before keep their
-- lifecycle columns empty and have no events.
--
ALTER EXTENSION topup UPDATE TO '0.5.0';
SELECT extversion FROM pg_extension WHERE extname = 'topup';
SELECT book, count(*) AS slots, sum(balance) AS balance FROM topup.balance_slots
 WHERE client_id = 't_upgrade' GROUP BY book ORDER BY book;
SELECT count(*) AS orders,
       count(*) FILTER (WHERE attempts IS NULL AND lease_until IS NULL AND next_attempt_at IS NULL
                          AND provider_reference IS NULL AND reverses_order_id IS NULL
                          AND hold_slot IS NULL AND note IS NULL) AS lifecycle_empty
  FROM topup.orders WHERE client_id = 't_upgrade';
SELECT count(*) AS events FROM topup.events;
SELECT slug, sqlstate FROM topup.error_codes WHERE sqlstate >= 'TU021' ORDER BY sqlstate;
SELECT order_id AS top2_id FROM topup.orders WHERE client_id = 't_upgrade' AND idempotency_key = 'up-top-2' \gset
SELECT topup.set_channel('UPPROV', 'provider', client_id => 't_upgrade');
SET ROLE up_app;
SELECT status, topup_status, error_slug, amount, fee, replayed
  FROM topup.topup_card('u_card2', 10, 'up-prov-1', channel => 'UPPROV');
SELECT status, error_slug, amount, account_balance_after
  FROM topup.charge_account('u_acc', 5, 'up-charge-1', 'after the update');
SELECT kind, payload ->> 'order_type' AS order_type, payload ->> 'status' AS status
  FROM topup.events_since(0) ORDER BY event_id;
RESET ROLE;
SET ROLE up_admin;
SELECT client_id, currency, balance FROM topup.hold_balances;
SELECT status, error_slug, order_type, amount FROM topup.reverse_order(:top2_id, 'sent twice', 'up-rev-1');
RESET ROLE;
SELECT order_id AS prov_id, topup_status AS claimed FROM topup.claim_orders('UPPROV', client_id => 't_upgrade') \gset
SELECT :'claimed' AS claimed, attempts FROM topup.orders WHERE order_id = :prov_id;
SELECT status, topup_status, account_balance_after FROM topup.report_order(:prov_id, 'completed', 'PRV-1', client_id => 't_upgrade');
SELECT payment_type, account_id, amount, regexp_replace(comment, 'TU[0-9A-Z]{20}', '<reference>') AS comment
  FROM topup.account_payments
 WHERE client_id = 't_upgrade' AND order_id > :top2_id ORDER BY order_id;
SELECT * FROM topup.verify_ledger();

-- the roles go again (their privileges with them) before the catalogs are compared
SELECT topup.unbind_role('up_app', 'app', 't_upgrade');
SELECT topup.unbind_role('up_admin', 'admin', 't_upgrade');
DROP ROLE up_app, up_admin;

CREATE FUNCTION pg_temp.topup_catalog() RETURNS TABLE (kind text, name text, def text)
LANGUAGE sql AS $$
    -- every object the extension owns
    SELECT 'member', pg_describe_object(classid, objid, objsubid), NULL
      FROM pg_depend WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
       AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'topup')
    UNION ALL
    -- relations: kind, options, privileges, comment
    SELECT 'relation', c.relname,
           concat_ws(' | ', c.relkind, c.reloptions::text, c.relacl::text, c.relpersistence,
                     c.relrowsecurity, obj_description(c.oid, 'pg_class'))
      FROM pg_class c WHERE c.relnamespace = 'topup'::regnamespace
    UNION ALL
    -- columns in their order (dropped ones left out), type, null, default, comment
    SELECT 'column', c.relname || '.' || a.attname,
           concat_ws(' | ', row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum),
                     format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attidentity, a.attgenerated,
                     pg_get_expr(d.adbin, d.adrelid), NULLIF(a.attacl::text, '{}'), col_description(c.oid, a.attnum))
      FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
     WHERE c.relnamespace = 'topup'::regnamespace
    UNION ALL
    SELECT 'constraint', conrelid::regclass::text || '.' || conname,
           concat_ws(' | ', pg_get_constraintdef(oid), condeferrable, convalidated)
      FROM pg_constraint WHERE connamespace = 'topup'::regnamespace
    UNION ALL
    SELECT 'index', indexrelid::regclass::text, pg_get_indexdef(indexrelid)
      FROM pg_index WHERE indrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'topup'::regnamespace)
    UNION ALL
    SELECT 'trigger', tgrelid::regclass::text || '.' || tgname, concat_ws(' | ', pg_get_triggerdef(oid), tgenabled)
      FROM pg_trigger WHERE NOT tgisinternal
       AND tgrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'topup'::regnamespace)
    UNION ALL
    SELECT 'policy', polrelid::regclass::text || '.' || polname,
           concat_ws(' | ', polcmd, polpermissive, polroles::text, pg_get_expr(polqual, polrelid),
                     pg_get_expr(polwithcheck, polrelid))
      FROM pg_policy WHERE polrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'topup'::regnamespace)
    UNION ALL
    SELECT 'routine', p.oid::regprocedure::text,
           concat_ws(' | ', pg_get_functiondef(p.oid), p.proacl::text, obj_description(p.oid, 'pg_proc'))
      FROM pg_proc p WHERE p.pronamespace = 'topup'::regnamespace AND p.prokind <> 'a'
    UNION ALL
    SELECT 'view', c.relname, pg_get_viewdef(c.oid)
      FROM pg_class c WHERE c.relnamespace = 'topup'::regnamespace AND c.relkind = 'v'
    UNION ALL
    SELECT 'type', t.typname,
           concat_ws(' | ', t.typtype, t.typlen, t.typalign, t.typstorage, t.typacl::text,
                     obj_description(t.oid, 'pg_type'),
                     (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e
                       WHERE e.enumtypid = t.oid))
      FROM pg_type t WHERE t.typnamespace = 'topup'::regnamespace
    UNION ALL
    SELECT 'operator', o.oid::regoperator::text,
           concat_ws(' | ', o.oprcode::text, o.oprcom::regoperator::text, o.oprnegate::regoperator::text,
                     o.oprrest::text, o.oprjoin::text, o.oprcanhash, o.oprcanmerge,
                     obj_description(o.oid, 'pg_operator'))
      FROM pg_operator o WHERE o.oprnamespace = 'topup'::regnamespace
    UNION ALL
    SELECT 'opfamily member', pg_describe_object('pg_amop'::regclass, ao.oid, 0), NULL
      FROM pg_amop ao JOIN pg_opfamily f ON f.oid = ao.amopfamily WHERE f.opfnamespace = 'topup'::regnamespace
    UNION ALL
    SELECT 'opfamily member', pg_describe_object('pg_amproc'::regclass, ap.oid, 0), NULL
      FROM pg_amproc ap JOIN pg_opfamily f ON f.oid = ap.amprocfamily WHERE f.opfnamespace = 'topup'::regnamespace
    UNION ALL
    SELECT 'opclass', pg_describe_object('pg_opclass'::regclass, oc.oid, 0),
           concat_ws(' | ', oc.opcdefault, obj_description(oc.oid, 'pg_opclass'))
      FROM pg_opclass oc WHERE oc.opcnamespace = 'topup'::regnamespace
    UNION ALL
    SELECT 'dumped table', c.relname, x.cond
      FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS x(rel, cond)
      JOIN pg_class c ON c.oid = x.rel WHERE e.extname = 'topup'
    UNION ALL
    SELECT 'extension', extname, concat_ws(' | ', extversion, extrelocatable, extnamespace::regnamespace)
      FROM pg_extension WHERE extname = 'topup'
    UNION ALL
    SELECT 'currency', code, concat_ws(' | ', minor_units, name) FROM topup.currencies WHERE seeded
    UNION ALL
    SELECT 'error code', slug, concat_ws(' | ', sqlstate, description) FROM topup.error_codes
    UNION ALL
    SELECT 'client', client_id, name FROM topup.clients WHERE client_id = 'default'
    UNION ALL
    SELECT 'duty grant', duty || ' ' || privilege || ' ' || object, columns::text FROM topup.duty_grants
$$;
CREATE TEMP TABLE catalog_upgraded AS SELECT * FROM pg_temp.topup_catalog();

SET client_min_messages = warning;
DROP EXTENSION topup CASCADE;
CREATE EXTENSION topup CASCADE;
RESET client_min_messages;
SELECT extversion FROM pg_extension WHERE extname = 'topup';
CREATE TEMP TABLE catalog_fresh AS SELECT * FROM pg_temp.topup_catalog();

-- the description covers every kind of object (so an empty difference means something)
SELECT kind, count(*) > 0 AS described FROM catalog_fresh GROUP BY kind ORDER BY kind;
-- the difference: none
(SELECT 'only upgraded' AS side, * FROM catalog_upgraded EXCEPT SELECT 'only upgraded', * FROM catalog_fresh)
UNION ALL
(SELECT 'only fresh', * FROM catalog_fresh EXCEPT SELECT 'only fresh', * FROM catalog_upgraded)
ORDER BY 1, 2, 3;

-- the fresh install stays for the tests that follow
SELECT count(*) AS clients FROM topup.clients;
