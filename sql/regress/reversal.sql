SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS topup CASCADE;
DROP ROLE IF EXISTS rev_app, rev_admin, rev_provider;
RESET client_min_messages;

--
-- Reversals (SPEC §9): reverse_order of a completed card top-up (whole,
-- whole with the fee, partial, several partials until the whole is back),
-- of a provider-backed top-up (through its channel: claimed and reported
-- by a worker, money moved only on completed), of a redeem (whole only:
-- the voucher is new again, or expired past its date, and can be redeemed
-- again) and of a charge; the stored failures, the raised errors,
-- idempotency, order_json, the events, the duties that may call it, and
-- verify_ledger() with reversals broken on purpose.
--
-- Every result is kept in the temp table res (one row per call, named by
-- step) so that later queries can compare order ids without printing them.
-- pg_temp.moved() lists what changed for client t_rev since its last call:
-- account balances and statuses, master, fee and hold balances, voucher
-- statuses, and the numbers of orders, failed orders, ledger entries and
-- events.  A raised error must show nothing; a stored failure one more
-- order, failed, and its event.
--
-- the operators of topup.voucher_serial
SET search_path = public, topup;

SELECT topup.create_client('t_rev');
SELECT topup.create_client('t_rev_other');

CREATE TEMP TABLE res (step text PRIMARY KEY, LIKE topup.order_result);
\set cols 'step, order_type, status, topup_status, error_slug, error_message, account_id, amount, fee, account_balance_after, replayed'

CREATE TEMP TABLE snap (what text PRIMARY KEY, value text);
CREATE FUNCTION pg_temp.state() RETURNS TABLE (what text, value text) LANGUAGE sql AS $$
    SELECT 'account ' || account_id, balance || ' ' || status FROM topup.accounts WHERE client_id = 't_rev'
    UNION ALL
    SELECT book || ' ' || currency, sum(balance)::text FROM topup.balance_slots
     WHERE client_id = 't_rev' GROUP BY book, currency
    UNION ALL
    SELECT 'voucher ' || serial::text, status || COALESCE(' by ' || activated_by, '')
      FROM topup.vouchers WHERE client_id = 't_rev'
    UNION ALL
    SELECT 'orders', count(*)::text FROM topup.orders WHERE client_id = 't_rev'
    UNION ALL
    SELECT 'orders failed', count(*)::text FROM topup.orders WHERE client_id = 't_rev' AND status = 'failed'
    UNION ALL
    SELECT 'ledger entries', count(*)::text FROM topup.ledger WHERE client_id = 't_rev'
    UNION ALL
    SELECT 'events', count(*)::text FROM topup.events WHERE client_id = 't_rev'
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
    RETURN st || ': ' || regexp_replace(msg, 'order \d+', 'order <id>', 'g');
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
-- Fixtures: USD top-ups of 1 .. 500 at a fee of 0.50 + 2 %, a master
-- balance of 1000; cards and customer accounts; the other client's top-up.
--
SELECT topup.set_pricing('USD', 1, 500, 0.50, 2, 't_rev');
SELECT topup.fund_master(1000, 'USD', 'rev-fund', 't_rev');
SELECT topup.open_account(a, 'USD', 'card', client_id => 't_rev')
  FROM unnest(ARRAY['card_a', 'card_b', 'card_c', 'card_p', 'card_q']) AS a;
SELECT topup.open_account(a, 'USD', client_id => 't_rev')
  FROM unnest(ARRAY['cust_a', 'cust_b']) AS a;
SELECT topup.set_pricing('USD', 1, 500, client_id => 't_rev_other');
SELECT topup.fund_master(100, 'USD', 'rev-other-fund', 't_rev_other');
SELECT topup.open_account('o_card', 'USD', 'card', client_id => 't_rev_other');
INSERT INTO res SELECT 'other_top', * FROM topup.topup_card('o_card', 10, 'o-top', client_id => 't_rev_other')
RETURNING :cols;
SELECT * FROM pg_temp.moved();

--
-- 1. A completed instant card top-up reversed whole: card -amount,
-- master +amount; the fee stays earned.
--
INSERT INTO res SELECT 'top_a', * FROM topup.topup_card('card_a', 100, 'top-a', client_id => 't_rev')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
INSERT INTO res SELECT 'rev_a', * FROM topup.reverse_order((SELECT order_id FROM res WHERE step = 'top_a'),
    'customer complaint', 'rev-a', client_id => 't_rev')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
SELECT * FROM pg_temp.entries('rev_a');
-- the reversal is linked to the original; the original stays completed
SELECT r.order_type, r.reverses_order_id = t.order_id AS links_original, r.note,
       t.status AS original_status, r.master_balance_before, r.master_balance_after,
       r.completed_at IS NOT NULL AS completed_at, r.failed_at, r.reference ~ '^TU[A-Z2-9]{20}$' AS reference,
       r.reference <> t.reference AS own_reference
  FROM topup.orders r, res t
 WHERE r.order_id = (SELECT order_id FROM res WHERE step = 'rev_a') AND t.step = 'top_a';
