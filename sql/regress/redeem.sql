SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS topup CASCADE;
RESET client_min_messages;

--
-- Voucher redeem: redeem_voucher (by PIN, with the brute-force lockout) and
-- redeem_voucher_by_serial; every failure slug, idempotency, order_result.
--
-- Every result is kept in the temp table res (one row per call, named by
-- step) so that later queries can compare order ids without printing them.
-- pg_temp.delta() reports what changed for our clients since its last call:
-- new orders, new failed orders, new ledger entries, accounts whose
-- balance or status changed and vouchers whose status or redeem columns
-- changed.  A business failure must show exactly one new failed order and
-- nothing else.
--

SELECT topup.create_client('t_redeem');
SELECT topup.create_client('t_redeem_other');

CREATE TEMP TABLE res (step text PRIMARY KEY, LIKE topup.order_result);
\set cols 'step, order_type, status, error_slug, error_message, account_id, serial, amount, currency, account_balance_after, replayed'

CREATE TEMP TABLE snap_counts AS
SELECT 0::bigint AS orders, 0::bigint AS failed, 0::bigint AS ledger WITH NO DATA;
CREATE TEMP TABLE snap_accounts AS
SELECT client_id, account_id, balance, status FROM topup.accounts WITH NO DATA;
CREATE TEMP TABLE snap_vouchers AS
SELECT client_id, serial::text AS serial, status, activated_at, activated_by, order_id
  FROM topup.vouchers WITH NO DATA;

CREATE FUNCTION pg_temp.delta(OUT new_orders bigint, OUT new_failed bigint, OUT new_ledger bigint,
                              OUT accounts_changed bigint, OUT vouchers_changed bigint)
LANGUAGE plpgsql AS $$
DECLARE
    o bigint;
    f bigint;
    l bigint;
BEGIN
    SELECT count(*), count(*) FILTER (WHERE status = 'failed') INTO o, f
      FROM topup.orders WHERE client_id IN ('t_redeem', 't_redeem_other');
    SELECT count(*) INTO l FROM topup.ledger WHERE client_id IN ('t_redeem', 't_redeem_other');
    SELECT o - s.orders, f - s.failed, l - s.ledger INTO new_orders, new_failed, new_ledger
      FROM snap_counts s;
    SELECT count(DISTINCT (client_id, account_id)) INTO accounts_changed FROM (
        (SELECT client_id, account_id, balance, status FROM topup.accounts
          WHERE client_id IN ('t_redeem', 't_redeem_other')
         EXCEPT SELECT * FROM snap_accounts)
        UNION ALL
        (SELECT * FROM snap_accounts
         EXCEPT SELECT client_id, account_id, balance, status FROM topup.accounts)) d;
    SELECT count(DISTINCT (client_id, serial)) INTO vouchers_changed FROM (
        (SELECT client_id, serial::text, status, activated_at, activated_by, order_id FROM topup.vouchers
          WHERE client_id IN ('t_redeem', 't_redeem_other')
         EXCEPT SELECT * FROM snap_vouchers)
        UNION ALL
        (SELECT * FROM snap_vouchers
         EXCEPT SELECT client_id, serial::text, status, activated_at, activated_by, order_id FROM topup.vouchers)) d;
    -- take the new snapshot
    DELETE FROM snap_counts;
    INSERT INTO snap_counts VALUES (o, f, l);
    DELETE FROM snap_accounts;
    INSERT INTO snap_accounts SELECT client_id, account_id, balance, status FROM topup.accounts
     WHERE client_id IN ('t_redeem', 't_redeem_other');
    DELETE FROM snap_vouchers;
    INSERT INTO snap_vouchers SELECT client_id, serial::text, status, activated_at, activated_by, order_id
      FROM topup.vouchers WHERE client_id IN ('t_redeem', 't_redeem_other');
END $$;

-- Run a statement; return 'ok' or the SQLSTATE and message it raised.
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

--
-- Fixtures
--
SELECT topup.open_account('alice', 'USD', client_id => 't_redeem');
SELECT topup.open_account('bob', 'USD', client_id => 't_redeem');
SELECT topup.open_account('eve', 'EUR', client_id => 't_redeem');
SELECT topup.open_account('card1', 'USD', kind => 'card', client_id => 't_redeem');
SELECT topup.open_account('sleepy', 'USD', active => false, client_id => 't_redeem');
SELECT topup.open_account('blk', 'USD', client_id => 't_redeem');
SELECT topup.open_account('cls', 'USD', client_id => 't_redeem');
SELECT topup.open_account('pinfail', 'USD', client_id => 't_redeem');
SELECT topup.open_account('lock_a', 'USD', client_id => 't_redeem');
SELECT topup.open_account('src1', 'USD', client_id => 't_redeem');
SELECT topup.open_account('src2', 'USD', client_id => 't_redeem');
SELECT topup.open_account('src3', 'USD', client_id => 't_redeem');
SELECT topup.open_account('lock_g', 'USD', client_id => 't_redeem');
SELECT topup.open_account('lock_r', 'USD', client_id => 't_redeem');
UPDATE topup.accounts SET status = 'blocked' WHERE client_id = 't_redeem' AND account_id = 'blk';
UPDATE topup.accounts SET status = 'closed' WHERE client_id = 't_redeem' AND account_id = 'cls';
-- the other client: the same account name, its own vouchers
SELECT topup.open_account('alice', 'USD', client_id => 't_redeem_other');
SELECT topup.open_account('ot_only', 'USD', client_id => 't_redeem_other');

