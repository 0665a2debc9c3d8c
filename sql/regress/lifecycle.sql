SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS topup CASCADE;
RESET client_min_messages;

--
-- The order lifecycle of provider-backed top-ups (SPEC §9, "Channels" and
-- "A provider-backed top-up"): set_channel; topup_card holding amount + fee
-- (master -> hold) on a provider channel; claim_orders (per client and for
-- every client the caller may act for, oldest first, leases, due retries,
-- orders whose card died meanwhile); report_order for every outcome, with
-- the backoff of retries checked exactly; the topup_status moves the
-- orders trigger enforces; the lease timeouts; order_json; NOTIFY
-- topup_orders; the provider duty and the others (SET ROLE); and
-- verify_ledger() over holds, also with holds broken on purpose.
--
-- Order ids, references and times depend on the tests run before: every
-- order is named by the step that created it (temp table res, view names);
-- times are compared with now() inside the transaction that wrote them
-- (helpers pg_temp.claim and pg_temp.report do that in one statement).
-- Leases and backoffs that must run out are a few milliseconds long and
-- the test sleeps ten times that; whatever must not have run out is
-- checked in the same transaction, where now() does not move.  (The
-- timeouts act on every client's orders; no test before this one leaves a
-- provider-backed order in progress.)
--
-- pg_temp.changes() lists what changed for our clients since its last
-- call: numbers of orders, ledger entries and events, each master, hold
-- and fee balance, each card's balance and status.
--
SET client_min_messages = warning;
DROP ROLE IF EXISTS lc_provider, lc_app, lc_admin;
RESET client_min_messages;
CREATE ROLE lc_provider;
CREATE ROLE lc_app;
CREATE ROLE lc_admin;

SELECT topup.create_client('t_life');
SELECT topup.create_client('t_life2');

CREATE TEMP TABLE res (step text PRIMARY KEY, LIKE topup.order_result, n serial);
-- each order by the first step that returned it
CREATE TEMP VIEW names AS
SELECT DISTINCT ON (order_id) order_id, step AS name FROM res ORDER BY order_id, n;
GRANT SELECT, INSERT ON res TO PUBLIC;
GRANT SELECT ON names TO PUBLIC;
GRANT USAGE ON SEQUENCE res_n_seq TO PUBLIC;
\set cols 'step, status, topup_status, error_slug, error_message, account_id, amount, fee, master_balance_before, master_balance_after, account_balance_after, replayed'

CREATE TEMP TABLE snap (k text PRIMARY KEY, v text);
CREATE FUNCTION pg_temp.state() RETURNS TABLE (k text, v text) LANGUAGE sql AS $$
    SELECT 'orders', count(*)::text FROM topup.orders WHERE client_id IN ('t_life', 't_life2')
    UNION ALL
    SELECT 'ledger entries', count(*)::text FROM topup.ledger WHERE client_id IN ('t_life', 't_life2')
    UNION ALL
    SELECT 'events', count(*)::text FROM topup.events WHERE client_id IN ('t_life', 't_life2')
    UNION ALL
    SELECT format('%s %s %s', client_id, currency, book), sum(balance)::text
      FROM topup.balance_slots WHERE client_id IN ('t_life', 't_life2')
     GROUP BY client_id, currency, book
    UNION ALL
    SELECT format('%s card %s', client_id, account_id), format('%s %s', balance, status)
      FROM topup.accounts WHERE client_id IN ('t_life', 't_life2')
$$;
CREATE FUNCTION pg_temp.changes() RETURNS TABLE (what text, before text, after text)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    SELECT COALESCE(s.k, n.k), s.v, n.v
      FROM snap s FULL JOIN pg_temp.state() n ON n.k = s.k
     WHERE s.v IS DISTINCT FROM n.v
     ORDER BY COALESCE(s.k, n.k) COLLATE "C";
    DELETE FROM snap;
    INSERT INTO snap SELECT * FROM pg_temp.state();
END $$;

