SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS topup CASCADE;
RESET client_min_messages;

--
-- Master balances and pricing: fund_master (idempotent on its reference),
-- the master_balances view, the ledger of a funding, set_pricing (one rule
-- per client and currency) and the fee arithmetic of topup_card: fee =
-- fee_fixed + fee_percent/100 * amount, rounded half up to the currency's
-- minor units, charged to the master balance together with the amount.
--

SELECT topup.create_client('t_pricing');
SELECT topup.create_client('t_pricing_other');

-- Run a statement; return 'ok' or the SQLSTATE and message it raised.
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- What our client has stored: fundings, orders, ledger entries.
CREATE FUNCTION pg_temp.stored(OUT fundings bigint, OUT orders bigint, OUT ledger bigint)
LANGUAGE sql AS $$
    SELECT (SELECT count(*) FROM topup.fundings WHERE client_id = 't_pricing'),
           (SELECT count(*) FROM topup.orders WHERE client_id = 't_pricing'),
           (SELECT count(*) FROM topup.ledger WHERE client_id = 't_pricing')
$$;

--
-- fund_master
--

-- a new master balance starts at nothing: no row in the view
SELECT count(*) FROM topup.master_balances WHERE client_id = 't_pricing';
SELECT topup.fund_master(100, 'USD', 'fund-1', 't_pricing');
SELECT topup.fund_master(50.25, 'USD', 'fund-2', 't_pricing');
SELECT client_id, currency, balance FROM topup.master_balances WHERE client_id = 't_pricing';
SELECT * FROM pg_temp.stored();

-- the same reference again: no second credit, the current balance back
-- (100 and 100.00 are the same amount)
SELECT topup.fund_master(100, 'USD', 'fund-1', 't_pricing');
SELECT topup.fund_master(100.00, 'USD', 'fund-1', 't_pricing');
SELECT balance FROM topup.master_balances WHERE client_id = 't_pricing' AND currency = 'USD';
SELECT * FROM pg_temp.stored();

-- the same reference with another amount or currency: TU009, nothing written
\set VERBOSITY sqlstate
SELECT topup.fund_master(101, 'USD', 'fund-1', 't_pricing');
SELECT topup.fund_master(100, 'EUR', 'fund-1', 't_pricing');
\set VERBOSITY default
SELECT topup.fund_master(101, 'USD', 'fund-1', 't_pricing');
SELECT sqlstate FROM topup.error_codes WHERE slug = 'idempotency_key_reused';

-- references are per client: another client may use the same one
SELECT topup.fund_master(7, 'USD', 'fund-1', 't_pricing_other');
SELECT client_id, currency, balance FROM topup.master_balances
 WHERE client_id IN ('t_pricing', 't_pricing_other') ORDER BY client_id;

-- invalid amounts: TU014 (invalid_amount)
SELECT pg_temp.try($$SELECT topup.fund_master(0, 'USD', 'bad-1', 't_pricing')$$);
SELECT pg_temp.try($$SELECT topup.fund_master(-5, 'USD', 'bad-2', 't_pricing')$$);
SELECT pg_temp.try($$SELECT topup.fund_master(NULL, 'USD', 'bad-3', 't_pricing')$$);
SELECT pg_temp.try($$SELECT topup.fund_master('NaN', 'USD', 'bad-4', 't_pricing')$$);
SELECT pg_temp.try($$SELECT topup.fund_master(1.001, 'USD', 'bad-5', 't_pricing')$$);
SELECT pg_temp.try($$SELECT topup.fund_master(1.5, 'JPY', 'bad-6', 't_pricing')$$);
SELECT pg_temp.try($$SELECT topup.fund_master(1.0001, 'BHD', 'bad-7', 't_pricing')$$);
\set VERBOSITY default
SELECT topup.fund_master(1.001, 'USD', 'bad-5', 't_pricing');
SELECT sqlstate FROM topup.error_codes WHERE slug = 'invalid_amount';
-- unknown currency, missing reference, unknown client: 22023
SELECT pg_temp.try($$SELECT topup.fund_master(10, 'XXX', 'bad-8', 't_pricing')$$);
SELECT pg_temp.try($$SELECT topup.fund_master(10, NULL, 'bad-9', 't_pricing')$$);
SELECT pg_temp.try($$SELECT topup.fund_master(10, 'USD', '', 't_pricing')$$);
SELECT pg_temp.try($$SELECT topup.fund_master(10, 'USD', NULL, 't_pricing')$$);
SELECT pg_temp.try($$SELECT topup.fund_master(10, 'USD', repeat('r', 256), 't_pricing')$$);
SELECT pg_temp.try($$SELECT topup.fund_master(10, 'USD', 'bad-10', 't_no_such_client')$$);
SELECT pg_temp.try($$SELECT topup.fund_master(10, 'USD', 'bad-11', NULL)$$);
-- none of them wrote anything
SELECT * FROM pg_temp.stored();
SELECT balance FROM topup.master_balances WHERE client_id = 't_pricing' AND currency = 'USD';