SELECT series, quantity, new FROM topup.generate_vouchers('RA', 20, 25.00, 'USD', client_id => 't_redeem');
SELECT series, quantity, new FROM topup.generate_vouchers('RX', 1, 5, 'USD',
    expires_at => now() + interval '1 day', client_id => 't_redeem');
SELECT series, quantity, new FROM topup.generate_vouchers('RB', 1, 5, 'USD', client_id => 't_redeem');
SELECT series, quantity, new FROM topup.generate_vouchers('RO', 3, 7.50, 'USD', client_id => 't_redeem_other');
-- Due but still 'new': expires 1 ms after this statement's transaction
-- started; the generation itself and the sleep take longer than that, so
-- every later transaction starts after expires_at.
SELECT series, quantity, new FROM topup.generate_vouchers('RE', 1, 5, 'USD',
    expires_at => now() + interval '1 millisecond', client_id => 't_redeem');
SELECT pg_sleep(0.05);

SELECT pin AS pin1 FROM topup.export_vouchers('RA', 't_redeem') WHERE topup.serial_number(serial) = 1 \gset
SELECT pin AS pin2 FROM topup.export_vouchers('RA', 't_redeem') WHERE topup.serial_number(serial) = 2 \gset
SELECT pin AS pin3 FROM topup.export_vouchers('RA', 't_redeem') WHERE topup.serial_number(serial) = 3 \gset
SELECT pin AS pin4 FROM topup.export_vouchers('RA', 't_redeem') WHERE topup.serial_number(serial) = 4 \gset
SELECT pin AS pin5 FROM topup.export_vouchers('RA', 't_redeem') WHERE topup.serial_number(serial) = 5 \gset
SELECT pin AS pin6 FROM topup.export_vouchers('RA', 't_redeem') WHERE topup.serial_number(serial) = 6 \gset
SELECT pin AS pin7 FROM topup.export_vouchers('RA', 't_redeem') WHERE topup.serial_number(serial) = 7 \gset
SELECT pin AS pin8 FROM topup.export_vouchers('RA', 't_redeem') WHERE topup.serial_number(serial) = 8 \gset
SELECT pin AS pin9 FROM topup.export_vouchers('RA', 't_redeem') WHERE topup.serial_number(serial) = 9 \gset
SELECT pin AS pin10 FROM topup.export_vouchers('RA', 't_redeem') WHERE topup.serial_number(serial) = 10 \gset
SELECT pin AS pin11 FROM topup.export_vouchers('RA', 't_redeem') WHERE topup.serial_number(serial) = 11 \gset
SELECT pin AS pin14 FROM topup.export_vouchers('RA', 't_redeem') WHERE topup.serial_number(serial) = 14 \gset
SELECT pin AS pin12 FROM topup.export_vouchers('RA', 't_redeem') WHERE topup.serial_number(serial) = 12 \gset
SELECT pin AS pin_rx FROM topup.export_vouchers('RX', 't_redeem') \gset
SELECT pin AS pin_rb FROM topup.export_vouchers('RB', 't_redeem') \gset
SELECT pin AS pin_re FROM topup.export_vouchers('RE', 't_redeem') \gset
SELECT pin AS pin_ro1 FROM topup.export_vouchers('RO', 't_redeem_other') WHERE topup.serial_number(serial) = 1 \gset
SELECT pin AS pin_ro2 FROM topup.export_vouchers('RO', 't_redeem_other') WHERE topup.serial_number(serial) = 2 \gset
SELECT pin AS pin_ro3 FROM topup.export_vouchers('RO', 't_redeem_other') WHERE topup.serial_number(serial) = 3 \gset

SELECT * FROM pg_temp.delta() \gset

--
-- Success
--
INSERT INTO res SELECT 'ok', * FROM topup.redeem_voucher(:'pin1', 'alice', client_id => 't_redeem')
RETURNING :cols;
SELECT * FROM pg_temp.delta();

-- the voucher is activated by alice for this order
SELECT v.serial, v.status, v.activated_by, v.order_id = r.order_id AS order_matches,
       v.activated_at = r.completed_at AS activated_at_matches
  FROM topup.vouchers v, res r
 WHERE r.step = 'ok' AND v.client_id = 't_redeem' AND v.series = 'RA'
   AND topup.serial_number(v.serial) = 1;
-- the balance rose by the voucher's amount
SELECT account_id, kind, currency, balance, status FROM topup.accounts
 WHERE client_id = 't_redeem' AND account_id = 'alice';
