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
SELECT series, quantity FROM topup.generate_vouchers('UE1', 2, 5, 'USD', expires_at => now() + interval '1 second',
                                                    client_id => 't_upgrade');
SELECT series, quantity FROM topup.generate_vouchers('UE2', 3, 5, 'USD', expires_at => now() + interval '2 seconds',
                                                    client_id => 't_upgrade');
SELECT series, quantity FROM topup.generate_vouchers('UE3', 2, 5, 'USD', expires_at => now() + interval '30 days',
                                                    client_id => 't_upgrade');
UPDATE topup.vouchers SET status = 'blocked'
 WHERE client_id = 't_upgrade' AND serial OPERATOR(topup.=) topup.make_serial('UE2', 1);
SELECT to_regclass('topup.voucher_expiry') IS NULL AS no_queue_yet;
SELECT pg_sleep(1.1);
SELECT topup.expire_vouchers() >= 2 AS swept_under_020;
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
SELECT pg_sleep(1.0);
SELECT topup.expire_vouchers() >= 3 AS swept_under_030;
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
-- Back to a clean default install for the tests that follow.
--
SET client_min_messages = warning;
DROP EXTENSION topup CASCADE;
CREATE EXTENSION topup CASCADE;
RESET client_min_messages;
SELECT extversion FROM pg_extension WHERE extname = 'topup';
SELECT count(*) AS clients FROM topup.clients;