-- Run a statement; 'ok' or its SQLSTATE and message (order ids masked).
CREATE FUNCTION pg_temp.try(cmd text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    st text;
    msg text;
BEGIN
    EXECUTE cmd;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    RETURN st || ': ' || regexp_replace(msg, 'order [0-9]+', 'order <id>', 'g');
END $$;
GRANT EXECUTE ON FUNCTION pg_temp.try(text) TO PUBLIC;

-- Run a statement that must raise: its SQLSTATE, the slug topup.error_codes
-- lists for it, its message and detail (order ids masked).
CREATE FUNCTION pg_temp.raised(cmd text, OUT code text, OUT slug text, OUT message text, OUT detail text)
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE cmd;
    code := 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE, message = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
    message := regexp_replace(message, 'order [0-9]+', 'order <id>', 'g');
    detail := regexp_replace(detail, 'order [0-9]+', 'order <id>', 'g');
    SELECT e.slug INTO slug FROM topup.error_codes e WHERE e.sqlstate = code;
END $$;

-- The order of a step.
CREATE FUNCTION pg_temp.id(step_name text) RETURNS bigint LANGUAGE sql AS $$
    SELECT order_id FROM names WHERE name = step_name
$$;

-- claim_orders as the owner, remembered in the temp table claims under a
-- label: the orders handed out (by name, in the order returned) with what
-- claim_orders returned, and the order's attempts and lease (lease_until
-- - now(): exact, in the claim's own transaction) as stored.
CREATE TEMP TABLE claims (label text, ord bigint, order_id bigint, status topup.order_status,
                          topup_status topup.topup_status, replayed boolean);
CREATE FUNCTION pg_temp.claim(p_label text, p_channel text, p_max integer DEFAULT 10,
                              p_lease interval DEFAULT NULL, p_client text DEFAULT 't_life')
RETURNS TABLE (claimed text, status topup.order_status, topup_status topup.topup_status,
               replayed boolean, attempts integer, lease interval, next_attempt_at timestamptz)
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO claims
    SELECT p_label, c.ordinality, c.order_id, c.status, c.topup_status, c.replayed
      FROM topup.claim_orders(p_channel, p_max, p_lease, p_client) WITH ORDINALITY AS c;
    RETURN QUERY
    SELECT n.name, c.status, c.topup_status, c.replayed, o.attempts, o.lease_until - now(), o.next_attempt_at
      FROM claims c JOIN names n USING (order_id) JOIN topup.orders o USING (order_id)
     WHERE c.label = p_label ORDER BY c.ord;
END $$;

-- report_order as the owner for the order of a step: what it returned,
-- and as stored: attempts, the backoff (next_attempt_at - now(), exact, in
-- the report's own transaction), whether a lease is left, the provider's
-- reference.
CREATE FUNCTION pg_temp.report(p_name text, p_outcome text, p_reference text DEFAULT NULL,
                               p_slug text DEFAULT NULL, p_message text DEFAULT NULL,
                               p_client text DEFAULT 't_life')
RETURNS TABLE (status topup.order_status, topup_status topup.topup_status, error_slug text,
               error_message text, account_balance_after numeric, replayed boolean,
               attempts integer, backoff interval, leased boolean, provider_reference text,
               completed boolean, failed boolean)
LANGUAGE plpgsql AS $$
DECLARE
    r topup.order_result;
BEGIN
    SELECT * INTO r FROM topup.report_order(pg_temp.id(p_name), p_outcome, p_reference, p_slug, p_message, p_client);
    RETURN QUERY
    SELECT r.status, r.topup_status, r.error_slug, r.error_message, r.account_balance_after, r.replayed,
           o.attempts, o.next_attempt_at - now(), o.lease_until IS NOT NULL, o.provider_reference,
           r.completed_at IS NOT NULL, r.failed_at IS NOT NULL
      FROM topup.orders o WHERE o.order_id = r.order_id;
END $$;

-- The problems verify_ledger() finds, with ids masked.
CREATE TEMP VIEW problems AS
SELECT problem,
       regexp_replace(detail, '(order|entry|funding|top-up|slot) \d+', '\1 N', 'g') AS detail
  FROM topup.verify_ledger()
 ORDER BY 1, 2;

--
-- Fixtures: USD 1 .. 500 with a fee of 0.50 + 2 %; 1000 USD in the master
-- balance (62.50 in each of its 16 slots); GBP with little money; EUR
-- without a pricing rule.
--
SELECT topup.set_pricing('USD', 1, 500, 0.50, 2, 't_life');
SELECT topup.fund_master(1000, 'USD', 'lc-fund-1', 't_life');
SELECT topup.set_pricing('GBP', 1, 100, client_id => 't_life');
SELECT topup.fund_master(5, 'GBP', 'lc-fund-2', 't_life');
SELECT topup.set_pricing('USD', 1, 500, 1, 0, 't_life2');
SELECT topup.fund_master(500, 'USD', 'lc-fund-3', 't_life2');
SELECT count(topup.open_account(a, 'USD', kind => 'card', client_id => 't_life')) AS cards
  FROM unnest(ARRAY['k_inst', 'k1', 'k2', 'k3', 'k4', 'k5', 'k_big', 'k_blk', 'k_cls',
                    'k_dead1', 'k_dead2', 'k_live', 'k_fast', 'k_back', 'k_ver', 'k_sw', 'k_to',
                    'k_role', 'k_trig']) AS a;
SELECT topup.open_account('k_off', 'USD', kind => 'card', active => false,
    customer_info => '{"firstName": "Ann"}', client_id => 't_life');
SELECT topup.open_account('k_off2', 'USD', kind => 'card', active => false, client_id => 't_life');
SELECT topup.open_account('k_eur', 'EUR', kind => 'card', client_id => 't_life');
SELECT topup.open_account('k_gbp', 'GBP', kind => 'card', client_id => 't_life');
SELECT topup.open_account('k_cust', 'USD', kind => 'customer', client_id => 't_life');
SELECT topup.open_account('k2_1', 'USD', kind => 'card', client_id => 't_life2');
UPDATE topup.accounts SET status = 'blocked' WHERE client_id = 't_life' AND account_id = 'k_blk';
UPDATE topup.accounts SET status = 'closed' WHERE client_id = 't_life' AND account_id = 'k_cls';
SELECT client_id, currency, book, count(*) AS slots, sum(balance) AS balance, max(balance) AS max_slot
  FROM topup.balance_slots WHERE client_id IN ('t_life', 't_life2')
 GROUP BY client_id, currency, book ORDER BY 1, 2, 3;
SELECT count(*) AS changes FROM pg_temp.changes();

--
-- 1. set_channel: instant or provider; every bad argument is 22023 and
-- stores nothing; setting a channel again changes it.
--
SELECT pg_temp.try(c) FROM (VALUES
    ($$SELECT topup.set_channel(NULL, 'provider', client_id => 't_life')$$),
    ($$SELECT topup.set_channel('', 'provider', client_id => 't_life')$$),
    ($$SELECT topup.set_channel('lc_bad', 'batch', client_id => 't_life')$$),
    ($$SELECT topup.set_channel('lc_bad', 'Provider', client_id => 't_life')$$),
    ($$SELECT topup.set_channel('lc_bad', '', client_id => 't_life')$$),
    ($$SELECT topup.set_channel('lc_bad', NULL, client_id => 't_life')$$),
    ($$SELECT topup.set_channel('lc_bad', 'provider', '0 seconds', client_id => 't_life')$$),
    ($$SELECT topup.set_channel('lc_bad', 'provider', '-1 second', client_id => 't_life')$$),
    ($$SELECT topup.set_channel('lc_bad', 'provider', NULL, client_id => 't_life')$$),
    ($$SELECT topup.set_channel('lc_bad', 'provider', max_attempts => 0, client_id => 't_life')$$),
    ($$SELECT topup.set_channel('lc_bad', 'provider', max_attempts => -1, client_id => 't_life')$$),
    ($$SELECT topup.set_channel('lc_bad', 'provider', max_attempts => NULL, client_id => 't_life')$$),
    ($$SELECT topup.set_channel('lc_bad', 'provider', client_id => 't_no_such_client')$$),
    ($$SELECT topup.set_channel('lc_bad', 'provider', client_id => NULL)$$)) AS x(c);
SELECT count(*) AS channels FROM topup.channels WHERE client_id IN ('t_life', 't_life2');

SELECT topup.set_channel('lc_inst', 'instant', client_id => 't_life');
SELECT topup.set_channel('lc_prov', 'provider', max_attempts => 3, client_id => 't_life');
SELECT topup.set_channel('lc_prov', 'provider', '1 minute', client_id => 't_life2');
SELECT topup.set_channel('lc_only2', 'provider', client_id => 't_life2');
SELECT topup.set_channel('lc_fast', 'provider', '1 millisecond', 3, 't_life');
SELECT topup.set_channel('lc_back', 'provider', '1 millisecond', 10, 't_life');
SELECT topup.set_channel('lc_dead', 'provider', client_id => 't_life');
SELECT topup.set_channel('lc_switch', 'provider', client_id => 't_life');
SELECT topup.set_channel('lc_to', 'provider', client_id => 't_life');
SELECT topup.set_channel('lc_trig', 'provider', '1 day', client_id => 't_life');
-- set again: the same row, changed
SELECT topup.set_channel('lc_upd', 'provider', '10 seconds', 2, 't_life');
SELECT topup.set_channel('lc_upd', 'instant', '1 minute', 7, 't_life');
SELECT client_id, channel, mode, attempt_timeout, max_attempts FROM topup.channels
 WHERE client_id IN ('t_life', 't_life2') ORDER BY 1, 2;
SELECT topup.set_channel('lc_upd', 'provider', '1 hour', 1, 't_life');
SELECT mode, attempt_timeout, max_attempts FROM topup.channels WHERE client_id = 't_life' AND channel = 'lc_upd';
SELECT * FROM pg_temp.changes();

--
-- 2. Instant channels and top-ups without a channel complete at once, as
-- in v1; so does a channel the client does not have (even one another
-- client has as a provider channel).  Nothing is held, nothing notified.
--
LISTEN topup_orders;
\o | sed -e 's/PID [0-9]*/PID <pid>/'
INSERT INTO res SELECT 'i_none', * FROM topup.topup_card('k_inst', 10, 'i-1', client_id => 't_life');
INSERT INTO res SELECT 'i_inst', * FROM topup.topup_card('k_inst', 10, 'i-2', channel => 'lc_inst', client_id => 't_life');
INSERT INTO res SELECT 'i_unknown', * FROM topup.topup_card('k_inst', 10, 'i-3', channel => 'lc_nowhere', client_id => 't_life');
INSERT INTO res SELECT 'i_other', * FROM topup.topup_card('k_inst', 10, 'i-4', channel => 'lc_only2', client_id => 't_life');
UNLISTEN *;
\o
SELECT :cols FROM res WHERE step LIKE 'i\_%' ORDER BY n;
SELECT * FROM pg_temp.changes();
SELECT n.name, o.channel, o.hold_slot, o.attempts, o.completed_at IS NOT NULL AS completed
  FROM topup.orders o JOIN names n USING (order_id) WHERE n.name LIKE 'i\_%' ORDER BY n.name;
SELECT * FROM topup.verify_ledger();

--
-- 3. A provider-backed topup_card.
--
-- (a) It raises exactly what an instant one raises; nothing is stored.
SELECT r.* FROM (VALUES
    ($$SELECT * FROM topup.topup_card('k1', 10, NULL, channel => 'lc_prov', client_id => 't_life')$$),
    ($$SELECT * FROM topup.topup_card('k1', 10, '', channel => 'lc_prov', client_id => 't_life')$$),
    ($$SELECT * FROM topup.topup_card('k1', 0, 'p-bad', channel => 'lc_prov', client_id => 't_life')$$),
    ($$SELECT * FROM topup.topup_card('k1', 10.001, 'p-bad', channel => 'lc_prov', client_id => 't_life')$$),
    ($$SELECT * FROM topup.topup_card('k1', 10, 'p-bad', entry_type => 'X', channel => 'lc_prov', client_id => 't_life')$$),
    ($$SELECT * FROM topup.topup_card('k1', 10, 'p-bad', customer_info => '{"nickname": "J"}', channel => 'lc_prov', client_id => 't_life')$$),
    ($$SELECT * FROM topup.topup_card('k1', 10, 'p-bad', channel => 'lc_prov', client_id => 't_no_such_client')$$)) AS x(c), LATERAL pg_temp.raised(x.c) AS r;
SELECT * FROM pg_temp.changes();

-- (b) Stored failures, in the contract's order: a failed order, nothing
-- held, no ledger entry, no notification.
LISTEN topup_orders;
\o | sed -e 's/PID [0-9]*/PID <pid>/'
INSERT INTO res SELECT 'f_not_found', * FROM topup.topup_card('nope', 10, 'pf-1', channel => 'lc_prov', client_id => 't_life');
INSERT INTO res SELECT 'f_customer', * FROM topup.topup_card('k_cust', 10, 'pf-2', channel => 'lc_prov', client_id => 't_life');
INSERT INTO res SELECT 'f_currency', * FROM topup.topup_card('k1', 10, 'pf-3', 'EUR', channel => 'lc_prov', client_id => 't_life');
INSERT INTO res SELECT 'f_inactive', * FROM topup.topup_card('k_off2', 10, 'pf-4', channel => 'lc_prov', client_id => 't_life');
INSERT INTO res SELECT 'f_blocked', * FROM topup.topup_card('k_blk', 10, 'pf-5', activate => true, channel => 'lc_prov', client_id => 't_life');
INSERT INTO res SELECT 'f_closed', * FROM topup.topup_card('k_cls', 10, 'pf-6', activate => true, channel => 'lc_prov', client_id => 't_life');
INSERT INTO res SELECT 'f_pricing', * FROM topup.topup_card('k_eur', 10, 'pf-7', channel => 'lc_prov', client_id => 't_life');
INSERT INTO res SELECT 'f_min', * FROM topup.topup_card('k1', 0.99, 'pf-8', channel => 'lc_prov', client_id => 't_life');
INSERT INTO res SELECT 'f_max', * FROM topup.topup_card('k1', 500.01, 'pf-9', channel => 'lc_prov', client_id => 't_life');
INSERT INTO res SELECT 'f_funds', * FROM topup.topup_card('k_gbp', 5.01, 'pf-10', channel => 'lc_prov', client_id => 't_life');
-- replayed on retry, still failed
INSERT INTO res SELECT 'f_blocked_replay', * FROM topup.topup_card('k_blk', 10, 'pf-5', activate => true, channel => 'lc_prov', client_id => 't_life');
UNLISTEN *;
\o
SELECT :cols FROM res WHERE step LIKE 'f\_%' ORDER BY n;
SELECT * FROM pg_temp.changes();
SELECT count(*) AS failed, count(*) FILTER (WHERE o.topup_status = 'failed') AS topup_failed,
       count(*) FILTER (WHERE o.hold_slot IS NULL AND o.attempts IS NULL) AS never_held,
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM topup.ledger l WHERE l.order_id = o.order_id)) AS with_entries
  FROM topup.orders o JOIN names n USING (order_id) WHERE n.name LIKE 'f\_%';
SELECT status, activated_at IS NULL AS never_activated FROM topup.accounts
 WHERE client_id = 't_life' AND account_id = 'k_off2';

