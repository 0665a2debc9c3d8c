SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS topup CASCADE;
DROP ROLE IF EXISTS chg_app, chg_admin, chg_reseller, chg_auditor, chg_provider;
RESET client_min_messages;

--
-- Charges (SPEC §9): charge_account spends from a customer balance or a
-- card (order type account_charge): the account -amount, the client's
-- revenue book +amount.  Stored failures (account_not_found,
-- account_not_active, insufficient_funds: never below zero), raised errors,
-- idempotency, the description in account_payments next to the reversals
-- of charges, the events, the duties that may charge, and verify_ledger()
-- with a charge broken on purpose.
--
-- Every result is kept in the temp table res (one row per call, named by
-- step).  pg_temp.moved() lists what changed for client t_chg since its
-- last call: account balances and statuses, the master and revenue books,
-- and the numbers of orders, failed orders, ledger entries and events.  A
-- raised error must show nothing; a stored failure one more order, failed,
-- and its event.
--
SELECT topup.create_client('t_chg');
SELECT topup.create_client('t_chg_other');
SELECT topup.create_reseller('chg_shop', 't_chg');

CREATE TEMP TABLE res (step text PRIMARY KEY, LIKE topup.order_result);
\set cols 'step, order_type, status, error_slug, error_message, account_id, amount, fee, currency, account_balance_after, replayed'

CREATE TEMP TABLE snap (what text PRIMARY KEY, value text);
CREATE FUNCTION pg_temp.state() RETURNS TABLE (what text, value text) LANGUAGE sql AS $$
    SELECT 'account ' || account_id, balance || ' ' || status FROM topup.accounts WHERE client_id = 't_chg'
    UNION ALL
    SELECT book || ' ' || currency, sum(balance)::text FROM topup.balance_slots
     WHERE client_id = 't_chg' GROUP BY book, currency
    UNION ALL
    -- the revenue book has no stored balance: the sum of its entries
    SELECT 'revenue ' || currency, sum(amount)::text FROM topup.ledger
     WHERE client_id = 't_chg' AND book = 'revenue' GROUP BY currency
    UNION ALL
    SELECT 'orders', count(*)::text FROM topup.orders WHERE client_id = 't_chg'
    UNION ALL
    SELECT 'orders failed', count(*)::text FROM topup.orders WHERE client_id = 't_chg' AND status = 'failed'
    UNION ALL
    SELECT 'ledger entries', count(*)::text FROM topup.ledger WHERE client_id = 't_chg'
    UNION ALL
    SELECT 'events', count(*)::text FROM topup.events WHERE client_id = 't_chg'
$$;
CREATE FUNCTION pg_temp.moved() RETURNS TABLE (what text, change text) LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    SELECT COALESCE(n.what, o.what), COALESCE(o.value, '-') || ' -> ' || COALESCE(n.value, '-')
      FROM pg_temp.state() n FULL JOIN snap o ON o.what = n.what
     WHERE n.value IS DISTINCT FROM o.value
     ORDER BY 1;
    DELETE FROM snap;
    INSERT INTO snap SELECT * FROM pg_temp.state();
END $$;

-- Run a statement that must raise; show its SQLSTATE, the slug that
-- topup.error_codes lists for it, its message and detail (order ids masked).
CREATE FUNCTION pg_temp.raised(sql text, OUT code text, OUT slug text, OUT message text, OUT detail text)
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    code := 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE, message = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
    message := regexp_replace(message, 'order \d+', 'order <id>', 'g');
    detail := NULLIF(regexp_replace(detail, 'order \d+', 'order <id>', 'g'), '');
    SELECT e.slug INTO slug FROM topup.error_codes e WHERE e.sqlstate = code;
END $$;

-- The same for a bound role (which may not read topup.error_codes).
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    st text;
    msg text;
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    RETURN st || ': ' || msg;
END $$;

-- The ledger entries of an order.
CREATE FUNCTION pg_temp.entries(step text) RETURNS TABLE (book text, account_id text, amount numeric, balance_after numeric)
LANGUAGE sql AS $$
    SELECT l.book, l.account_id, l.amount, l.balance_after
      FROM topup.ledger l JOIN res r ON r.order_id = l.order_id
     WHERE r.step = entries.step
     ORDER BY l.book, l.amount