-- nothing is left to reverse: order_already_reversed, stored
INSERT INTO res SELECT 'rev_a_again', * FROM topup.reverse_order((SELECT order_id FROM res WHERE step = 'top_a'),
    'customer complaint', 'rev-a-again', client_id => 't_rev')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
SELECT * FROM topup.verify_ledger();

--
-- 2. Whole with refund_fee: the fee comes back from the fee account too
-- (master +amount +fee).  An explicit amount equal to the whole is whole.
--
INSERT INTO res SELECT 'top_b', * FROM topup.topup_card('card_b', 100, 'top-b', client_id => 't_rev')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
INSERT INTO res SELECT 'rev_b', * FROM topup.reverse_order((SELECT order_id FROM res WHERE step = 'top_b'),
    'sold by mistake', 'rev-b', refund_fee => true, amount => 100, client_id => 't_rev')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
SELECT * FROM pg_temp.entries('rev_b');
SELECT * FROM topup.verify_ledger();

--
-- 3. Partial reversals, until the whole is back.  refund_fee needs the
-- whole amount (22023, nothing stored).
--
INSERT INTO res SELECT 'top_c', * FROM topup.topup_card('card_c', 100, 'top-c', client_id => 't_rev')
RETURNING :cols;
SELECT order_id AS top_c FROM res WHERE step = 'top_c' \gset
SELECT * FROM pg_temp.moved();
SELECT * FROM pg_temp.raised($$SELECT topup.reverse_order($$ || :top_c || $$, 'part', 'rev-c-fee', refund_fee => true, amount => 30, client_id => 't_rev')$$);
SELECT * FROM pg_temp.moved();
INSERT INTO res SELECT 'rev_c1', * FROM topup.reverse_order(:top_c, 'part one', 'rev-c1', amount => 30, client_id => 't_rev')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
SELECT * FROM pg_temp.entries('rev_c1');
INSERT INTO res SELECT 'rev_c2', * FROM topup.reverse_order(:top_c, 'part two', 'rev-c2', amount => 30.5, client_id => 't_rev')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
-- more than is left: order_already_reversed, saying what is left
INSERT INTO res SELECT 'rev_c_over', * FROM topup.reverse_order(:top_c, 'too much', 'rev-c-over', amount => 50, client_id => 't_rev')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
-- refund_fee with the rest is not the whole either
SELECT * FROM pg_temp.raised($$SELECT topup.reverse_order($$ || :top_c || $$, 'rest', 'rev-c-fee2', refund_fee => true, client_id => 't_rev')$$);
-- amount NULL: all that is left
INSERT INTO res SELECT 'rev_c3', * FROM topup.reverse_order(:top_c, 'the rest', 'rev-c3', client_id => 't_rev')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
INSERT INTO res SELECT 'rev_c4', * FROM topup.reverse_order(:top_c, 'one more', 'rev-c4', amount => 1, client_id => 't_rev')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
SELECT count(*) AS reversals, sum(amount) FILTER (WHERE status = 'completed') AS reversed,
       count(*) FILTER (WHERE status = 'failed') AS failed
  FROM topup.orders WHERE reverses_order_id = :top_c;
SELECT * FROM topup.verify_ledger();

--
-- 4. Raised errors: nothing is stored, the key stays free.
--
SELECT slug, sqlstate FROM topup.error_codes
 WHERE slug IN ('order_not_found', 'idempotency_key_required', 'idempotency_key_reused', 'invalid_amount',
                'order_not_reversible', 'order_already_reversed', 'insufficient_funds')
 ORDER BY sqlstate;