-- (c) Success: amount + fee (10 + 0.70) moves from the master balance into
-- the hold; the order is processing, topup_status new, its master balance
-- after the hold; the card is not credited; topup_orders is notified with
-- the channel's name.
LISTEN topup_orders;
\o | sed -e 's/PID [0-9]*/PID <pid>/'
INSERT INTO res SELECT 'p1', * FROM topup.topup_card('k1', 10, 'p-1', channel => 'lc_prov', client_id => 't_life');
-- (a replay notifies nothing, nor does a top-up rolled back)
SELECT replayed FROM topup.topup_card('k1', 10, 'p-1', channel => 'lc_prov', client_id => 't_life');
BEGIN;
SELECT status FROM topup.topup_card('k2', 10, 'p-rolled-back', channel => 'lc_prov', client_id => 't_life');
ROLLBACK;
UNLISTEN *;
\o
SELECT :cols FROM res WHERE step = 'p1';
SELECT * FROM pg_temp.changes();
SELECT master_balance_before - master_balance_after AS held, completed_at, failed_at,
       reference ~ '^TU[0-9A-Z]{20}$' AS reference_ok
  FROM res WHERE step = 'p1';
SELECT client_id, currency, balance FROM topup.master_balances WHERE client_id = 't_life' ORDER BY currency;
SELECT client_id, currency, balance FROM topup.hold_balances WHERE client_id = 't_life' ORDER BY currency;
SELECT client_id, currency, balance FROM topup.fee_balances WHERE client_id = 't_life' ORDER BY currency;
-- its entries: master -> hold; the master entry's balance is the order's balance after
SELECT l.book, l.account_id, l.currency, l.amount, l.balance_after = r.master_balance_after AS balance_is_order_after,
       l.balance_after IS NULL AS no_balance
  FROM topup.ledger l JOIN res r USING (order_id) WHERE r.step = 'p1' ORDER BY l.entry_id;
-- held in the hold slot of the master slot charged, nothing else pending
SELECT o.status, o.topup_status, o.channel, o.attempts, o.lease_until, o.next_attempt_at,
       o.provider_reference, o.card_activated,
       (SELECT s.balance FROM topup.balance_slots s
         WHERE s.client_id = o.client_id AND s.currency = o.currency AND s.book = 'hold'
           AND s.slot = o.hold_slot) AS hold_slot_balance
  FROM topup.orders o WHERE o.order_id = pg_temp.id('p1');
SELECT e.kind, e.account_id, e.payload - 'reference' AS payload
  FROM topup.events e WHERE e.order_id = pg_temp.id('p1');
SELECT * FROM topup.verify_ledger();

-- (d) activate: the card is activated (and its customer info merged) now,
-- but credited only when the top-up completes.
INSERT INTO res SELECT 'p_act', * FROM topup.topup_card('k_off', 20, 'p-act', activate => true,
    customer_info => '{"lastName": "Lee"}', channel => 'lc_prov', client_id => 't_life')
RETURNING :cols;
SELECT * FROM pg_temp.changes();
SELECT status, balance, activated_at IS NOT NULL AS activated, customer_info FROM topup.accounts
 WHERE client_id = 't_life' AND account_id = 'k_off';
SELECT card_activated FROM topup.orders WHERE order_id = pg_temp.id('p_act');

-- (e) A hold larger than any master slot (62.50 each at most): the slow
-- path gathers the balance, and the whole of amount + fee is held in one
-- hold slot.
SELECT max(balance) AS largest_master_slot FROM topup.balance_slots
 WHERE client_id = 't_life' AND currency = 'USD' AND book = 'master';
INSERT INTO res SELECT 'p_big', * FROM topup.topup_card('k_big', 100, 'p-big', channel => 'lc_prov', client_id => 't_life')
RETURNING :cols;
SELECT * FROM pg_temp.changes();
SELECT s.balance >= 102.50 AS held_in_its_slot FROM topup.orders o JOIN topup.balance_slots s
    ON s.client_id = o.client_id AND s.currency = o.currency AND s.book = 'hold' AND s.slot = o.hold_slot
 WHERE o.order_id = pg_temp.id('p_big');
SELECT * FROM topup.verify_ledger();

-- (f) Idempotency: the same key returns the order as it now stands
-- (replayed), moving nothing; other parameters raise idempotency_key_reused.
INSERT INTO res SELECT 'p1_replay', * FROM topup.topup_card('k1', 10.00, 'p-1', channel => 'lc_prov', client_id => 't_life')
RETURNING :cols;
SELECT a.order_id = b.order_id AS same_order, a.reference = b.reference AS same_reference
  FROM res a, res b WHERE a.step = 'p1' AND b.step = 'p1_replay';
SELECT r.* FROM (VALUES
    ($$SELECT * FROM topup.topup_card('k1', 11, 'p-1', channel => 'lc_prov', client_id => 't_life')$$),
    ($$SELECT * FROM topup.topup_card('k1', 10, 'p-1', channel => 'lc_inst', client_id => 't_life')$$),
    ($$SELECT * FROM topup.topup_card('k1', 10, 'p-1', client_id => 't_life')$$),
    ($$SELECT * FROM topup.topup_card('k2', 10, 'p-1', channel => 'lc_prov', client_id => 't_life')$$),
    ($$SELECT * FROM topup.topup_card('k1', 10, 'p-1', activate => true, channel => 'lc_prov', client_id => 't_life')$$)) AS x(c), LATERAL pg_temp.raised(x.c) AS r;
SELECT * FROM pg_temp.changes();

--
-- 4. claim_orders.
--
-- (a) Bad arguments (22023), a client that does not exist (22023), a
-- channel that none of the clients has (unknown_channel, TU023).
SELECT r.* FROM (VALUES
    ($$SELECT * FROM topup.claim_orders(NULL, client_id => 't_life')$$),
    ($$SELECT * FROM topup.claim_orders('lc_prov', 0, client_id => 't_life')$$),
    ($$SELECT * FROM topup.claim_orders('lc_prov', NULL, client_id => 't_life')$$),
    ($$SELECT * FROM topup.claim_orders('lc_prov', lease => '0 seconds', client_id => 't_life')$$),
    ($$SELECT * FROM topup.claim_orders('lc_prov', lease => '-1 second', client_id => 't_life')$$),
    ($$SELECT * FROM topup.claim_orders('lc_prov', client_id => 't_no_such_client')$$),
    ($$SELECT * FROM topup.claim_orders('lc_nowhere', client_id => 't_life')$$),
    ($$SELECT * FROM topup.claim_orders('lc_nowhere')$$),
    ($$SELECT * FROM topup.claim_orders('lc_only2', client_id => 't_life')$$)) AS x(c), LATERAL pg_temp.raised(x.c) AS r;
-- a channel of the client with nothing due: no rows (instant channels too)
SELECT * FROM pg_temp.claim('none_only2', 'lc_only2', p_client => 't_life2');
SELECT * FROM pg_temp.claim('none_inst', 'lc_inst');
SELECT * FROM pg_temp.changes();

-- (b) More orders on lc_prov, of both clients, in this order: p1, p_act,
-- p_big (above), p3, q1, q2, p2.  A claim for t_life takes its oldest
-- first, up to max_orders; each becomes provider_in_progress, its attempts
-- counted, leased for the channel's attempt_timeout (t_life's 30 seconds).
INSERT INTO res SELECT 'p3', * FROM topup.topup_card('k3', 10, 'p-3', channel => 'lc_prov', client_id => 't_life')
RETURNING step, status, topup_status;
INSERT INTO res SELECT 'q1', * FROM topup.topup_card('k2_1', 10, 'q-1', channel => 'lc_prov', client_id => 't_life2')
RETURNING step, status, topup_status, fee;
INSERT INTO res SELECT 'q2', * FROM topup.topup_card('k2_1', 20, 'q-2', channel => 'lc_prov', client_id => 't_life2')
RETURNING step, status, topup_status, fee;
INSERT INTO res SELECT 'p2', * FROM topup.topup_card('k2', 10, 'p-2', channel => 'lc_prov', client_id => 't_life')
RETURNING step, status, topup_status;
SELECT * FROM pg_temp.changes();
SELECT * FROM pg_temp.claim('c1', 'lc_prov', 2);
SELECT * FROM pg_temp.changes();
-- claimed orders are not handed out again: the next one
SELECT * FROM pg_temp.claim('c2', 'lc_prov', 1);
-- an explicit lease instead of the channel's
SELECT * FROM pg_temp.claim('c3', 'lc_prov', 1, '1 day');
-- with no client: every client the owner may act for (all), oldest first,
-- each leased for its own client's channel (t_life2's: 1 minute)
SELECT * FROM pg_temp.claim('c4', 'lc_prov', 10, NULL, NULL);
-- nothing left
SELECT * FROM pg_temp.claim('c5', 'lc_prov', 10, NULL, NULL);
SELECT * FROM pg_temp.claim('c6', 'lc_prov', 10, NULL, 't_life2');
-- what claim_orders returned is the order as stored (topup_status,
-- replayed false, the other columns as check_order has them)
SELECT count(*) AS claimed, count(DISTINCT c.order_id) AS distinct_orders,
       bool_and((c.status, c.topup_status) = (k.status, k.topup_status) AND NOT c.replayed) AS as_stored
  FROM claims c JOIN topup.orders o USING (order_id),
       LATERAL topup.check_order(c.order_id, o.client_id) k;
-- a replay of the top-up shows the claimed order as it now stands
INSERT INTO res SELECT 'p1_replay_claimed', * FROM topup.topup_card('k1', 10, 'p-1', channel => 'lc_prov', client_id => 't_life')
RETURNING :cols;
SELECT * FROM pg_temp.changes();
SELECT * FROM topup.verify_ledger();