$$;

--
-- Fixtures: a customer account credited by vouchers, cards credited by
-- top-ups; accounts that are inactive, blocked and closed; a JPY and a BHD
-- account; the other client's account.
--
SELECT topup.set_pricing('USD', 1, 500, client_id => 't_chg');
SELECT topup.fund_master(1000, 'USD', 'chg-fund', 't_chg');
SELECT topup.set_pricing('JPY', 100, 100000, client_id => 't_chg');
SELECT topup.fund_master(100000, 'JPY', 'chg-fund-jpy', 't_chg');
SELECT topup.set_pricing('BHD', 1, 500, client_id => 't_chg');
SELECT topup.fund_master(1000, 'BHD', 'chg-fund-bhd', 't_chg');
SELECT topup.open_account('cust', 'USD', client_id => 't_chg');
SELECT topup.open_account(a, 'USD', 'card', client_id => 't_chg')
  FROM unnest(ARRAY['card', 'card_blk', 'card_cls', 'card_duty']) AS a;
SELECT topup.open_account('card_off', 'USD', 'card', active => false, client_id => 't_chg');
SELECT topup.open_account('card_jpy', 'JPY', 'card', client_id => 't_chg');
SELECT topup.open_account('card_bhd', 'BHD', 'card', client_id => 't_chg');
SELECT series, quantity FROM topup.generate_vouchers('CH', 2, 25, 'USD', client_id => 't_chg');
SELECT r.status, r.amount, r.account_balance_after
  FROM generate_series(1, 2) AS n,
       topup.redeem_voucher_by_serial(topup.make_serial('CH', n), 'cust', client_id => 't_chg') AS r;
SELECT account_id, status, amount, account_balance_after
  FROM unnest(ARRAY['card', 'card_blk', 'card_cls', 'card_duty']) AS a,
       topup.topup_card(a, 40, 'fix-' || a, client_id => 't_chg');
SELECT account_id, status, amount, account_balance_after FROM topup.topup_card('card_jpy', 1000, 'fix-jpy', client_id => 't_chg');
SELECT account_id, status, amount, account_balance_after FROM topup.topup_card('card_bhd', 10, 'fix-bhd', client_id => 't_chg');
UPDATE topup.accounts SET status = 'blocked' WHERE client_id = 't_chg' AND account_id = 'card_blk';
UPDATE topup.accounts SET status = 'closed' WHERE client_id = 't_chg' AND account_id = 'card_cls';
SELECT topup.open_account('o_cust', 'USD', client_id => 't_chg_other');
SELECT * FROM pg_temp.moved();
SELECT * FROM topup.verify_ledger();

--
-- 1. A charge: the account -amount, the revenue book +amount, in balanced
-- ledger entries; the order completed, of type account_charge, with no fee
-- and no master balance.  A customer account and a card alike.
--
INSERT INTO res SELECT 'cust_1', * FROM topup.charge_account('cust', 12.5, 'cust-1', 'two coffees', client_id => 't_chg')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
SELECT * FROM pg_temp.entries('cust_1');
SELECT o.order_type, o.status, o.topup_status, o.serial, o.fee, o.master_balance_before, o.master_balance_after,
       o.note, o.reference ~ '^TU[A-Z2-9]{20}$' AS reference, o.completed_at IS NOT NULL AS completed_at,
       o.failed_at IS NULL AS no_failed_at, o.reverses_order_id, o.channel
  FROM topup.orders o JOIN res r USING (order_id) WHERE r.step = 'cust_1';
INSERT INTO res SELECT 'card_1', * FROM topup.charge_account('card', 15, 'card-1', client_id => 't_chg')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
SELECT * FROM pg_temp.entries('card_1');
-- the whole balance can be spent, to zero
INSERT INTO res SELECT 'card_all', * FROM topup.charge_account('card', 25, 'card-all', 'the rest', client_id => 't_chg')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
-- other currencies, at their own scale
INSERT INTO res SELECT 'jpy', * FROM topup.charge_account('card_jpy', 300, 'jpy-1', client_id => 't_chg')
RETURNING :cols;
INSERT INTO res SELECT 'bhd', * FROM topup.charge_account('card_bhd', 1.255, 'bhd-1', client_id => 't_chg')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
SELECT * FROM topup.verify_ledger();