-- two ledger entries that sum to zero
SELECT l.book, l.account_id, l.currency, l.amount, l.balance_after
  FROM topup.ledger l JOIN res r ON r.order_id = l.order_id AND r.step = 'ok'
 ORDER BY l.book;
SELECT count(*) AS entries, sum(l.amount) AS total
  FROM topup.ledger l JOIN res r ON r.order_id = l.order_id AND r.step = 'ok';
-- the stored order is what the call returned
SELECT o.status, o.completed_at IS NOT NULL AS completed, o.failed_at IS NULL AS not_failed,
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
-- the customer's payment history
SELECT p.payment_type, p.amount, p.currency, p.balance_after, p.comment,
       p.order_id = r.order_id AS order_matches
  FROM topup.account_payments p, res r
 WHERE r.step = 'ok' AND p.client_id = 't_redeem' AND p.account_id = 'alice';
-- the series counts it
SELECT series, quantity, new, activated, value_outstanding, value_redeemed
  FROM topup.series_list WHERE client_id = 't_redeem' AND series = 'RA';
SELECT * FROM topup.verify_ledger();

-- A second redeem into the same account adds up; surrounding spaces around
-- the PIN are forgiven.
INSERT INTO res SELECT 'ok2', * FROM topup.redeem_voucher('  ' || :'pin2' || ' ', 'alice', client_id => 't_redeem')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
SELECT p.amount, p.balance_after, p.comment FROM topup.account_payments p
 WHERE p.client_id = 't_redeem' AND p.account_id = 'alice' ORDER BY p.balance_after;

--
-- invalid_pin: unknown and malformed PINs.  Lockout disabled for this
-- section so the attempts on one account do not lock it out.
--
SET topup.max_failed_redeems = 1000;
INSERT INTO res SELECT 'pin_unknown', * FROM topup.redeem_voucher('0123456789', 'pinfail', client_id => 't_redeem')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
INSERT INTO res SELECT 'pin_letters', * FROM topup.redeem_voucher('12345a789012', 'pinfail', client_id => 't_redeem')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
-- the valid PIN with one letter in it is no match either
INSERT INTO res SELECT 'pin_letters2', * FROM topup.redeem_voucher(overlay(:'pin3' placing 'x' from 6), 'pinfail', client_id => 't_redeem')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
INSERT INTO res SELECT 'pin_short', * FROM topup.redeem_voucher('1234', 'pinfail', client_id => 't_redeem')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
INSERT INTO res SELECT 'pin_long', * FROM topup.redeem_voucher('123456789012345678901', 'pinfail', client_id => 't_redeem')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
-- a real PIN with a digit appended is too long, with a digit cut too short / unknown
INSERT INTO res SELECT 'pin_plus', * FROM topup.redeem_voucher(:'pin3' || '0', 'pinfail', client_id => 't_redeem')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
INSERT INTO res SELECT 'pin_minus', * FROM topup.redeem_voucher(left(:'pin3', -1), 'pinfail', client_id => 't_redeem')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
INSERT INTO res SELECT 'pin_null', * FROM topup.redeem_voucher(NULL, 'pinfail', client_id => 't_redeem')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
INSERT INTO res SELECT 'pin_empty', * FROM topup.redeem_voucher('', 'pinfail', client_id => 't_redeem')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
INSERT INTO res SELECT 'pin_spaces', * FROM topup.redeem_voucher('   ', 'pinfail', client_id => 't_redeem')
RETURNING :cols;
SELECT * FROM pg_temp.delta();

-- Another client's PIN looks exactly like an unknown PIN: same slug, same
-- message, no serial, amount or currency, and that voucher is untouched.
INSERT INTO res SELECT 'pin_foreign', * FROM topup.redeem_voucher(:'pin_ro1', 'pinfail', client_id => 't_redeem')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
SELECT a.status, a.error_slug, a.error_message, a.serial, a.amount, a.currency
  FROM res a WHERE a.step = 'pin_foreign'
EXCEPT
SELECT b.status, b.error_slug, b.error_message, b.serial, b.amount, b.currency
  FROM res b WHERE b.step = 'pin_unknown';
-- ... also when the other client's voucher has been redeemed there
INSERT INTO res SELECT 'other_ok', * FROM topup.redeem_voucher(:'pin_ro2', 'alice', client_id => 't_redeem_other')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
INSERT INTO res SELECT 'pin_foreign_used', * FROM topup.redeem_voucher(:'pin_ro2', 'alice', client_id => 't_redeem')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
SELECT serial, status FROM topup.vouchers WHERE client_id = 't_redeem_other' ORDER BY serial;
RESET topup.max_failed_redeems;

-- the failed orders keep the account, no voucher, no timestamps of success
SELECT step, status, completed_at IS NULL AS not_completed, failed_at IS NOT NULL AS failed,
       account_id, serial IS NULL AS no_serial
  FROM res WHERE step LIKE 'pin%' ORDER BY step;