--
-- 5. report_order.
--
-- (a) Arguments: an unknown outcome or a malformed provider slug is 22023;
-- an unknown order, one of another client, or none at all, order_not_found;
-- nothing changes.
SELECT pg_temp.id('p1') AS p1_id \gset
SELECT pg_temp.id('q1') AS q1_id \gset
SELECT r.* FROM (VALUES
    (format($$SELECT * FROM topup.report_order(%s, 'done', client_id => 't_life')$$, :p1_id)),
    (format($$SELECT * FROM topup.report_order(%s, 'COMPLETED', client_id => 't_life')$$, :p1_id)),
    (format($$SELECT * FROM topup.report_order(%s, '', client_id => 't_life')$$, :p1_id)),
    (format($$SELECT * FROM topup.report_order(%s, NULL, client_id => 't_life')$$, :p1_id)),
    (format($$SELECT * FROM topup.report_order(%s, 'failed', error_slug => 'Card_limit', client_id => 't_life')$$, :p1_id)),
    (format($$SELECT * FROM topup.report_order(%s, 'failed', error_slug => '1card', client_id => 't_life')$$, :p1_id)),
    (format($$SELECT * FROM topup.report_order(%s, 'failed', error_slug => '_card', client_id => 't_life')$$, :p1_id)),
    (format($$SELECT * FROM topup.report_order(%s, 'failed', error_slug => 'card-limit', client_id => 't_life')$$, :p1_id)),
    (format($$SELECT * FROM topup.report_order(%s, 'failed', error_slug => 'card limit', client_id => 't_life')$$, :p1_id)),
    (format($$SELECT * FROM topup.report_order(%s, 'failed', error_slug => 'carte_refusée', client_id => 't_life')$$, :p1_id)),
    (format($$SELECT * FROM topup.report_order(%s, 'failed', error_slug => '', client_id => 't_life')$$, :p1_id)),
    (format($$SELECT * FROM topup.report_order(%s, 'failed', error_slug => 'a' || repeat('b', 63), client_id => 't_life')$$, :p1_id)),
    (format($$SELECT * FROM topup.report_order(%s, 'error', error_slug => 'Timeout', client_id => 't_life')$$, :p1_id)),
    ($$SELECT * FROM topup.report_order(-1, 'completed', client_id => 't_life')$$),
    ($$SELECT * FROM topup.report_order(NULL, 'completed', client_id => 't_life')$$),
    (format($$SELECT * FROM topup.report_order(%s, 'completed', client_id => 't_life')$$, :q1_id)),
    (format($$SELECT * FROM topup.report_order(%s, 'completed', client_id => 't_no_such_client')$$, :p1_id)),
    (format($$SELECT * FROM topup.report_order(%s, 'completed', client_id => NULL)$$, :p1_id))) AS x(c), LATERAL pg_temp.raised(x.c) AS r;
SELECT * FROM pg_temp.changes();

-- Orders that are not provider-backed (an instant top-up, a top-up refused
-- in its call) are not reported: 23514, whatever the outcome; nothing changes.
SELECT min(order_id) FILTER (WHERE status = 'completed') AS inst_id,
       min(order_id) FILTER (WHERE status = 'failed') AS refused_id
  FROM topup.orders WHERE client_id = 't_life' AND order_type = 'card_topup' AND attempts IS NULL \gset
SELECT r.* FROM (VALUES
    (format($$SELECT * FROM topup.report_order(%s, 'completed', client_id => 't_life')$$, :inst_id)),
    (format($$SELECT * FROM topup.report_order(%s, 'failed', client_id => 't_life')$$, :inst_id)),
    (format($$SELECT * FROM topup.report_order(%s, 'failed', client_id => 't_life')$$, :refused_id)),
    (format($$SELECT * FROM topup.report_order(%s, 'unknown', client_id => 't_life')$$, :refused_id))) AS x(c),
  LATERAL pg_temp.raised(x.c) AS r;
SELECT * FROM pg_temp.changes();

-- (b) completed: hold -> card (amount) and fee account (fee); the
-- provider's reference is kept.
SELECT * FROM pg_temp.report('p1', 'completed', 'PRV-p1');
SELECT * FROM pg_temp.changes();
SELECT l.book, l.account_id, l.amount, l.balance_after FROM topup.ledger l
 WHERE l.order_id = pg_temp.id('p1') ORDER BY l.entry_id;
SELECT kind, payload ->> 'status' AS status, payload ->> 'topup_status' AS topup_status
  FROM topup.events WHERE order_id = pg_temp.id('p1') ORDER BY at, kind;
SELECT status, topup_status, account_balance_after, completed_at IS NOT NULL AS completed, replayed
  FROM topup.check_order(pg_temp.id('p1'), 't_life');
-- the same outcome again: the order as it is, replayed; nothing moves (a
-- new provider reference is not taken either)
SELECT * FROM pg_temp.report('p1', 'completed');
SELECT * FROM pg_temp.report('p1', 'completed', 'PRV-other');
-- a contradicting report: order_already_final (TU022), nothing changes
SELECT r.* FROM (VALUES
    ($$SELECT * FROM pg_temp.report('p1', 'failed')$$),
    ($$SELECT * FROM pg_temp.report('p1', 'failed', p_slug => 'card_limit')$$),
    ($$SELECT * FROM pg_temp.report('p1', 'error')$$),
    ($$SELECT * FROM pg_temp.report('p1', 'unknown')$$)) AS x(c), LATERAL pg_temp.raised(x.c) AS r;
SELECT * FROM pg_temp.changes();
-- the top-up's replay shows it completed
INSERT INTO res SELECT 'p1_replay_completed', * FROM topup.topup_card('k1', 10, 'p-1', channel => 'lc_prov', client_id => 't_life')
RETURNING :cols;

-- (c) failed: hold -> master, the whole amount + fee back; slug
-- provider_declined unless the provider gives its own (not listed in
-- topup.error_codes).
SELECT * FROM pg_temp.report('p_act', 'failed');
SELECT * FROM pg_temp.changes();
SELECT l.book, l.amount, l.balance_after FROM topup.ledger l
 WHERE l.order_id = pg_temp.id('p_act') ORDER BY l.entry_id;
SELECT * FROM pg_temp.report('p_big', 'failed', 'PRV-big', 'card_limit_exceeded', 'over the monthly limit');
SELECT * FROM pg_temp.changes();
SELECT count(*) AS listed FROM topup.error_codes WHERE slug = 'card_limit_exceeded';
SELECT slug, sqlstate FROM topup.error_codes WHERE slug IN ('provider_declined', 'provider_unavailable',
    'order_already_final', 'unknown_channel') ORDER BY sqlstate;
-- the longest slug allowed: 63 characters
SELECT length(error_slug) AS slug_length, status
  FROM pg_temp.report('p2', 'failed', p_slug => 'a' || repeat('b', 62));
SELECT * FROM pg_temp.changes();
-- the same outcome again is a replay, whatever slug it brings; another is refused
SELECT status, error_slug, replayed FROM pg_temp.report('p_big', 'failed');
SELECT status, error_slug, replayed FROM pg_temp.report('p_big', 'failed', p_slug => 'other_reason');
SELECT r.* FROM (VALUES
    ($$SELECT * FROM pg_temp.report('p_big', 'completed')$$),
    ($$SELECT * FROM pg_temp.report('p_big', 'error')$$),
    ($$SELECT * FROM pg_temp.report('p_big', 'unknown')$$)) AS x(c), LATERAL pg_temp.raised(x.c) AS r;
SELECT * FROM pg_temp.changes();
SELECT n.name, e.kind, e.payload ->> 'error_slug' AS error_slug
  FROM topup.events e JOIN names n USING (order_id)
 WHERE n.name IN ('p_act', 'p_big') ORDER BY n.name, e.at, e.kind;
-- the card activated by p_act stays active, with nothing on it
SELECT status, balance FROM topup.accounts WHERE client_id = 't_life' AND account_id = 'k_off';
SELECT * FROM topup.verify_ledger();

-- (d) The other client's orders, reported for it.
SELECT status, topup_status, account_balance_after FROM pg_temp.report('q1', 'completed', p_client => 't_life2');
SELECT status, topup_status, error_slug FROM pg_temp.report('q2', 'failed', p_client => 't_life2');
SELECT * FROM pg_temp.changes();

-- (e) A report on an order that no worker holds: the orders trigger
-- refuses the move (23514), nothing changes.
INSERT INTO res SELECT 'p4', * FROM topup.topup_card('k4', 10, 'p-4', channel => 'lc_prov', client_id => 't_life')
RETURNING step, status, topup_status;
SELECT * FROM pg_temp.changes();
SELECT pg_temp.try(format($$SELECT * FROM pg_temp.report('p4', %L)$$, o))
  FROM unnest(ARRAY['completed', 'failed', 'error', 'unknown']) AS o;
SELECT status, topup_status, attempts FROM topup.orders WHERE order_id = pg_temp.id('p4');
SELECT * FROM pg_temp.changes();

-- (f) error: a transient error before the provider took the top-up.
-- provider_in_progress_error, no lease, claimable again after
-- attempt_timeout * 2^(attempts - 1): here 30 seconds * 2^0.
SELECT * FROM pg_temp.claim('c7', 'lc_prov', 1);
BEGIN;
SELECT * FROM pg_temp.report('p4', 'error', p_slug => 'gateway_timeout', p_message => 'no answer in 10 s');
-- not due yet: not handed out
SELECT * FROM pg_temp.claim('c8', 'lc_prov');
COMMIT;
SELECT * FROM pg_temp.changes();
SELECT next_attempt_at AS p4_next FROM topup.orders WHERE order_id = pg_temp.id('p4') \gset
-- the same report again: the order as it is (its backoff unchanged)
SELECT topup_status, replayed, attempts FROM pg_temp.report('p4', 'error');
SELECT next_attempt_at = :'p4_next' AS from_first_report FROM topup.orders WHERE order_id = pg_temp.id('p4');
-- a report that makes no move from there: refused by the orders trigger
SELECT pg_temp.try($$SELECT * FROM pg_temp.report('p4', 'unknown')$$);
SELECT pg_temp.try($$SELECT * FROM pg_temp.report('p4', 'completed')$$);
-- failed from there: refunded
SELECT status, topup_status, error_slug, error_message FROM pg_temp.report('p4', 'failed');
SELECT * FROM pg_temp.changes();
SELECT * FROM topup.verify_ledger();