--
-- 2. Stored failures: a failed order (its event written), nothing moved,
-- replayed on a retry with the same key.
--
SELECT slug, sqlstate FROM topup.error_codes
 WHERE slug IN ('account_not_found', 'account_not_active', 'insufficient_funds')
 ORDER BY sqlstate;
-- account_not_found: no such account, or another client's
INSERT INTO res SELECT 'nf_missing', * FROM topup.charge_account('nobody', 5, 'nf-1', client_id => 't_chg')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
INSERT INTO res SELECT 'nf_foreign', * FROM topup.charge_account('o_cust', 5, 'nf-2', client_id => 't_chg')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
-- (an unknown account has no currency to judge the decimals by)
INSERT INTO res SELECT 'nf_decimals', * FROM topup.charge_account('nobody', 5.001, 'nf-3', client_id => 't_chg')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
-- account_not_active: blocked, closed, inactive
INSERT INTO res SELECT 'na_blocked', * FROM topup.charge_account('card_blk', 5, 'na-1', client_id => 't_chg')
RETURNING :cols;
INSERT INTO res SELECT 'na_closed', * FROM topup.charge_account('card_cls', 5, 'na-2', client_id => 't_chg')
RETURNING :cols;
INSERT INTO res SELECT 'na_inactive', * FROM topup.charge_account('card_off', 5, 'na-3', client_id => 't_chg')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
-- ... even when the account could not cover it either
INSERT INTO res SELECT 'na_and_if', * FROM topup.charge_account('card_blk', 500, 'na-4', client_id => 't_chg')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
-- insufficient_funds: never below zero
INSERT INTO res SELECT 'if_empty', * FROM topup.charge_account('card', 0.01, 'if-1', client_id => 't_chg')
RETURNING :cols;
INSERT INTO res SELECT 'if_short', * FROM topup.charge_account('cust', 37.51, 'if-2', client_id => 't_chg')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
SELECT account_id, balance FROM topup.accounts WHERE client_id = 't_chg' AND account_id IN ('card', 'cust') ORDER BY 1;
-- replayed on retry (same order, nothing moves), also after the account
-- could cover it
INSERT INTO res SELECT 'if_short_replay', * FROM topup.charge_account('cust', 37.51, 'if-2', client_id => 't_chg')
RETURNING :cols;
SELECT a.order_id = b.order_id AS same_order FROM res a, res b WHERE a.step = 'if_short' AND b.step = 'if_short_replay';
SELECT * FROM pg_temp.moved();
-- the failures keep what was asked, and no entries
SELECT r.step, o.amount, o.currency, o.account_balance_after, o.failed_at IS NOT NULL AS failed_at, o.completed_at,
       (SELECT count(*) FROM topup.ledger l WHERE l.order_id = o.order_id) AS entries
  FROM res r JOIN topup.orders o USING (order_id)
 WHERE r.step IN ('nf_missing', 'nf_foreign', 'na_blocked', 'if_short') ORDER BY r.step;
-- the other client's account was not touched
SELECT balance FROM topup.accounts WHERE client_id = 't_chg_other' AND account_id = 'o_cust';
SELECT * FROM topup.verify_ledger();

--
-- 3. Raised errors: nothing is stored, the key stays free.
--
SELECT slug, sqlstate FROM topup.error_codes
 WHERE slug IN ('idempotency_key_required', 'idempotency_key_reused', 'invalid_amount')
 ORDER BY sqlstate;
