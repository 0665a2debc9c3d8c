SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS topup CASCADE;
RESET client_min_messages;

--
-- Card top-ups: topup_card (raised errors, stored failures in the
-- contract's order, idempotency, success, activation, customer_info),
-- the master balance split into slots, check_order, order_json, the
-- orders trigger and admin status changes of cards.
--
-- Every result is kept in the temp table res (one row per call, named by
-- step) so that later queries can compare order ids without printing them.
-- pg_temp.delta() reports what changed for our clients since its last
-- call: new orders, new failed orders, new ledger entries, accounts whose
-- balance, status or customer_info changed, and master and fee balances
-- that changed.  A raised error must show nothing; a stored failure
-- exactly one new failed order and nothing else.
--

SELECT topup.create_client('t_topup');
SELECT topup.create_client('t_topup_other');

CREATE TEMP TABLE res (step text PRIMARY KEY, LIKE topup.order_result);
\set cols 'step, status, topup_status, error_slug, error_message, account_id, amount, fee, currency, account_balance_after, replayed'

CREATE TEMP TABLE snap_counts AS
SELECT 0::bigint AS orders, 0::bigint AS failed, 0::bigint AS ledger WITH NO DATA;
CREATE TEMP TABLE snap_accounts AS
SELECT client_id, account_id, balance, status, customer_info FROM topup.accounts WITH NO DATA;
CREATE TEMP TABLE snap_books AS
SELECT client_id, currency, 'master'::text AS book, balance FROM topup.master_balances WITH NO DATA;

CREATE FUNCTION pg_temp.delta(OUT new_orders bigint, OUT new_failed bigint, OUT new_ledger bigint,
                              OUT accounts_changed bigint, OUT books_changed bigint)
LANGUAGE plpgsql AS $$
DECLARE
    o bigint;
    f bigint;
    l bigint;
BEGIN
    SELECT count(*), count(*) FILTER (WHERE status = 'failed') INTO o, f
      FROM topup.orders WHERE client_id IN ('t_topup', 't_topup_other');
    SELECT count(*) INTO l FROM topup.ledger WHERE client_id IN ('t_topup', 't_topup_other');
    SELECT o - s.orders, f - s.failed, l - s.ledger INTO new_orders, new_failed, new_ledger
      FROM snap_counts s;
    SELECT count(DISTINCT (client_id, account_id)) INTO accounts_changed FROM (
        (SELECT client_id, account_id, balance, status, customer_info FROM topup.accounts
          WHERE client_id IN ('t_topup', 't_topup_other')
         EXCEPT SELECT * FROM snap_accounts)
        UNION ALL
        (SELECT * FROM snap_accounts
         EXCEPT SELECT client_id, account_id, balance, status, customer_info FROM topup.accounts)) d;
    SELECT count(DISTINCT (client_id, currency, book)) INTO books_changed FROM (
        (SELECT * FROM pg_temp.books() EXCEPT SELECT * FROM snap_books)
        UNION ALL
        (SELECT * FROM snap_books EXCEPT SELECT * FROM pg_temp.books())) d;
    -- take the new snapshot
    DELETE FROM snap_counts;
    INSERT INTO snap_counts VALUES (o, f, l);
    DELETE FROM snap_accounts;
    INSERT INTO snap_accounts SELECT client_id, account_id, balance, status, customer_info
      FROM topup.accounts WHERE client_id IN ('t_topup', 't_topup_other');
    DELETE FROM snap_books;
    INSERT INTO snap_books SELECT * FROM pg_temp.books();
END $$;

-- The master and fee balances of our clients.
CREATE FUNCTION pg_temp.books() RETURNS TABLE (client_id text, currency text, book text, balance numeric)
LANGUAGE sql AS $$
    SELECT client_id, currency, 'master', balance FROM topup.master_balances
     WHERE client_id IN ('t_topup', 't_topup_other')
    UNION ALL
    SELECT client_id, currency, 'fee', balance FROM topup.fee_balances
     WHERE client_id IN ('t_topup', 't_topup_other')
$$;

-- Run a statement; return 'ok' or the SQLSTATE and message it raised
-- (with order ids masked: they depend on the tests run before).
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, 'order [0-9]+', 'order <id>', 'g');
END $$;

-- Run a statement that must raise; show its SQLSTATE, the slug that
-- topup.error_codes lists for it, and its message.
CREATE FUNCTION pg_temp.raised(sql text, OUT code text, OUT slug text, OUT message text)
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    code := 'no error';
EXCEPTION WHEN OTHERS THEN
    code := SQLSTATE;
    message := SQLERRM;
    SELECT e.slug INTO slug FROM topup.error_codes e WHERE e.sqlstate = code;
END $$;

--
-- Fixtures
--
SELECT topup.open_account('c_ok', 'USD', kind => 'card', client_id => 't_topup');
SELECT topup.open_account('c_two', 'USD', kind => 'card', client_id => 't_topup');
SELECT topup.open_account('c_eur', 'EUR', kind => 'card', client_id => 't_topup');
SELECT topup.open_account('c_eur_off', 'EUR', kind => 'card', active => false, client_id => 't_topup');
SELECT topup.open_account('c_off', 'USD', kind => 'card', active => false,
    customer_info => '{"firstName": "Ann", "city": "Rabat"}', client_id => 't_topup');
SELECT topup.open_account('c_off2', 'USD', kind => 'card', active => false, client_id => 't_topup');
SELECT topup.open_account('c_blk', 'USD', kind => 'card', client_id => 't_topup');
SELECT topup.open_account('c_cls', 'USD', kind => 'card', client_id => 't_topup');
SELECT topup.open_account('c_gbp', 'GBP', kind => 'card', client_id => 't_topup');
SELECT topup.open_account('c_chf', 'CHF', kind => 'card', client_id => 't_topup');
SELECT topup.open_account('c_mad', 'MAD', kind => 'card', client_id => 't_topup');
SELECT topup.open_account('c_adm', 'USD', kind => 'card', client_id => 't_topup');
SELECT topup.open_account('c_jpy', 'JPY', kind => 'card', client_id => 't_topup');
SELECT topup.open_account('cust', 'USD', kind => 'customer', client_id => 't_topup');
UPDATE topup.accounts SET status = 'blocked' WHERE client_id = 't_topup' AND account_id = 'c_blk';
UPDATE topup.accounts SET status = 'closed' WHERE client_id = 't_topup' AND account_id = 'c_cls';
-- the other client: its own card, funded and priced
SELECT topup.open_account('o_card', 'USD', kind => 'card', client_id => 't_topup_other');
SELECT topup.fund_master(1000, 'USD', 'other-fund', 't_topup_other');
SELECT topup.set_pricing('USD', 1, 500, client_id => 't_topup_other');

