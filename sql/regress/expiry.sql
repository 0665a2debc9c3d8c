SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS topup CASCADE;
RESET client_min_messages;

--
-- Expiry (SPEC §2): expire_vouchers, the run_expiry procedure and
-- schedule_expiry without pg_cron.
--

SELECT topup.create_client('t_expiry');
SELECT topup.open_account('ex-acc', 'USD', client_id => 't_expiry');

-- The expiry sweep works on every client's vouchers: first expire what
-- earlier tests left due, so that the counts below are this test's own.
SELECT topup.expire_vouchers(1000000) AS swept \gset
SELECT count(*) AS still_due FROM topup.vouchers
 WHERE status IN ('new', 'blocked') AND expires_at <= now();

-- max_rows must be positive
SELECT topup.expire_vouchers(0);
SELECT topup.expire_vouchers(-1);
SELECT topup.expire_vouchers(NULL) IS NULL AS strict;

-- Group EXA: 7 vouchers due in a second, and 3 more of which one will be
-- blocked and one activated before they fall due.  One transaction, so that
-- none falls due before the block and the redeem, however slow the machine.
BEGIN;
SELECT series, quantity FROM topup.generate_vouchers('EXA', 7, 10, 'USD', 12,
    now() + interval '1 second', client_id => 't_expiry');
SELECT series, quantity FROM topup.generate_vouchers('EXS', 3, 10, 'USD', 12,
    now() + interval '1 second', client_id => 't_expiry');
UPDATE topup.vouchers SET status = 'blocked'
 WHERE client_id = 't_expiry' AND series = 'EXS' AND topup.serial_number(serial) = 1;
SELECT status, error_slug, amount FROM topup.redeem_voucher(
    (SELECT pin FROM topup.export_vouchers('EXS', 't_expiry') WHERE topup.serial_number(serial) = 2),
    'ex-acc', client_id => 't_expiry');
-- Group EXB: 7 vouchers due a little later (the sweep takes the earliest first).
SELECT series, quantity FROM topup.generate_vouchers('EXB', 7, 10, 'USD', 12,
    now() + interval '1.1 seconds', client_id => 't_expiry');
-- not due: a month ahead, and no expiry date at all
SELECT series, quantity FROM topup.generate_vouchers('EXF', 2, 10, 'USD', 12,
    now() + interval '30 days', client_id => 't_expiry');
SELECT series, quantity FROM topup.generate_vouchers('EXN', 2, 10, 'USD', 12,
    client_id => 't_expiry');
COMMIT;

CREATE TEMP VIEW ex AS
SELECT series, status, count(*) AS vouchers
  FROM topup.vouchers WHERE client_id = 't_expiry'
 GROUP BY series, status ORDER BY series, status;
SELECT * FROM ex;

SELECT pg_sleep(GREATEST(0, EXTRACT(epoch FROM max(expires_at) - clock_timestamp())) + 0.05)
  FROM topup.vouchers WHERE client_id = 't_expiry' AND series IN ('EXA', 'EXS', 'EXB');

-- Still new until a sweep runs: 9 of EXA/EXS and 7 of EXB are due.
SELECT series, status, count(*) AS due
  FROM topup.vouchers
 WHERE client_id = 't_expiry' AND expires_at <= now()
 GROUP BY series, status ORDER BY series, status;

-- batches of at most max_rows, earliest expiry first
SELECT topup.expire_vouchers(4) AS expired;
SELECT topup.expire_vouchers(4) AS expired;
SELECT topup.expire_vouchers(1) AS expired;
SELECT * FROM ex;

-- run_expiry repeats batches of 2 until none is left, committing each
-- batch: the 7 vouchers take 4 batches, each a transaction of its own
SELECT txid_current() AS xid_before \gset
CALL topup.run_expiry(2);
SELECT * FROM ex;
SELECT txid_current() - :xid_before >= 5 AS committed_per_batch;
SELECT topup.expire_vouchers() AS expired;
CALL topup.run_expiry();