-- idempotency_key_required: NULL or empty, checked first
SELECT * FROM pg_temp.raised($$SELECT topup.charge_account('cust', 5, NULL, client_id => 't_chg')$$);
SELECT * FROM pg_temp.raised($$SELECT topup.charge_account('cust', 5, '', client_id => 't_chg')$$);
SELECT * FROM pg_temp.raised($$SELECT topup.charge_account(NULL, -5, NULL, client_id => 't_chg')$$);
-- invalid_amount: missing, zero, negative, not a number, too many decimals
-- for the account's currency
SELECT * FROM pg_temp.raised($$SELECT topup.charge_account('cust', NULL, 'bad-1', client_id => 't_chg')$$);
SELECT * FROM pg_temp.raised($$SELECT topup.charge_account('cust', 0, 'bad-1', client_id => 't_chg')$$);
SELECT * FROM pg_temp.raised($$SELECT topup.charge_account('cust', -5, 'bad-1', client_id => 't_chg')$$);
SELECT * FROM pg_temp.raised($$SELECT topup.charge_account('cust', 'NaN', 'bad-1', client_id => 't_chg')$$);
SELECT * FROM pg_temp.raised($$SELECT topup.charge_account('cust', 'Infinity', 'bad-1', client_id => 't_chg')$$);
SELECT * FROM pg_temp.raised($$SELECT topup.charge_account('cust', 5.001, 'bad-1', client_id => 't_chg')$$);
SELECT * FROM pg_temp.raised($$SELECT topup.charge_account('card_jpy', 1.5, 'bad-1', client_id => 't_chg')$$);
SELECT * FROM pg_temp.raised($$SELECT topup.charge_account('card_bhd', 0.0005, 'bad-1', client_id => 't_chg')$$);
-- ... before the account's status is looked at
SELECT * FROM pg_temp.raised($$SELECT topup.charge_account('card_blk', 5.001, 'bad-1', client_id => 't_chg')$$);
-- generic argument problems: 22023
SELECT * FROM pg_temp.raised($$SELECT topup.charge_account(NULL, 5, 'bad-2', client_id => 't_chg')$$);
SELECT * FROM pg_temp.raised($$SELECT topup.charge_account('', 5, 'bad-2', client_id => 't_chg')$$);
SELECT * FROM pg_temp.raised($$SELECT topup.charge_account('cust', 5, repeat('k', 256), client_id => 't_chg')$$);
SELECT * FROM pg_temp.raised($$SELECT topup.charge_account('cust', 5, 'bad-2', client_id => NULL)$$);
SELECT * FROM pg_temp.raised($$SELECT topup.charge_account('cust', 5, 'bad-2', client_id => 't_chg_none')$$);
-- as the client sees them
SELECT * FROM topup.charge_account('cust', 5.001, 'bad-3', client_id => 't_chg');
SELECT * FROM topup.charge_account('cust', 5, NULL, client_id => 't_chg');
SELECT * FROM pg_temp.moved();
-- the key of a raised call is still free
INSERT INTO res SELECT 'bad_fixed', * FROM topup.charge_account('cust', 5, 'bad-1', client_id => 't_chg')
RETURNING :cols;
SELECT * FROM pg_temp.moved();

--
-- 4. Idempotency: the same key and parameters replay (5 and 5.00 are the
-- same amount); another account, amount or description raises
-- idempotency_key_reused; keys are per client and per order type.
--
INSERT INTO res SELECT 'bad_fixed_replay', * FROM topup.charge_account('cust', 5.00, 'bad-1', client_id => 't_chg')
RETURNING :cols;
SELECT a.order_id = b.order_id AS same_order, a.reference = b.reference AS same_reference
  FROM res a, res b WHERE a.step = 'bad_fixed' AND b.step = 'bad_fixed_replay';
SELECT * FROM pg_temp.moved();
INSERT INTO res SELECT 'cust_1_replay', * FROM topup.charge_account('cust', 12.50, 'cust-1', 'two coffees', client_id => 't_chg')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
SELECT * FROM pg_temp.raised($$SELECT topup.charge_account('cust', 12.51, 'cust-1', 'two coffees', client_id => 't_chg')$$);
SELECT * FROM pg_temp.raised($$SELECT topup.charge_account('card', 12.5, 'cust-1', 'two coffees', client_id => 't_chg')$$);
SELECT * FROM pg_temp.raised($$SELECT topup.charge_account('cust', 12.5, 'cust-1', 'three coffees', client_id => 't_chg')$$);
SELECT * FROM pg_temp.raised($$SELECT topup.charge_account('cust', 12.5, 'cust-1', client_id => 't_chg')$$);
SELECT * FROM pg_temp.raised($$SELECT topup.charge_account('cust', 12.5, 'cust-1', '', client_id => 't_chg')$$);
\set VERBOSITY terse
SELECT * FROM topup.charge_account('cust', 12.51, 'cust-1', 'two coffees', client_id => 't_chg');
\set VERBOSITY default
SELECT * FROM pg_temp.moved();
-- the same key for a top-up, and for the other client: separate orders
INSERT INTO res SELECT 'key_topup', * FROM topup.topup_card('card', 10, 'cust-1', client_id => 't_chg')
RETURNING :cols;
SELECT topup.fund_master(100, 'USD', 'chg-other-fund', 't_chg_other');
SELECT topup.set_pricing('USD', 1, 500, client_id => 't_chg_other');
SELECT series, quantity FROM topup.generate_vouchers('CHO', 1, 20, 'USD', client_id => 't_chg_other');
SELECT status, amount FROM topup.redeem_voucher_by_serial(topup.make_serial('CHO', 1), 'o_cust',
                                                          client_id => 't_chg_other');