--
-- Failures about the voucher
--
INSERT INTO res SELECT 'used', * FROM topup.redeem_voucher(:'pin1', 'bob', client_id => 't_redeem')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
-- the voucher still belongs to alice's order
SELECT v.activated_by, v.order_id = r.order_id AS order_matches
  FROM topup.vouchers v, res r
 WHERE r.step = 'ok' AND v.client_id = 't_redeem' AND v.series = 'RA'
   AND topup.serial_number(v.serial) = 1;

-- due while the status still says 'new'
SELECT status, expires_at < now() AS due FROM topup.vouchers WHERE client_id = 't_redeem' AND series = 'RE';
INSERT INTO res SELECT 'due', * FROM topup.redeem_voucher(:'pin_re', 'bob', client_id => 't_redeem')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
SELECT status FROM topup.vouchers WHERE client_id = 't_redeem' AND series = 'RE';

-- expired by an admin
UPDATE topup.vouchers SET status = 'expired' WHERE client_id = 't_redeem' AND series = 'RX';
SELECT * FROM pg_temp.delta() \gset
INSERT INTO res SELECT 'expired', * FROM topup.redeem_voucher(:'pin_rx', 'bob', client_id => 't_redeem')
RETURNING :cols;
SELECT * FROM pg_temp.delta();

-- blocked by an admin
UPDATE topup.vouchers SET status = 'blocked' WHERE client_id = 't_redeem' AND series = 'RB';
SELECT * FROM pg_temp.delta() \gset
INSERT INTO res SELECT 'blocked', * FROM topup.redeem_voucher(:'pin_rb', 'bob', client_id => 't_redeem')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
SELECT series, status FROM topup.vouchers WHERE client_id = 't_redeem' AND series IN ('RB', 'RX') ORDER BY series;

--
-- Failures about the account
--
INSERT INTO res SELECT 'acct_unknown', * FROM topup.redeem_voucher(:'pin3', 'nobody', client_id => 't_redeem')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
INSERT INTO res SELECT 'acct_null', * FROM topup.redeem_voucher(:'pin3', NULL, client_id => 't_redeem')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
INSERT INTO res SELECT 'acct_empty', * FROM topup.redeem_voucher(:'pin3', '', client_id => 't_redeem')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
INSERT INTO res SELECT 'acct_card', * FROM topup.redeem_voucher(:'pin3', 'card1', client_id => 't_redeem')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
-- another client's account is reported like a missing one
INSERT INTO res SELECT 'acct_foreign', * FROM topup.redeem_voucher(:'pin3', 'ot_only', client_id => 't_redeem')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
INSERT INTO res SELECT 'acct_inactive', * FROM topup.redeem_voucher(:'pin3', 'sleepy', client_id => 't_redeem')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
INSERT INTO res SELECT 'acct_blocked', * FROM topup.redeem_voucher(:'pin3', 'blk', client_id => 't_redeem')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
INSERT INTO res SELECT 'acct_closed', * FROM topup.redeem_voucher(:'pin3', 'cls', client_id => 't_redeem')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
INSERT INTO res SELECT 'currency', * FROM topup.redeem_voucher(:'pin3', 'eve', client_id => 't_redeem')
RETURNING :cols;
SELECT * FROM pg_temp.delta();
-- after all that, pin3 still works
SELECT status FROM topup.vouchers WHERE client_id = 't_redeem' AND series = 'RA' AND topup.serial_number(serial) = 3;
INSERT INTO res SELECT 'ok3', * FROM topup.redeem_voucher(:'pin3', 'bob', client_id => 't_redeem')
RETURNING :cols;
SELECT * FROM pg_temp.delta();

--
-- Brute-force lockout by account: five invalid PINs lock it out, then
-- even a valid PIN fails without being looked at.
--
INSERT INTO res SELECT 'la1', * FROM topup.redeem_voucher('0123456789', 'lock_a', client_id => 't_redeem') RETURNING :cols;
INSERT INTO res SELECT 'la2', * FROM topup.redeem_voucher('1111111111', 'lock_a', client_id => 't_redeem') RETURNING :cols;
INSERT INTO res SELECT 'la3', * FROM topup.redeem_voucher('abc', 'lock_a', client_id => 't_redeem') RETURNING :cols;
INSERT INTO res SELECT 'la4', * FROM topup.redeem_voucher(NULL, 'lock_a', client_id => 't_redeem') RETURNING :cols;
INSERT INTO res SELECT 'la5', * FROM topup.redeem_voucher('2222222222', 'lock_a', client_id => 't_redeem') RETURNING :cols;
SELECT * FROM pg_temp.delta();
INSERT INTO res SELECT 'la6', * FROM topup.redeem_voucher(:'pin4', 'lock_a', client_id => 't_redeem') RETURNING :cols;
SELECT * FROM pg_temp.delta();
SELECT status FROM topup.vouchers WHERE client_id = 't_redeem' AND series = 'RA' AND topup.serial_number(serial) = 4;
-- too_many_attempts is not itself an invalid PIN, yet the account stays locked
INSERT INTO res SELECT 'la7', * FROM topup.redeem_voucher(:'pin4', 'lock_a', client_id => 't_redeem') RETURNING :cols;
SELECT * FROM pg_temp.delta();
-- other accounts are not affected
INSERT INTO res SELECT 'la_bob', * FROM topup.redeem_voucher(:'pin4', 'bob', client_id => 't_redeem') RETURNING :cols;
SELECT * FROM pg_temp.delta();
-- the lockout is per client: the other client's lock_a is not affected by
-- the attempts on this client's lock_a
SELECT topup.open_account('lock_a', 'USD', client_id => 't_redeem_other');
SELECT * FROM pg_temp.delta() \gset
INSERT INTO res SELECT 'la_other', * FROM topup.redeem_voucher(:'pin_ro3', 'lock_a', client_id => 't_redeem_other') RETURNING :cols;
SELECT * FROM pg_temp.delta();