INSERT INTO res SELECT 'top_a2', * FROM topup.topup_card('card_a', 40, 'top-a2', client_id => 't_rev')
RETURNING :cols;
SELECT order_id AS top_a2 FROM res WHERE step = 'top_a2' \gset
SELECT order_id AS other_top FROM res WHERE step = 'other_top' \gset
SELECT * FROM pg_temp.moved();
-- order_not_found: unknown, another client's, NULL
SELECT * FROM pg_temp.raised($$SELECT topup.reverse_order(-1, 'x', 'bad-1', client_id => 't_rev')$$);
SELECT * FROM pg_temp.raised($$SELECT topup.reverse_order($$ || :other_top || $$, 'x', 'bad-1', client_id => 't_rev')$$);
SELECT * FROM pg_temp.raised($$SELECT topup.reverse_order(NULL, 'x', 'bad-1', client_id => 't_rev')$$);
-- idempotency_key_required: NULL or empty (checked before the order)
SELECT * FROM pg_temp.raised($$SELECT topup.reverse_order($$ || :top_a2 || $$, 'x', NULL, client_id => 't_rev')$$);
SELECT * FROM pg_temp.raised($$SELECT topup.reverse_order($$ || :top_a2 || $$, 'x', '', client_id => 't_rev')$$);
SELECT * FROM pg_temp.raised($$SELECT topup.reverse_order(-1, 'x', NULL, client_id => 't_rev')$$);
-- invalid_amount: zero, negative, too many decimals, not a number
SELECT * FROM pg_temp.raised($$SELECT topup.reverse_order($$ || :top_a2 || $$, 'x', 'bad-2', amount => 0, client_id => 't_rev')$$);
SELECT * FROM pg_temp.raised($$SELECT topup.reverse_order($$ || :top_a2 || $$, 'x', 'bad-2', amount => -5, client_id => 't_rev')$$);
SELECT * FROM pg_temp.raised($$SELECT topup.reverse_order($$ || :top_a2 || $$, 'x', 'bad-2', amount => 10.001, client_id => 't_rev')$$);
SELECT * FROM pg_temp.raised($$SELECT topup.reverse_order($$ || :top_a2 || $$, 'x', 'bad-2', amount => 'NaN', client_id => 't_rev')$$);
SELECT * FROM pg_temp.raised($$SELECT topup.reverse_order($$ || :top_a2 || $$, 'x', 'bad-2', amount => 'Infinity', client_id => 't_rev')$$);
-- generic argument problems: 22023
SELECT * FROM pg_temp.raised($$SELECT topup.reverse_order($$ || :top_a2 || $$, 'x', repeat('k', 256), client_id => 't_rev')$$);
SELECT * FROM pg_temp.raised($$SELECT topup.reverse_order($$ || :top_a2 || $$, 'x', 'bad-3', refund_fee => NULL, client_id => 't_rev')$$);
SELECT * FROM pg_temp.raised($$SELECT topup.reverse_order($$ || :top_a2 || $$, 'x', 'bad-3', client_id => NULL)$$);
SELECT * FROM pg_temp.raised($$SELECT topup.reverse_order($$ || :top_a2 || $$, 'x', 'bad-3', client_id => 't_rev_none')$$);
-- as the client sees them
\set VERBOSITY default
SELECT * FROM topup.reverse_order(-1, 'x', 'bad-4', client_id => 't_rev');
SELECT * FROM topup.reverse_order(:top_a2, 'x', 'bad-4', refund_fee => true, amount => 1, client_id => 't_rev');
SELECT * FROM pg_temp.moved();

--
-- 5. Idempotency: the same key and parameters replay the stored order
-- (10 and 10.00 are the same amount); other parameters raise
-- idempotency_key_reused; keys are per order type.
--
INSERT INTO res SELECT 'idem', * FROM topup.reverse_order(:top_a2, 'partial', 'idem-1', amount => 10, client_id => 't_rev')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
INSERT INTO res SELECT 'idem_replay', * FROM topup.reverse_order(:top_a2, 'partial', 'idem-1', amount => 10.00, client_id => 't_rev')
RETURNING :cols;
SELECT a.order_id = b.order_id AS same_order, a.reference = b.reference AS same_reference
  FROM res a, res b WHERE a.step = 'idem' AND b.step = 'idem_replay';
SELECT * FROM pg_temp.moved();
SELECT * FROM pg_temp.raised($$SELECT topup.reverse_order($$ || :top_a2 || $$, 'partial', 'idem-1', amount => 11, client_id => 't_rev')$$);
SELECT * FROM pg_temp.raised($$SELECT topup.reverse_order($$ || :top_a2 || $$, 'partial', 'idem-1', client_id => 't_rev')$$);
SELECT * FROM pg_temp.raised($$SELECT topup.reverse_order($$ || :top_a2 || $$, 'other reason', 'idem-1', amount => 10, client_id => 't_rev')$$);
SELECT * FROM pg_temp.raised($$SELECT topup.reverse_order($$ || :top_a2 || $$, NULL, 'idem-1', amount => 10, client_id => 't_rev')$$);
SELECT * FROM pg_temp.raised($$SELECT topup.reverse_order($$ || :top_c || $$, 'partial', 'idem-1', amount => 10, client_id => 't_rev')$$);
SELECT * FROM pg_temp.raised($$SELECT topup.reverse_order($$ || :top_a2 || $$, 'partial', 'idem-1', refund_fee => true, amount => 10, client_id => 't_rev')$$);
SELECT * FROM pg_temp.moved();
-- a stored failure replays too
INSERT INTO res SELECT 'rev_a_again_replay', * FROM topup.reverse_order((SELECT order_id FROM res WHERE step = 'top_a'),
    'customer complaint', 'rev-a-again', client_id => 't_rev')
RETURNING :cols;
SELECT a.order_id = b.order_id AS same_order FROM res a, res b WHERE a.step = 'rev_a_again' AND b.step = 'rev_a_again_replay';
SELECT * FROM pg_temp.moved();
-- a charge may use the same key: keys are per order type
INSERT INTO res SELECT 'idem_charge', * FROM topup.charge_account('card_a', 5, 'idem-1', client_id => 't_rev')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
SELECT * FROM topup.verify_ledger();

--
-- 6. order_not_reversible: an order that is not completed, or a reversal.
--
INSERT INTO res SELECT 'top_failed', * FROM topup.topup_card('no_card', 10, 'top-failed', client_id => 't_rev')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
INSERT INTO res SELECT 'nr_failed', * FROM topup.reverse_order((SELECT order_id FROM res WHERE step = 'top_failed'),
    'x', 'nr-1', client_id => 't_rev')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
INSERT INTO res SELECT 'nr_reversal', * FROM topup.reverse_order((SELECT order_id FROM res WHERE step = 'rev_a'),
    'x', 'nr-2', client_id => 't_rev')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