-- the sweep does not touch the activated voucher, nor those not yet due
SELECT status, activated_by FROM topup.vouchers
 WHERE client_id = 't_expiry' AND series = 'EXS' AND topup.serial_number(serial) = 2;

-- batch_size must be positive
CALL topup.run_expiry(0);
CALL topup.run_expiry(-5);

-- Inside a transaction block run_expiry cannot commit between batches; it
-- runs them all in the caller's transaction.  Due vouchers are made here
-- without waiting, by moving expires_at with the triggers off, and queueing
-- the new due date as the vouchers trigger would have (the sweep reads the
-- queue, topup.voucher_expiry).
SET session_replication_role = replica;
UPDATE topup.vouchers SET expires_at = now() - interval '1 minute'
 WHERE client_id = 't_expiry' AND series = 'EXF';
INSERT INTO topup.voucher_expiry (expires_at, client_id, serial)
SELECT expires_at, client_id, serial FROM topup.vouchers WHERE client_id = 't_expiry' AND series = 'EXF';
RESET session_replication_role;
SELECT * FROM ex WHERE series = 'EXF';
BEGIN;
CALL topup.run_expiry(1);
SELECT * FROM ex WHERE series = 'EXF';
ROLLBACK;
SELECT * FROM ex WHERE series = 'EXF';
BEGIN;
CALL topup.run_expiry(1);
COMMIT;
SELECT * FROM ex WHERE series = 'EXF';
-- and from a DO block inside a transaction block
SET session_replication_role = replica;
UPDATE topup.vouchers SET expires_at = now() - interval '1 minute'
 WHERE client_id = 't_expiry' AND series = 'EXN';
INSERT INTO topup.voucher_expiry (expires_at, client_id, serial)
SELECT expires_at, client_id, serial FROM topup.vouchers WHERE client_id = 't_expiry' AND series = 'EXN';
RESET session_replication_role;
BEGIN;
DO $$ BEGIN CALL topup.run_expiry(1); END $$;
COMMIT;
SELECT * FROM ex;

-- an expired voucher cannot be redeemed
SELECT status, error_slug FROM topup.redeem_voucher(
    (SELECT pin FROM topup.export_vouchers('EXB', 't_expiry') WHERE topup.serial_number(serial) = 1),
    'ex-acc', client_id => 't_expiry');

-- schedule_expiry needs pg_cron, which this database does not have
SELECT topup.schedule_expiry();
\set VERBOSITY sqlstate
SELECT topup.schedule_expiry('0 * * * *');
\set VERBOSITY default
SELECT topup.schedule_expiry(NULL) IS NULL AS strict;

SELECT * FROM topup.verify_ledger();

-- run_expiry paces its batches to topup.expiry_max_rate vouchers per
-- second: 30 due vouchers at 20 per second in batches of 10 take at least
-- 1.5 s (it sleeps after each full batch, once committed).  0 means no limit;
-- a negative rate is refused.
SHOW topup.expiry_max_rate;
SET topup.expiry_max_rate = -1;
SELECT topup.expire_vouchers(1000000) AS swept \gset
SELECT quantity FROM topup.generate_vouchers('EXP', 30, 10, 'USD', 12, now() + interval '1 second',
                                            client_id => 't_expiry');
SELECT pg_sleep(GREATEST(0, EXTRACT(epoch FROM max(expires_at) - clock_timestamp())) + 0.05)
  FROM topup.vouchers WHERE client_id = 't_expiry' AND series = 'EXP';
SET topup.expiry_max_rate = 20;
SELECT clock_timestamp() AS t0 \gset
CALL topup.run_expiry(10);
SELECT clock_timestamp() - :'t0'::timestamptz >= interval '1.4 seconds' AS paced;
SELECT status, count(*) FROM topup.vouchers WHERE client_id = 't_expiry' AND series = 'EXP' GROUP BY status;
-- 0 means no limit, not a rate of zero (which would never finish) nor a slow
-- one: 30 batches of one voucher would take at least 29 s at one voucher per
-- second; unpaced they take a fraction of a second.  The bound is loose on
-- purpose, so that a loaded machine still passes.
SET topup.expiry_max_rate = 0;
SELECT quantity FROM topup.generate_vouchers('EXQ', 30, 10, 'USD', 12, now() + interval '1 second',
                                            client_id => 't_expiry');