--
-- Lockout by source: failures from one source on different accounts add up.
-- A NULL source never counts.
--
INSERT INTO res SELECT 'ls1', * FROM topup.redeem_voucher('0123456789', 'src1', source => '10.0.0.1', client_id => 't_redeem') RETURNING :cols;
INSERT INTO res SELECT 'ls2', * FROM topup.redeem_voucher('0123456789', 'src2', source => '10.0.0.1', client_id => 't_redeem') RETURNING :cols;
INSERT INTO res SELECT 'ls3', * FROM topup.redeem_voucher('0123456789', 'src3', source => '10.0.0.1', client_id => 't_redeem') RETURNING :cols;
INSERT INTO res SELECT 'ls4', * FROM topup.redeem_voucher('0123456789', 'src1', source => '10.0.0.1', client_id => 't_redeem') RETURNING :cols;
INSERT INTO res SELECT 'ls5', * FROM topup.redeem_voucher('0123456789', 'src2', source => '10.0.0.1', client_id => 't_redeem') RETURNING :cols;
SELECT * FROM pg_temp.delta();
-- src3 has one failure of its own, but the source has five
INSERT INTO res SELECT 'ls6', * FROM topup.redeem_voucher(:'pin5', 'src3', source => '10.0.0.1', client_id => 't_redeem') RETURNING :cols;
SELECT * FROM pg_temp.delta();
-- another source (or none) on the same account goes through
INSERT INTO res SELECT 'ls7', * FROM topup.redeem_voucher(:'pin5', 'src3', source => '10.0.0.2', client_id => 't_redeem') RETURNING :cols;
SELECT * FROM pg_temp.delta();
INSERT INTO res SELECT 'ls8', * FROM topup.redeem_voucher(:'pin6', 'src3', client_id => 't_redeem') RETURNING :cols;
SELECT * FROM pg_temp.delta();

--
-- The GUCs: two failures within the window lock out; once the window is
-- shorter than the time since those failures, the lockout is gone.  (The
-- window of a minute holds the three attempts on any machine; the sleep
-- makes the failures older than the one-second window.)
--
SET topup.max_failed_redeems = 2;
SET topup.redeem_lockout = '1min';
SHOW topup.redeem_lockout;
INSERT INTO res SELECT 'lg1', * FROM topup.redeem_voucher('0123456789', 'lock_g', client_id => 't_redeem') RETURNING :cols;
INSERT INTO res SELECT 'lg2', * FROM topup.redeem_voucher('0123456789', 'lock_g', client_id => 't_redeem') RETURNING :cols;
INSERT INTO res SELECT 'lg3', * FROM topup.redeem_voucher(:'pin7', 'lock_g', client_id => 't_redeem') RETURNING :cols;
SELECT pg_sleep(GREATEST(0, 1.05 - EXTRACT(epoch FROM clock_timestamp() - max(created_at))))
  FROM topup.orders WHERE client_id = 't_redeem' AND account_id = 'lock_g';
SET topup.redeem_lockout = '1s';
INSERT INTO res SELECT 'lg4', * FROM topup.redeem_voucher(:'pin7', 'lock_g', client_id => 't_redeem') RETURNING :cols;
SELECT * FROM pg_temp.delta();
-- only superusers may change them
SELECT name, context FROM pg_settings WHERE name IN ('topup.max_failed_redeems', 'topup.redeem_lockout') ORDER BY name;
RESET topup.max_failed_redeems;
RESET topup.redeem_lockout;