-- a failed reversal is a reversal too
INSERT INTO res SELECT 'nr_failed_reversal', * FROM topup.reverse_order((SELECT order_id FROM res WHERE step = 'nr_failed'),
    'x', 'nr-3', client_id => 't_rev')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
-- the failed reversals point at what they tried to reverse
SELECT r.step, o.reverses_order_id = t.order_id AS links_original, o.note
  FROM res r JOIN topup.orders o USING (order_id)
  JOIN res t ON t.step = CASE r.step WHEN 'nr_failed' THEN 'top_failed' WHEN 'nr_reversal' THEN 'rev_a'
                                     ELSE 'nr_failed' END
 WHERE r.step LIKE 'nr\_%' ORDER BY r.step;

--
-- 7. insufficient_funds: the account no longer holds what must be taken
-- back (stored, nothing moves); what it holds can still be reversed.
--
INSERT INTO res SELECT 'spend_a', * FROM topup.charge_account('card_a', 20, 'spend-a', client_id => 't_rev')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
INSERT INTO res SELECT 'if_card', * FROM topup.reverse_order(:top_a2, 'the rest', 'if-1', client_id => 't_rev')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
INSERT INTO res SELECT 'if_card_part', * FROM topup.reverse_order(:top_a2, 'what is left', 'if-2', amount => 5, client_id => 't_rev')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
-- the fee account no longer holding the fee cannot happen through the
-- functions (only a whole reversal refunds a fee, once); it is made here
-- by hand, with the triggers off, and rolled back
INSERT INTO res SELECT 'top_b2', * FROM topup.topup_card('card_b', 20, 'top-b2', client_id => 't_rev')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE topup.balance_slots SET balance = 0 WHERE client_id = 't_rev' AND book = 'fee';
SET LOCAL session_replication_role = origin;
SELECT status, error_slug, error_message, amount, fee, account_balance_after
  FROM topup.reverse_order((SELECT order_id FROM res WHERE step = 'top_b2'), 'x', 'if-fee', refund_fee => true,
                           client_id => 't_rev');
SELECT * FROM pg_temp.moved();
-- without the fee it goes through
SELECT status, error_slug, amount, fee, account_balance_after
  FROM topup.reverse_order((SELECT order_id FROM res WHERE step = 'top_b2'), 'x', 'if-nofee', client_id => 't_rev');
ROLLBACK;
SELECT * FROM pg_temp.moved();
SELECT * FROM topup.verify_ledger();

--
-- 8. A completed redeem: reversed whole only; the account gives the amount
-- back, the voucher is new again (activated_* and order_id cleared, its
-- due date queued) and redeems again with the same PIN; expired instead
-- when its date has passed.
--
SELECT series, quantity FROM topup.generate_vouchers('RV', 3, 20, 'USD', expires_at => now() + interval '30 days',
                                                    client_id => 't_rev');
SELECT series, quantity FROM topup.generate_vouchers('RN', 1, 20, 'USD', client_id => 't_rev');
-- RX expires one second after its transaction began: redeemed at once, then
-- the test waits until it has expired
BEGIN;
SELECT series, quantity FROM topup.generate_vouchers('RX', 1, 20, 'USD', expires_at => now() + interval '1 second',
                                                    client_id => 't_rev');
INSERT INTO res SELECT 'redeem_x', * FROM topup.redeem_voucher_by_serial(topup.make_serial('RX', 1), 'cust_a',
    client_id => 't_rev')
RETURNING :cols;
COMMIT;
CREATE TEMP TABLE rev_pins AS
SELECT * FROM topup.export_vouchers('RV', 't_rev') UNION ALL SELECT * FROM topup.export_vouchers('RN', 't_rev')
UNION ALL SELECT * FROM topup.export_vouchers('RX', 't_rev');
SELECT * FROM pg_temp.moved();

INSERT INTO res SELECT 'redeem_1', * FROM topup.redeem_voucher(
    (SELECT pin FROM rev_pins WHERE serial = topup.make_serial('RV', 1)), 'cust_a', client_id => 't_rev')
RETURNING :cols;
SELECT order_id AS redeem_1 FROM res WHERE step = 'redeem_1' \gset
SELECT * FROM pg_temp.moved();
-- whole only, and no fee to refund (22023)
SELECT * FROM pg_temp.raised($$SELECT topup.reverse_order($$ || :redeem_1 || $$, 'x', 'rr-part', amount => 10, client_id => 't_rev')$$);
SELECT * FROM pg_temp.raised($$SELECT topup.reverse_order($$ || :redeem_1 || $$, 'x', 'rr-fee', refund_fee => true, client_id => 't_rev')$$);
SELECT * FROM pg_temp.moved();
INSERT INTO res SELECT 'rev_redeem_1', * FROM topup.reverse_order(:redeem_1, 'wrong account', 'rr-1', client_id => 't_rev')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
SELECT * FROM pg_temp.entries('rev_redeem_1');
SELECT status, activated_at, activated_by, order_id, expires_at > now() AS expires_later
  FROM topup.vouchers WHERE client_id = 't_rev' AND serial = topup.make_serial('RV', 1);