-- a reference of exactly 255 characters is fine; a trailing-zero amount
-- in a currency without decimals is a whole amount
SELECT topup.fund_master(1, 'USD', repeat('r', 255), 't_pricing');
SELECT topup.fund_master(1000.00, 'JPY', 'fund-jpy', 't_pricing');
SELECT client_id, currency, balance FROM topup.master_balances WHERE client_id = 't_pricing' ORDER BY currency;

-- The ledger of a funding: the master balance +amount, the outside world
-- (book funding) -amount, under the funding's id and no order.
SELECT l.book, l.account_id IS NULL AS no_account, l.currency, l.amount, l.balance_after,
       l.order_id IS NULL AS no_order
  FROM topup.ledger l JOIN topup.fundings f ON f.funding_id = l.funding_id
 WHERE f.client_id = 't_pricing' AND f.reference = 'fund-2'
 ORDER BY l.book;
SELECT left(f.reference, 10) AS reference, f.currency, f.amount, sum(l.amount) AS entries_sum,
       count(l.*) AS entries
  FROM topup.fundings f JOIN topup.ledger l ON l.funding_id = f.funding_id
 WHERE f.client_id = 't_pricing'
 GROUP BY f.reference, f.currency, f.amount ORDER BY f.reference COLLATE "C";
SELECT * FROM topup.verify_ledger();

-- Master balances, fundings and the ledger change only through the
-- extension.
SELECT pg_temp.try($$UPDATE topup.balance_slots SET balance = balance + 1 WHERE client_id = 't_pricing'$$);
SELECT pg_temp.try($$DELETE FROM topup.fundings WHERE client_id = 't_pricing'$$);
SELECT pg_temp.try($$INSERT INTO topup.fundings (client_id, currency, amount, reference) VALUES ('t_pricing', 'USD', 1, 'sneaky')$$);

--
-- set_pricing
--
SELECT topup.set_pricing('USD', 1, 100, 0.10, 2, 't_pricing');
SELECT currency, min_amount, max_amount, fee_fixed, fee_percent FROM topup.pricing WHERE client_id = 't_pricing';
-- a second call replaces the rule: still one row per client and currency
SELECT topup.set_pricing('USD', 5, 500, client_id => 't_pricing');
SELECT currency, min_amount, max_amount, fee_fixed, fee_percent FROM topup.pricing WHERE client_id = 't_pricing';
-- min == max is a fixed amount; fee_percent may be 100 and have any
-- number of decimals
SELECT topup.set_pricing('EUR', 10, 10, 0, 100, 't_pricing');
SELECT topup.set_pricing('EUR', 10, 10, 0, 1.23456, 't_pricing');
SELECT currency, min_amount, max_amount, fee_fixed, fee_percent FROM topup.pricing
 WHERE client_id = 't_pricing' ORDER BY currency;