--
-- Replays do not count as failed attempts: four invalid PINs (one sent
-- with a key) and five replays of the keyed one leave lock_r usable.
--
INSERT INTO res SELECT 'lr1', * FROM topup.redeem_voucher('0123456789', 'lock_r', 'lr-key', client_id => 't_redeem') RETURNING :cols;
INSERT INTO res SELECT 'lr1_replay1', * FROM topup.redeem_voucher('0123456789', 'lock_r', 'lr-key', client_id => 't_redeem') RETURNING :cols;
INSERT INTO res SELECT 'lr1_replay2', * FROM topup.redeem_voucher('0123456789', 'lock_r', 'lr-key', client_id => 't_redeem') RETURNING :cols;
INSERT INTO res SELECT 'lr1_replay3', * FROM topup.redeem_voucher('0123456789', 'lock_r', 'lr-key', client_id => 't_redeem') RETURNING :cols;
INSERT INTO res SELECT 'lr1_replay4', * FROM topup.redeem_voucher('0123456789', 'lock_r', 'lr-key', client_id => 't_redeem') RETURNING :cols;
INSERT INTO res SELECT 'lr1_replay5', * FROM topup.redeem_voucher('0123456789', 'lock_r', 'lr-key', client_id => 't_redeem') RETURNING :cols;
INSERT INTO res SELECT 'lr2', * FROM topup.redeem_voucher('0123456789', 'lock_r', client_id => 't_redeem') RETURNING :cols;
INSERT INTO res SELECT 'lr3', * FROM topup.redeem_voucher('0123456789', 'lock_r', client_id => 't_redeem') RETURNING :cols;
INSERT INTO res SELECT 'lr4', * FROM topup.redeem_voucher('0123456789', 'lock_r', client_id => 't_redeem') RETURNING :cols;
SELECT * FROM pg_temp.delta();
INSERT INTO res SELECT 'lr5', * FROM topup.redeem_voucher(:'pin8', 'lock_r', client_id => 't_redeem') RETURNING :cols;
SELECT * FROM pg_temp.delta();
-- the replays returned the stored order
SELECT count(DISTINCT order_id) AS orders, count(*) AS calls FROM res WHERE step LIKE 'lr1%';

--
-- Idempotency (§4)
--
-- a completed order is replayed: same order, no new money movement
INSERT INTO res SELECT 'k_ok', * FROM topup.redeem_voucher(:'pin9', 'alice', 'k-ok', client_id => 't_redeem') RETURNING :cols;
SELECT * FROM pg_temp.delta();
INSERT INTO res SELECT 'k_ok_replay', * FROM topup.redeem_voucher(:'pin9', 'alice', 'k-ok', client_id => 't_redeem') RETURNING :cols;
SELECT * FROM pg_temp.delta();
-- the key is matched on the PIN's digits: surrounding spaces are the same request
INSERT INTO res SELECT 'k_ok_replay2', * FROM topup.redeem_voucher(' ' || :'pin9', 'alice', 'k-ok', client_id => 't_redeem') RETURNING :cols;
SELECT * FROM pg_temp.delta();
SELECT b.step, a.order_id = b.order_id AS same_order, a.reference = b.reference AS same_reference,
       a.created_at = b.created_at AS same_created_at, b.idempotency_key
  FROM res a, res b WHERE a.step = 'k_ok' AND b.step IN ('k_ok_replay', 'k_ok_replay2') ORDER BY b.step;

-- a failed order is replayed too, even when the situation has changed since
INSERT INTO res SELECT 'k_fail', * FROM topup.redeem_voucher(:'pin10', 'late', 'k-fail', client_id => 't_redeem') RETURNING :cols;
SELECT * FROM pg_temp.delta();
SELECT topup.open_account('late', 'USD', client_id => 't_redeem');
SELECT * FROM pg_temp.delta() \gset
INSERT INTO res SELECT 'k_fail_replay', * FROM topup.redeem_voucher(:'pin10', 'late', 'k-fail', client_id => 't_redeem') RETURNING :cols;
SELECT * FROM pg_temp.delta();
SELECT a.order_id = b.order_id AS same_order FROM res a, res b WHERE a.step = 'k_fail' AND b.step = 'k_fail_replay';
-- and a stored voucher_already_redeemed
INSERT INTO res SELECT 'k_used', * FROM topup.redeem_voucher(:'pin9', 'bob', 'k-used', client_id => 't_redeem') RETURNING :cols;
INSERT INTO res SELECT 'k_used_replay', * FROM topup.redeem_voucher(:'pin9', 'bob', 'k-used', client_id => 't_redeem') RETURNING :cols;
SELECT * FROM pg_temp.delta();

-- same key, other parameters: idempotency_key_reused, nothing changes
SELECT pg_temp.try(format($$SELECT * FROM topup.redeem_voucher(%L, 'alice', 'k-ok', client_id => 't_redeem')$$, :'pin10')) AS other_pin;
SELECT pg_temp.try(format($$SELECT * FROM topup.redeem_voucher(%L, 'bob', 'k-ok', client_id => 't_redeem')$$, :'pin9')) AS other_account;
SELECT pg_temp.try(format($$SELECT * FROM topup.redeem_voucher(%L, 'late', 'k-fail', client_id => 't_redeem')$$, :'pin11')) AS failed_other_pin;
-- the by-serial path is another request even for the same voucher and account
SELECT pg_temp.try($$SELECT * FROM topup.redeem_voucher_by_serial(topup.make_serial('RA', 9), 'alice', 'k-ok', 't_redeem')$$) AS by_serial;
\set VERBOSITY sqlstate
SELECT * FROM topup.redeem_voucher(:'pin10', 'alice', 'k-ok', client_id => 't_redeem');
\set VERBOSITY default
SELECT * FROM pg_temp.delta();
SELECT status FROM topup.vouchers WHERE client_id = 't_redeem' AND series = 'RA' AND topup.serial_number(serial) = 10;

