SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS topup CASCADE;
CREATE EXTENSION IF NOT EXISTS dblink;
DROP ROLE IF EXISTS evt_app, evt_admin, evt_reseller, evt_auditor, evt_provider;
RESET client_min_messages;

--
-- Events (SPEC §9): the outbox topup.events, written in the same
-- transaction as what it reports; the kinds and their payloads (never a
-- PIN); publication and events_since (event_id order, max_events, the
-- client's events only, polling with the last id seen, an event that
-- commits later than events published before it); voucher.expiring from
-- the expiry sweep, once per voucher; master.low once per crossing;
-- purge_events; NOTIFY topup_events under topup.notify_events; argument
-- errors; the duties that may read events.
--
-- Event ids are shared by all clients (and by the tests before this one),
-- so they are never printed: they are compared with each other.  A second
-- session (dblink) holds a transaction open where the test needs one.
--
SET search_path = public, topup;

SELECT topup.create_client('t_evt');
SELECT topup.create_client('t_evt_other');
SELECT topup.create_reseller('evt_shop', 't_evt');

CREATE TEMP TABLE res (step text PRIMARY KEY, LIKE topup.order_result);
\set cols 'step, order_type, status, topup_status, error_slug, account_id, amount, fee, replayed'

-- Run a statement that must raise; its SQLSTATE and message.
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