-- (g) The backoff, exactly: attempt_timeout * 2^(attempts - 1), at most
-- one hour, with the channel's attempt_timeout at the time of the report
-- (lc_back: 1 millisecond, 10 attempts).  Each retry is claimable once
-- its backoff ran out, not before.
INSERT INTO res SELECT 'b1', * FROM topup.topup_card('k_back', 10, 'b-1', channel => 'lc_back', client_id => 't_life')
RETURNING step, status, topup_status;
SELECT claimed, topup_status, attempts FROM pg_temp.claim('b_c1', 'lc_back');
BEGIN;
SELECT topup_status, attempts, backoff FROM pg_temp.report('b1', 'error');
SELECT claimed, topup_status, attempts FROM pg_temp.claim('b_c2a', 'lc_back');
COMMIT;
SELECT pg_sleep(0.05);
SELECT claimed, topup_status, attempts FROM pg_temp.claim('b_c2', 'lc_back');
BEGIN;
SELECT topup_status, attempts, backoff FROM pg_temp.report('b1', 'error');
SELECT claimed, topup_status, attempts FROM pg_temp.claim('b_c3a', 'lc_back');
COMMIT;
SELECT pg_sleep(0.05);
SELECT claimed, topup_status, attempts FROM pg_temp.claim('b_c3', 'lc_back');
-- at attempts 3: 2^2 times the channel's attempt_timeout as it is when reporting
BEGIN;
SELECT topup.set_channel('lc_back', 'provider', '10 minutes', 10, 't_life');
SELECT topup_status, attempts, backoff FROM pg_temp.report('b1', 'error');
ROLLBACK;
BEGIN;
SELECT topup.set_channel('lc_back', 'provider', '15 minutes', 10, 't_life');
SELECT topup_status, attempts, backoff FROM pg_temp.report('b1', 'error');
ROLLBACK;
BEGIN;
SELECT topup.set_channel('lc_back', 'provider', '20 minutes', 10, 't_life');
SELECT topup_status, attempts, backoff FROM pg_temp.report('b1', 'error');
ROLLBACK;
BEGIN;
SELECT topup.set_channel('lc_back', 'provider', '1 day', 10, 't_life');
SELECT topup_status, attempts, backoff FROM pg_temp.report('b1', 'error');
ROLLBACK;
BEGIN;
SELECT topup_status, attempts, backoff FROM pg_temp.report('b1', 'error');
SELECT claimed, topup_status, attempts FROM pg_temp.claim('b_c4a', 'lc_back');
COMMIT;
SELECT pg_sleep(0.05);
SELECT claimed, topup_status, attempts FROM pg_temp.claim('b_c4', 'lc_back');
SELECT topup_status, attempts, backoff FROM pg_temp.report('b1', 'error');
SELECT pg_sleep(0.05);
SELECT claimed, topup_status, attempts FROM pg_temp.claim('b_c5', 'lc_back');
-- in doubt: the same backoff; claimed again to verify, it stays in doubt
BEGIN;
SELECT topup_status, attempts, backoff FROM pg_temp.report('b1', 'unknown');
SELECT claimed, topup_status, attempts FROM pg_temp.claim('b_c6a', 'lc_back');
COMMIT;
SELECT pg_sleep(0.05);
SELECT claimed, topup_status, attempts FROM pg_temp.claim('b_c6', 'lc_back');
BEGIN;
SELECT topup_status, attempts, backoff FROM pg_temp.report('b1', 'error');
SELECT claimed, topup_status, attempts FROM pg_temp.claim('b_c7a', 'lc_back');
COMMIT;
SELECT pg_sleep(0.05);
SELECT claimed, topup_status, attempts FROM pg_temp.claim('b_c7', 'lc_back');
SELECT status, topup_status, account_balance_after, replayed FROM pg_temp.report('b1', 'completed', 'PRV-b1');
SELECT * FROM pg_temp.changes();
SELECT * FROM topup.verify_ledger();

-- (h) The report that uses up max_attempts (lc_fast: 3) fails the order at
-- once as provider_unavailable and refunds it.
INSERT INTO res SELECT 'm1', * FROM topup.topup_card('k_fast', 10, 'm-1', channel => 'lc_fast', client_id => 't_life')
RETURNING step, status, topup_status;
SELECT * FROM pg_temp.changes();
SELECT claimed, topup_status, attempts FROM pg_temp.claim('m_c1', 'lc_fast', p_lease => '1 hour');
SELECT status, topup_status, error_slug, attempts FROM pg_temp.report('m1', 'error');
SELECT pg_sleep(0.05);
SELECT claimed, topup_status, attempts FROM pg_temp.claim('m_c2', 'lc_fast', p_lease => '1 hour');
SELECT status, topup_status, error_slug, attempts FROM pg_temp.report('m1', 'error');
SELECT pg_sleep(0.05);
SELECT claimed, topup_status, attempts FROM pg_temp.claim('m_c3', 'lc_fast', p_lease => '1 hour');
SELECT * FROM pg_temp.report('m1', 'error', p_slug => 'gateway_timeout');
SELECT * FROM pg_temp.changes();
SELECT l.book, l.amount FROM topup.ledger l WHERE l.order_id = pg_temp.id('m1') ORDER BY l.entry_id;
SELECT * FROM pg_temp.raised($$SELECT * FROM pg_temp.report('m1', 'completed')$$);
SELECT status, error_slug, replayed FROM pg_temp.report('m1', 'failed');
-- a channel's max_attempts changed meanwhile counts for the next report
INSERT INTO res SELECT 'm2', * FROM topup.topup_card('k_fast', 10, 'm-2', channel => 'lc_fast', client_id => 't_life')
RETURNING step, status, topup_status;
SELECT claimed, topup_status, attempts FROM pg_temp.claim('m_c4', 'lc_fast', p_lease => '1 hour');
SELECT topup.set_channel('lc_fast', 'provider', '1 millisecond', 1, 't_life');
SELECT status, topup_status, error_slug, error_message, attempts FROM pg_temp.report('m2', 'error', p_message => 'gateway down');
SELECT topup.set_channel('lc_fast', 'provider', '1 millisecond', 3, 't_life');
SELECT * FROM pg_temp.changes();
SELECT * FROM topup.verify_ledger();

-- (i) unknown: in doubt (provider_verification), claimable after the same
-- backoff; the claim that verifies keeps it provider_verification; errors
-- while verifying are provider_verification_error, retried the same way
-- and never failed automatically, however many attempts (lc_fast allows 3).
INSERT INTO res SELECT 'v1', * FROM topup.topup_card('k_ver', 10, 'v-1', channel => 'lc_fast', client_id => 't_life')
RETURNING step, status, topup_status;
INSERT INTO res SELECT 'v2', * FROM topup.topup_card('k_ver', 20, 'v-2', channel => 'lc_fast', client_id => 't_life')
RETURNING step, status, topup_status;
SELECT claimed, topup_status, attempts FROM pg_temp.claim('v_c1', 'lc_fast', p_lease => '1 hour');
SELECT topup_status, attempts, backoff, leased FROM pg_temp.report('v1', 'unknown', 'PRV-v1');
SELECT topup_status, attempts, backoff, leased FROM pg_temp.report('v2', 'unknown');
SELECT pg_sleep(0.05);
SELECT claimed, topup_status, attempts FROM pg_temp.claim('v_c2', 'lc_fast', p_lease => '1 hour');
SELECT topup_status, attempts, backoff, provider_reference FROM pg_temp.report('v1', 'error');
SELECT topup_status, attempts, backoff FROM pg_temp.report('v2', 'unknown');
SELECT pg_sleep(0.05);
SELECT claimed, topup_status, attempts FROM pg_temp.claim('v_c3', 'lc_fast', p_lease => '1 hour');
SELECT status, topup_status, attempts, backoff FROM pg_temp.report('v1', 'error');
SELECT status, topup_status, attempts, backoff FROM pg_temp.report('v2', 'error');
SELECT pg_sleep(0.05);
SELECT claimed, topup_status, attempts FROM pg_temp.claim('v_c4', 'lc_fast', p_lease => '1 hour');
SELECT status, topup_status, attempts, backoff FROM pg_temp.report('v1', 'error');
SELECT status, topup_status, attempts, backoff FROM pg_temp.report('v2', 'error');
SELECT * FROM pg_temp.changes();
-- a verification error waits for a report: completed (even without a new
-- claim), or failed and refunded
SELECT status, topup_status, account_balance_after, provider_reference FROM pg_temp.report('v1', 'completed');
SELECT status, topup_status, error_slug FROM pg_temp.report('v2', 'failed', p_slug => 'not_applied');
SELECT * FROM pg_temp.changes();
SELECT * FROM topup.verify_ledger();