SELECT pg_sleep(GREATEST(0, EXTRACT(epoch FROM max(expires_at) - clock_timestamp())) + 0.05)
  FROM topup.vouchers WHERE client_id = 't_expiry' AND series = 'EXQ';
SELECT clock_timestamp() AS t0 \gset
CALL topup.run_expiry(1);
SELECT clock_timestamp() - :'t0'::timestamptz < interval '20 seconds' AS not_paced;
SELECT status, count(*) FROM topup.vouchers WHERE client_id = 't_expiry' AND series = 'EXQ' GROUP BY status;
RESET topup.expiry_max_rate;
SELECT * FROM topup.verify_ledger();

--
-- An admin's due dates, end to end.  A postponed voucher is not expired
-- when its old date passes (the sweep drops the old queue entry) but when
-- the new one does.  A DBA who changes dates with the triggers off
-- (session_replication_role = replica) queues them as the README says,
-- and the sweep expires them.
--
BEGIN;
SELECT quantity FROM topup.generate_vouchers('EXD', 3, 10, 'USD', 12, now() + interval '1 second',
                                            client_id => 't_expiry');
UPDATE topup.vouchers SET expires_at = now() + interval '3 seconds'
 WHERE client_id = 't_expiry' AND series = 'EXD' AND topup.serial_number(serial) = 1;
COMMIT;
SELECT count(*) AS queued FROM topup.voucher_expiry q
  JOIN topup.vouchers v ON v.client_id = q.client_id AND v.serial OPERATOR(topup.=) q.serial
 WHERE v.series = 'EXD';
SELECT pg_sleep(GREATEST(0, EXTRACT(epoch FROM min(expires_at) - clock_timestamp())) + 0.05)
  FROM topup.vouchers WHERE client_id = 't_expiry' AND series = 'EXD';
SELECT topup.expire_vouchers() AS expired;
SELECT topup.serial_number(serial) AS n, status FROM topup.vouchers
 WHERE client_id = 't_expiry' AND series = 'EXD' ORDER BY serial;
-- the postponed voucher's old entry is gone, its new one waits
SELECT count(*) AS queued FROM topup.voucher_expiry q
  JOIN topup.vouchers v ON v.client_id = q.client_id AND v.serial OPERATOR(topup.=) q.serial
 WHERE v.series = 'EXD';
SELECT pg_sleep(GREATEST(0, EXTRACT(epoch FROM max(expires_at) - clock_timestamp())) + 0.05)
  FROM topup.vouchers WHERE client_id = 't_expiry' AND series = 'EXD';
SELECT topup.expire_vouchers() AS expired;
SELECT topup.serial_number(serial) AS n, status FROM topup.vouchers
 WHERE client_id = 't_expiry' AND series = 'EXD' ORDER BY serial;

-- with the triggers off a past date changes nothing by itself; queued as
-- the README says, the sweep expires it
SELECT quantity FROM topup.generate_vouchers('EXR', 2, 10, 'USD', 12, now() + interval '30 days',
                                            client_id => 't_expiry');
SET session_replication_role = replica;
UPDATE topup.vouchers SET expires_at = now() - interval '1 hour'
 WHERE client_id = 't_expiry' AND series = 'EXR';
INSERT INTO topup.voucher_expiry (expires_at, client_id, serial)
SELECT expires_at, client_id, serial FROM topup.vouchers WHERE client_id = 't_expiry' AND series = 'EXR';
RESET session_replication_role;
SELECT status, count(*) FROM topup.vouchers WHERE client_id = 't_expiry' AND series = 'EXR' GROUP BY status;
SELECT topup.expire_vouchers() AS expired;
SELECT status, count(*) FROM topup.vouchers WHERE client_id = 't_expiry' AND series = 'EXR' GROUP BY status;
SELECT * FROM topup.verify_ledger();