-- The events of client t_evt as the table holds them, in the order they
-- were written, with the order each belongs to named by its step in res
-- (a replay's step names the same order).
CREATE VIEW pg_temp.evt AS
SELECT row_number() OVER (ORDER BY e.at, e.ctid) AS n, e.event_id, e.kind, r.step, e.account_id, e.serial,
       e.payload
  FROM topup.events e LEFT JOIN res r ON r.order_id = e.order_id AND r.step NOT LIKE '%\_replay'
 WHERE e.client_id = 't_evt';

--
-- Fixtures: a card and a customer account, priced and funded; vouchers;
-- the other client with an account of its own.
--
SELECT topup.set_pricing('USD', 1, 500, 0.50, 0, 't_evt');
SELECT topup.fund_master(500, 'USD', 'evt-fund', 't_evt');
SELECT topup.open_account('card', 'USD', 'card', client_id => 't_evt');
SELECT topup.open_account('cust', 'USD', client_id => 't_evt');
SELECT series, quantity FROM topup.generate_vouchers('EV', 4, 10, 'USD', client_id => 't_evt');
CREATE TEMP TABLE evt_pins AS SELECT serial, pin FROM topup.export_vouchers('EV', 't_evt');
SELECT topup.set_pricing('USD', 1, 500, client_id => 't_evt_other');
SELECT topup.fund_master(100, 'USD', 'evt-other-fund', 't_evt_other');
SELECT topup.open_account('o_card', 'USD', 'card', client_id => 't_evt_other');
SELECT count(*) AS events FROM topup.events WHERE client_id IN ('t_evt', 't_evt_other');

--
-- 1. Events are written in the transaction of what they report: inside
-- it they are there (unpublished: no event_id), after a rollback they are
-- gone with the orders.
--
BEGIN;
SELECT status FROM topup.topup_card('card', 20, 'rb-top', client_id => 't_evt');
SELECT status FROM topup.redeem_voucher((SELECT pin FROM evt_pins WHERE serial = topup.make_serial('EV', 1)),
                                        'cust', client_id => 't_evt');
SELECT status FROM topup.charge_account('cust', 5, 'rb-charge', client_id => 't_evt');
SELECT kind, event_id IS NULL AS unpublished, payload->>'order_type' AS order_type FROM pg_temp.evt ORDER BY n;
ROLLBACK;
SELECT count(*) AS events, (SELECT count(*) FROM topup.orders WHERE client_id = 't_evt') AS orders
  FROM topup.events WHERE client_id = 't_evt';
SELECT status FROM topup.vouchers WHERE client_id = 't_evt' AND serial = topup.make_serial('EV', 1);

--
-- 2. The kinds and their payloads: order.completed, order.failed,
-- order.processing, order.reversed (on the reversed order); the payload of
-- an order event is its type, status, topup_status, amount, fee, currency,
-- error_slug and reference.
--
INSERT INTO res SELECT 'top', * FROM topup.topup_card('card', 20, 'top', client_id => 't_evt') RETURNING :cols;
INSERT INTO res SELECT 'redeem', * FROM topup.redeem_voucher(
    (SELECT pin FROM evt_pins WHERE serial = topup.make_serial('EV', 1)), 'cust', client_id => 't_evt') RETURNING :cols;
INSERT INTO res SELECT 'redeem_serial', * FROM topup.redeem_voucher_by_serial(topup.make_serial('EV', 2), 'cust',
    client_id => 't_evt') RETURNING :cols;
INSERT INTO res SELECT 'charge', * FROM topup.charge_account('cust', 5, 'charge', 'a sandwich', client_id => 't_evt')
RETURNING :cols;
-- failures: a top-up of a card that does not exist, a PIN that does not
-- exist (it must not appear in any event either)
INSERT INTO res SELECT 'top_failed', * FROM topup.topup_card('nope', 20, 'top-failed', client_id => 't_evt')
RETURNING :cols;
INSERT INTO res SELECT 'redeem_failed', * FROM topup.redeem_voucher('987654321098', 'cust', client_id => 't_evt')
RETURNING :cols;
-- a provider-backed top-up is processing
SELECT topup.set_channel('EVP', 'provider', client_id => 't_evt');
INSERT INTO res SELECT 'top_provider', * FROM topup.topup_card('card', 30, 'top-provider', channel => 'EVP',
    client_id => 't_evt') RETURNING :cols;
-- a reversal: order.reversed on the charge, order.completed of the reversal
INSERT INTO res SELECT 'reversal', * FROM topup.reverse_order((SELECT order_id FROM res WHERE step = 'charge'),
    'wrong sandwich', 'reversal', client_id => 't_evt') RETURNING :cols;
-- replays write nothing
INSERT INTO res SELECT 'top_replay', * FROM topup.topup_card('card', 20, 'top', client_id => 't_evt') RETURNING :cols;
INSERT INTO res SELECT 'charge_replay', * FROM topup.charge_account('cust', 5, 'charge', 'a sandwich', client_id => 't_evt')
RETURNING :cols;
-- the other client's order
INSERT INTO res SELECT 'other_top', * FROM topup.topup_card('o_card', 10, 'other-top', client_id => 't_evt_other')
RETURNING :cols;
SELECT n, kind, step, account_id, serial, payload - 'reference' - 'reversal_order_id' AS payload
  FROM pg_temp.evt ORDER BY n;
-- each order event carries its order's reference; order.reversed names the
-- reversal, and is on the order reversed
SELECT e.kind, e.step, e.payload->>'reference' = r.reference AS reference,
       (e.payload->>'reversal_order_id')::bigint = (SELECT order_id FROM res WHERE step = 'reversal') AS names_reversal
  FROM pg_temp.evt e LEFT JOIN res r ON r.step = e.step ORDER BY e.n;
-- the two redeem paths write the same payload but for the reference
SELECT count(DISTINCT payload - 'reference') AS payloads FROM pg_temp.evt WHERE step IN ('redeem', 'redeem_serial');
-- no PIN anywhere in an event: neither the vouchers' PINs nor the one
-- tried; the same search finds the serials, so it could find a PIN
SELECT count(*) AS pins_in_events
  FROM topup.events e, (SELECT pin FROM evt_pins UNION ALL SELECT '987654321098') p
 WHERE e.client_id = 't_evt' AND strpos(e::text, p.pin) > 0;
SELECT count(*) AS serials_in_events
  FROM topup.events e, evt_pins p
 WHERE e.client_id = 't_evt' AND strpos(e::text, p.serial::text) > 0;
SELECT * FROM topup.verify_ledger();

--
-- 3. Publication: an event has no event_id until events_since publishes
-- it; events_since returns the client's events after the given id, in
-- event_id order, which is the order they were written in here (one
-- session, each committed before the next); max_events at most; a reader
-- polling with the last id it saw gets the rest, once.
--
SELECT count(*) AS events, count(event_id) AS published FROM topup.events WHERE client_id = 't_evt';
CREATE TEMP TABLE seen AS SELECT * FROM topup.events_since(0, 1000, 't_evt');
SELECT count(*) AS events, count(event_id) AS published FROM topup.events WHERE client_id = 't_evt';
SELECT count(*) AS returned, count(DISTINCT event_id) AS distinct_ids,
       bool_and(client_id = 't_evt') AS only_t_evt FROM seen;
-- the same events, in the order they were written
SELECT e.n, e.kind, e.step, s.event_id = e.event_id AS same_event
  FROM (SELECT row_number() OVER (ORDER BY event_id) AS n, event_id FROM seen) s
  JOIN pg_temp.evt e USING (n) ORDER BY n;
-- the columns of topup.events, as the table holds them
SELECT count(*) AS differ FROM (SELECT * FROM seen EXCEPT SELECT * FROM topup.events WHERE client_id = 't_evt') d;
-- max_events
SELECT count(*) AS first_three, max(event_id) = (SELECT event_id FROM seen ORDER BY event_id OFFSET 2 LIMIT 1) AS up_to_third
  FROM topup.events_since(0, 3, 't_evt');
SELECT count(*) AS one FROM topup.events_since(0, 1, 't_evt');
-- polling: each poll starts after the last id seen, until one returns nothing
CREATE FUNCTION pg_temp.poll(client text, batch integer) RETURNS TABLE (poll integer, event_id bigint)
LANGUAGE plpgsql AS $$
DECLARE
    last bigint := 0;
    i integer := 0;
    got integer;
BEGIN
    LOOP
        i := i + 1;
        got := 0;
        FOR event_id IN SELECT s.event_id FROM topup.events_since(last, batch, client) s LOOP
            poll := i;
            last := event_id;
            got := got + 1;
            RETURN NEXT;
        END LOOP;
        EXIT WHEN got = 0;
    END LOOP;
END $$;
CREATE TEMP TABLE polled AS SELECT * FROM pg_temp.poll('t_evt', 4);
SELECT poll, count(*) FROM polled GROUP BY poll ORDER BY poll;
SELECT (SELECT array_agg(event_id ORDER BY poll, event_id) FROM polled)
     = (SELECT array_agg(event_id ORDER BY event_id) FROM seen) AS same_events_in_order;
-- the other client's events are its own
SELECT count(*) AS other_events, bool_and(client_id = 't_evt_other') AS only_other,
       bool_and(event_id NOT IN (SELECT event_id FROM seen)) AS none_of_t_evt
  FROM topup.events_since(0, 1000, 't_evt_other');
-- after the last id seen: nothing, until something happens
SELECT max(event_id) AS last_seen FROM seen \gset
SELECT count(*) AS nothing_new FROM topup.events_since(:last_seen, 1000, 't_evt');
INSERT INTO res SELECT 'charge_2', * FROM topup.charge_account('cust', 1, 'charge-2', client_id => 't_evt') RETURNING :cols;
SELECT event_id > :last_seen AS newer, kind, payload->>'order_type' AS order_type
  FROM topup.events_since(:last_seen, 1000, 't_evt');
SELECT max(event_id) AS last_seen FROM topup.events_since(0, 1000, 't_evt') \gset

-- An event that commits later than events published before it gets a
-- higher id than those, although it was written first: a reader polling
-- with the last id it saw does not skip it.  The second session charges
-- the card in a transaction it keeps open while this one charges the
-- customer account, commits and polls.
SELECT dblink_connect('evt2', format('dbname=%s user=%s host=%s port=%s', current_database(), current_user,
                      split_part(current_setting('unix_socket_directories'), ',', 1), current_setting('port')));
SELECT dblink_exec('evt2', 'BEGIN');
SELECT * FROM dblink('evt2', $$SELECT status::text FROM topup.charge_account('card', 1, 'charge-late', client_id => 't_evt')$$)
    AS t(status text);
INSERT INTO res SELECT 'charge_early', * FROM topup.charge_account('cust', 1, 'charge-early', client_id => 't_evt')
RETURNING :cols;
-- the open transaction's event is not visible; this one's is published
SELECT kind, e.order_id = r.order_id AS charge_early
  FROM topup.events_since(:last_seen, 1000, 't_evt') e, res r WHERE r.step = 'charge_early';
SELECT max(event_id) AS last_seen2 FROM topup.events_since(:last_seen, 1000, 't_evt') \gset
SELECT dblink_exec('evt2', 'COMMIT');
-- the late event was written first ...
SELECT o.idempotency_key, e.at < (SELECT at FROM topup.events x JOIN res r ON r.order_id = x.order_id
                                   WHERE r.step = 'charge_early') AS written_first
  FROM topup.events e JOIN topup.orders o USING (order_id) WHERE o.idempotency_key = 'charge-late';
-- ... and the next poll after the last id seen returns it, with a higher id
SELECT e.kind, o.idempotency_key, e.event_id > :last_seen2 AS higher_id
  FROM topup.events_since(:last_seen2, 1000, 't_evt') e JOIN topup.orders o USING (order_id);
SELECT dblink_disconnect('evt2');
SELECT max(event_id) AS last_seen FROM topup.events_since(0, 1000, 't_evt') \gset
SELECT * FROM topup.verify_ledger();

--
-- 4. voucher.expiring: written by the expiry sweep (CALL run_expiry()) for
-- each live voucher whose expires_at lies within topup.expiry_notice
-- (default 7 days) from now, once per voucher.
--
SHOW topup.expiry_notice;
SET topup.expiry_notice = '1h';
SELECT series, quantity FROM topup.generate_vouchers('EX30', 2, 10, 'USD', expires_at => now() + interval '30 minutes',
                                                    client_id => 't_evt');
SELECT series, quantity FROM topup.generate_vouchers('EX2H', 1, 10, 'USD', expires_at => now() + interval '2 hours',
                                                    client_id => 't_evt');
-- a blocked voucher is still live; a redeemed one is not
UPDATE topup.vouchers SET status = 'blocked' WHERE client_id = 't_evt' AND serial = topup.make_serial('EX30', 2);
SELECT series, quantity FROM topup.generate_vouchers('EXR', 1, 10, 'USD', expires_at => now() + interval '20 minutes',
                                                    client_id => 't_evt');
SELECT status FROM topup.redeem_voucher_by_serial(topup.make_serial('EXR', 1), 'cust', client_id => 't_evt');
CALL topup.run_expiry();
SELECT e.kind, e.serial, v.status, e.order_id, e.account_id, e.payload - 'expires_at' AS payload,
       (e.payload->>'expires_at')::timestamptz = v.expires_at AS expires_at
  FROM topup.events e JOIN topup.vouchers v USING (client_id, serial)
 WHERE e.client_id = 't_evt' AND e.kind = 'voucher.expiring' ORDER BY e.serial;
-- once per voucher: the sweep again writes nothing
CALL topup.run_expiry();
SELECT count(*) AS expiring FROM topup.events WHERE client_id = 't_evt' AND kind = 'voucher.expiring';
-- the 2-hour voucher once the notice period covers it, and no other
SET topup.expiry_notice = '3h';
CALL topup.run_expiry();
SELECT serial, count(*) FROM topup.events WHERE client_id = 't_evt' AND kind = 'voucher.expiring'
 GROUP BY serial ORDER BY serial;
-- a new date within the period does not announce the voucher again
UPDATE topup.vouchers SET expires_at = now() + interval '10 minutes'
 WHERE client_id = 't_evt' AND serial = topup.make_serial('EX30', 1);
CALL topup.run_expiry();
SELECT count(*) AS expiring FROM topup.events WHERE client_id = 't_evt' AND kind = 'voucher.expiring';
-- with a notice period of 0 nothing is announced
SET topup.expiry_notice = 0;
SELECT series, quantity FROM topup.generate_vouchers('EX0', 1, 10, 'USD', expires_at => now() + interval '1 minute',
                                                    client_id => 't_evt');
CALL topup.run_expiry();
SELECT count(*) AS expiring FROM topup.events WHERE client_id = 't_evt' AND kind = 'voucher.expiring';
RESET topup.expiry_notice;
SHOW topup.expiry_notice;
-- the default of 7 days covers it now
CALL topup.run_expiry();
SELECT serial, count(*) FROM topup.events WHERE client_id = 't_evt' AND kind = 'voucher.expiring'
 GROUP BY serial ORDER BY serial;
-- published like every event
SELECT kind, count(*) FROM topup.events_since(:last_seen, 1000, 't_evt') GROUP BY kind;
SELECT max(event_id) AS last_seen FROM topup.events_since(0, 1000, 't_evt') \gset

--
-- 5. master.low: once each time the master balance falls below the
-- client's threshold (set_low_balance); it is armed again when the
-- balance is back at or above the threshold.
--
SELECT balance FROM topup.master_balances WHERE client_id = 't_evt' AND currency = 'USD';
CREATE TEMP VIEW lows AS
SELECT payload FROM topup.events WHERE client_id = 't_evt' AND kind = 'master.low' ORDER BY at, ctid;
SELECT topup.set_low_balance('USD', 400, 't_evt');
SELECT client_id, currency, threshold, low FROM topup.low_balances WHERE client_id = 't_evt';
-- still above: nothing
SELECT master_balance_after FROM topup.topup_card('card', 20, 'low-1', client_id => 't_evt');
SELECT count(*) AS lows FROM lows;
-- below: one event
SELECT master_balance_after FROM topup.topup_card('card', 30, 'low-2', client_id => 't_evt');
SELECT * FROM lows;
-- further top-ups below: none
SELECT master_balance_after FROM topup.topup_card('card', 10, 'low-3', client_id => 't_evt');
SELECT master_balance_after FROM topup.topup_card('card', 10, 'low-4', channel => 'EVP', client_id => 't_evt');
SELECT count(*) AS lows, (SELECT low FROM topup.low_balances WHERE client_id = 't_evt') AS low FROM lows;
-- a funding back above, then a top-up below again: one more
SELECT topup.fund_master(100, 'USD', 'evt-fund-2', 't_evt');
SELECT low FROM topup.low_balances WHERE client_id = 't_evt';
SELECT master_balance_after FROM topup.topup_card('card', 80, 'low-5', client_id => 't_evt');
SELECT * FROM lows;
-- a reversal that brings it back above arms it too; a provider-backed
-- top-up's hold is a fall like any other
SELECT status, account_balance_after FROM topup.reverse_order(
    (SELECT order_id FROM topup.orders WHERE client_id = 't_evt' AND idempotency_key = 'low-5'),
    'x', 'low-rev', client_id => 't_evt');
SELECT balance, (SELECT low FROM topup.low_balances WHERE client_id = 't_evt') AS low
  FROM topup.master_balances WHERE client_id = 't_evt' AND currency = 'USD';
SELECT status, master_balance_after FROM topup.topup_card('card', 80, 'low-6', channel => 'EVP', client_id => 't_evt');
SELECT * FROM lows;
-- a refund of a held top-up brings it back above: armed again
SELECT order_id AS held FROM topup.orders WHERE client_id = 't_evt' AND idempotency_key = 'low-6' \gset
SELECT count(*) AS claimed FROM topup.claim_orders('EVP', client_id => 't_evt');
SELECT status, error_slug FROM topup.report_order(:held, 'failed', client_id => 't_evt');
SELECT balance, (SELECT low FROM topup.low_balances WHERE client_id = 't_evt') AS low
  FROM topup.master_balances WHERE client_id = 't_evt' AND currency = 'USD';
-- a threshold set while the balance is below it raises nothing until the
-- next crossing
SELECT topup.set_low_balance('USD', 500, 't_evt');
SELECT threshold, low FROM topup.low_balances WHERE client_id = 't_evt';
SELECT master_balance_after FROM topup.topup_card('card', 5, 'low-7', client_id => 't_evt');
SELECT count(*) AS lows FROM lows;
-- NULL removes the threshold: no more events
SELECT topup.set_low_balance('USD', NULL, 't_evt');
SELECT count(*) AS thresholds FROM topup.low_balances WHERE client_id = 't_evt';
SELECT topup.fund_master(500, 'USD', 'evt-fund-3', 't_evt');
SELECT master_balance_after FROM topup.topup_card('card', 400, 'low-8', client_id => 't_evt');
SELECT count(*) AS lows FROM lows;
-- the other client's threshold is its own
SELECT topup.set_low_balance('USD', 85, 't_evt_other');
SELECT master_balance_after FROM topup.topup_card('o_card', 10, 'other-low', client_id => 't_evt_other');
SELECT client_id, payload FROM topup.events WHERE kind = 'master.low' AND client_id LIKE 't_evt%' ORDER BY client_id, at;
-- bad thresholds and arguments: 22023
SELECT pg_temp.try(c) FROM (VALUES
    ($$SELECT topup.set_low_balance('USD', -1, 't_evt')$$),
    ($$SELECT topup.set_low_balance('USD', 10.001, 't_evt')$$),
    ($$SELECT topup.set_low_balance('JPY', 0.5, 't_evt')$$),
    ($$SELECT topup.set_low_balance('XXX', 10, 't_evt')$$),
    ($$SELECT topup.set_low_balance(NULL, 10, 't_evt')$$),
    ($$SELECT topup.set_low_balance('USD', 10, 't_evt_none')$$),
    ($$SELECT topup.set_low_balance('USD', 10, NULL)$$)) AS x(c);
-- a threshold of 0 is allowed (the balance never falls below it)
SELECT topup.set_low_balance('USD', 0, 't_evt');
SELECT threshold, low FROM topup.low_balances WHERE client_id = 't_evt';
SELECT topup.set_low_balance('USD', NULL, 't_evt');
SELECT kind, count(*) FROM topup.events_since(:last_seen, 1000, 't_evt') GROUP BY kind ORDER BY kind;
SELECT * FROM topup.verify_ledger();

--
-- 6. purge_events (the owner's): removes the client's published events
-- older than the interval and returns how many; events not yet published
-- stay however old, and so do newer ones and other clients' events.
--
SELECT count(*) AS other_before FROM topup.events WHERE client_id = 't_evt_other' \gset
SELECT count(*) AS published_before FROM topup.events WHERE client_id = 't_evt' AND event_id IS NOT NULL \gset
-- nothing is an hour old
SELECT topup.purge_events('1 hour', 't_evt');
-- one event published, one not; then two seconds pass
SELECT status FROM topup.charge_account('cust', 1, 'purge-1', client_id => 't_evt');
SELECT count(*) AS published FROM topup.events_since(:last_seen, 1000, 't_evt');
SELECT status FROM topup.charge_account('cust', 1, 'purge-2', client_id => 't_evt');
SELECT pg_sleep(2);
-- older than a second: every published event goes, the unpublished one stays
SELECT topup.purge_events('1 second', 't_evt') = :published_before + 1 AS purged_the_published;
SELECT o.idempotency_key, e.event_id IS NOT NULL AS published
  FROM topup.events e LEFT JOIN topup.orders o USING (order_id) WHERE e.client_id = 't_evt' ORDER BY e.at, e.ctid;
SELECT count(*) = :other_before AS other_untouched FROM topup.events WHERE client_id = 't_evt_other';
-- the reader still gets it; once published it is old enough to go, while
-- a new event stays
SELECT kind, payload->>'order_type' AS order_type FROM topup.events_since(:last_seen, 1000, 't_evt');
SELECT status FROM topup.charge_account('cust', 1, 'purge-3', client_id => 't_evt');
SELECT count(*) AS published FROM topup.events_since(:last_seen, 1000, 't_evt');
SELECT max(event_id) AS last_seen FROM topup.events_since(:last_seen, 1000, 't_evt') \gset
SELECT topup.purge_events('1 second', 't_evt');
SELECT o.idempotency_key, e.event_id IS NOT NULL AS published
  FROM topup.events e LEFT JOIN topup.orders o USING (order_id) WHERE e.client_id = 't_evt' ORDER BY e.at, e.ctid;
-- an interval of 0 takes all that were published before this transaction
SELECT topup.purge_events('0', 't_evt');
SELECT count(*) AS left_over FROM topup.events WHERE client_id = 't_evt';
-- a reader polling with the last id it saw is not disturbed: nothing new
SELECT count(*) AS nothing_new FROM topup.events_since(:last_seen, 1000, 't_evt');
SELECT pg_temp.try(c) FROM (VALUES
    ($$SELECT topup.purge_events(NULL, 't_evt')$$),
    ($$SELECT topup.purge_events('1 day', 't_evt_none')$$),
    ($$SELECT topup.purge_events('1 day', NULL)$$)) AS x(c);

--
-- 7. NOTIFY topup_events: a wake-up hint, sent at most once per
-- transaction that wrote events, and only while topup.notify_events is on
-- (off by default).  psql prints the notifications this session receives;
-- sed masks the sender's process id.
--
SHOW topup.notify_events;
LISTEN topup_events;
\o | sed -e 's/PID [0-9][0-9]*/PID <pid>/'
SELECT status FROM topup.charge_account('cust', 1, 'notify-off', client_id => 't_evt');
\o
SET topup.notify_events = on;
\o | sed -e 's/PID [0-9][0-9]*/PID <pid>/'
-- one order: one notification, with an empty payload
SELECT status FROM topup.charge_account('cust', 1, 'notify-1', client_id => 't_evt');
-- three orders in one transaction: one notification
BEGIN;
SELECT status FROM topup.charge_account('cust', 1, 'notify-2', client_id => 't_evt');
SELECT status FROM topup.topup_card('card', 5, 'notify-3', client_id => 't_evt');
SELECT status FROM topup.redeem_voucher_by_serial(topup.make_serial('EV', 3), 'cust', client_id => 't_evt');
COMMIT;
-- a replay writes no event: none
SELECT status, replayed FROM topup.charge_account('cust', 1, 'notify-1', client_id => 't_evt');
-- rolled back: none
BEGIN;
SELECT status FROM topup.charge_account('cust', 1, 'notify-4', client_id => 't_evt');
ROLLBACK;
-- a stored failure is an event too: one
SELECT status, error_slug FROM topup.charge_account('nobody', 1, 'notify-5', client_id => 't_evt');
\o
RESET topup.notify_events;
\o | sed -e 's/PID [0-9][0-9]*/PID <pid>/'
-- off again: none
SELECT status FROM topup.charge_account('cust', 1, 'notify-6', client_id => 't_evt');
\o
UNLISTEN topup_events;
SELECT kind, count(*) AS events FROM topup.events_since(:last_seen, 1000, 't_evt') GROUP BY kind ORDER BY kind;
SELECT max(event_id) AS last_seen FROM topup.events_since(:last_seen, 1000, 't_evt') \gset

--
-- 8. events_since: argument errors (22023).
--
SELECT pg_temp.try(c) FROM (VALUES
    ($$SELECT count(*) FROM topup.events_since(NULL, 10, 't_evt')$$),
    ($$SELECT count(*) FROM topup.events_since(0, 0, 't_evt')$$),
    ($$SELECT count(*) FROM topup.events_since(0, -1, 't_evt')$$),
    ($$SELECT count(*) FROM topup.events_since(0, NULL, 't_evt')$$),
    ($$SELECT count(*) FROM topup.events_since(0, 10, 't_evt_none')$$),
    ($$SELECT count(*) FROM topup.events_since(0, 10, NULL)$$)) AS x(c);
-- an id beyond the last one: nothing (yet)
SELECT count(*) AS nothing FROM topup.events_since(:last_seen + 1000000, 10, 't_evt');

--
-- 9. The outbox is append-only: written by the extension, removed by
-- purge_events; not even the owner edits it by hand.
--
SELECT pg_temp.try(c) FROM (VALUES
    ($$INSERT INTO topup.events (client_id, kind) VALUES ('t_evt', 'master.low')$$),
    ($$UPDATE topup.events SET payload = '{}' WHERE client_id = 't_evt'$$),
    ($$UPDATE topup.events SET event_id = NULL WHERE client_id = 't_evt'$$),
    ($$DELETE FROM topup.events WHERE client_id = 't_evt'$$),
    ($$TRUNCATE topup.events$$),
    ($$DELETE FROM topup.expiry_notices WHERE client_id = 't_evt'$$)) AS x(c);

--
-- 10. Duties: app and admin read their client's events (their client by
-- default); the provider, reseller and auditor duties may not (42501);
-- another client, or one that does not exist, is 22023.  purge_events and
-- set_low_balance are the owner's, even with a hand-written GRANT.
--
CREATE ROLE evt_app;
CREATE ROLE evt_admin;
CREATE ROLE evt_reseller;
CREATE ROLE evt_auditor;
CREATE ROLE evt_provider;
SELECT topup.bind_role('evt_app', 'app', 't_evt');
SELECT topup.bind_role('evt_admin', 'admin', 't_evt');
SELECT topup.bind_role('evt_reseller', 'reseller', 't_evt', 'evt_shop');
SELECT topup.bind_role('evt_auditor', 'auditor', 't_evt');
SELECT topup.bind_role('evt_provider', 'provider', 't_evt');
SELECT count(*) AS owner_sees FROM topup.events_since(0, 1000, 't_evt') \gset
CREATE FUNCTION pg_temp.as_role(r text, sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
    result text;
BEGIN
    EXECUTE format('SET LOCAL ROLE %I', r);
    BEGIN
        EXECUTE sql INTO n;
        result := 'ok: ' || n;
    EXCEPTION WHEN OTHERS THEN
        result := SQLSTATE || ': ' || SQLERRM;
    END;
    RESET ROLE;
    RETURN result;
END $$;
SELECT r AS role,
       pg_temp.as_role(r, 'SELECT count(*) FROM topup.events_since(0)') = 'ok: ' || :owner_sees AS own_all,
       pg_temp.as_role(r, 'SELECT count(*) FROM topup.events_since(0)') AS own,
       pg_temp.as_role(r, $$SELECT count(*) FROM topup.events_since(0, 1000, 't_evt_other')$$) AS other,
       pg_temp.as_role(r, $$SELECT count(*) FROM topup.events_since(0, 1000, 't_evt_none')$$) AS unknown
  FROM unnest(ARRAY['evt_app', 'evt_admin', 'evt_provider', 'evt_reseller', 'evt_auditor']) AS r;
SELECT r AS role,
       pg_temp.as_role(r, $$SELECT topup.purge_events('1 day')$$) AS purge_events,
       pg_temp.as_role(r, $$SELECT count(*) FROM (SELECT topup.set_low_balance('USD', 1)) x$$) AS set_low_balance
  FROM unnest(ARRAY['evt_app', 'evt_admin']) AS r;
GRANT EXECUTE ON FUNCTION topup.purge_events(interval, text), topup.set_low_balance(text, numeric, text) TO evt_admin;
SELECT pg_temp.as_role('evt_admin', $$SELECT topup.purge_events('1 day')$$) AS purge_events,
       pg_temp.as_role('evt_admin', $$SELECT count(*) FROM (SELECT topup.set_low_balance('USD', 1)) x$$) AS set_low_balance;
REVOKE EXECUTE ON FUNCTION topup.purge_events(interval, text), topup.set_low_balance(text, numeric, text) FROM evt_admin;
-- nothing was changed by the refused calls
SELECT count(*) AS thresholds FROM topup.low_balances WHERE client_id = 't_evt';
SELECT count(*) = :owner_sees AS events_kept FROM topup.events_since(0, 1000, 't_evt');
SELECT * FROM topup.verify_ledger();

-- the roles and the second session's extension go again
SELECT topup.unbind_role('evt_app', 'app', 't_evt');
SELECT topup.unbind_role('evt_admin', 'admin', 't_evt');
SELECT topup.unbind_role('evt_reseller', 'reseller', 't_evt', 'evt_shop');
SELECT topup.unbind_role('evt_auditor', 'auditor', 't_evt');
SELECT topup.unbind_role('evt_provider', 'provider', 't_evt');
DROP ROLE evt_app, evt_admin, evt_reseller, evt_auditor, evt_provider;
SELECT count(*) AS bindings_left FROM topup.role_bindings WHERE client_id = 't_evt';
DROP EXTENSION dblink;
RESET search_path;