INSERT INTO res SELECT 'key_other', * FROM topup.charge_account('o_cust', 12.5, 'cust-1', 'two coffees', client_id => 't_chg_other')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
SELECT balance FROM topup.accounts WHERE client_id = 't_chg_other' AND account_id = 'o_cust';

--
-- 5. The description is kept (orders.note) and shown in account_payments:
-- payment_type charge, the amount negative, the balance after, and the
-- comment "charge <reference> <description>"; a reversal of a charge is a
-- row of payment_type reversal.
--
INSERT INTO res SELECT 'rev_cust_1', * FROM topup.reverse_order((SELECT order_id FROM res WHERE step = 'cust_1'),
    'coffee was cold', 'rev-cust-1', amount => 2.5, client_id => 't_chg')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
SELECT * FROM pg_temp.entries('rev_cust_1');
SELECT p.payment_type, p.amount, p.currency, p.balance_after,
       regexp_replace(regexp_replace(p.comment, 'TU[A-Z2-9]{20}', '<reference>'), 'order \d+', 'order <id>') AS comment,
       o.reverses_order_id = (SELECT order_id FROM res WHERE step = 'cust_1') AS reverses_cust_1
  FROM topup.account_payments p JOIN topup.orders o USING (order_id)
 WHERE p.client_id = 't_chg' AND p.account_id = 'cust' ORDER BY p.order_id;
SELECT p.payment_type, p.amount, p.balance_after, replace(p.comment, o.reference, '<reference>') AS comment
  FROM topup.account_payments p JOIN topup.orders o USING (order_id)
 WHERE p.client_id = 't_chg' AND p.account_id = 'card' ORDER BY p.order_id;
-- failed charges are not payments
SELECT count(*) AS failed_shown FROM topup.account_payments p JOIN topup.orders o USING (order_id)
 WHERE p.client_id = 't_chg' AND o.status = 'failed';
SELECT * FROM topup.verify_ledger();

--
-- 6. Events: order.completed for a charge, order.failed for a refused one,
-- written with the order; the payload as for every order.
--
SELECT e.kind, e.account_id, e.serial, e.payload - 'reference' - 'reversal_order_id' AS payload,
       e.payload->>'reference' = o.reference AS reference
  FROM topup.events e JOIN res r ON r.order_id = e.order_id JOIN topup.orders o ON o.order_id = e.order_id
 WHERE r.step IN ('cust_1', 'if_short', 'na_closed', 'nf_missing') ORDER BY r.step, e.kind;
-- one event per charge (a reversal adds order.reversed), none for a replay
SELECT o.status, e.kind, count(*) AS events, count(DISTINCT e.order_id) AS orders
  FROM topup.events e JOIN topup.orders o USING (order_id)
 WHERE o.client_id = 't_chg' AND o.order_type = 'account_charge'
 GROUP BY 1, 2 ORDER BY 1, 2;
SELECT status, count(*) AS charge_orders FROM topup.orders
 WHERE client_id = 't_chg' AND order_type = 'account_charge' GROUP BY 1 ORDER BY 1;