-- its due date is in the expiry queue, once
SELECT count(*) AS queued FROM topup.voucher_expiry q JOIN topup.vouchers v USING (client_id, serial)
 WHERE q.client_id = 't_rev' AND q.serial = topup.make_serial('RV', 1) AND q.expires_at = v.expires_at;
-- the same PIN redeems it again, into another account
INSERT INTO res SELECT 'redeem_1b', * FROM topup.redeem_voucher(
    (SELECT pin FROM rev_pins WHERE serial = topup.make_serial('RV', 1)), 'cust_b', client_id => 't_rev')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
SELECT v.status, v.activated_by, v.order_id = r.order_id AS new_order
  FROM topup.vouchers v, res r
 WHERE v.client_id = 't_rev' AND v.serial = topup.make_serial('RV', 1) AND r.step = 'redeem_1b';
-- the first redeem is reversed already
INSERT INTO res SELECT 'rev_redeem_1_again', * FROM topup.reverse_order(:redeem_1, 'again', 'rr-2', client_id => 't_rev')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
-- a request no state of the order makes valid is raised before anything
-- is stored, also once the order is reversed: a partial amount of a
-- redeem, a fee refund of a redeem (22023)
SELECT * FROM pg_temp.raised($$SELECT topup.reverse_order($$ || :redeem_1 || $$, 'x', 'rr-part2', amount => 10, client_id => 't_rev')$$);
SELECT * FROM pg_temp.raised($$SELECT topup.reverse_order($$ || :redeem_1 || $$, 'x', 'rr-fee2', refund_fee => true, client_id => 't_rev')$$);
SELECT count(*) AS stored FROM topup.orders WHERE client_id = 't_rev' AND idempotency_key IN ('rr-part2', 'rr-fee2');
-- a voucher without a due date is new again and not queued
INSERT INTO res SELECT 'redeem_n', * FROM topup.redeem_voucher_by_serial(topup.make_serial('RN', 1), 'cust_a',
    client_id => 't_rev')
RETURNING :cols;
INSERT INTO res SELECT 'rev_redeem_n', * FROM topup.reverse_order((SELECT order_id FROM res WHERE step = 'redeem_n'),
    'x', 'rr-n', client_id => 't_rev')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
SELECT count(*) AS queued FROM topup.voucher_expiry WHERE client_id = 't_rev' AND serial = topup.make_serial('RN', 1);
-- a voucher whose queue entry is gone gets one again (the entry is taken
-- away by hand, with the triggers off, and all is rolled back)
BEGIN;
SET LOCAL session_replication_role = replica;
DELETE FROM topup.voucher_expiry WHERE client_id = 't_rev' AND serial = topup.make_serial('RV', 1);
SET LOCAL session_replication_role = origin;
SELECT status, error_slug FROM topup.reverse_order((SELECT order_id FROM res WHERE step = 'redeem_1b'),
    'x', 'rr-queue', client_id => 't_rev');
SELECT count(*) AS queued FROM topup.voucher_expiry q JOIN topup.vouchers v USING (client_id, serial)
 WHERE q.client_id = 't_rev' AND q.serial = topup.make_serial('RV', 1) AND q.expires_at = v.expires_at;
ROLLBACK;
-- past its date the voucher is expired, not new, and its PIN no longer redeems
SELECT pg_sleep(1.1);
SELECT expires_at < now() AS has_expired, status FROM topup.vouchers
 WHERE client_id = 't_rev' AND serial = topup.make_serial('RX', 1);
INSERT INTO res SELECT 'rev_redeem_x', * FROM topup.reverse_order((SELECT order_id FROM res WHERE step = 'redeem_x'),
    'x', 'rr-x', client_id => 't_rev')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
SELECT status, activated_at, activated_by, order_id FROM topup.vouchers
 WHERE client_id = 't_rev' AND serial = topup.make_serial('RX', 1);
INSERT INTO res SELECT 'redeem_x_again', * FROM topup.redeem_voucher(
    (SELECT pin FROM rev_pins WHERE serial = topup.make_serial('RX', 1)), 'cust_a', client_id => 't_rev')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
-- the account no longer holds the amount: insufficient_funds, the voucher
-- stays activated
INSERT INTO res SELECT 'redeem_2', * FROM topup.redeem_voucher(
    (SELECT pin FROM rev_pins WHERE serial = topup.make_serial('RV', 2)), 'cust_a', client_id => 't_rev')
RETURNING :cols;
INSERT INTO res SELECT 'spend_cust_a', * FROM topup.charge_account('cust_a', 15, 'spend-cust-a', client_id => 't_rev')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
INSERT INTO res SELECT 'if_redeem', * FROM topup.reverse_order((SELECT order_id FROM res WHERE step = 'redeem_2'),
    'x', 'rr-if', client_id => 't_rev')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
SELECT * FROM topup.verify_ledger();