-- rejections: 22023, the rule unchanged
SELECT pg_temp.try($$SELECT topup.set_pricing('USD', 10, 5, client_id => 't_pricing')$$);
SELECT pg_temp.try($$SELECT topup.set_pricing('USD', 0, 5, client_id => 't_pricing')$$);
SELECT pg_temp.try($$SELECT topup.set_pricing('USD', -1, 5, client_id => 't_pricing')$$);
SELECT pg_temp.try($$SELECT topup.set_pricing('USD', 1, 5, -0.01, 0, 't_pricing')$$);
SELECT pg_temp.try($$SELECT topup.set_pricing('USD', 1, 5, 0, -0.5, 't_pricing')$$);
SELECT pg_temp.try($$SELECT topup.set_pricing('USD', 1, 5, 0, 100.01, 't_pricing')$$);
SELECT pg_temp.try($$SELECT topup.set_pricing('USD', 1.001, 5, 0, 0, 't_pricing')$$);
SELECT pg_temp.try($$SELECT topup.set_pricing('USD', 1, 5.001, 0, 0, 't_pricing')$$);
SELECT pg_temp.try($$SELECT topup.set_pricing('USD', 1, 5, 0.001, 0, 't_pricing')$$);
SELECT pg_temp.try($$SELECT topup.set_pricing('JPY', 1.5, 5, 0, 0, 't_pricing')$$);
SELECT pg_temp.try($$SELECT topup.set_pricing('XXX', 1, 5, 0, 0, 't_pricing')$$);
SELECT pg_temp.try($$SELECT topup.set_pricing(NULL, 1, 5, 0, 0, 't_pricing')$$);
SELECT pg_temp.try($$SELECT topup.set_pricing('USD', NULL, 5, 0, 0, 't_pricing')$$);
SELECT pg_temp.try($$SELECT topup.set_pricing('USD', 1, NULL, 0, 0, 't_pricing')$$);
SELECT pg_temp.try($$SELECT topup.set_pricing('USD', 1, 5, NULL, 0, 't_pricing')$$);
SELECT pg_temp.try($$SELECT topup.set_pricing('USD', 1, 5, 0, NULL, 't_pricing')$$);
SELECT pg_temp.try($$SELECT topup.set_pricing('USD', 1, 'NaN', 0, 0, 't_pricing')$$);
SELECT pg_temp.try($$SELECT topup.set_pricing('USD', 1, 5, 0, 0, 't_no_such_client')$$);
SELECT currency, min_amount, max_amount, fee_fixed, fee_percent FROM topup.pricing
 WHERE client_id = 't_pricing' ORDER BY currency;
-- the rules of another client are its own
SELECT count(*) FROM topup.pricing WHERE client_id = 't_pricing_other';

--
-- Fee arithmetic through topup_card.  pg_temp.fee_case tops up a card and
-- shows the amount, the fee, whether the master balance fell by exactly
-- amount + fee (in the order and in the master_balances view), and whether
-- the fee account rose by the fee.
--
SELECT topup.open_account('p_usd', 'USD', kind => 'card', client_id => 't_pricing');
SELECT topup.open_account('p_jpy', 'JPY', kind => 'card', client_id => 't_pricing');
SELECT topup.open_account('p_bhd', 'BHD', kind => 'card', client_id => 't_pricing');
SELECT topup.open_account('p_kwd', 'KWD', kind => 'card', client_id => 't_pricing');
SELECT topup.fund_master(5000, 'USD', 'fund-usd', 't_pricing') > 0 AS funded;
SELECT topup.fund_master(100000, 'JPY', 'fund-jpy-2', 't_pricing') > 0 AS funded;
SELECT topup.fund_master(500, 'BHD', 'fund-bhd', 't_pricing') > 0 AS funded;
SELECT topup.fund_master(500, 'KWD', 'fund-kwd', 't_pricing') > 0 AS funded;

CREATE FUNCTION pg_temp.fee_case(card text, amt numeric, key text,
    OUT status topup.order_status, OUT error_slug text, OUT amount numeric, OUT fee numeric,
    OUT master_charged boolean, OUT view_charged boolean, OUT fee_credited boolean)
LANGUAGE plpgsql AS $$
DECLARE
    cur text;
    m0 numeric;
    f0 numeric;
    r topup.order_result;
BEGIN
    SELECT a.currency INTO cur FROM topup.accounts a WHERE a.client_id = 't_pricing' AND a.account_id = card;
    SELECT COALESCE(sum(b.balance), 0) INTO m0 FROM topup.master_balances b
     WHERE b.client_id = 't_pricing' AND b.currency = cur;
    SELECT COALESCE(sum(b.balance), 0) INTO f0 FROM topup.fee_balances b
     WHERE b.client_id = 't_pricing' AND b.currency = cur;
    SELECT * INTO r FROM topup.topup_card(card, amt, key, client_id => 't_pricing');
    status := r.status;
    error_slug := r.error_slug;
    amount := r.amount;
    fee := r.fee;
    master_charged := r.master_balance_before - r.master_balance_after = r.amount + r.fee;
    view_charged := m0 - (SELECT sum(b.balance) FROM topup.master_balances b
                           WHERE b.client_id = 't_pricing' AND b.currency = cur)
                    = COALESCE(r.amount + r.fee, 0);
    fee_credited := (SELECT COALESCE(sum(b.balance), 0) FROM topup.fee_balances b
                      WHERE b.client_id = 't_pricing' AND b.currency = cur) - f0
                    = COALESCE(r.fee, 0);