-- keys are scoped per client: the other client's 'k-ok' is its own
INSERT INTO res SELECT 'k_other', * FROM topup.redeem_voucher(:'pin_ro1', 'alice', 'k-ok', client_id => 't_redeem_other') RETURNING :cols;
SELECT * FROM pg_temp.delta();
SELECT a.order_id <> b.order_id AS different_orders FROM res a, res b WHERE a.step = 'k_ok' AND b.step = 'k_other';
-- ... and per order type: a card top-up may use 'k-ok' too (it fails on
-- its own terms, a stored card_not_found, not idempotency_key_reused)
SELECT order_type, status, error_slug, replayed
  FROM topup.topup_card('nocard', 5, 'k-ok', client_id => 't_redeem');
INSERT INTO res SELECT 'k_ok_replay3', * FROM topup.redeem_voucher(:'pin9', 'alice', 'k-ok', client_id => 't_redeem') RETURNING :cols;
SELECT * FROM pg_temp.delta();
SELECT a.order_id = b.order_id AS same_order FROM res a, res b WHERE a.step = 'k_ok' AND b.step = 'k_ok_replay3';

-- key length: 1 to 255 characters
SELECT pg_temp.try(format($$SELECT * FROM topup.redeem_voucher(%L, 'alice', '', client_id => 't_redeem')$$, :'pin10')) AS empty_key;
SELECT pg_temp.try(format($$SELECT * FROM topup.redeem_voucher(%L, 'alice', repeat('k', 256), client_id => 't_redeem')$$, :'pin10')) AS long_key;
SELECT pg_temp.try($$SELECT * FROM topup.redeem_voucher_by_serial(topup.make_serial('RA', 10), 'alice', '', 't_redeem')$$) AS empty_key_serial;
SELECT * FROM pg_temp.delta();
INSERT INTO res SELECT 'k_255', * FROM topup.redeem_voucher(:'pin10', 'alice', repeat('k', 255), client_id => 't_redeem') RETURNING :cols;
SELECT * FROM pg_temp.delta();
SELECT length(idempotency_key) FROM res WHERE step = 'k_255';

--
-- redeem_voucher_by_serial: the admin path, no lockout
--
INSERT INTO res SELECT 'bs_ok', * FROM topup.redeem_voucher_by_serial(topup.make_serial('RA', 11), 'bob', client_id => 't_redeem') RETURNING :cols;
SELECT * FROM pg_temp.delta();
SELECT p.amount, p.comment FROM topup.account_payments p, res r
 WHERE r.step = 'bs_ok' AND p.order_id = r.order_id;
INSERT INTO res SELECT 'bs_used', * FROM topup.redeem_voucher_by_serial(topup.make_serial('RA', 11), 'alice', client_id => 't_redeem') RETURNING :cols;
SELECT * FROM pg_temp.delta();
INSERT INTO res SELECT 'bs_unknown', * FROM topup.redeem_voucher_by_serial(topup.make_serial('RA', 999), 'bob', client_id => 't_redeem') RETURNING :cols;
SELECT * FROM pg_temp.delta();
INSERT INTO res SELECT 'bs_foreign', * FROM topup.redeem_voucher_by_serial(topup.make_serial('RO', 3), 'bob', client_id => 't_redeem') RETURNING :cols;
SELECT * FROM pg_temp.delta();
INSERT INTO res SELECT 'bs_expired', * FROM topup.redeem_voucher_by_serial(topup.make_serial('RE', 1), 'bob', client_id => 't_redeem') RETURNING :cols;
INSERT INTO res SELECT 'bs_blocked', * FROM topup.redeem_voucher_by_serial(topup.make_serial('RB', 1), 'bob', client_id => 't_redeem') RETURNING :cols;
INSERT INTO res SELECT 'bs_card', * FROM topup.redeem_voucher_by_serial(topup.make_serial('RA', 12), 'card1', client_id => 't_redeem') RETURNING :cols;
INSERT INTO res SELECT 'bs_currency', * FROM topup.redeem_voucher_by_serial(topup.make_serial('RA', 12), 'eve', client_id => 't_redeem') RETURNING :cols;
SELECT * FROM pg_temp.delta();
-- lock_a is locked out for PINs, not for the admin
INSERT INTO res SELECT 'bs_locked_pin', * FROM topup.redeem_voucher(:'pin12', 'lock_a', client_id => 't_redeem') RETURNING :cols;
INSERT INTO res SELECT 'bs_lock_a', * FROM topup.redeem_voucher_by_serial(topup.make_serial('RA', 12), 'lock_a', client_id => 't_redeem') RETURNING :cols;
SELECT * FROM pg_temp.delta();
-- idempotent replay by serial
INSERT INTO res SELECT 'bs_key', * FROM topup.redeem_voucher_by_serial(topup.make_serial('RA', 13), 'bob', 'bs-key', 't_redeem') RETURNING :cols;
-- the serial typed in lower case with extra leading zeros is the same request
INSERT INTO res SELECT 'bs_key_replay', * FROM topup.redeem_voucher_by_serial(
    ('  ra-000' || split_part(topup.make_serial('RA', 13)::text, '-', 2))::topup.voucher_serial,
    'bob', 'bs-key', 't_redeem') RETURNING :cols;