--
-- 9. A completed charge: the account gets the amount back (revenue ->
-- account), in parts too; no fee to refund.
--
INSERT INTO res SELECT 'charge_1', * FROM topup.charge_account('cust_b', 15, 'charge-1', 'a sandwich', client_id => 't_rev')
RETURNING :cols;
SELECT order_id AS charge_1 FROM res WHERE step = 'charge_1' \gset
SELECT * FROM pg_temp.moved();
SELECT * FROM pg_temp.raised($$SELECT topup.reverse_order($$ || :charge_1 || $$, 'x', 'rc-fee', refund_fee => true, client_id => 't_rev')$$);
INSERT INTO res SELECT 'rev_charge_1', * FROM topup.reverse_order(:charge_1, 'cold sandwich', 'rc-1', amount => 5, client_id => 't_rev')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
SELECT * FROM pg_temp.entries('rev_charge_1');
INSERT INTO res SELECT 'rev_charge_2', * FROM topup.reverse_order(:charge_1, NULL, 'rc-2', client_id => 't_rev')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
INSERT INTO res SELECT 'rev_charge_3', * FROM topup.reverse_order(:charge_1, NULL, 'rc-3', client_id => 't_rev')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
-- the account's payment history
SELECT payment_type, amount, balance_after,
       regexp_replace(regexp_replace(comment, 'TU[A-Z2-9]{20}', '<reference>'), 'order \d+', 'order <id>') AS comment
  FROM topup.account_payments WHERE client_id = 't_rev' AND account_id = 'cust_b' ORDER BY order_id;
SELECT * FROM topup.verify_ledger();

--
-- 10. A provider-backed top-up is reversed through its channel: the
-- reversal is processing until a worker claims it and reports it; money
-- moves only when it is reported completed.  The workers here are a role
-- bound with the provider duty.
--
CREATE ROLE rev_app;
CREATE ROLE rev_admin;
CREATE ROLE rev_provider;
SELECT topup.bind_role('rev_app', 'app', 't_rev');
SELECT topup.bind_role('rev_admin', 'admin', 't_rev');
SELECT topup.bind_role('rev_provider', 'provider', 't_rev');
-- attempts time out after a second, so that a retry is due soon
SELECT topup.set_channel('REVP', 'provider', attempt_timeout => '1 second', client_id => 't_rev');
INSERT INTO res SELECT 'top_p', * FROM topup.topup_card('card_p', 50, 'top-p', channel => 'REVP', client_id => 't_rev')
RETURNING :cols;
SELECT order_id AS top_p FROM res WHERE step = 'top_p' \gset
SELECT * FROM pg_temp.moved();
-- not completed yet: not reversible
INSERT INTO res SELECT 'nr_processing', * FROM topup.reverse_order(:top_p, 'x', 'rp-0', client_id => 't_rev')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
SET ROLE rev_provider;
SELECT order_type, topup_status, amount, fee FROM topup.claim_orders('REVP');
SELECT status, topup_status, account_balance_after FROM topup.report_order(:top_p, 'completed', 'PRV-1');
RESET ROLE;
SELECT * FROM pg_temp.moved();
-- the reversal waits for a worker: nothing moves yet
INSERT INTO res SELECT 'rev_p1', * FROM topup.reverse_order(:top_p, 'card stolen', 'rp-1', refund_fee => true,
    client_id => 't_rev')
RETURNING :cols;
SELECT order_id AS rev_p1 FROM res WHERE step = 'rev_p1' \gset
SELECT * FROM pg_temp.moved();
SELECT channel, attempts, hold_slot, reverses_order_id = :top_p AS links_original FROM topup.orders WHERE order_id = :rev_p1;
-- what it reverses is taken: another reversal finds nothing left
INSERT INTO res SELECT 'rev_p_while', * FROM topup.reverse_order(:top_p, 'x', 'rp-while', client_id => 't_rev')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
-- the worker declines it: failed, nothing moved
SET ROLE rev_provider;
SELECT order_id = :rev_p1 AS the_reversal, order_type, topup_status, amount, fee FROM topup.claim_orders('REVP');
SELECT status, topup_status, error_slug, error_message, account_balance_after
  FROM topup.report_order(:rev_p1, 'failed', 'PRV-2');