END $$;

-- USD, 2 decimals
SELECT topup.set_pricing('USD', 0.01, 1000, 0, 1.5, 't_pricing');
SELECT * FROM pg_temp.fee_case('p_usd', 10.30, 'usd-1');   -- 0.1545 -> 0.15
SELECT * FROM pg_temp.fee_case('p_usd', 0.30, 'usd-2');    -- 0.0045 -> 0.00
SELECT * FROM pg_temp.fee_case('p_usd', 1.00, 'usd-3');    -- 0.015  -> 0.02 (half up)
SELECT * FROM pg_temp.fee_case('p_usd', 1.10, 'usd-4');    -- 0.0165 -> 0.02
SELECT topup.set_pricing('USD', 0.01, 1000, 0, 0.5, 't_pricing');
SELECT * FROM pg_temp.fee_case('p_usd', 10.10, 'usd-5');   -- 0.0505 -> 0.05
SELECT * FROM pg_temp.fee_case('p_usd', 1.00, 'usd-6');    -- 0.005  -> 0.01 (half up, not to even)
SELECT * FROM pg_temp.fee_case('p_usd', 0.99, 'usd-7');    -- 0.00495 -> 0.00
SELECT topup.set_pricing('USD', 0.01, 1000, 0, 2.5, 't_pricing');
SELECT * FROM pg_temp.fee_case('p_usd', 0.90, 'usd-8');    -- 0.0225 -> 0.02
SELECT * FROM pg_temp.fee_case('p_usd', 5.00, 'usd-9');    -- 0.125  -> 0.13 (half up, not to even)
SELECT * FROM pg_temp.fee_case('p_usd', 0.10, 'usd-10');   -- 0.0025 -> 0.00
-- fixed plus percent
SELECT topup.set_pricing('USD', 0.01, 1000, 0.25, 2.5, 't_pricing');
SELECT * FROM pg_temp.fee_case('p_usd', 100, 'usd-11');    -- 0.25 + 2.50 = 2.75
SELECT * FROM pg_temp.fee_case('p_usd', 0.20, 'usd-12');   -- 0.25 + 0.005 = 0.255 -> 0.26
-- fixed only, and no fee at all
SELECT topup.set_pricing('USD', 0.01, 1000, 0.99, 0, 't_pricing');
SELECT * FROM pg_temp.fee_case('p_usd', 3, 'usd-13');
SELECT topup.set_pricing('USD', 0.01, 1000, client_id => 't_pricing');
SELECT * FROM pg_temp.fee_case('p_usd', 3, 'usd-14');
-- a fee of 100 %
SELECT topup.set_pricing('USD', 0.01, 1000, 0, 100, 't_pricing');
SELECT * FROM pg_temp.fee_case('p_usd', 12.34, 'usd-15');

-- JPY, no decimals
SELECT topup.set_pricing('JPY', 1, 100000, 0, 2.5, 't_pricing');
SELECT * FROM pg_temp.fee_case('p_jpy', 101, 'jpy-1');     -- 2.525 -> 3
SELECT * FROM pg_temp.fee_case('p_jpy', 100, 'jpy-2');     -- 2.5   -> 3 (half up, not to even)
SELECT * FROM pg_temp.fee_case('p_jpy', 99, 'jpy-3');      -- 2.475 -> 2
SELECT topup.set_pricing('JPY', 1, 100000, 0, 0.5, 't_pricing');
SELECT * FROM pg_temp.fee_case('p_jpy', 100, 'jpy-4');     -- 0.5   -> 1 (half up)
SELECT * FROM pg_temp.fee_case('p_jpy', 99, 'jpy-5');      -- 0.495 -> 0
SELECT topup.set_pricing('JPY', 1, 100000, 10, 1.5, 't_pricing');
SELECT * FROM pg_temp.fee_case('p_jpy', 1000, 'jpy-6');    -- 10 + 15 = 25
-- an amount with decimals is invalid in JPY (raised, nothing stored), but
-- trailing zeros are fine
SELECT pg_temp.try($$SELECT * FROM topup.topup_card('p_jpy', 100.5, 'jpy-7', client_id => 't_pricing')$$);
SELECT * FROM pg_temp.fee_case('p_jpy', 100.00, 'jpy-8');  -- 10 + 1.5 = 11.5 -> 12