--
-- 6. Leases and their timeouts: a lease that runs out without a report
-- puts a provider_in_progress order in doubt (provider_verification,
-- claimable at once; never failed); a verification lease that runs out
-- needs nothing, the order is simply claimable again.
-- topup._order_timeouts() returns how many it put in doubt; CALL
-- topup.run_order_timeouts() runs it.
--
INSERT INTO res SELECT 't1', * FROM topup.topup_card('k_to', 10, 't-1', channel => 'lc_to', client_id => 't_life')
RETURNING step, status, topup_status;
INSERT INTO res SELECT 't2', * FROM topup.topup_card('k_to', 11, 't-2', channel => 'lc_to', client_id => 't_life')
RETURNING step, status, topup_status;
SELECT * FROM pg_temp.changes();
-- t1 under a lease of a millisecond: within the claim's transaction it
-- has not run out
BEGIN;
SELECT claimed, topup_status, attempts, lease FROM pg_temp.claim('t_c1', 'lc_to', 1, '1 millisecond');
SELECT topup._order_timeouts() AS in_doubt;
COMMIT;
-- t2 under a lease of a day
SELECT claimed, topup_status, attempts, lease FROM pg_temp.claim('t_c2', 'lc_to', 1, '1 day');
SELECT pg_sleep(0.05);
-- t1's lease ran out: it is not handed out again by itself ...
SELECT * FROM pg_temp.claim('t_c3', 'lc_to', 10, NULL, NULL);
-- ... the timeouts put it in doubt, claimable at once (notified); t2 keeps
-- its lease; no money moves
LISTEN topup_orders;
\o | sed -e 's/PID [0-9]*/PID <pid>/'
SELECT topup._order_timeouts() AS in_doubt;
UNLISTEN *;
\o
SELECT n.name, o.status, o.topup_status, o.attempts, o.lease_until IS NULL AS no_lease,
       o.next_attempt_at <= now() AS due
  FROM topup.orders o JOIN names n USING (order_id) WHERE n.name IN ('t1', 't2') ORDER BY n.name;
SELECT * FROM pg_temp.changes();
SELECT topup._order_timeouts() AS in_doubt_again;
-- claimed to verify, under a lease of a millisecond: not handed out again
-- while it runs (same transaction) ...
BEGIN;
SELECT claimed, topup_status, attempts, lease FROM pg_temp.claim('t_c4', 'lc_to', 1, '1 millisecond');
SELECT claimed, topup_status, attempts FROM pg_temp.claim('t_c5a', 'lc_to');
COMMIT;
SELECT pg_sleep(0.05);
-- ... once it ran out, the timeouts leave it as it is: it is claimable again
SELECT topup._order_timeouts() AS in_doubt;
BEGIN;
SELECT claimed, topup_status, attempts, lease FROM pg_temp.claim('t_c5', 'lc_to');
-- under the channel's lease of 30 seconds now: not handed out
SELECT * FROM pg_temp.claim('t_c6', 'lc_to', 10, NULL, NULL);
COMMIT;
-- CALL topup.run_order_timeouts(): t3 in doubt after a short lease
INSERT INTO res SELECT 't3', * FROM topup.topup_card('k_to', 12, 't-3', channel => 'lc_to', client_id => 't_life')
RETURNING step, status, topup_status;
SELECT claimed, topup_status, attempts FROM pg_temp.claim('t_c7', 'lc_to', 10, '1 millisecond');
SELECT pg_sleep(0.05);
LISTEN topup_orders;
\o | sed -e 's/PID [0-9]*/PID <pid>/'
CALL topup.run_order_timeouts();
UNLISTEN *;
\o
SELECT n.name, o.status, o.topup_status, o.attempts, o.lease_until IS NULL AS no_lease,
       o.next_attempt_at <= now() AS due
  FROM topup.orders o JOIN names n USING (order_id) WHERE n.name IN ('t1', 't2', 't3') ORDER BY n.name;
SELECT * FROM pg_temp.changes();
-- reported as ever: from provider_verification and from provider_in_progress
SELECT status, topup_status FROM pg_temp.report('t1', 'completed');
SELECT status, topup_status FROM pg_temp.report('t2', 'completed');
SELECT claimed, topup_status, attempts FROM pg_temp.claim('t_c8', 'lc_to');
SELECT status, topup_status, error_slug FROM pg_temp.report('t3', 'failed');
SELECT * FROM pg_temp.changes();
SELECT * FROM topup.verify_ledger();

--
-- 7. Orders whose card was blocked or closed while they waited are not
-- handed over: the claim fails them (new -> new_error -> failed,
-- card_not_active) and refunds them; the live order after them is claimed
-- in their stead (max_orders 1: one live order, not none).
--
INSERT INTO res SELECT 'd1', * FROM topup.topup_card('k_dead1', 10, 'd-1', channel => 'lc_dead', client_id => 't_life')
RETURNING step, status, topup_status;
INSERT INTO res SELECT 'd2', * FROM topup.topup_card('k_dead2', 20, 'd-2', channel => 'lc_dead', client_id => 't_life')
RETURNING step, status, topup_status;
INSERT INTO res SELECT 'd3', * FROM topup.topup_card('k_live', 30, 'd-3', channel => 'lc_dead', client_id => 't_life')
RETURNING step, status, topup_status;
INSERT INTO res SELECT 'd4', * FROM topup.topup_card('k_live', 40, 'd-4', channel => 'lc_dead', client_id => 't_life')
RETURNING step, status, topup_status;
UPDATE topup.accounts SET status = 'blocked' WHERE client_id = 't_life' AND account_id = 'k_dead1';
UPDATE topup.accounts SET status = 'closed' WHERE client_id = 't_life' AND account_id = 'k_dead2';
SELECT * FROM pg_temp.changes();
SELECT * FROM pg_temp.claim('d_c1', 'lc_dead', 1);
SELECT * FROM pg_temp.changes();
SELECT n.name, o.status, o.topup_status, o.error_slug, o.error_message, o.failed_at IS NOT NULL AS failed,
       o.attempts, o.lease_until
  FROM topup.orders o JOIN names n USING (order_id) WHERE n.name IN ('d1', 'd2') ORDER BY n.name;
SELECT n.name, l.book, l.amount FROM topup.ledger l JOIN names n USING (order_id)
 WHERE n.name IN ('d1', 'd2') ORDER BY n.name, l.entry_id;
SELECT n.name, e.kind, e.payload ->> 'error_slug' AS error_slug
  FROM topup.events e JOIN names n USING (order_id) WHERE n.name IN ('d1', 'd2') ORDER BY n.name, e.at, e.kind;
-- their top-ups replay failed; a report contradicts them
INSERT INTO res SELECT 'd1_replay', * FROM topup.topup_card('k_dead1', 10, 'd-1', channel => 'lc_dead', client_id => 't_life')
RETURNING :cols;
SELECT * FROM pg_temp.raised($$SELECT * FROM pg_temp.report('d1', 'completed')$$);
-- the next live one, then nothing else due
SELECT * FROM pg_temp.claim('d_c2', 'lc_dead');
SELECT * FROM pg_temp.claim('d_c3', 'lc_dead');
SELECT status, topup_status FROM pg_temp.report('d3', 'completed');
SELECT status, topup_status FROM pg_temp.report('d4', 'completed');
SELECT * FROM pg_temp.changes();
SELECT * FROM topup.verify_ledger();

--
-- 8. A channel that became instant: later top-ups on it complete at once;
-- the orders it already holds are still claimed and reported through it.
--
INSERT INTO res SELECT 's1', * FROM topup.topup_card('k_sw', 10, 's-1', channel => 'lc_switch', client_id => 't_life')
RETURNING step, status, topup_status;
SELECT topup.set_channel('lc_switch', 'instant', client_id => 't_life');
INSERT INTO res SELECT 's2', * FROM topup.topup_card('k_sw', 10, 's-2', channel => 'lc_switch', client_id => 't_life')
RETURNING step, status, topup_status, account_balance_after;
SELECT * FROM pg_temp.changes();
SELECT claimed, topup_status, attempts, lease FROM pg_temp.claim('s_c1', 'lc_switch');
SELECT topup_status, backoff FROM pg_temp.report('s1', 'error');
SELECT status, topup_status, account_balance_after FROM pg_temp.report('s1', 'failed');
SELECT * FROM pg_temp.changes();
SELECT * FROM pg_temp.claim('s_c2', 'lc_switch');
SELECT * FROM topup.verify_ledger();

--
-- 9. order_json: topup_status, and data.attempts, data.provider_reference,
-- data.reverses_order_id (JSON null where absent).
--
SELECT n.name, d ->> 'status' AS status, d ->> 'topup_status' AS topup_status,
       d -> 'data' -> 'attempts' AS attempts, d -> 'data' -> 'provider_reference' AS provider_reference,
       d -> 'data' -> 'reverses_order_id' AS reverses_order_id,
       jsonb_typeof(d -> 'data' -> 'attempts') AS attempts_type,
       d ->> 'last_error_slug' AS last_error_slug, d #>> '{data,channel}' AS channel,
       (d ->> 'balance_before')::numeric - (d ->> 'balance_after')::numeric AS charged
  FROM names n, LATERAL topup.order_json(n.order_id, 't_life') AS d
 WHERE n.name IN ('i_none', 'f_closed', 'p1', 'p3', 'p4', 'b1', 't3')
 ORDER BY n.name;
SELECT array_agg(k ORDER BY k) AS data_keys
  FROM jsonb_object_keys(topup.order_json(pg_temp.id('p3'), 't_life') -> 'data') AS k;