RESET ROLE;
SELECT * FROM pg_temp.moved();
-- a new reversal, reported completed: card -50, master +51.50, fee -1.50.
-- It wakes the workers up: NOTIFY topup_orders with the channel (psql
-- prints it, with the sender's process id masked by sed)
LISTEN topup_orders;
\o | sed -e 's/PID [0-9][0-9]*/PID <pid>/'
INSERT INTO res SELECT 'rev_p2', * FROM topup.reverse_order(:top_p, 'card stolen', 'rp-2', refund_fee => true,
    client_id => 't_rev')
RETURNING :cols;
\o
UNLISTEN topup_orders;
SELECT order_id AS rev_p2 FROM res WHERE step = 'rev_p2' \gset
SELECT * FROM pg_temp.moved();
SET ROLE rev_provider;
SELECT order_id = :rev_p2 AS the_reversal, topup_status FROM topup.claim_orders('REVP');
-- a transient error first: retried after the backoff, nothing moved
SELECT status, topup_status FROM topup.report_order(:rev_p2, 'error');
SELECT count(*) AS claimed_before_backoff FROM topup.claim_orders('REVP');
RESET ROLE;
SELECT * FROM pg_temp.moved();
SELECT pg_sleep(1.1);
SET ROLE rev_provider;
SELECT order_id = :rev_p2 AS the_reversal, topup_status FROM topup.claim_orders('REVP');
SELECT status, topup_status, error_slug, amount, fee, account_balance_after
  FROM topup.report_order(:rev_p2, 'completed', 'PRV-3');
RESET ROLE;
SELECT * FROM pg_temp.moved();
INSERT INTO res SELECT 'rev_p2_done', * FROM topup.check_order(:rev_p2, 't_rev') RETURNING :cols;
SELECT * FROM pg_temp.entries('rev_p2_done');
SELECT provider_reference, attempts FROM topup.orders WHERE order_id = :rev_p2;
-- reported again: the same outcome replays, another one is refused
SET ROLE rev_provider;
SELECT status, replayed FROM topup.report_order(:rev_p2, 'completed', 'PRV-3');
SELECT pg_temp.try($$SELECT topup.report_order($$ || :rev_p2 || $$, 'failed')$$);
RESET ROLE;
SELECT * FROM pg_temp.moved();
-- the hold was never used by the reversals
SELECT balance FROM topup.hold_balances WHERE client_id = 't_rev';
-- a provider-backed reversal reported completed when the card no longer
-- holds the amount fails (insufficient_funds) and moves nothing
INSERT INTO res SELECT 'top_q', * FROM topup.topup_card('card_q', 40, 'top-q', channel => 'REVP', client_id => 't_rev')
RETURNING :cols;
SELECT order_id AS top_q FROM res WHERE step = 'top_q' \gset
SET ROLE rev_provider;
SELECT order_type, topup_status FROM topup.claim_orders('REVP');
SELECT status FROM topup.report_order(:top_q, 'completed');
RESET ROLE;
INSERT INTO res SELECT 'spend_q', * FROM topup.charge_account('card_q', 30, 'spend-q', client_id => 't_rev')
RETURNING :cols;
-- the channel turns instant: the orders that went through it as a
-- provider channel are still reversed through it
SELECT topup.set_channel('REVP', 'instant', client_id => 't_rev');
INSERT INTO res SELECT 'rev_q', * FROM topup.reverse_order(:top_q, 'x', 'rq-1', client_id => 't_rev')
RETURNING :cols;
SELECT order_id AS rev_q FROM res WHERE step = 'rev_q' \gset
SELECT * FROM pg_temp.moved();
SET ROLE rev_provider;
SELECT order_type, topup_status FROM topup.claim_orders('REVP');
SELECT status, topup_status, error_slug, error_message, account_balance_after
  FROM topup.report_order(:rev_q, 'completed');
RESET ROLE;
SELECT * FROM pg_temp.moved();
-- an instant top-up with a channel that is not a provider channel is
-- reversed at once
INSERT INTO res SELECT 'top_web', * FROM topup.topup_card('card_q', 10, 'top-web', channel => 'WEB', client_id => 't_rev')
RETURNING :cols;
INSERT INTO res SELECT 'rev_web', * FROM topup.reverse_order((SELECT order_id FROM res WHERE step = 'top_web'),
    'x', 'rw-1', client_id => 't_rev')
RETURNING :cols;
SELECT * FROM pg_temp.moved();
SELECT * FROM topup.verify_ledger();

--
-- 11. order_json gives data.reverses_order_id (a string, as order_id is;
-- null for an order that is not a reversal).
--
SELECT j->>'order_type' AS order_type, j->>'status' AS status, j->>'topup_status' AS topup_status,
       j->>'card_id' AS card_id, j->'data'->>'reverses_order_id' = :top_p::text AS reverses_top_p,
       j->'data'->>'amount' AS amount, j->'data'->>'fee' AS fee, j->'data'->>'channel' AS channel,
       j->'data'->'attempts' AS attempts, j->'data'->>'provider_reference' AS provider_reference
  FROM topup.order_json(:rev_p2, 't_rev') AS j;
SELECT j->>'order_type' AS order_type, j->>'status' AS status, j->>'last_error_slug' AS last_error_slug,
       j->'data'->>'reverses_order_id' = (SELECT order_id FROM res WHERE step = 'top_a')::text AS reverses_top_a
  FROM topup.order_json((SELECT order_id FROM res WHERE step = 'rev_a_again'), 't_rev') AS j;
SELECT jsonb_typeof(j->'data'->'reverses_order_id') AS original_has
  FROM topup.order_json(:top_p, 't_rev') AS j;

--
-- 12. Events: a completed reversal writes order.reversed on the original
-- order and order.completed of the reversal; a provider-backed one
-- order.processing first; a refused one order.failed.
--
SELECT e.kind, CASE e.order_id WHEN o.orig THEN 'original' WHEN o.rev THEN 'reversal' END AS on_order,
       e.account_id, e.serial, e.payload - 'reference' - 'reversal_order_id' AS payload,
       (e.payload->>'reversal_order_id')::bigint = o.rev AS names_reversal,
       e.payload->>'reference' = r.reference AS reference
  FROM topup.events e
  JOIN (SELECT (SELECT order_id FROM res WHERE step = 'top_a') AS orig,
               (SELECT order_id FROM res WHERE step = 'rev_a') AS rev) o ON e.order_id IN (o.orig, o.rev)
  JOIN topup.orders r ON r.order_id = e.order_id
 WHERE e.client_id = 't_rev'
 ORDER BY e.kind, on_order;
SELECT e.kind, CASE e.order_id WHEN :top_p THEN 'original' WHEN :rev_p2 THEN 'reversal' END AS on_order,
       e.payload->>'status' AS status, e.payload->>'topup_status' AS topup_status, e.payload->>'amount' AS amount,
       e.payload->>'fee' AS fee
  FROM topup.events e
 WHERE e.client_id = 't_rev' AND (e.order_id = :rev_p2 OR e.order_id = :top_p AND e.kind = 'order.reversed')
 ORDER BY e.kind;
SELECT e.kind, e.payload->>'error_slug' AS error_slug
  FROM topup.events e JOIN res r ON r.order_id = e.order_id WHERE r.step = 'rev_c_over';
-- redeem reversals carry the voucher's serial
SELECT e.kind, e.serial, e.account_id FROM topup.events e
 WHERE e.client_id = 't_rev' AND e.order_id = :redeem_1 ORDER BY e.kind;

--
-- 13. Duties: an admin reverses its client's orders (its client by
-- default); another client's order is not found, another client 22023; the
-- app and provider duties may not reverse (42501).
--
INSERT INTO res SELECT 'top_duty', * FROM topup.topup_card('card_b', 10, 'top-duty', client_id => 't_rev')
RETURNING :cols;
SELECT order_id AS top_duty FROM res WHERE step = 'top_duty' \gset
SELECT * FROM pg_temp.moved();
SET ROLE rev_app;
SELECT pg_temp.try($$SELECT topup.reverse_order($$ || :top_duty || $$, 'x', 'duty-1')$$);
SET ROLE rev_provider;
SELECT pg_temp.try($$SELECT topup.reverse_order($$ || :top_duty || $$, 'x', 'duty-1')$$);
SET ROLE rev_admin;
SELECT pg_temp.try($$SELECT topup.reverse_order($$ || :other_top || $$, 'x', 'duty-1')$$);
SELECT pg_temp.try($$SELECT topup.reverse_order($$ || :other_top || $$, 'x', 'duty-1', client_id => 't_rev_other')$$);
SELECT pg_temp.try($$SELECT topup.reverse_order($$ || :top_duty || $$, 'x', 'duty-1', client_id => 't_rev_none')$$);
RESET ROLE;
SELECT * FROM pg_temp.moved();
SET ROLE rev_admin;
SELECT order_type, status, client_id, amount, account_balance_after FROM topup.reverse_order(:top_duty, 'x', 'duty-1');
SELECT status, replayed FROM topup.reverse_order(:top_duty, 'x', 'duty-1');
RESET ROLE;
SELECT * FROM pg_temp.moved();
-- the other client's order is untouched
SELECT count(*) AS other_reversals FROM topup.orders WHERE client_id = 't_rev_other' AND order_type = 'reversal';
SELECT balance FROM topup.accounts WHERE client_id = 't_rev_other' AND account_id = 'o_card';