-- BHD and KWD, 3 decimals
SELECT topup.set_pricing('BHD', 0.001, 1000, 0, 1.25, 't_pricing');
SELECT * FROM pg_temp.fee_case('p_bhd', 10.100, 'bhd-1');  -- 0.12625 -> 0.126
SELECT * FROM pg_temp.fee_case('p_bhd', 0.200, 'bhd-2');   -- 0.0025  -> 0.003 (half up)
SELECT topup.set_pricing('BHD', 0.001, 1000, 0, 0.5, 't_pricing');
SELECT * FROM pg_temp.fee_case('p_bhd', 0.101, 'bhd-3');   -- 0.000505 -> 0.001
SELECT * FROM pg_temp.fee_case('p_bhd', 0.100, 'bhd-4');   -- 0.0005  -> 0.001 (half up)
SELECT * FROM pg_temp.fee_case('p_bhd', 0.099, 'bhd-5');   -- 0.000495 -> 0.000
SELECT topup.set_pricing('KWD', 0.001, 1000, 0.005, 1.25, 't_pricing');
SELECT * FROM pg_temp.fee_case('p_kwd', 10.100, 'kwd-1');  -- 0.005 + 0.12625 = 0.13125 -> 0.131
SELECT * FROM pg_temp.fee_case('p_kwd', 0.020, 'kwd-2');   -- 0.005 + 0.00025 = 0.00525 -> 0.005
SELECT * FROM pg_temp.fee_case('p_kwd', 0.060, 'kwd-3');   -- 0.005 + 0.00075 = 0.00575 -> 0.006
SELECT pg_temp.try($$SELECT * FROM topup.topup_card('p_kwd', 1.0001, 'kwd-4', client_id => 't_pricing')$$);

--
-- Minimum and maximum: both limits are inclusive.
--
SELECT topup.set_pricing('USD', 10, 250, 0, 1, 't_pricing');
SELECT * FROM pg_temp.fee_case('p_usd', 10, 'lim-1');
SELECT * FROM pg_temp.fee_case('p_usd', 9.99, 'lim-2');
SELECT * FROM pg_temp.fee_case('p_usd', 250, 'lim-3');
SELECT * FROM pg_temp.fee_case('p_usd', 250.01, 'lim-4');
SELECT o.idempotency_key, o.error_slug, o.error_message FROM topup.orders o
 WHERE o.client_id = 't_pricing' AND o.status = 'failed' ORDER BY o.idempotency_key;

-- Everything adds up: master balance = fundings - (amounts + fees) of the
-- completed top-ups, fee account = fees.
SELECT b.currency, b.balance AS master,
       (SELECT sum(f.amount) FROM topup.fundings f
         WHERE f.client_id = 't_pricing' AND f.currency = b.currency)
       - (SELECT COALESCE(sum(o.amount + o.fee), 0) FROM topup.orders o
           WHERE o.client_id = 't_pricing' AND o.currency = b.currency AND o.status = 'completed')
       = b.balance AS master_adds_up,
       fb.balance AS fees,
       (SELECT COALESCE(sum(o.fee), 0) FROM topup.orders o
         WHERE o.client_id = 't_pricing' AND o.currency = b.currency AND o.status = 'completed')
       = fb.balance AS fees_add_up
  FROM topup.master_balances b JOIN topup.fee_balances fb USING (client_id, currency)
 WHERE b.client_id = 't_pricing'
 ORDER BY b.currency;
SELECT account_id, currency, balance FROM topup.accounts WHERE client_id = 't_pricing' ORDER BY account_id;
SELECT * FROM topup.verify_ledger();