--
-- 10. The orders trigger enforces the topup_status moves: a direct UPDATE
-- by the owner that makes any other move is refused (23514) and changes
-- nothing; the allowed ones pass (rolled back).
--
-- (one order in each state that is not final, on lc_trig: leases and
-- backoffs of a day)
INSERT INTO res SELECT 'g_pip', * FROM topup.topup_card('k_trig', 11, 'g-2', channel => 'lc_trig', client_id => 't_life')
RETURNING step, status, topup_status;
INSERT INTO res SELECT 'g_pie', * FROM topup.topup_card('k_trig', 12, 'g-3', channel => 'lc_trig', client_id => 't_life')
RETURNING step, status, topup_status;
INSERT INTO res SELECT 'g_pv', * FROM topup.topup_card('k_trig', 13, 'g-4', channel => 'lc_trig', client_id => 't_life')
RETURNING step, status, topup_status;
INSERT INTO res SELECT 'g_pve', * FROM topup.topup_card('k_trig', 14, 'g-5', channel => 'lc_trig', client_id => 't_life')
RETURNING step, status, topup_status;
SELECT claimed, topup_status, lease FROM pg_temp.claim('g_c1', 'lc_trig');
SELECT topup_status, backoff FROM pg_temp.report('g_pie', 'error');
SELECT topup_status, backoff FROM pg_temp.report('g_pv', 'unknown');
SELECT topup_status, backoff FROM pg_temp.report('g_pve', 'unknown');
SELECT topup_status, backoff FROM pg_temp.report('g_pve', 'error');
INSERT INTO res SELECT 'g_new', * FROM topup.topup_card('k_trig', 10, 'g-1', channel => 'lc_trig', client_id => 't_life')
RETURNING step, status, topup_status;
SELECT n.name, o.status, o.topup_status FROM topup.orders o JOIN names n USING (order_id)
 WHERE n.name LIKE 'g\_%' ORDER BY o.order_id;
SELECT * FROM pg_temp.changes();
CREATE TEMP TABLE moves (from_order text, to_status text);
INSERT INTO moves VALUES
    ('g_new', 'completed'), ('g_new', 'failed'), ('g_new', 'provider_in_progress_error'),
    ('g_new', 'provider_verification'), ('g_new', 'provider_verification_error'), ('g_new', NULL),
    ('g_pip', 'new'), ('g_pip', 'new_error'), ('g_pip', 'provider_verification_error'), ('g_pip', NULL),
    ('g_pie', 'new'), ('g_pie', 'new_error'), ('g_pie', 'completed'), ('g_pie', 'provider_verification'),
    ('g_pie', 'provider_verification_error'), ('g_pie', NULL),
    ('g_pv', 'new'), ('g_pv', 'provider_in_progress'), ('g_pv', 'provider_in_progress_error'),
    ('g_pv', 'new_error'), ('g_pv', NULL),
    ('g_pve', 'new'), ('g_pve', 'provider_in_progress'), ('g_pve', 'provider_in_progress_error'),
    ('g_pve', 'new_error'), ('g_pve', NULL),
    ('p1', 'failed'), ('p1', 'provider_in_progress'), ('p1', NULL),
    ('p_big', 'completed'), ('p_big', 'new'),
    ('i_none', 'failed'), ('i_none', NULL);
SELECT m.from_order, m.to_status,
       pg_temp.try(format('UPDATE topup.orders SET topup_status = %L WHERE order_id = %s',
                          m.to_status, pg_temp.id(m.from_order))) AS result
  FROM moves m;
SELECT n.name, o.status, o.topup_status FROM topup.orders o JOIN names n USING (order_id)
 WHERE n.name LIKE 'g\_%' OR n.name IN ('p1', 'p_big', 'i_none') ORDER BY o.order_id;
-- new_error (reached only inside a claim) leads to failed only
BEGIN;
UPDATE topup.orders SET topup_status = 'new_error' WHERE order_id = pg_temp.id('g_new');
SELECT to_status, pg_temp.try(format('UPDATE topup.orders SET topup_status = %L WHERE order_id = %s',
                                     to_status, pg_temp.id('g_new'))) AS result
  FROM unnest(ARRAY['new', 'provider_in_progress', 'provider_in_progress_error', 'provider_verification',
                    'provider_verification_error', 'completed', NULL]::text[]) AS to_status;
SELECT topup_status FROM topup.orders WHERE order_id = pg_temp.id('g_new');
ROLLBACK;
-- a non-final order without a topup_status cannot get one (loaded by COPY,
-- as a restore would)
BEGIN;
COPY topup.orders (order_id, order_type, status, client_id, account_id, amount, fee, currency, reference) FROM STDIN;
-42	card_topup	processing	t_life	k_trig	1	0	USD	lc-copied-order
\.
SELECT pg_temp.try($$UPDATE topup.orders SET topup_status = 'new' WHERE order_id = -42$$);
SELECT pg_temp.try($$UPDATE topup.orders SET topup_status = 'provider_in_progress' WHERE order_id = -42$$);
SELECT topup_status IS NULL AS still_null FROM topup.orders WHERE order_id = -42;
ROLLBACK;
-- every allowed move passes the trigger (money aside: rolled back)
BEGIN;
SELECT from_order, to_status,
       pg_temp.try(format('UPDATE topup.orders SET topup_status = %L WHERE order_id = %s',
                          to_status, pg_temp.id(from_order))) AS result
  FROM (VALUES ('g_new', 'provider_in_progress'), ('g_pip', 'provider_in_progress_error'),
               ('g_pie', 'provider_in_progress'), ('g_pv', 'provider_verification_error'),
               ('g_pve', 'provider_verification')) AS x(from_order, to_status);
SELECT from_order, to_status,
       pg_temp.try(format('UPDATE topup.orders SET topup_status = %L WHERE order_id = %s',
                          to_status, pg_temp.id(from_order))) AS result
  FROM (VALUES ('g_new', 'completed'), ('g_pip', 'failed'), ('g_pie', 'failed'),
               ('g_pv', 'completed'), ('g_pve', 'failed')) AS x(from_order, to_status);
ROLLBACK;
SELECT * FROM pg_temp.changes();
SELECT * FROM topup.verify_ledger();

--
-- 11. Duties (SET ROLE).  provider: claim_orders and report_order for its
-- clients only; nothing else.  app: no claim, no report.  admin: report,
-- no claim.  set_channel and the timeouts: the owner's.
--
SELECT topup.bind_role('lc_provider', 'provider', 't_life');
SELECT topup.bind_role('lc_app', 'app', 't_life');
SELECT topup.bind_role('lc_admin', 'admin', 't_life');
INSERT INTO res SELECT 'r1', * FROM topup.topup_card('k_role', 10, 'r-1', channel => 'lc_prov', client_id => 't_life')
RETURNING step, status, topup_status;
INSERT INTO res SELECT 'rq1', * FROM topup.topup_card('k2_1', 10, 'rq-1', channel => 'lc_prov', client_id => 't_life2')
RETURNING step, status, topup_status;
SELECT * FROM pg_temp.changes();
SELECT pg_temp.id('r1') AS r1_id \gset
SELECT pg_temp.id('rq1') AS rq1_id \gset
-- the app's top-up on a provider channel is provider-backed too; the app
-- neither claims nor reports
SET ROLE lc_app;
INSERT INTO res SELECT 'r2', * FROM topup.topup_card('k_role', 20, 'r-2', channel => 'lc_prov')
RETURNING step, status, topup_status, client_id;
SELECT pg_temp.try(c) FROM (VALUES
    ($$SELECT * FROM topup.claim_orders('lc_prov')$$),
    ($$SELECT * FROM topup.claim_orders('lc_prov', client_id => 't_life')$$),
    (format($$SELECT * FROM topup.report_order(%s, 'completed')$$, :r1_id)),
    ($$SELECT topup.set_channel('lc_app', 'provider')$$),
    ($$SELECT topup._order_timeouts()$$),
    ($$CALL topup.run_order_timeouts()$$)) AS x(c);
RESET ROLE;
SELECT * FROM pg_temp.changes();
SET ROLE lc_provider;
SELECT topup.current_client() AS provider_client;
-- no client: only its own clients' orders (not rq1 of t_life2), oldest first
SELECT n.name, c.status, c.topup_status, c.client_id, c.replayed
  FROM topup.claim_orders('lc_prov', 1) WITH ORDINALITY c JOIN names n USING (order_id) ORDER BY c.ordinality;
SELECT n.name, c.status, c.topup_status, c.client_id
  FROM topup.claim_orders('lc_prov') WITH ORDINALITY c JOIN names n USING (order_id) ORDER BY c.ordinality;
SELECT n.name, c.topup_status FROM topup.claim_orders('lc_prov', client_id => 't_life') c JOIN names n USING (order_id);
SELECT n.name, c.topup_status FROM topup.claim_orders('lc_trig') c JOIN names n USING (order_id);
SELECT status, topup_status, account_balance_after, replayed FROM topup.report_order(:r1_id, 'completed', 'PRV-r1');
SELECT status, topup_status, replayed FROM topup.report_order(:r1_id, 'completed');
SELECT status, topup_status, error_slug FROM topup.report_order(pg_temp.id('r2'), 'failed', error_slug => 'card_frozen');
SELECT status, topup_status FROM topup.report_order(pg_temp.id('g_new'), 'completed', client_id => 't_life');
SELECT status, topup_status, account_balance_after FROM topup.report_order(pg_temp.id('p3'), 'completed', 'PRV-p3');
-- a channel only another client has: unknown_channel
SELECT pg_temp.try($$SELECT * FROM topup.claim_orders('lc_only2')$$);
-- another client: as if it did not exist
SELECT pg_temp.try(c) FROM (VALUES
    ($$SELECT * FROM topup.claim_orders('lc_prov', client_id => 't_life2')$$),
    ($$SELECT * FROM topup.claim_orders('lc_only2', client_id => 't_life2')$$),
    ($$SELECT * FROM topup.claim_orders('lc_prov', client_id => 't_no_such_client')$$),
    (format($$SELECT * FROM topup.report_order(%s, 'completed', client_id => 't_life2')$$, :rq1_id)),
    (format($$SELECT * FROM topup.report_order(%s, 'completed')$$, :rq1_id)),
    (format($$SELECT * FROM topup.report_order(%s, 'completed', client_id => 't_no_such_client')$$, :r1_id))) AS x(c);