-- USD: 1 .. 500, fee 0.50 + 2 %; GBP, CHF, MAD, JPY priced below;
-- EUR has no rule.
SELECT topup.set_pricing('USD', 1, 500, 0.50, 2, 't_topup');
SELECT topup.fund_master(1000, 'USD', 'usd-fund', 't_topup');
SELECT topup.set_pricing('GBP', 5, 50, client_id => 't_topup');
SELECT topup.fund_master(1000, 'GBP', 'gbp-fund', 't_topup');
SELECT topup.set_pricing('CHF', 10, 100, client_id => 't_topup');
SELECT topup.set_pricing('JPY', 100, 10000, client_id => 't_topup');
SELECT topup.fund_master(100000, 'JPY', 'jpy-fund', 't_topup');
SELECT client_id, currency, balance FROM topup.master_balances
 WHERE client_id IN ('t_topup', 't_topup_other') ORDER BY client_id, currency;

SELECT * FROM pg_temp.delta() \gset

--
-- Raised errors: each its own SQLSTATE, listed in topup.error_codes;
-- nothing is stored.
--
SELECT slug, sqlstate FROM topup.error_codes
 WHERE slug IN ('idempotency_key_required', 'invalid_amount', 'invalid_entry_type',
                'invalid_customer_info', 'idempotency_key_reused', 'order_not_found')
 ORDER BY sqlstate;

-- idempotency_key_required
SELECT * FROM pg_temp.raised($$SELECT * FROM topup.topup_card('c_ok', 10, NULL, client_id => 't_topup')$$);
SELECT * FROM pg_temp.raised($$SELECT * FROM topup.topup_card('c_ok', 10, '', client_id => 't_topup')$$);
-- the key is checked before anything else
SELECT * FROM pg_temp.raised($$SELECT * FROM topup.topup_card('c_ok', -1, NULL, entry_type => 'X', client_id => 't_topup')$$);
-- invalid_amount: missing, not positive, not a number, too many decimals
-- for the card's currency or for the currency given
SELECT * FROM pg_temp.raised($$SELECT * FROM topup.topup_card('c_ok', NULL, 'bad-amt', client_id => 't_topup')$$);
SELECT * FROM pg_temp.raised($$SELECT * FROM topup.topup_card('c_ok', 0, 'bad-amt', client_id => 't_topup')$$);
SELECT * FROM pg_temp.raised($$SELECT * FROM topup.topup_card('c_ok', -10, 'bad-amt', client_id => 't_topup')$$);
SELECT * FROM pg_temp.raised($$SELECT * FROM topup.topup_card('c_ok', 'NaN', 'bad-amt', client_id => 't_topup')$$);
SELECT * FROM pg_temp.raised($$SELECT * FROM topup.topup_card('c_ok', 'Infinity', 'bad-amt', client_id => 't_topup')$$);
SELECT * FROM pg_temp.raised($$SELECT * FROM topup.topup_card('c_ok', 10.001, 'bad-amt', client_id => 't_topup')$$);
SELECT * FROM pg_temp.raised($$SELECT * FROM topup.topup_card('c_ok', 10.001, 'bad-amt', 'USD', client_id => 't_topup')$$);
SELECT * FROM pg_temp.raised($$SELECT * FROM topup.topup_card('c_jpy', 100.5, 'bad-amt', client_id => 't_topup')$$);
-- a currency given that is not the card's: its own decimals decide
SELECT * FROM pg_temp.raised($$SELECT * FROM topup.topup_card('c_ok', 10.0001, 'bad-amt', 'BHD', client_id => 't_topup')$$);
SELECT * FROM pg_temp.raised($$SELECT * FROM topup.topup_card('nope', 10.001, 'bad-amt', 'USD', client_id => 't_topup')$$);
\set VERBOSITY default
SELECT * FROM topup.topup_card('c_ok', 10.001, 'bad-amt', client_id => 't_topup');
SELECT * FROM topup.topup_card('c_ok', 0, 'bad-amt', client_id => 't_topup');
-- invalid_entry_type
SELECT * FROM pg_temp.raised($$SELECT * FROM topup.topup_card('c_ok', 10, 'bad-et', entry_type => 'X', client_id => 't_topup')$$);
SELECT * FROM pg_temp.raised($$SELECT * FROM topup.topup_card('c_ok', 10, 'bad-et', entry_type => '', client_id => 't_topup')$$);
SELECT * FROM pg_temp.raised($$SELECT * FROM topup.topup_card('c_ok', 10, 'bad-et', entry_type => NULL, client_id => 't_topup')$$);
SELECT * FROM pg_temp.raised($$SELECT * FROM topup.topup_card('c_ok', 10, 'bad-et', entry_type => 'KK', client_id => 't_topup')$$);
SELECT * FROM pg_temp.raised($$SELECT * FROM topup.topup_card('c_ok', 10, 'bad-et', entry_type => 'k', client_id => 't_topup')$$);
-- invalid_customer_info names the key
SELECT * FROM pg_temp.raised($$SELECT * FROM topup.topup_card('c_ok', 10, 'bad-ci', customer_info => '{"nickname": "J"}', client_id => 't_topup')$$);
SELECT * FROM pg_temp.raised($$SELECT * FROM topup.topup_card('c_ok', 10, 'bad-ci', customer_info => '{"country": "USA"}', client_id => 't_topup')$$);
SELECT * FROM pg_temp.raised($$SELECT * FROM topup.topup_card('c_ok', 10, 'bad-ci', customer_info => '{"birthday": "20230230"}', client_id => 't_topup')$$);
SELECT * FROM pg_temp.raised($$SELECT * FROM topup.topup_card('c_ok', 10, 'bad-ci', customer_info => '[]', client_id => 't_topup')$$);
SELECT * FROM topup.topup_card('c_ok', 10, 'bad-ci', customer_info => '{"gender": "X"}', client_id => 't_topup');
-- generic argument problems: 22023
SELECT pg_temp.try($$SELECT * FROM topup.topup_card('c_ok', 10, repeat('k', 256), client_id => 't_topup')$$);
SELECT pg_temp.try($$SELECT * FROM topup.topup_card('c_ok', 10, 'bad-arg', activate => NULL, client_id => 't_topup')$$);
SELECT pg_temp.try($$SELECT * FROM topup.topup_card(NULL, 10, 'bad-arg', client_id => 't_topup')$$);
SELECT pg_temp.try($$SELECT * FROM topup.topup_card('', 10, 'bad-arg', client_id => 't_topup')$$);
SELECT pg_temp.try($$SELECT * FROM topup.topup_card('c_ok', 10, 'bad-arg', client_id => 't_no_such_client')$$);
SELECT pg_temp.try($$SELECT * FROM topup.topup_card('c_ok', 10, 'bad-arg', client_id => NULL)$$);
-- none of them stored anything
SELECT * FROM pg_temp.delta();