--
-- 7. Duties: app and admin charge their client's accounts (their client by
-- default); the reseller, auditor and provider duties may not (42501);
-- another client, or one that does not exist, is 22023 for all who may.
--
CREATE ROLE chg_app;
CREATE ROLE chg_admin;
CREATE ROLE chg_reseller;
CREATE ROLE chg_auditor;
CREATE ROLE chg_provider;
SELECT topup.bind_role('chg_app', 'app', 't_chg');
SELECT topup.bind_role('chg_admin', 'admin', 't_chg');
SELECT topup.bind_role('chg_reseller', 'reseller', 't_chg', 'chg_shop');
SELECT topup.bind_role('chg_auditor', 'auditor', 't_chg');
SELECT topup.bind_role('chg_provider', 'provider', 't_chg');
CREATE TEMP TABLE chg_roles (r text PRIMARY KEY);
INSERT INTO chg_roles VALUES ('chg_app'), ('chg_admin'), ('chg_reseller'), ('chg_auditor'), ('chg_provider');
CREATE FUNCTION pg_temp.charge_as(r text, sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    result text;
BEGIN
    EXECUTE format('SET LOCAL ROLE %I', r);
    result := pg_temp.try(sql);
    RESET ROLE;
    RETURN result;
END $$;
SELECT r AS role,
       pg_temp.charge_as(r, format($$SELECT topup.charge_account('o_cust', 1, 'duty-%s', client_id => 't_chg_other')$$, r)) AS other,
       pg_temp.charge_as(r, format($$SELECT topup.charge_account('card_duty', 1, 'duty-%s', client_id => 't_chg_none')$$, r)) AS unknown,
       pg_temp.charge_as(r, format($$SELECT topup.charge_account('card_duty', 1, 'duty-%s')$$, r)) AS own
  FROM chg_roles ORDER BY r;
SELECT * FROM pg_temp.moved();
SELECT idempotency_key, status, amount, account_balance_after FROM topup.orders
 WHERE client_id = 't_chg' AND idempotency_key LIKE 'duty-%' ORDER BY 1;
SELECT balance FROM topup.accounts WHERE client_id = 't_chg_other' AND account_id = 'o_cust';
-- the app's own call, as the app sees it
SET ROLE chg_app;
SELECT order_type, status, client_id, account_id, amount, account_balance_after, replayed
  FROM topup.charge_account('card_duty', 1, 'duty-chg_app');
RESET ROLE;
SELECT * FROM pg_temp.moved();
-- the admin sees the charges in account_payments, only its client's
SET ROLE chg_admin;
SELECT client_id, payment_type, currency, count(*), sum(amount) FROM topup.account_payments
 WHERE payment_type IN ('charge', 'reversal') GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
RESET ROLE;

--
-- 8. verify_ledger() checks charges: a completed charge's entries take
-- exactly its amount from the account to the revenue book.  Broken by
-- hand, with the triggers off, and rolled back.
--
CREATE TEMP VIEW problems AS
SELECT problem, regexp_replace(detail, '(order|charge|entry) \d+', '\1 N', 'g') AS detail
  FROM topup.verify_ledger()
 ORDER BY 1, 2;
SELECT * FROM problems;
-- the order says more than its entries moved
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE topup.orders SET amount = 13 WHERE order_id = (SELECT order_id FROM res WHERE step = 'cust_1');
SELECT * FROM problems;
ROLLBACK;
-- the revenue entry is gone
BEGIN;
SET LOCAL session_replication_role = replica;
DELETE FROM topup.ledger WHERE book = 'revenue' AND order_id = (SELECT order_id FROM res WHERE step = 'card_1');
SELECT * FROM problems;
ROLLBACK;
-- a charge whose money went to the fee account instead of revenue
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE topup.ledger SET book = 'fee' WHERE book = 'revenue' AND order_id = (SELECT order_id FROM res WHERE step = 'jpy');
UPDATE topup.balance_slots SET balance = balance + 300
 WHERE client_id = 't_chg' AND currency = 'JPY' AND book = 'fee' AND slot = 0;
SELECT * FROM problems;
ROLLBACK;
SELECT * FROM topup.verify_ledger();

-- the roles go again
SELECT topup.unbind_role('chg_app', 'app', 't_chg');
SELECT topup.unbind_role('chg_admin', 'admin', 't_chg');
SELECT topup.unbind_role('chg_reseller', 'reseller', 't_chg', 'chg_shop');
SELECT topup.unbind_role('chg_auditor', 'auditor', 't_chg');
SELECT topup.unbind_role('chg_provider', 'provider', 't_chg');
DROP ROLE chg_app, chg_admin, chg_reseller, chg_auditor, chg_provider;
SELECT count(*) AS bindings_left FROM topup.role_bindings WHERE client_id = 't_chg';