-- and nothing else
SELECT pg_temp.try(c) FROM (VALUES
    ($$SELECT * FROM topup.topup_card('k_role', 10, 'r-9', channel => 'lc_prov')$$),
    ($$SELECT topup.set_channel('lc_prov', 'instant')$$),
    (format($$SELECT * FROM topup.reverse_order(%s, 'no', 'r-rev')$$, :r1_id)),
    ($$SELECT * FROM topup.charge_account('k_role', 1, 'r-charge')$$),
    (format($$SELECT * FROM topup.check_order(%s)$$, :r1_id)),
    (format($$SELECT topup.order_json(%s)$$, :r1_id)),
    ($$SELECT topup._order_timeouts()$$),
    ($$CALL topup.run_order_timeouts()$$),
    ($$SELECT count(*) FROM topup.orders$$),
    ($$SELECT count(*) FROM topup.hold_balances$$),
    ($$SELECT count(*) FROM topup.channels$$)) AS x(c);
RESET ROLE;
SELECT * FROM pg_temp.changes();
-- the admin reports, but does not claim; set_channel and the timeouts are
-- the owner's
SET ROLE lc_admin;
SELECT pg_temp.try(c) FROM (VALUES
    ($$SELECT * FROM topup.claim_orders('lc_trig')$$),
    ($$SELECT topup.set_channel('lc_trig', 'instant')$$),
    ($$SELECT topup._order_timeouts()$$),
    ($$CALL topup.run_order_timeouts()$$),
    (format($$SELECT * FROM topup.report_order(%s, 'completed', client_id => 't_life2')$$, :rq1_id))) AS x(c);
SELECT client_id, currency, balance FROM topup.hold_balances ORDER BY 1, 2;
SELECT n.name, r.status, r.topup_status, r.error_slug
  FROM names n, LATERAL topup.report_order(n.order_id, CASE WHEN n.name IN ('g_pip', 'g_pie') THEN 'failed'
                                                            ELSE 'completed' END) r
 WHERE n.name IN ('g_pip', 'g_pie', 'g_pv', 'g_pve') ORDER BY n.order_id;
RESET ROLE;
SELECT * FROM pg_temp.changes();
-- the owner finishes the other client's
SELECT claimed, topup_status FROM pg_temp.claim('r_c1', 'lc_prov', 10, NULL, NULL);
SELECT status, topup_status FROM pg_temp.report('rq1', 'completed', p_client => 't_life2');
SELECT * FROM pg_temp.changes();
SELECT * FROM topup.verify_ledger();

--
-- 12. verify_ledger() over holds, each broken on purpose (rolled back):
-- a hold that differs from its processing orders (hold_mismatch), and a
-- provider-backed top-up whose entries do not match its status
-- (hold_entries_mismatch).
--
INSERT INTO res SELECT 'h1', * FROM topup.topup_card('k5', 10, 'h-1', channel => 'lc_prov', client_id => 't_life')
RETURNING step, status, topup_status, amount, fee;
SELECT client_id, currency, balance FROM topup.hold_balances WHERE client_id IN ('t_life', 't_life2') ORDER BY 1, 2;
SELECT * FROM problems;
-- a hold slot changed behind the ledger's back
BEGIN;
ALTER TABLE topup.balance_slots DISABLE TRIGGER slots_guard;
UPDATE topup.balance_slots SET balance = balance + 1
 WHERE client_id = 't_life' AND currency = 'USD' AND book = 'hold'
   AND slot = (SELECT hold_slot FROM topup.orders WHERE order_id = pg_temp.id('h1'));
SELECT * FROM problems;
ROLLBACK;
-- ... with its ledger entry too: the books agree, the orders do not
BEGIN;
ALTER TABLE topup.balance_slots DISABLE TRIGGER slots_guard;
ALTER TABLE topup.ledger DISABLE TRIGGER ledger_guard;
UPDATE topup.balance_slots SET balance = balance + 1
 WHERE client_id = 't_life' AND currency = 'USD' AND book = 'hold'
   AND slot = (SELECT hold_slot FROM topup.orders WHERE order_id = pg_temp.id('h1'));
UPDATE topup.balance_slots SET balance = balance - 1
 WHERE client_id = 't_life' AND currency = 'USD' AND book = 'master'
   AND slot = (SELECT hold_slot FROM topup.orders WHERE order_id = pg_temp.id('h1'));
INSERT INTO topup.ledger (order_id, client_id, book, currency, amount)
VALUES (pg_temp.id('h1'), 't_life', 'hold', 'USD', 1), (pg_temp.id('h1'), 't_life', 'master', 'USD', -1);
SELECT * FROM problems;
ROLLBACK;
-- a processing order whose amount changed: it holds more than was held
BEGIN;
ALTER TABLE topup.orders DISABLE TRIGGER orders_guard;
UPDATE topup.orders SET fee = fee + 1 WHERE order_id = pg_temp.id('h1');
SELECT * FROM problems;
ROLLBACK;
-- a processing order whose hold entry is gone (the slot kept it)
BEGIN;
ALTER TABLE topup.ledger DISABLE TRIGGER ledger_guard;
DELETE FROM topup.ledger WHERE order_id = pg_temp.id('h1') AND book = 'hold';
SELECT * FROM problems;
ROLLBACK;
-- a failed provider-backed top-up whose refund never reached the master
-- balance (the hold was released)
BEGIN;
ALTER TABLE topup.ledger DISABLE TRIGGER ledger_guard;
DELETE FROM topup.ledger WHERE order_id = pg_temp.id('p_act') AND entry_id = (
    SELECT max(entry_id) FROM topup.ledger WHERE order_id = pg_temp.id('p_act'));
SELECT * FROM problems;
ROLLBACK;
-- a failed provider-backed top-up without its refund
BEGIN;
ALTER TABLE topup.ledger DISABLE TRIGGER ledger_guard;
DELETE FROM topup.ledger WHERE order_id = pg_temp.id('p_act') AND entry_id = (
    SELECT max(entry_id) FROM topup.ledger WHERE order_id = pg_temp.id('p_act'));
DELETE FROM topup.ledger WHERE order_id = pg_temp.id('p_act') AND entry_id = (
    SELECT max(entry_id) FROM topup.ledger WHERE order_id = pg_temp.id('p_act'));
SELECT * FROM problems;
ROLLBACK;
-- a processing order failed by hand, without a refund: its money is
-- neither held for it nor back in the master balance
BEGIN;
UPDATE topup.orders SET topup_status = 'new_error' WHERE order_id = pg_temp.id('h1');
UPDATE topup.orders SET status = 'failed', topup_status = 'failed', failed_at = now(), error_slug = 'by_hand'
 WHERE order_id = pg_temp.id('h1');
SELECT * FROM problems;
ROLLBACK;
-- a processing order completed by hand: no card credit, hold kept
BEGIN;
ALTER TABLE topup.orders DISABLE TRIGGER orders_guard;
UPDATE topup.orders SET status = 'completed', topup_status = 'completed', completed_at = now()
 WHERE order_id = pg_temp.id('h1');
SELECT * FROM problems;
ROLLBACK;
-- a hold loaded by COPY for an order that does not hold anything
BEGIN;
COPY topup.ledger (order_id, client_id, book, account_id, currency, amount) FROM STDIN;
-43	t_life	hold	\N	USD	3
-43	t_life	master	\N	USD	-3
\.
SELECT * FROM problems;
ROLLBACK;
-- all undone
SELECT status, topup_status FROM topup.orders WHERE order_id = pg_temp.id('h1');
SELECT * FROM topup.verify_ledger();
SELECT claimed, topup_status FROM pg_temp.claim('h_c1', 'lc_prov');
SELECT status, topup_status FROM pg_temp.report('h1', 'completed');

--
-- Everything adds up: per client and currency, fundings = master + hold +
-- fee balances + what the cards hold.
--
SELECT * FROM pg_temp.changes();
SELECT f.client_id, f.currency, f.funded, m.balance AS master, h.balance AS hold, fb.balance AS fees,
       c.credited, f.funded = m.balance + h.balance + fb.balance + c.credited AS adds_up
  FROM (SELECT client_id, currency, sum(amount) AS funded FROM topup.fundings
         WHERE client_id IN ('t_life', 't_life2') GROUP BY client_id, currency) f
  JOIN topup.master_balances m USING (client_id, currency)
  JOIN topup.hold_balances h USING (client_id, currency)
  JOIN topup.fee_balances fb USING (client_id, currency)
  LEFT JOIN LATERAL (SELECT COALESCE(sum(a.balance), 0) AS credited FROM topup.accounts a
                      WHERE a.client_id = f.client_id AND a.currency = f.currency) c ON true
 ORDER BY f.client_id, f.currency;
SELECT count(*) FILTER (WHERE status = 'processing') AS processing,
       count(*) FILTER (WHERE status = 'completed') AS completed,
       count(*) FILTER (WHERE status = 'failed') AS failed
  FROM topup.orders WHERE client_id IN ('t_life', 't_life2');
SELECT * FROM topup.verify_ledger();

-- the roles go again (roles are cluster-wide)
SELECT topup.unbind_role('lc_provider', 'provider', 't_life');
SELECT topup.unbind_role('lc_app', 'app', 't_life');
SELECT topup.unbind_role('lc_admin', 'admin', 't_life');
DROP ROLE lc_provider, lc_app, lc_admin;
SELECT count(*) AS lc_bindings FROM topup.role_bindings WHERE role::text LIKE 'lc\_%';