SELECT * FROM pg_temp.delta();
SELECT a.order_id = b.order_id AS same_order FROM res a, res b WHERE a.step = 'bs_key' AND b.step = 'bs_key_replay';
SELECT pg_temp.try($$SELECT * FROM topup.redeem_voucher_by_serial(topup.make_serial('RA', 14), 'bob', 'bs-key', 't_redeem')$$) AS other_serial;
SELECT pg_temp.try($$SELECT * FROM topup.redeem_voucher_by_serial(NULL, 'bob', client_id => 't_redeem')$$) AS null_serial;
SELECT * FROM pg_temp.delta();

--
-- Unknown client: a raised error, nothing stored
--
SELECT pg_temp.try(format($$SELECT * FROM topup.redeem_voucher(%L, 'alice', client_id => 'nope')$$, :'pin14')) AS unknown_client;
SELECT pg_temp.try($$SELECT * FROM topup.redeem_voucher('0123456789', 'alice', client_id => NULL)$$) AS null_client;
SELECT pg_temp.try($$SELECT * FROM topup.redeem_voucher_by_serial(topup.make_serial('RA', 14), 'alice', client_id => 'nope')$$) AS unknown_client_serial;
SELECT * FROM pg_temp.delta();

--
-- The order_result columns of every call
--
SELECT count(*) AS calls,
       bool_and(order_type = 'voucher_redeem') AS all_voucher_redeem,
       bool_and(fee IS NULL) AS no_fee,
       bool_and(topup_status IS NULL) AS no_topup_status,
       bool_and(master_balance_before IS NULL AND master_balance_after IS NULL) AS no_master,
       bool_and(reference ~ '^TU[A-Z2-9]{20}$') AS references_ok,
       count(DISTINCT reference) = count(DISTINCT order_id) AS one_reference_per_order,
       bool_and(client_id IN ('t_redeem', 't_redeem_other')) AS client_ok,
       bool_and(created_at IS NOT NULL) AS created_ok,
       bool_and((status = 'completed') = (completed_at IS NOT NULL AND failed_at IS NULL
                                          AND error_slug IS NULL AND error_message IS NULL
                                          AND account_balance_after IS NOT NULL)) AS completed_ok,
       bool_and((status = 'failed') = (failed_at IS NOT NULL AND completed_at IS NULL
                                       AND error_slug IS NOT NULL AND error_message IS NOT NULL
                                       AND account_balance_after IS NULL)) AS failed_ok,
       bool_and(status IN ('completed', 'failed')) AS terminal
  FROM res;
-- every returned row equals its stored order (but for "replayed")
SELECT count(*) AS mismatches
  FROM res r LEFT JOIN topup.order_list o ON o.order_id = r.order_id
 WHERE (o.order_id, o.order_type, o.status, o.topup_status, o.client_id, o.account_id, o.serial::text,
        o.amount, o.fee, o.currency, o.master_balance_before, o.master_balance_after,
        o.account_balance_after, o.error_slug, o.error_message, o.idempotency_key, o.reference,
        o.created_at, o.completed_at, o.failed_at)
       IS DISTINCT FROM
       (r.order_id, r.order_type, r.status, r.topup_status, r.client_id, r.account_id, r.serial::text,
        r.amount, r.fee, r.currency, r.master_balance_before, r.master_balance_after,
        r.account_balance_after, r.error_slug, r.error_message, r.idempotency_key, r.reference,
        r.created_at, r.completed_at, r.failed_at);
-- every stored order of our clients was returned by some call
SELECT count(*) AS unreturned FROM topup.orders o
 WHERE o.client_id IN ('t_redeem', 't_redeem_other') AND o.order_type = 'voucher_redeem'
   AND NOT EXISTS (SELECT 1 FROM res r WHERE r.order_id = o.order_id);
-- replayed is true exactly for the replays
SELECT step FROM res WHERE replayed ORDER BY step;

-- every slug seen is listed in error_codes
SELECT s.slug, e.sqlstate
  FROM (SELECT DISTINCT error_slug AS slug FROM res WHERE error_slug IS NOT NULL
        UNION SELECT 'idempotency_key_reused') s
  LEFT JOIN topup.error_codes e ON e.slug = s.slug
 ORDER BY s.slug;

-- leave no due voucher behind for later tests' sweeps
UPDATE topup.vouchers SET status = 'expired' WHERE client_id = 't_redeem' AND series = 'RE';

-- final balances and the audit
SELECT account_id, currency, balance, status FROM topup.accounts
 WHERE client_id = 't_redeem' ORDER BY account_id;
SELECT account_id, balance FROM topup.accounts
 WHERE client_id = 't_redeem_other' ORDER BY account_id;
SELECT series, quantity, new, activated, expired, blocked FROM topup.series_list
 WHERE client_id IN ('t_redeem', 't_redeem_other') ORDER BY client_id, series;
SELECT * FROM topup.verify_ledger();