-- A raised error stores nothing, so the key is still free for the
-- corrected request.
SELECT * FROM pg_temp.raised($$SELECT * FROM topup.topup_card('c_ok', 0, 'fix-1', client_id => 't_topup')$$);
INSERT INTO res SELECT 'fix', * FROM topup.topup_card('c_ok', 10, 'fix-1', client_id => 't_topup')
RETURNING :cols;
SELECT * FROM pg_temp.delta();

-- idempotency_key_reused: the same key with other parameters
INSERT INTO res SELECT 'reuse', * FROM topup.topup_card('c_ok', 20, 'reuse-1', channel => 'WEB',
    customer_info => '{"firstName": "Jon", "lastName": "Doe"}', client_id => 't_topup')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
SELECT * FROM pg_temp.raised($$SELECT * FROM topup.topup_card('c_ok', 21, 'reuse-1', channel => 'WEB', customer_info => '{"firstName": "Jon", "lastName": "Doe"}', client_id => 't_topup')$$);
SELECT * FROM pg_temp.raised($$SELECT * FROM topup.topup_card('c_two', 20, 'reuse-1', channel => 'WEB', customer_info => '{"firstName": "Jon", "lastName": "Doe"}', client_id => 't_topup')$$);
SELECT * FROM pg_temp.raised($$SELECT * FROM topup.topup_card('c_ok', 20, 'reuse-1', channel => 'POS', customer_info => '{"firstName": "Jon", "lastName": "Doe"}', client_id => 't_topup')$$);
SELECT * FROM pg_temp.raised($$SELECT * FROM topup.topup_card('c_ok', 20, 'reuse-1', channel => NULL, customer_info => '{"firstName": "Jon", "lastName": "Doe"}', client_id => 't_topup')$$);
SELECT * FROM pg_temp.raised($$SELECT * FROM topup.topup_card('c_ok', 20, 'reuse-1', channel => 'WEB', customer_info => '{"firstName": "Joe"}', client_id => 't_topup')$$);
SELECT * FROM pg_temp.raised($$SELECT * FROM topup.topup_card('c_ok', 20, 'reuse-1', channel => 'WEB', client_id => 't_topup')$$);
SELECT * FROM pg_temp.raised($$SELECT * FROM topup.topup_card('c_ok', 20, 'reuse-1', channel => 'WEB', customer_info => '{"firstName": "Jon", "lastName": "Doe"}', entry_type => 'B', client_id => 't_topup')$$);
SELECT * FROM pg_temp.raised($$SELECT * FROM topup.topup_card('c_ok', 20, 'reuse-1', channel => 'WEB', customer_info => '{"firstName": "Jon", "lastName": "Doe"}', activate => true, client_id => 't_topup')$$);
SELECT * FROM pg_temp.raised($$SELECT * FROM topup.topup_card('c_ok', 20, 'reuse-1', 'USD', channel => 'WEB', customer_info => '{"firstName": "Jon", "lastName": "Doe"}', client_id => 't_topup')$$);
-- (terse: the detail names the order's id)
\set VERBOSITY terse
SELECT * FROM topup.topup_card('c_ok', 21, 'reuse-1', channel => 'WEB', customer_info => '{"firstName": "Jon", "lastName": "Doe"}', client_id => 't_topup');
\set VERBOSITY default
SELECT * FROM pg_temp.delta();
-- the same parameters (20 and 20.00 are the same amount; key order in the
-- JSON does not matter) replay the order
INSERT INTO res SELECT 'reuse_replay', * FROM topup.topup_card('c_ok', 20.00, 'reuse-1', channel => 'WEB',
    customer_info => '{"lastName": "Doe", "firstName": "Jon"}', client_id => 't_topup')
RETURNING :cols;
SELECT a.order_id = b.order_id AS same_order FROM res a, res b WHERE a.step = 'reuse' AND b.step = 'reuse_replay';
SELECT * FROM pg_temp.delta();
-- keys are per client: the other client may use the same key
INSERT INTO res SELECT 'reuse_other', * FROM topup.topup_card('o_card', 20, 'reuse-1', client_id => 't_topup_other')
RETURNING :cols;
SELECT * FROM pg_temp.delta();

--
-- Stored failures, in the contract's order.  Each is a failed order
-- (replayed, with the same order id, on a retry with the same key); where
-- two conditions hold, the earlier one wins.
--
SELECT slug, sqlstate FROM topup.error_codes
 WHERE slug IN ('card_not_found', 'currency_mismatch', 'card_not_active', 'invalid_pricing',
                'amount_below_minimum', 'amount_above_maximum', 'insufficient_funds')
 ORDER BY sqlstate;

-- card_not_found: no such card ...
INSERT INTO res SELECT 'nf_missing', * FROM topup.topup_card('nope', 10, 'nf-1', client_id => 't_topup')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
-- ... even with a wrong currency as well
INSERT INTO res SELECT 'nf_currency', * FROM topup.topup_card('nope', 10, 'nf-2', 'EUR', client_id => 't_topup')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
-- ... a customer account is not a card ...
INSERT INTO res SELECT 'nf_customer', * FROM topup.topup_card('cust', 10, 'nf-3', client_id => 't_topup')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
-- ... and another client's card looks exactly like a missing one
INSERT INTO res SELECT 'nf_foreign', * FROM topup.topup_card('o_card', 10, 'nf-4', client_id => 't_topup')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
SELECT step, status, topup_status, error_slug, error_message, amount, fee, currency,
       master_balance_before, master_balance_after, account_balance_after
  FROM res WHERE step IN ('nf_missing', 'nf_foreign') ORDER BY step;
SELECT balance FROM topup.accounts WHERE client_id = 't_topup_other' AND account_id = 'o_card';
-- replayed on retry
INSERT INTO res SELECT 'nf_replay', * FROM topup.topup_card('o_card', 10, 'nf-4', client_id => 't_topup')
RETURNING :cols;
SELECT a.order_id = b.order_id AS same_order FROM res a, res b WHERE a.step = 'nf_foreign' AND b.step = 'nf_replay';
SELECT * FROM pg_temp.delta();

-- currency_mismatch
INSERT INTO res SELECT 'cm', * FROM topup.topup_card('c_ok', 10, 'cm-1', 'EUR', client_id => 't_topup')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
-- ... wins over an inactive card
INSERT INTO res SELECT 'cm_inactive', * FROM topup.topup_card('c_off2', 10, 'cm-2', 'EUR', client_id => 't_topup')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
-- ... and the currency given must be the card's even with activate
INSERT INTO res SELECT 'cm_activate', * FROM topup.topup_card('c_off2', 10, 'cm-3', 'GBP', activate => true, client_id => 't_topup')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
INSERT INTO res SELECT 'cm_replay', * FROM topup.topup_card('c_ok', 10, 'cm-1', 'EUR', client_id => 't_topup')
RETURNING :cols;
SELECT a.order_id = b.order_id AS same_order FROM res a, res b WHERE a.step = 'cm' AND b.step = 'cm_replay';
SELECT * FROM pg_temp.delta();
-- an unknown currency is not the card's either
INSERT INTO res SELECT 'cm_unknown', * FROM topup.topup_card('c_ok', 10, 'cm-5', 'XXX', client_id => 't_topup')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
-- the right currency given explicitly is fine
INSERT INTO res SELECT 'cm_ok', * FROM topup.topup_card('c_ok', 10, 'cm-4', 'USD', client_id => 't_topup')
RETURNING :cols;
SELECT * FROM pg_temp.delta();

-- card_not_active: an inactive card without activate ...
INSERT INTO res SELECT 'na_inactive', * FROM topup.topup_card('c_off2', 10, 'na-1', client_id => 't_topup')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
-- ... wins over a missing pricing rule
INSERT INTO res SELECT 'na_nopricing', * FROM topup.topup_card('c_eur_off', 10, 'na-2', client_id => 't_topup')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
-- ... blocked and closed cards never pass, even with activate
INSERT INTO res SELECT 'na_blocked', * FROM topup.topup_card('c_blk', 10, 'na-3', activate => true, client_id => 't_topup')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
INSERT INTO res SELECT 'na_closed', * FROM topup.topup_card('c_cls', 10, 'na-4', activate => true, client_id => 't_topup')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
INSERT INTO res SELECT 'na_replay', * FROM topup.topup_card('c_blk', 10, 'na-3', activate => true, client_id => 't_topup')
RETURNING :cols;
SELECT a.order_id = b.order_id AS same_order FROM res a, res b WHERE a.step = 'na_blocked' AND b.step = 'na_replay';
SELECT * FROM pg_temp.delta();
-- the cards are unchanged
SELECT account_id, status, activated_at IS NULL AS never_activated, balance
  FROM topup.accounts WHERE client_id = 't_topup' AND account_id IN ('c_off2', 'c_blk', 'c_cls')
 ORDER BY account_id;

-- invalid_pricing: no rule for the currency ...
INSERT INTO res SELECT 'ip_none', * FROM topup.topup_card('c_eur', 10, 'ip-1', client_id => 't_topup')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
-- ... whatever the amount
INSERT INTO res SELECT 'ip_none_small', * FROM topup.topup_card('c_eur', 0.01, 'ip-2', client_id => 't_topup')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
-- ... an inactive card with activate gets this far, and is not activated
INSERT INTO res SELECT 'ip_activate', * FROM topup.topup_card('c_eur_off', 10, 'ip-3', activate => true, client_id => 't_topup')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
SELECT status FROM topup.accounts WHERE client_id = 't_topup' AND account_id = 'c_eur_off';
-- ... a rule an admin broke with a direct UPDATE: it cannot price any
-- amount, and wins over the amount being below its minimum
UPDATE topup.pricing SET min_amount = 100, max_amount = 10 WHERE client_id = 't_topup' AND currency = 'GBP';
INSERT INTO res SELECT 'ip_limits', * FROM topup.topup_card('c_gbp', 1, 'ip-4', client_id => 't_topup')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
INSERT INTO res SELECT 'ip_limits2', * FROM topup.topup_card('c_gbp', 50, 'ip-5', client_id => 't_topup')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
UPDATE topup.pricing SET min_amount = 5, max_amount = 50, fee_percent = 101 WHERE client_id = 't_topup' AND currency = 'GBP';
INSERT INTO res SELECT 'ip_fee', * FROM topup.topup_card('c_gbp', 10, 'ip-6', client_id => 't_topup')
RETURNING :cols;
UPDATE topup.pricing SET fee_percent = 0, fee_fixed = -1 WHERE client_id = 't_topup' AND currency = 'GBP';
INSERT INTO res SELECT 'ip_fee2', * FROM topup.topup_card('c_gbp', 10, 'ip-7', client_id => 't_topup')
RETURNING :cols;
UPDATE topup.pricing SET fee_fixed = 0.001 WHERE client_id = 't_topup' AND currency = 'GBP';
INSERT INTO res SELECT 'ip_decimals', * FROM topup.topup_card('c_gbp', 10, 'ip-8', client_id => 't_topup')
RETURNING :cols;
UPDATE topup.pricing SET fee_fixed = 0, min_amount = 0 WHERE client_id = 't_topup' AND currency = 'GBP';
INSERT INTO res SELECT 'ip_zero_min', * FROM topup.topup_card('c_gbp', 10, 'ip-9', client_id => 't_topup')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
INSERT INTO res SELECT 'ip_replay', * FROM topup.topup_card('c_eur', 10, 'ip-1', client_id => 't_topup')
RETURNING :cols;
SELECT a.order_id = b.order_id AS same_order FROM res a, res b WHERE a.step = 'ip_none' AND b.step = 'ip_replay';
SELECT * FROM pg_temp.delta();
-- set_pricing repairs the rule
SELECT topup.set_pricing('GBP', 5, 50, client_id => 't_topup');
INSERT INTO res SELECT 'ip_repaired', * FROM topup.topup_card('c_gbp', 10, 'ip-10', client_id => 't_topup')
RETURNING :cols;
SELECT * FROM pg_temp.delta();

-- amount_below_minimum: CHF has a rule but no money at all, so the amount
-- is both below the minimum and not covered; the minimum wins
SELECT count(*) AS chf_master_rows FROM topup.master_balances WHERE client_id = 't_topup' AND currency = 'CHF';
INSERT INTO res SELECT 'min', * FROM topup.topup_card('c_chf', 9.99, 'min-1', client_id => 't_topup')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
INSERT INTO res SELECT 'min_replay', * FROM topup.topup_card('c_chf', 9.99, 'min-1', client_id => 't_topup')
RETURNING :cols;
SELECT a.order_id = b.order_id AS same_order FROM res a, res b WHERE a.step = 'min' AND b.step = 'min_replay';
-- amount_above_maximum, likewise not covered
INSERT INTO res SELECT 'max', * FROM topup.topup_card('c_chf', 100.01, 'max-1', client_id => 't_topup')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
INSERT INTO res SELECT 'max_replay', * FROM topup.topup_card('c_chf', 100.01, 'max-1', client_id => 't_topup')
RETURNING :cols;
SELECT a.order_id = b.order_id AS same_order FROM res a, res b WHERE a.step = 'max' AND b.step = 'max_replay';
SELECT * FROM pg_temp.delta();
-- insufficient_funds: within the limits, but no master balance in CHF
INSERT INTO res SELECT 'nofunds', * FROM topup.topup_card('c_chf', 10, 'nofunds-1', client_id => 't_topup')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
INSERT INTO res SELECT 'nofunds_replay', * FROM topup.topup_card('c_chf', 10, 'nofunds-1', client_id => 't_topup')
RETURNING :cols;
SELECT a.order_id = b.order_id AS same_order FROM res a, res b WHERE a.step = 'nofunds' AND b.step = 'nofunds_replay';
SELECT * FROM pg_temp.delta();
-- a replayed failure stays failed even once the cause is gone
SELECT topup.fund_master(5, 'CHF', 'chf-fund', 't_topup');
SELECT * FROM pg_temp.delta() \gset
INSERT INTO res SELECT 'nofunds_short', * FROM topup.topup_card('c_chf', 10, 'nofunds-2', client_id => 't_topup')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
SELECT topup.fund_master(5, 'CHF', 'chf-fund-2', 't_topup');
SELECT * FROM pg_temp.delta() \gset
INSERT INTO res SELECT 'nofunds_replay2', * FROM topup.topup_card('c_chf', 10, 'nofunds-2', client_id => 't_topup')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
INSERT INTO res SELECT 'funds_ok', * FROM topup.topup_card('c_chf', 10, 'nofunds-3', client_id => 't_topup')
RETURNING :cols;
SELECT * FROM pg_temp.delta();

-- Every stored failure: a failed order with topup_status failed, its slug
-- and message, failed_at and no completed_at, no fee, no balances, no
-- ledger entries; every slug is listed in topup.error_codes.
SELECT o.error_slug, count(*) AS orders,
       bool_and(o.status = 'failed' AND o.topup_status = 'failed') AS failed,
       bool_and(o.error_message IS NOT NULL) AS has_message,
       bool_and(o.failed_at IS NOT NULL AND o.completed_at IS NULL) AS failed_at_only,
       bool_and(o.fee IS NULL AND o.master_balance_before IS NULL AND o.master_balance_after IS NULL
                AND o.account_balance_after IS NULL) AS no_money,
       bool_and(NOT EXISTS (SELECT 1 FROM topup.ledger l WHERE l.order_id = o.order_id)) AS no_entries,
       bool_and(NOT o.card_activated) AS not_activated,
       min(e.sqlstate) AS sqlstate
  FROM topup.orders o LEFT JOIN topup.error_codes e ON e.slug = o.error_slug
 WHERE o.client_id = 't_topup' AND o.order_type = 'card_topup' AND o.status = 'failed'
 GROUP BY o.error_slug ORDER BY min(e.sqlstate);
SELECT step, error_message FROM res WHERE status = 'failed' AND NOT replayed ORDER BY step COLLATE "C";
SELECT * FROM topup.verify_ledger();

--
-- Success
--
SELECT a.balance AS card_before FROM topup.accounts a WHERE client_id = 't_topup' AND account_id = 'c_ok' \gset
SELECT balance AS master_before FROM topup.master_balances WHERE client_id = 't_topup' AND currency = 'USD' \gset
SELECT balance AS fee_before FROM topup.fee_balances WHERE client_id = 't_topup' AND currency = 'USD' \gset
INSERT INTO res SELECT 'ok', * FROM topup.topup_card('c_ok', 100, 'ok-1', entry_type => 'B', channel => 'FACTOR4',
    client_id => 't_topup')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
-- master -(amount + fee), card +amount, fee account +fee
SELECT r.status, r.topup_status, r.amount, r.fee,
       r.master_balance_before - r.master_balance_after = r.amount + r.fee AS before_minus_after,
       r.master_balance_before = :master_before AS before_is_balance,
       m.balance = :master_before - (r.amount + r.fee) AS master_charged,
       a.balance = :card_before + r.amount AS card_credited,
       a.balance = r.account_balance_after AS balance_after_matches,
       f.balance = :fee_before + r.fee AS fee_credited,
       r.error_slug IS NULL AND r.error_message IS NULL AS no_error,
       r.completed_at IS NOT NULL AND r.failed_at IS NULL AS completed_at_only,
       r.reference ~ '^TU[A-HJ-NP-Z2-9]{20}$' AS reference_format
  FROM res r, topup.master_balances m, topup.fee_balances f, topup.accounts a
 WHERE r.step = 'ok'
   AND m.client_id = 't_topup' AND m.currency = 'USD'
   AND f.client_id = 't_topup' AND f.currency = 'USD'
   AND a.client_id = 't_topup' AND a.account_id = 'c_ok';
-- balanced ledger entries: card +amount, master -(amount + fee), fee +fee
SELECT l.book, l.account_id, l.currency, l.amount, l.balance_after = r.account_balance_after AS card_after,
       l.balance_after = r.master_balance_after AS master_after, l.funding_id IS NULL AS no_funding
  FROM topup.ledger l JOIN res r ON r.order_id = l.order_id AND r.step = 'ok'
 ORDER BY l.book;
SELECT count(*) AS entries, sum(l.amount) AS total
  FROM topup.ledger l JOIN res r ON r.order_id = l.order_id AND r.step = 'ok';
-- the stored order is what the call returned
SELECT o.status, o.topup_status, o.entry_type, o.channel, o.card_activated,
       (o.order_id, o.order_type, o.status, o.topup_status, o.client_id, o.account_id, o.serial::text,
        o.amount, o.fee, o.currency, o.master_balance_before, o.master_balance_after,
        o.account_balance_after, o.error_slug, o.error_message, o.idempotency_key, o.reference,
        o.created_at, o.completed_at, o.failed_at)
       IS NOT DISTINCT FROM
       (r.order_id, r.order_type, r.status, r.topup_status, r.client_id, r.account_id, r.serial::text,
        r.amount, r.fee, r.currency, r.master_balance_before, r.master_balance_after,
        r.account_balance_after, r.error_slug, r.error_message, r.idempotency_key, r.reference,
        r.created_at, r.completed_at, r.failed_at) AS same_as_returned
  FROM topup.orders o JOIN res r ON r.order_id = o.order_id AND r.step = 'ok';
-- the card's payment history
SELECT p.payment_type, p.amount, p.currency, p.balance_after = r.account_balance_after AS balance_after,
       p.comment = 'top-up ' || r.reference || ' via FACTOR4' AS comment_ok
  FROM topup.account_payments p JOIN res r ON r.order_id = p.order_id AND r.step = 'ok';
SELECT * FROM topup.verify_ledger();
-- replayed: the same order, no new money movement
INSERT INTO res SELECT 'ok_replay', * FROM topup.topup_card('c_ok', 100.00, 'ok-1', entry_type => 'B', channel => 'FACTOR4',
    client_id => 't_topup')
RETURNING :cols;
SELECT (a.order_id, a.reference, a.master_balance_before, a.master_balance_after, a.created_at, a.completed_at)
       = (b.order_id, b.reference, b.master_balance_before, b.master_balance_after, b.created_at, b.completed_at)
       AS same_order
  FROM res a, res b WHERE a.step = 'ok' AND b.step = 'ok_replay';
SELECT * FROM pg_temp.delta();

-- Each order's figures chain: the next order starts where this one ended.
INSERT INTO res SELECT 'ok2', * FROM topup.topup_card('c_two', 1, 'ok-2', entry_type => 'M', client_id => 't_topup')
RETURNING :cols;
INSERT INTO res SELECT 'ok3', * FROM topup.topup_card('c_two', 500, 'ok-3', entry_type => 'P', client_id => 't_topup')
RETURNING :cols;
SELECT a.master_balance_after = b.master_balance_before AS chained,
       b.master_balance_before - b.master_balance_after = b.amount + b.fee AS charged
  FROM res a, res b WHERE a.step = 'ok2' AND b.step = 'ok3';
SELECT * FROM pg_temp.delta();

--
-- Activation and customer_info
--
-- an inactive card passes with activate: it becomes active (with
-- activated_at), the order completes, and the customer_info given is
-- merged into the card's (existing keys kept, given ones overwrite)
SELECT status, activated_at IS NULL AS never_activated, customer_info
  FROM topup.accounts WHERE client_id = 't_topup' AND account_id = 'c_off';
INSERT INTO res SELECT 'act', * FROM topup.topup_card('c_off', 25, 'act-1', activate => true,
    customer_info => '{"firstName": "Anna", "lastName": "Lee"}', client_id => 't_topup')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
SELECT a.status, a.activated_at IS NOT NULL AS activated, a.activated_at <= r.completed_at AS activated_first,
       a.customer_info, a.customer_info = '{"firstName": "Anna", "lastName": "Lee", "city": "Rabat"}' AS merged
  FROM topup.accounts a, res r
 WHERE a.client_id = 't_topup' AND a.account_id = 'c_off' AND r.step = 'act';
SELECT card_activated FROM topup.orders o JOIN res r USING (order_id) WHERE r.step = 'act';
-- activate on an active card is harmless; customer_info alone is merged too
INSERT INTO res SELECT 'act_again', * FROM topup.topup_card('c_off', 5, 'act-2', activate => true,
    customer_info => '{"city": "Settat"}', client_id => 't_topup')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
SELECT a.customer_info, o.card_activated
  FROM topup.accounts a, topup.orders o JOIN res r USING (order_id)
 WHERE a.client_id = 't_topup' AND a.account_id = 'c_off' AND r.step = 'act_again';
SELECT * FROM topup.verify_ledger();

-- The seed's example request, as it stands: a new card activated by its
-- first top-up, with the full customerInfo.
SELECT topup.open_account('914639258868515', 'USD', kind => 'card', active => false, client_id => 't_topup');
INSERT INTO res SELECT 'seed', * FROM topup.topup_card('914639258868515', 100, '20250401123534801',
    activate => true,
    customer_info => '{"customerType": "1", "firstName": "Jon1", "middleName": "Mid2", "lastName": "Doe3", "address1": "295R+VM Settat, Morocco", "address2": "Settat,Morocco", "city": "Morocco", "state": "Settat", "postal": "", "country": "US", "mailPref": "O", "phone": "+8612154154", "isMobile": "N", "phonePref": "O", "email": "Jon@gmail.com", "emailPref": "O", "birthday": "20000101", "anniversary": "", "gender": ""}',
    entry_type => 'K', channel => 'FACTOR4', client_id => 't_topup')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
SELECT a.status, a.activated_at IS NOT NULL AS activated, a.balance,
       a.customer_info = '{"customerType": "1", "firstName": "Jon1", "middleName": "Mid2", "lastName": "Doe3", "address1": "295R+VM Settat, Morocco", "address2": "Settat,Morocco", "city": "Morocco", "state": "Settat", "postal": "", "country": "US", "mailPref": "O", "phone": "+8612154154", "isMobile": "N", "phonePref": "O", "email": "Jon@gmail.com", "emailPref": "O", "birthday": "20000101", "anniversary": "", "gender": ""}'::jsonb AS customer_info_stored
  FROM topup.accounts a WHERE a.client_id = 't_topup' AND a.account_id = '914639258868515';
SELECT o.entry_type, o.channel, o.card_activated, o.idempotency_key
  FROM topup.orders o JOIN res r USING (order_id) WHERE r.step = 'seed';
SELECT customer_name FROM topup.account_list WHERE client_id = 't_topup' AND account_id = '914639258868515';

--
-- The master balance is split into 16 slots.  A top-up larger than any
-- one slot, but covered by the total, succeeds; exactly the total
-- succeeds; 0.01 more than the total fails.  (MAD, no fee.)
--
SELECT topup.set_pricing('MAD', 0.01, 1000, client_id => 't_topup');
SELECT topup.fund_master(160, 'MAD', 'mad-fund', 't_topup');
SELECT count(*) AS slots, min(balance), max(balance), sum(balance)
  FROM topup.balance_slots WHERE client_id = 't_topup' AND currency = 'MAD' AND book = 'master';
INSERT INTO res SELECT 'slots_big', * FROM topup.topup_card('c_mad', 100, 'slots-1', client_id => 't_topup')
RETURNING :cols;
SELECT master_balance_before, master_balance_after FROM res WHERE step = 'slots_big';
SELECT count(*) AS slots, min(balance) >= 0 AS none_negative, sum(balance)
  FROM topup.balance_slots WHERE client_id = 't_topup' AND currency = 'MAD' AND book = 'master';
INSERT INTO res SELECT 'slots_over', * FROM topup.topup_card('c_mad', 60.01, 'slots-2', client_id => 't_topup')
RETURNING :cols;
SELECT sum(balance) FROM topup.balance_slots WHERE client_id = 't_topup' AND currency = 'MAD' AND book = 'master';
INSERT INTO res SELECT 'slots_all', * FROM topup.topup_card('c_mad', 60, 'slots-3', client_id => 't_topup')
RETURNING :cols;
SELECT master_balance_before, master_balance_after FROM res WHERE step = 'slots_all';
SELECT count(*) AS slots, max(balance) AS max, sum(balance)
  FROM topup.balance_slots WHERE client_id = 't_topup' AND currency = 'MAD' AND book = 'master';
INSERT INTO res SELECT 'slots_empty', * FROM topup.topup_card('c_mad', 0.01, 'slots-4', client_id => 't_topup')
RETURNING :cols;
-- several top-ups in a row, smaller and larger than a slot, drain it exactly
SELECT topup.fund_master(16.16, 'MAD', 'mad-fund-2', 't_topup');
INSERT INTO res SELECT 'slots_a', * FROM topup.topup_card('c_mad', 1.01, 'slots-5', client_id => 't_topup')
RETURNING :cols;
INSERT INTO res SELECT 'slots_b', * FROM topup.topup_card('c_mad', 5, 'slots-6', client_id => 't_topup')
RETURNING :cols;
INSERT INTO res SELECT 'slots_c', * FROM topup.topup_card('c_mad', 10.15, 'slots-7', client_id => 't_topup')
RETURNING :cols;
SELECT balance FROM topup.master_balances WHERE client_id = 't_topup' AND currency = 'MAD';
SELECT account_id, balance FROM topup.accounts WHERE client_id = 't_topup' AND account_id = 'c_mad';
SELECT * FROM pg_temp.delta();
SELECT * FROM topup.verify_ledger();

--
-- check_order: by id and by idempotency key; order_not_found (TU010)
--
SELECT r.order_id AS ok_id FROM res r WHERE r.step = 'ok' \gset
SELECT r.order_id AS cm_id FROM res r WHERE r.step = 'cm' \gset
SELECT r.order_id AS other_id FROM res r WHERE r.step = 'reuse_other' \gset
SELECT c.status, c.topup_status, c.error_slug, c.amount, c.fee, c.replayed,
       (c.order_id, c.reference, c.master_balance_before, c.master_balance_after, c.created_at, c.completed_at)
       = (r.order_id, r.reference, r.master_balance_before, r.master_balance_after, r.created_at, r.completed_at)
       AS same_order
  FROM topup.check_order(:ok_id, 't_topup') c, res r WHERE r.step = 'ok';
SELECT c.status, c.topup_status, c.error_slug, c.error_message, c.order_id = :cm_id AS same_order
  FROM topup.check_order(:cm_id, 't_topup') c;
SELECT c.status, c.amount, c.order_id = :ok_id AS same_order
  FROM topup.check_order('ok-1'::text, 'card_topup', 't_topup') c;
SELECT c.status, c.error_slug, c.order_id = :cm_id AS same_order
  FROM topup.check_order('cm-1'::text, client_id => 't_topup') c;
\set VERBOSITY sqlstate
SELECT * FROM topup.check_order(-1::bigint, 't_topup');
SELECT * FROM topup.check_order(:other_id, 't_topup');
SELECT * FROM topup.check_order(:ok_id, 't_topup_other');
SELECT * FROM topup.check_order(:ok_id, 't_no_such_client');
SELECT * FROM topup.check_order(NULL::bigint, 't_topup');
SELECT * FROM topup.check_order('no-such-key'::text, 'card_topup', 't_topup');
SELECT * FROM topup.check_order('ok-1'::text, 'card_topup', 't_topup_other');
SELECT * FROM topup.check_order('ok-1'::text, 'voucher_redeem', 't_topup');
SELECT * FROM topup.check_order('ok-1'::text, 'card_issue', 't_topup');
SELECT * FROM topup.check_order('ok-1'::text, NULL, 't_topup');
\set VERBOSITY default
SELECT * FROM topup.check_order(:other_id, 't_topup');
SELECT * FROM topup.check_order('ok-1'::text, 'card_issue', 't_topup');
-- the other client sees its own order
SELECT c.status, c.account_id FROM topup.check_order(:other_id, 't_topup_other') c;

--
-- order_json: the CardTopupOrder document
--
SELECT topup.order_json(:ok_id, 't_topup') AS doc \gset
SELECT array_agg(k ORDER BY k) AS keys FROM jsonb_object_keys(:'doc'::jsonb) k;
SELECT array_agg(k ORDER BY k) AS data_keys FROM jsonb_object_keys((:'doc'::jsonb) -> 'data') k;
SELECT k, jsonb_typeof(v) FROM jsonb_each(:'doc'::jsonb) AS e(k, v) ORDER BY k;
SELECT k, jsonb_typeof(v) FROM jsonb_each((:'doc'::jsonb) -> 'data') AS e(k, v) ORDER BY k;
SELECT d ->> 'order_id' = r.order_id::text AS order_id,
       d ->> 'order_type' AS order_type, d ->> 'status' AS status, d ->> 'topup_status' AS topup_status,
       d ->> 'card_id' AS card_id,
       d ->> 'balance_before' = r.master_balance_before::text AS balance_before,
       d ->> 'balance_after' = r.master_balance_after::text AS balance_after,
       (d ->> 'balance_before')::numeric - (d ->> 'balance_after')::numeric AS charged,
       d #>> '{data,amount}' AS amount, d #>> '{data,fee}' AS fee, d #>> '{data,currency}' AS currency,
       d #>> '{data,entry_type}' AS entry_type, d #>> '{data,channel}' AS channel,
       d #>> '{data,reference}' = r.reference AS reference,
       d ->> 'created_at' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$' AS created_iso,
       d ->> 'completed_at' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$' AS completed_iso,
       (d ->> 'created_at')::timestamptz = r.created_at AS created_same,
       (d ->> 'completed_at')::timestamptz = r.completed_at AS completed_same
  FROM (SELECT :'doc'::jsonb AS d) AS j, res r WHERE r.step = 'ok';
-- a failed order: JSON nulls for what it does not have
SELECT topup.order_json(:cm_id, 't_topup') AS fdoc \gset
SELECT array_agg(k ORDER BY k) AS keys FROM jsonb_object_keys(:'fdoc'::jsonb) k;
SELECT k, jsonb_typeof(v) FROM jsonb_each(:'fdoc'::jsonb) AS e(k, v) ORDER BY k;
SELECT k, jsonb_typeof(v) FROM jsonb_each((:'fdoc'::jsonb) -> 'data') AS e(k, v) ORDER BY k;
SELECT d ->> 'status' AS status, d ->> 'topup_status' AS topup_status,
       d ->> 'last_error' AS last_error, d ->> 'last_error_slug' AS last_error_slug,
       d #>> '{data,amount}' AS amount, d #>> '{data,currency}' AS currency,
       d ->> 'failed_at' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$' AS failed_iso
  FROM (SELECT :'fdoc'::jsonb AS d) AS j;
-- amounts have their currency's decimals
INSERT INTO res SELECT 'jpy', * FROM topup.topup_card('c_jpy', 1000, 'jpy-1', client_id => 't_topup')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
SELECT r.step, r.currency, topup.order_json(r.order_id, 't_topup') #>> '{data,amount}' AS amount,
       topup.order_json(r.order_id, 't_topup') #>> '{data,fee}' AS fee
  FROM res r WHERE r.step IN ('jpy', 'funds_ok', 'ok2') ORDER BY r.step;
-- the document of another client's order, or of no order: order_not_found
\set VERBOSITY sqlstate
SELECT topup.order_json(:other_id, 't_topup');
SELECT topup.order_json(-1, 't_topup');
SELECT topup.order_json(NULL, 't_topup');
\set VERBOSITY default

--
-- The orders trigger: status moves forward only, terminal states are
-- final (23514).
--
SELECT pg_temp.try(format($$UPDATE topup.orders SET status = 'failed' WHERE order_id = %s$$, :ok_id));
SELECT pg_temp.try(format($$UPDATE topup.orders SET status = 'new' WHERE order_id = %s$$, :ok_id));
SELECT pg_temp.try(format($$UPDATE topup.orders SET status = 'completed' WHERE order_id = %s$$, :cm_id));
SELECT pg_temp.try(format($$UPDATE topup.orders SET amount = 1 WHERE order_id = %s$$, :ok_id));
SELECT pg_temp.try(format($$UPDATE topup.orders SET topup_status = 'new' WHERE order_id = %s$$, :ok_id));
SELECT pg_temp.try(format($$DELETE FROM topup.orders WHERE order_id = %s$$, :ok_id));
SELECT pg_temp.try($$INSERT INTO topup.orders (order_type, client_id, reference) VALUES ('card_topup', 't_topup', 'x')$$);
SELECT pg_temp.try($$UPDATE topup.accounts SET balance = balance + 1 WHERE client_id = 't_topup' AND account_id = 'c_ok'$$);
SELECT status, topup_status FROM topup.orders WHERE order_id = :ok_id;
SELECT * FROM pg_temp.delta();

--
-- Admin status changes through UPDATE, and their effect on top-ups.
--
INSERT INTO res SELECT 'adm_active', * FROM topup.topup_card('c_adm', 10, 'adm-1', client_id => 't_topup')
RETURNING :cols;
UPDATE topup.accounts SET status = 'blocked' WHERE client_id = 't_topup' AND account_id = 'c_adm';
INSERT INTO res SELECT 'adm_blocked', * FROM topup.topup_card('c_adm', 10, 'adm-2', client_id => 't_topup')
RETURNING :cols;
INSERT INTO res SELECT 'adm_blocked_act', * FROM topup.topup_card('c_adm', 10, 'adm-3', activate => true, client_id => 't_topup')
RETURNING :cols;
UPDATE topup.accounts SET status = 'active' WHERE client_id = 't_topup' AND account_id = 'c_adm';
INSERT INTO res SELECT 'adm_unblocked', * FROM topup.topup_card('c_adm', 10, 'adm-4', client_id => 't_topup')
RETURNING :cols;
-- the blocked attempt stays failed when replayed after the unblock
INSERT INTO res SELECT 'adm_blocked_replay', * FROM topup.topup_card('c_adm', 10, 'adm-2', client_id => 't_topup')
RETURNING :cols;
UPDATE topup.accounts SET status = 'closed' WHERE client_id = 't_topup' AND account_id = 'c_adm';
INSERT INTO res SELECT 'adm_closed', * FROM topup.topup_card('c_adm', 10, 'adm-5', activate => true, client_id => 't_topup')
RETURNING :cols;
-- closed is final; other disallowed changes are rejected too
SELECT pg_temp.try($$UPDATE topup.accounts SET status = 'active' WHERE client_id = 't_topup' AND account_id = 'c_adm'$$);
SELECT pg_temp.try($$UPDATE topup.accounts SET status = 'inactive' WHERE client_id = 't_topup' AND account_id = 'c_ok'$$);
SELECT pg_temp.try($$UPDATE topup.accounts SET status = 'blocked' WHERE client_id = 't_topup' AND account_id = 'c_off2'$$);
SELECT pg_temp.try($$UPDATE topup.accounts SET activated_at = now() WHERE client_id = 't_topup' AND account_id = 'c_off2'$$);
SELECT account_id, status, balance FROM topup.accounts
 WHERE client_id = 't_topup' AND account_id IN ('c_adm', 'c_ok', 'c_off2') ORDER BY account_id;
-- an admin activates an inactive card directly; top-ups then pass without activate
UPDATE topup.accounts SET status = 'active' WHERE client_id = 't_topup' AND account_id = 'c_off2';
SELECT status, activated_at IS NOT NULL AS activated FROM topup.accounts
 WHERE client_id = 't_topup' AND account_id = 'c_off2';
INSERT INTO res SELECT 'adm_activated', * FROM topup.topup_card('c_off2', 10, 'adm-6', client_id => 't_topup')
RETURNING :cols;
SELECT card_activated FROM topup.orders o JOIN res r USING (order_id) WHERE r.step = 'adm_activated';
SELECT * FROM pg_temp.delta();

--
-- Everything adds up: per client and currency, fundings = master balance
-- + fee account + top-ups credited to cards.
--
SELECT f.client_id, f.currency, f.funded, m.balance AS master, fb.balance AS fees, c.credited,
       f.funded = m.balance + fb.balance + c.credited AS adds_up
  FROM (SELECT client_id, currency, sum(amount) AS funded FROM topup.fundings
         WHERE client_id IN ('t_topup', 't_topup_other') GROUP BY client_id, currency) f
  JOIN topup.master_balances m USING (client_id, currency)
  JOIN topup.fee_balances fb USING (client_id, currency)
  LEFT JOIN LATERAL (SELECT COALESCE(sum(a.balance), 0) AS credited FROM topup.accounts a
                      WHERE a.client_id = f.client_id AND a.currency = f.currency) c ON true
 ORDER BY f.client_id, f.currency;
SELECT account_id, kind, currency, balance, status FROM topup.accounts
 WHERE client_id = 't_topup' ORDER BY account_id COLLATE "C";
SELECT * FROM topup.verify_ledger();
