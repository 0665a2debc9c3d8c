SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS topup CASCADE;
RESET client_min_messages;

--
-- The guards of accounts, ledger, orders and the secret (SPEC §0, §3):
-- plain INSERT/UPDATE/DELETE/TRUNCATE by an admin cannot break a balance,
-- the ledger, an order's history or the keys.  Also the argument errors
-- of create_client, create_reseller and open_account.
--

-- Run a statement; return 'ok' or its SQLSTATE and message.
CREATE FUNCTION pg_temp.try(cmd text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE cmd;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

--
-- Clients and resellers
--
SELECT topup.create_client('t_guards', 'Guards test');
SELECT topup.create_client('t_guards');
SELECT pg_temp.try($$SELECT topup.create_client('t_guards', 'again')$$);
SELECT pg_temp.try($$SELECT topup.create_client(NULL)$$);
SELECT pg_temp.try($$SELECT topup.create_client('')$$);
SELECT pg_temp.try($$SELECT topup.create_client(repeat('c', 256))$$);
SELECT client_id, name FROM topup.clients WHERE client_id LIKE 't_guards%' OR client_id = '';

SELECT topup.create_reseller('g-shop', 't_guards');
SELECT topup.create_reseller('g-shop', 't_guards');
SELECT pg_temp.try($$SELECT topup.create_reseller('g-shop', 't_guards')$$);
SELECT pg_temp.try($$SELECT topup.create_reseller('g-shop', 't_guards_nobody')$$);
SELECT pg_temp.try($$SELECT topup.create_reseller('', 't_guards')$$);
SELECT pg_temp.try($$SELECT topup.create_reseller(NULL, 't_guards')$$);
SELECT client_id, reseller FROM topup.resellers WHERE client_id LIKE 't_guards%';

--
-- open_account
--
SELECT topup.open_account('g-active', 'USD', client_id => 't_guards');
SELECT topup.open_account('g-inactive', 'USD', 'card', false, client_id => 't_guards');
SELECT topup.open_account('g-blocked', 'EUR', 'customer', true,
                          '{"firstName": "Ada", "lastName": "Lovelace"}', 't_guards');
SELECT topup.open_account('g-closing', 'JPY', client_id => 't_guards');

SELECT topup.open_account('g-x', 'XYZ', client_id => 't_guards');
SELECT topup.open_account('g-x', 'USD', 'wallet', client_id => 't_guards');
SELECT topup.open_account('g-active', 'EUR', client_id => 't_guards');
SELECT topup.open_account('g-x', 'USD', client_id => 't_guards_nobody');
SELECT pg_temp.try(cmd) FROM (VALUES
    ($$SELECT topup.open_account('g-x', 'XYZ', client_id => 't_guards')$$),
    ($$SELECT topup.open_account('g-x', 'usd', client_id => 't_guards')$$),
    ($$SELECT topup.open_account('g-x', NULL, client_id => 't_guards')$$),
    ($$SELECT topup.open_account('g-x', 'USD', 'wallet', client_id => 't_guards')$$),
    ($$SELECT topup.open_account('g-x', 'USD', NULL, client_id => 't_guards')$$),
    ($$SELECT topup.open_account('g-active', 'EUR', client_id => 't_guards')$$),
    ($$SELECT topup.open_account('g-x', 'USD', client_id => 't_guards_nobody')$$),
    ($$SELECT topup.open_account('g-x', 'USD', client_id => NULL)$$),
    ($$SELECT topup.open_account('g-x', 'USD', 'customer', NULL, client_id => 't_guards')$$),
    ($$SELECT topup.open_account(NULL, 'USD', client_id => 't_guards')$$),
    ($$SELECT topup.open_account('', 'USD', client_id => 't_guards')$$),
    ($$SELECT topup.open_account('g-x', 'USD', 'customer', true, '{"nickname": "x"}', 't_guards')$$)
    ) AS c(cmd);
-- nothing was written by the failed calls
SELECT account_id, kind, currency, balance, status, activated_at IS NOT NULL AS has_activated_at
  FROM topup.accounts WHERE client_id = 't_guards' ORDER BY account_id;

-- some money and history: redeem one voucher, fail one redeem
SELECT series, quantity FROM topup.generate_vouchers('GD1', 2, 25, 'USD', 12, client_id => 't_guards');
SELECT status, error_slug, amount, account_balance_after
  FROM topup.redeem_voucher(
        (SELECT pin FROM topup.export_vouchers('GD1', 't_guards')
          WHERE topup.serial_number(serial) = 1),
        'g-active', client_id => 't_guards');
SELECT status, error_slug, amount, account_balance_after
  FROM topup.redeem_voucher('00000', 'g-active', client_id => 't_guards');
CREATE TEMP VIEW g_orders AS
SELECT order_id FROM topup.orders WHERE client_id = 't_guards';
SELECT count(*) AS orders FROM g_orders;
SELECT count(*) AS ledger_entries FROM topup.ledger WHERE order_id IN (SELECT order_id FROM g_orders);

--
-- Accounts: no direct balance change, no INSERT, DELETE or TRUNCATE
--
UPDATE topup.accounts SET balance = 1000 WHERE client_id = 't_guards' AND account_id = 'g-active';
SELECT pg_temp.try(cmd) FROM (VALUES
    ($$UPDATE topup.accounts SET balance = balance + 1 WHERE client_id = 't_guards' AND account_id = 'g-active'$$),
    ($$UPDATE topup.accounts SET balance = 0 WHERE client_id = 't_guards' AND account_id = 'g-active'$$),
    ($$UPDATE topup.accounts SET balance = 5, status = 'blocked' WHERE client_id = 't_guards' AND account_id = 'g-inactive'$$),
    ($$UPDATE topup.accounts SET account_id = 'g-renamed' WHERE client_id = 't_guards' AND account_id = 'g-active'$$),
    ($$UPDATE topup.accounts SET client_id = 'default' WHERE client_id = 't_guards' AND account_id = 'g-active'$$),
    ($$UPDATE topup.accounts SET kind = 'card' WHERE client_id = 't_guards' AND account_id = 'g-active'$$),
    ($$UPDATE topup.accounts SET currency = 'EUR' WHERE client_id = 't_guards' AND account_id = 'g-active'$$),
    ($$UPDATE topup.accounts SET created_at = now() - interval '1 year' WHERE client_id = 't_guards' AND account_id = 'g-active'$$),
    ($$UPDATE topup.accounts SET activated_at = NULL WHERE client_id = 't_guards' AND account_id = 'g-active'$$),
    ($$INSERT INTO topup.accounts (client_id, account_id, kind, currency) VALUES ('t_guards', 'g-direct', 'customer', 'USD')$$),
    ($$INSERT INTO topup.accounts (client_id, account_id, kind, currency, balance) VALUES ('t_guards', 'g-rich', 'customer', 'USD', 1000000)$$),
    ($$DELETE FROM topup.accounts WHERE client_id = 't_guards' AND account_id = 'g-inactive'$$),
    ($$TRUNCATE topup.accounts$$)
    ) AS c(cmd);
INSERT INTO topup.accounts (client_id, account_id, kind, currency) VALUES ('t_guards', 'g-direct', 'customer', 'USD');
DELETE FROM topup.accounts WHERE client_id = 't_guards' AND account_id = 'g-inactive';
TRUNCATE topup.accounts;
-- assigning the same balance is no change
UPDATE topup.accounts SET balance = balance WHERE client_id = 't_guards' AND account_id = 'g-active';
SELECT account_id, kind, currency, balance, status
  FROM topup.accounts WHERE client_id = 't_guards' ORDER BY account_id;

--
-- Account status: active <-> blocked, inactive -> active, any -> closed
--
UPDATE topup.accounts SET status = 'blocked' WHERE client_id = 't_guards' AND account_id = 'g-blocked';
SELECT account_id, status FROM topup.accounts WHERE client_id = 't_guards' AND account_id = 'g-blocked';
UPDATE topup.accounts SET status = 'active' WHERE client_id = 't_guards' AND account_id = 'g-blocked';
UPDATE topup.accounts SET status = 'blocked' WHERE client_id = 't_guards' AND account_id = 'g-blocked';
SELECT account_id, status FROM topup.accounts WHERE client_id = 't_guards' AND account_id = 'g-blocked';

-- rejected changes
UPDATE topup.accounts SET status = 'inactive' WHERE client_id = 't_guards' AND account_id = 'g-active';
SELECT pg_temp.try(cmd) FROM (VALUES
    ($$UPDATE topup.accounts SET status = 'inactive' WHERE client_id = 't_guards' AND account_id = 'g-active'$$),
    ($$UPDATE topup.accounts SET status = 'inactive' WHERE client_id = 't_guards' AND account_id = 'g-blocked'$$),
    ($$UPDATE topup.accounts SET status = 'blocked' WHERE client_id = 't_guards' AND account_id = 'g-inactive'$$)
    ) AS c(cmd);

-- inactive -> active records the activation
SELECT account_id, status, activated_at IS NULL AS never_activated
  FROM topup.accounts WHERE client_id = 't_guards' AND account_id = 'g-inactive';
BEGIN;
UPDATE topup.accounts SET status = 'active' WHERE client_id = 't_guards' AND account_id = 'g-inactive';
SELECT account_id, status, activated_at = now() AS activated_now
  FROM topup.accounts WHERE client_id = 't_guards' AND account_id = 'g-inactive';
COMMIT;
-- a later block and unblock keeps the first activation time
CREATE TEMP TABLE g_first_activation AS
SELECT activated_at FROM topup.accounts WHERE client_id = 't_guards' AND account_id = 'g-inactive';
UPDATE topup.accounts SET status = 'blocked' WHERE client_id = 't_guards' AND account_id = 'g-inactive';
UPDATE topup.accounts SET status = 'active' WHERE client_id = 't_guards' AND account_id = 'g-inactive';
SELECT account_id, status, a.activated_at = f.activated_at AS first_activation_kept
  FROM topup.accounts a, g_first_activation f
 WHERE client_id = 't_guards' AND account_id = 'g-inactive';

-- any status -> closed; closed is final
SELECT topup.open_account('g-inactive2', 'USD', 'card', false, client_id => 't_guards');
UPDATE topup.accounts SET status = 'closed'
 WHERE client_id = 't_guards' AND account_id IN ('g-closing', 'g-blocked', 'g-inactive2');
SELECT account_id, status FROM topup.accounts
 WHERE client_id = 't_guards' AND account_id IN ('g-closing', 'g-blocked', 'g-inactive2')
 ORDER BY account_id;
UPDATE topup.accounts SET status = 'active' WHERE client_id = 't_guards' AND account_id = 'g-closing';
SELECT pg_temp.try(cmd) FROM (VALUES
    ($$UPDATE topup.accounts SET status = 'active' WHERE client_id = 't_guards' AND account_id = 'g-closing'$$),
    ($$UPDATE topup.accounts SET status = 'blocked' WHERE client_id = 't_guards' AND account_id = 'g-closing'$$),
    ($$UPDATE topup.accounts SET status = 'inactive' WHERE client_id = 't_guards' AND account_id = 'g-closing'$$),
    ($$UPDATE topup.accounts SET customer_info = '{"firstName": "Bob"}' WHERE client_id = 't_guards' AND account_id = 'g-closing'$$),
    ($$UPDATE topup.accounts SET status = 'closed' WHERE client_id = 't_guards' AND account_id = 'g-closing'$$)
    ) AS c(cmd);
SELECT account_id, status FROM topup.accounts WHERE client_id = 't_guards' AND account_id = 'g-closing';

-- a statement with one forbidden row changes none: g-closing is closed
UPDATE topup.accounts SET status = 'blocked'
 WHERE client_id = 't_guards' AND account_id IN ('g-active', 'g-closing');
SELECT account_id, status FROM topup.accounts
 WHERE client_id = 't_guards' AND account_id IN ('g-active', 'g-closing') ORDER BY account_id;

--
-- customer_info may be edited directly, but is validated (TU012)
--
UPDATE topup.accounts SET customer_info = '{"firstName": "Grace", "lastName": "Hopper", "country": "US"}'
 WHERE client_id = 't_guards' AND account_id = 'g-active';
UPDATE topup.accounts SET customer_info = customer_info || '{"nickname": "amazing"}'
 WHERE client_id = 't_guards' AND account_id = 'g-active';
SELECT pg_temp.try(cmd) FROM (VALUES
    ($$UPDATE topup.accounts SET customer_info = '{"nickname": "amazing"}' WHERE client_id = 't_guards' AND account_id = 'g-active'$$),
    ($$UPDATE topup.accounts SET customer_info = '{"country": "usa"}' WHERE client_id = 't_guards' AND account_id = 'g-active'$$),
    ($$UPDATE topup.accounts SET customer_info = '["firstName"]' WHERE client_id = 't_guards' AND account_id = 'g-active'$$)
    ) AS c(cmd);
SELECT account_id, customer_info, customer_name
  FROM topup.accounts JOIN topup.account_list USING (client_id, account_id)
 WHERE client_id = 't_guards' AND account_id = 'g-active';
-- customer_info may be removed
UPDATE topup.accounts SET customer_info = NULL WHERE client_id = 't_guards' AND account_id = 'g-inactive';

--
-- Ledger: append-only, written by the extension only
--
CREATE TEMP VIEW g_ledger AS
SELECT l.* FROM topup.ledger l JOIN g_orders USING (order_id);
SELECT book, account_id, currency, amount, balance_after FROM g_ledger ORDER BY entry_id;
UPDATE topup.ledger SET amount = amount * 2 WHERE order_id IN (SELECT order_id FROM g_orders);
SELECT pg_temp.try(cmd) FROM (VALUES
    ($$UPDATE topup.ledger SET amount = amount * 2 WHERE order_id IN (SELECT order_id FROM g_orders)$$),
    ($$UPDATE topup.ledger SET created_at = now() WHERE order_id IN (SELECT order_id FROM g_orders)$$),
    ($$DELETE FROM topup.ledger WHERE order_id IN (SELECT order_id FROM g_orders)$$),
    ($$INSERT INTO topup.ledger (order_id, client_id, book, account_id, currency, amount)
       SELECT min(order_id), 't_guards', 'account', 'g-active', 'USD', 100 FROM g_orders$$),
    ($$TRUNCATE topup.ledger$$)
    ) AS c(cmd);
DELETE FROM topup.ledger WHERE order_id IN (SELECT order_id FROM g_orders);
INSERT INTO topup.ledger (order_id, client_id, book, currency, amount) VALUES (0, 't_guards', 'funding', 'USD', 100);
TRUNCATE topup.ledger;
-- COPY with a query that writes is not a restore: the guards still apply
COPY (INSERT INTO topup.ledger (order_id, client_id, book, currency, amount)
      VALUES (0, 't_guards', 'funding', 'USD', 100) RETURNING entry_id) TO STDOUT;
COPY (UPDATE topup.accounts SET balance = 1000
       WHERE client_id = 't_guards' AND account_id = 'g-active' RETURNING balance) TO STDOUT;
SELECT book, account_id, currency, amount, balance_after FROM g_ledger ORDER BY entry_id;

--
-- Orders: written by the extension; status forward only; terminal is final
--
SELECT status, error_slug, amount FROM topup.orders WHERE client_id = 't_guards' ORDER BY order_id;
SELECT pg_temp.try(cmd) FROM (VALUES
    ($$INSERT INTO topup.orders (order_type, client_id, reference) VALUES ('card_topup', 't_guards', 'g-ref-1')$$),
    ($$TRUNCATE topup.orders$$)
    ) AS c(cmd);
INSERT INTO topup.orders (order_type, client_id, reference) VALUES ('card_topup', 't_guards', 'g-ref-1');
TRUNCATE topup.orders;
-- the stored orders are final (the order id in the messages is masked)
CREATE FUNCTION pg_temp.try_order(cmd text) RETURNS text LANGUAGE sql AS $$
    SELECT regexp_replace(pg_temp.try(cmd), 'order \d+', 'order N')
$$;
SELECT pg_temp.try_order(cmd) FROM (VALUES
    ($$DELETE FROM topup.orders WHERE order_id = (SELECT min(order_id) FROM g_orders)$$),
    ($$UPDATE topup.orders SET status = 'new' WHERE order_id = (SELECT min(order_id) FROM g_orders)$$),
    ($$UPDATE topup.orders SET status = 'failed' WHERE order_id = (SELECT min(order_id) FROM g_orders)$$),
    ($$UPDATE topup.orders SET amount = 1 WHERE order_id = (SELECT min(order_id) FROM g_orders)$$),
    ($$UPDATE topup.orders SET status = 'completed' WHERE order_id = (SELECT max(order_id) FROM g_orders)$$),
    ($$UPDATE topup.orders SET error_slug = NULL WHERE order_id = (SELECT max(order_id) FROM g_orders)$$)
    ) AS c(cmd);

-- A stuck order in flight, made with the triggers off (as no function of
-- this version leaves an order unfinished), to test the forward rule.
SET session_replication_role = replica;
INSERT INTO topup.orders (order_type, status, topup_status, client_id, account_id, amount, currency, reference)
VALUES ('card_topup', 'processing', 'provider_in_progress', 't_guards', 'g-inactive', 5, 'USD', 'g-ref-stuck');
RESET session_replication_role;
CREATE TEMP VIEW g_stuck AS
SELECT status, topup_status, error_slug, amount, failed_at IS NOT NULL AS has_failed_at
  FROM topup.orders WHERE reference = 'g-ref-stuck';
SELECT pg_temp.try_order(cmd) FROM (VALUES
    ($$UPDATE topup.orders SET status = 'new' WHERE reference = 'g-ref-stuck'$$),
    ($$UPDATE topup.orders SET status = 'activating' WHERE reference = 'g-ref-stuck'$$),
    ($$UPDATE topup.orders SET amount = 500 WHERE reference = 'g-ref-stuck'$$),
    ($$UPDATE topup.orders SET currency = 'EUR' WHERE reference = 'g-ref-stuck'$$),
    ($$UPDATE topup.orders SET client_id = 'default' WHERE reference = 'g-ref-stuck'$$),
    ($$UPDATE topup.orders SET reference = 'g-ref-other' WHERE reference = 'g-ref-stuck'$$),
    ($$UPDATE topup.orders SET master_balance_after = 0 WHERE reference = 'g-ref-stuck'$$),
    ($$DELETE FROM topup.orders WHERE reference = 'g-ref-stuck'$$)
    ) AS c(cmd);
SELECT * FROM g_stuck;
-- the same status and the sub-status may change; then an admin fails it
UPDATE topup.orders SET status = 'processing', topup_status = 'provider_verification'
 WHERE reference = 'g-ref-stuck';
UPDATE topup.orders SET status = 'failed', topup_status = 'failed', error_slug = 'provider_timeout',
       error_message = 'failed by an administrator', failed_at = now()
 WHERE reference = 'g-ref-stuck';
SELECT * FROM g_stuck;
-- ... which is final
SELECT pg_temp.try_order(cmd) FROM (VALUES
    ($$UPDATE topup.orders SET status = 'completed' WHERE reference = 'g-ref-stuck'$$),
    ($$UPDATE topup.orders SET error_message = 'oops' WHERE reference = 'g-ref-stuck'$$)
    ) AS c(cmd);
SELECT * FROM g_stuck;
-- remove the test order again (triggers off)
SET session_replication_role = replica;
DELETE FROM topup.orders WHERE reference = 'g-ref-stuck';
RESET session_replication_role;

--
-- Master balances and fee accounts (balance_slots) and fundings change
-- only through the extension's functions
--
SELECT topup.fund_master(30, 'USD', 'g-fund-1', 't_guards');
SELECT * FROM topup.master_balances WHERE client_id = 't_guards';
UPDATE topup.balance_slots SET balance = balance + 1000 WHERE client_id = 't_guards';
SELECT pg_temp.try(cmd) FROM (VALUES
    ($$UPDATE topup.balance_slots SET balance = balance + 1000 WHERE client_id = 't_guards'$$),
    ($$UPDATE topup.balance_slots SET book = 'fee' WHERE client_id = 't_guards'$$),
    ($$DELETE FROM topup.balance_slots WHERE client_id = 't_guards'$$),
    ($$INSERT INTO topup.balance_slots (client_id, currency, book, slot, balance) VALUES ('t_guards', 'EUR', 'master', 0, 1000)$$),
    ($$TRUNCATE topup.balance_slots$$),
    ($$UPDATE topup.fundings SET amount = 1000 WHERE client_id = 't_guards'$$),
    ($$DELETE FROM topup.fundings WHERE client_id = 't_guards'$$),
    ($$INSERT INTO topup.fundings (client_id, currency, amount, reference) VALUES ('t_guards', 'USD', 1000, 'g-fund-2')$$),
    ($$TRUNCATE topup.fundings$$)
    ) AS c(cmd);
COPY (INSERT INTO topup.balance_slots (client_id, currency, book, slot, balance)
      VALUES ('t_guards', 'EUR', 'master', 0, 1000) RETURNING balance) TO STDOUT;
SELECT * FROM topup.master_balances WHERE client_id = 't_guards';
SELECT currency, amount, reference FROM topup.fundings WHERE client_id = 't_guards';

--
-- The expiry queue (voucher_expiry) is written only by the extension: by
-- generate_vouchers, by the vouchers trigger when an admin gives a live
-- voucher a new due date, and by the sweep.
--
SELECT quantity FROM topup.generate_vouchers('GQ', 2, 10, 'USD', expires_at => now() + interval '1 day',
                                             client_id => 't_guards');
SELECT count(*) AS queued FROM topup.voucher_expiry WHERE client_id = 't_guards';
SELECT pg_temp.try(cmd) FROM (VALUES
    ($$UPDATE topup.voucher_expiry SET expires_at = now() WHERE client_id = 't_guards'$$),
    ($$DELETE FROM topup.voucher_expiry WHERE client_id = 't_guards'$$),
    ($$INSERT INTO topup.voucher_expiry (expires_at, client_id, serial) VALUES (now(), 't_guards', topup.make_serial('GQ', 1))$$),
    ($$TRUNCATE topup.voucher_expiry$$)
    ) AS c(cmd);
-- an admin moving a due date queues the new one; an unchanged date does not
UPDATE topup.vouchers SET expires_at = expires_at + interval '1 day'
 WHERE client_id = 't_guards' AND series = 'GQ' AND serial OPERATOR(topup.=) topup.make_serial('GQ', 1);
UPDATE topup.vouchers SET reseller = NULL WHERE client_id = 't_guards' AND series = 'GQ';
UPDATE topup.vouchers SET status = 'blocked'
 WHERE client_id = 't_guards' AND serial OPERATOR(topup.=) topup.make_serial('GQ', 2);
SELECT topup.serial_number(serial) AS n, expires_at - (SELECT min(expires_at) FROM topup.voucher_expiry
                                                   WHERE client_id = 't_guards') AS later_by
  FROM topup.voucher_expiry WHERE client_id = 't_guards' ORDER BY 1, 2;
-- an expired voucher given a future date is live again, and queued
UPDATE topup.vouchers SET status = 'expired'
 WHERE client_id = 't_guards' AND serial OPERATOR(topup.=) topup.make_serial('GQ', 2);
UPDATE topup.vouchers SET status = 'new', expires_at = now() + interval '3 days'
 WHERE client_id = 't_guards' AND serial OPERATOR(topup.=) topup.make_serial('GQ', 2);
SELECT count(*) AS queued FROM topup.voucher_expiry WHERE client_id = 't_guards';

--
-- The secret: nobody changes it
--
SELECT count(*) AS secrets FROM topup.secret;
CREATE TEMP TABLE secret_before AS SELECT hmac_key, enc_key FROM topup.secret;
UPDATE topup.secret SET hmac_key = hmac_key;
SELECT pg_temp.try(cmd) FROM (VALUES
    ($$UPDATE topup.secret SET hmac_key = sha256(hmac_key)$$),
    ($$UPDATE topup.secret SET created_at = now()$$),
    ($$DELETE FROM topup.secret$$),
    ($$INSERT INTO topup.secret (id, hmac_key, enc_key) VALUES (true, sha256('a'), sha256('b'))$$),
    ($$TRUNCATE topup.secret$$)
    ) AS c(cmd);
TRUNCATE topup.secret;
COPY (DELETE FROM topup.secret RETURNING id) TO STDOUT;
-- (a restore's COPY FROM replaces the secret; this COPY is not one)
COPY (INSERT INTO topup.secret (id, hmac_key, enc_key)
      VALUES (true, sha256('a'), sha256('b')) RETURNING id) TO STDOUT;
SELECT count(*) AS secrets,
       bool_and(s.hmac_key = b.hmac_key AND s.enc_key = b.enc_key) AS unchanged
  FROM topup.secret s, secret_before b;

-- the other voucher of the series still redeems with the unchanged secret
SELECT status, error_slug, amount, account_balance_after
  FROM topup.redeem_voucher(
        (SELECT pin FROM topup.export_vouchers('GD1', 't_guards')
          WHERE topup.serial_number(serial) = 2),
        'g-active', client_id => 't_guards');
SELECT account_id, balance FROM topup.accounts
 WHERE client_id = 't_guards' AND balance > 0 ORDER BY account_id;

-- the ledger still balances
SELECT * FROM topup.verify_ledger();