--
-- 14. verify_ledger() checks reversals: a completed reversal whose order
-- and entries disagree, or that does not reverse a completed order of the
-- same account; an order reversed by more than it moved.  Broken by hand,
-- with the triggers off, and rolled back.
--
CREATE TEMP VIEW problems AS
SELECT problem, regexp_replace(detail, '(order|reversal) \d+', '\1 N', 'g') AS detail
  FROM topup.verify_ledger()
 ORDER BY 1, 2;
SELECT * FROM problems;
-- the reversal's amount is not what its entries took back
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE topup.orders SET amount = 11 WHERE order_id = (SELECT order_id FROM res WHERE step = 'idem');
SELECT * FROM problems;
ROLLBACK;
-- a completed reversal of an order that is not completed
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE topup.orders SET reverses_order_id = (SELECT order_id FROM res WHERE step = 'top_failed')
 WHERE order_id = (SELECT order_id FROM res WHERE step = 'idem');
SELECT * FROM problems;
ROLLBACK;
-- ... of another account's order
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE topup.orders SET reverses_order_id = (SELECT order_id FROM res WHERE step = 'top_b2')
 WHERE order_id = (SELECT order_id FROM res WHERE step = 'idem');
SELECT * FROM problems;
ROLLBACK;
-- an order reversed by more than it moved: the whole reversal of top_a
-- (100) made to point at top_a2 (40, the same card, 15 reversed already)
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE topup.orders SET reverses_order_id = :top_a2 WHERE order_id = (SELECT order_id FROM res WHERE step = 'rev_a');
SELECT * FROM problems;
ROLLBACK;
SELECT * FROM topup.verify_ledger();

-- the roles go again
SELECT topup.unbind_role('rev_app', 'app', 't_rev');
SELECT topup.unbind_role('rev_admin', 'admin', 't_rev');
SELECT topup.unbind_role('rev_provider', 'provider', 't_rev');
DROP ROLE rev_app, rev_admin, rev_provider;
SELECT count(*) AS bindings_left FROM topup.role_bindings WHERE client_id = 't_rev';
RESET search_path;
