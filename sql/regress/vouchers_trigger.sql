SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS topup CASCADE;
RESET client_min_messages;

--
-- The voucher trigger (SPEC §2): what an admin may do to topup.vouchers
-- with plain UPDATE and DELETE, and what is rejected (23514, naming the
-- voucher and both statuses, changing nothing).
--

-- the operators of topup.voucher_serial
SET search_path = public, topup;

-- Run a statement; return 'ok' or its SQLSTATE and message.
CREATE FUNCTION pg_temp.try(cmd text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE cmd;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
-- The same for statements over many rows, where the voucher named is the
-- first forbidden one the scan meets: its serial is masked.
CREATE FUNCTION pg_temp.tryn(cmd text) RETURNS text LANGUAGE sql AS $$
    SELECT regexp_replace(pg_temp.try(cmd), '[A-Z0-9]+-[0-9]{8,}', 'VT?-????????', 'g')
$$;

SELECT topup.create_client('t_vouchers_trigger');
SELECT topup.create_reseller('r1', 't_vouchers_trigger');
SELECT topup.create_reseller('r2', 't_vouchers_trigger');
-- a reseller of another client
SELECT topup.create_client('t_vouchers_trigger_other');
SELECT topup.create_reseller('r3', 't_vouchers_trigger_other');
SELECT topup.open_account('vt-acc', 'USD', client_id => 't_vouchers_trigger');

SELECT series, quantity, new FROM topup.generate_vouchers('VT1', 8, 10, 'USD', 12,
    now() + interval '30 days', 'r1', 't_vouchers_trigger');
-- no expiry date
SELECT series, quantity, new FROM topup.generate_vouchers('VT2', 2, 5, 'USD', 12,
    NULL, NULL, 't_vouchers_trigger');

-- The vouchers of this test: series, number, status, reseller, expiry.
CREATE TEMP VIEW vt AS
SELECT series, topup.serial_number(serial) AS n, status, reseller,
       CASE WHEN expires_at IS NULL THEN 'none'
            WHEN expires_at > now() THEN 'future' ELSE 'past' END AS expiry
  FROM topup.vouchers
 WHERE client_id = 't_vouchers_trigger'
 ORDER BY series, n;

SELECT * FROM vt;

--
-- Allowed status changes through plain UPDATE
--

-- new -> blocked -> new
UPDATE topup.vouchers SET status = 'blocked'
 WHERE client_id = 't_vouchers_trigger' AND serial = topup.make_serial('VT1', 1);
SELECT n, status FROM vt WHERE series = 'VT1' AND n = 1;
UPDATE topup.vouchers SET status = 'new'
 WHERE client_id = 't_vouchers_trigger' AND serial = topup.make_serial('VT1', 1);
SELECT n, status FROM vt WHERE series = 'VT1' AND n = 1;

-- new -> expired
UPDATE topup.vouchers SET status = 'expired'
 WHERE client_id = 't_vouchers_trigger' AND serial = topup.make_serial('VT1', 2);
-- blocked -> expired
UPDATE topup.vouchers SET status = 'blocked'
 WHERE client_id = 't_vouchers_trigger' AND serial = topup.make_serial('VT1', 3);
UPDATE topup.vouchers SET status = 'expired'
 WHERE client_id = 't_vouchers_trigger' AND serial = topup.make_serial('VT1', 3);
SELECT n, status, expiry FROM vt WHERE series = 'VT1' AND n IN (2, 3);

-- expired -> new: VT1-2 still has an expires_at in the future
UPDATE topup.vouchers SET status = 'new'
 WHERE client_id = 't_vouchers_trigger' AND serial = topup.make_serial('VT1', 2);
SELECT n, status, expiry FROM vt WHERE series = 'VT1' AND n = 2;

-- an expires_at in the past makes a new voucher expired ...
UPDATE topup.vouchers SET expires_at = now() - interval '1 day'
 WHERE client_id = 't_vouchers_trigger' AND serial = topup.make_serial('VT1', 4);
SELECT n, status, expiry FROM vt WHERE series = 'VT1' AND n = 4;
-- ... and a blocked one (even when the same UPDATE asks for blocked)
UPDATE topup.vouchers SET status = 'blocked', expires_at = now() - interval '1 day'
 WHERE client_id = 't_vouchers_trigger' AND serial = topup.make_serial('VT1', 6);
SELECT n, status, expiry FROM vt WHERE series = 'VT1' AND n = 6;

-- expired -> new with a past expires_at, or with none, is rejected
UPDATE topup.vouchers SET status = 'new'
 WHERE client_id = 't_vouchers_trigger' AND serial = topup.make_serial('VT1', 4);
SELECT pg_temp.try($$UPDATE topup.vouchers SET status = 'new', expires_at = NULL
 WHERE client_id = 't_vouchers_trigger' AND serial = topup.make_serial('VT1', 4)$$);
SELECT pg_temp.try($$UPDATE topup.vouchers SET status = 'new', expires_at = now() - interval '1 hour'
 WHERE client_id = 't_vouchers_trigger' AND serial = topup.make_serial('VT1', 4)$$);
-- a voucher without expiry date, expired by hand, cannot become new
UPDATE topup.vouchers SET status = 'expired'
 WHERE client_id = 't_vouchers_trigger' AND serial = topup.make_serial('VT2', 1);
SELECT pg_temp.try($$UPDATE topup.vouchers SET status = 'new'
 WHERE client_id = 't_vouchers_trigger' AND serial = topup.make_serial('VT2', 1)$$);
SELECT n, status, expiry FROM vt WHERE (series, n) IN (('VT1', 4), ('VT2', 1));

-- ... but with a future expires_at in the same UPDATE it is allowed
UPDATE topup.vouchers SET status = 'new', expires_at = now() + interval '60 days'
 WHERE client_id = 't_vouchers_trigger' AND serial = topup.make_serial('VT1', 4);
UPDATE topup.vouchers SET status = 'new', expires_at = now() + interval '60 days'
 WHERE client_id = 't_vouchers_trigger' AND serial = topup.make_serial('VT2', 1);
SELECT n, status, expiry FROM vt WHERE (series, n) IN (('VT1', 4), ('VT2', 1));

-- expired -> blocked is not a status change an admin may make
SELECT pg_temp.try($$UPDATE topup.vouchers SET status = 'blocked'
 WHERE client_id = 't_vouchers_trigger' AND serial = topup.make_serial('VT1', 3)$$);

--
-- Activation happens only through the redeem functions
--
UPDATE topup.vouchers SET status = 'activated'
 WHERE client_id = 't_vouchers_trigger' AND serial = topup.make_serial('VT1', 5);
SELECT pg_temp.try($$UPDATE topup.vouchers SET status = 'activated'
 WHERE client_id = 't_vouchers_trigger' AND serial = topup.make_serial('VT1', 3)$$);
SELECT pg_temp.try($$UPDATE topup.vouchers SET status = 'activated', activated_by = 'vt-acc',
        activated_at = now(), order_id = 1
 WHERE client_id = 't_vouchers_trigger' AND serial = topup.make_serial('VT1', 5)$$);
SELECT n, status FROM vt WHERE series = 'VT1' AND n IN (3, 5);

-- redeem VT1-5 with its PIN (never printed)
SELECT status, error_slug, amount, currency, account_balance_after, replayed
  FROM topup.redeem_voucher(
        (SELECT pin FROM topup.export_vouchers('VT1', 't_vouchers_trigger')
          WHERE serial = topup.make_serial('VT1', 5)),
        'vt-acc', client_id => 't_vouchers_trigger');
SELECT status, activated_at IS NOT NULL AS has_activated_at, activated_by,
       order_id IS NOT NULL AS has_order
  FROM topup.vouchers
 WHERE client_id = 't_vouchers_trigger' AND serial = topup.make_serial('VT1', 5);

-- an activated voucher is immutable and cannot be deleted
UPDATE topup.vouchers SET reseller = 'r2'
 WHERE client_id = 't_vouchers_trigger' AND serial = topup.make_serial('VT1', 5);
SELECT pg_temp.try($$UPDATE topup.vouchers SET expires_at = now() + interval '1 year'
 WHERE client_id = 't_vouchers_trigger' AND serial = topup.make_serial('VT1', 5)$$);
SELECT pg_temp.try($$UPDATE topup.vouchers SET expires_at = now() - interval '1 day'
 WHERE client_id = 't_vouchers_trigger' AND serial = topup.make_serial('VT1', 5)$$);
SELECT pg_temp.try($$UPDATE topup.vouchers SET reseller = NULL
 WHERE client_id = 't_vouchers_trigger' AND serial = topup.make_serial('VT1', 5)$$);
UPDATE topup.vouchers SET status = 'new'
 WHERE client_id = 't_vouchers_trigger' AND serial = topup.make_serial('VT1', 5);
SELECT pg_temp.try($$UPDATE topup.vouchers SET status = 'expired'
 WHERE client_id = 't_vouchers_trigger' AND serial = topup.make_serial('VT1', 5)$$);
SELECT pg_temp.try($$UPDATE topup.vouchers SET status = 'blocked'
 WHERE client_id = 't_vouchers_trigger' AND serial = topup.make_serial('VT1', 5)$$);
SELECT pg_temp.try($$UPDATE topup.vouchers SET activated_by = 'someone-else'
 WHERE client_id = 't_vouchers_trigger' AND serial = topup.make_serial('VT1', 5)$$);
DELETE FROM topup.vouchers
 WHERE client_id = 't_vouchers_trigger' AND serial = topup.make_serial('VT1', 5);
SELECT n, status, reseller, expiry FROM vt WHERE series = 'VT1' AND n = 5;

--
-- Columns nobody may change (on a new voucher, VT1-1)
--
SELECT col, pg_temp.try(format($$UPDATE topup.vouchers SET %s
     WHERE client_id = 't_vouchers_trigger' AND serial = topup.make_serial('VT1', 1)$$, setting)) AS result
  FROM (VALUES
    ('serial',       $$serial = topup.make_serial('VT1', 99)$$),
    ('amount',       $$amount = 11$$),
    ('currency',     $$currency = 'EUR'$$),
    ('series',       $$series = 'VT2'$$),
    ('client_id',    $$client_id = 't_vouchers_trigger_other'$$),
    ('pin_hash',     $$pin_hash = sha256(pin_hash)$$),
    ('pin_cipher',   $$pin_cipher = pin_cipher || '\x00'::bytea$$),
    ('pin_length',   $$pin_length = 13$$),
    ('created_at',   $$created_at = created_at - interval '1 day'$$),
    ('activated_at', $$activated_at = now()$$),
    ('activated_by', $$activated_by = 'vt-acc'$$),
    ('order_id',     $$order_id = 1$$)) AS c(col, setting);
-- the voucher is as it was
SELECT n, status, reseller, expiry FROM vt WHERE series = 'VT1' AND n = 1;
SELECT amount, currency, series, pin_length
  FROM topup.vouchers WHERE client_id = 't_vouchers_trigger' AND serial = topup.make_serial('VT1', 1);
-- assigning a value equal to the current one is no change
SELECT pg_temp.try($$UPDATE topup.vouchers SET amount = amount, series = series, pin_hash = pin_hash
 WHERE client_id = 't_vouchers_trigger' AND serial = topup.make_serial('VT1', 1)$$);

--
-- Mass edits
--
SELECT * FROM vt;

-- move the expiry of every new voucher of a series
UPDATE topup.vouchers SET expires_at = now() + interval '60 days'
 WHERE client_id = 't_vouchers_trigger' AND series = 'VT1' AND status = 'new';
SELECT count(*) AS new_until_60_days
  FROM topup.vouchers
 WHERE client_id = 't_vouchers_trigger' AND series = 'VT1' AND status = 'new'
   AND expires_at > now() + interval '59 days';

-- hand the live vouchers of a series to another reseller of the client
UPDATE topup.vouchers SET reseller = 'r2'
 WHERE client_id = 't_vouchers_trigger' AND series = 'VT1' AND status IN ('new', 'blocked');
-- a reseller that does not exist, or belongs to another client, is rejected
UPDATE topup.vouchers SET reseller = 'nobody'
 WHERE client_id = 't_vouchers_trigger' AND serial = topup.make_serial('VT1', 1);
SELECT pg_temp.tryn($$UPDATE topup.vouchers SET reseller = 'nobody'
 WHERE client_id = 't_vouchers_trigger' AND series = 'VT1' AND status = 'new'$$);
SELECT pg_temp.tryn($$UPDATE topup.vouchers SET reseller = 'r3'
 WHERE client_id = 't_vouchers_trigger' AND series = 'VT1' AND status = 'new'$$);
-- reseller names are case-sensitive
SELECT pg_temp.tryn($$UPDATE topup.vouchers SET reseller = 'R2'
 WHERE client_id = 't_vouchers_trigger' AND series = 'VT2'$$);
SELECT n, reseller FROM vt WHERE series = 'VT1';
-- an expired voucher may change reseller too, and a reseller may be removed
UPDATE topup.vouchers SET reseller = 'r1'
 WHERE client_id = 't_vouchers_trigger' AND series = 'VT1' AND status = 'expired';
UPDATE topup.vouchers SET reseller = NULL
 WHERE client_id = 't_vouchers_trigger' AND series = 'VT1' AND status = 'new';
SELECT n, status, reseller FROM vt WHERE series = 'VT1';

-- one forbidden row rejects the whole statement: the activated VT1-5 and
-- the expired VT1-3 cannot be blocked, so no voucher becomes blocked
SELECT count(*) AS blocked_before FROM vt WHERE status = 'blocked';
SELECT pg_temp.tryn($$UPDATE topup.vouchers SET status = 'blocked'
 WHERE client_id = 't_vouchers_trigger' AND series = 'VT1'$$);
SELECT count(*) AS blocked_after FROM vt WHERE status = 'blocked';
SELECT pg_temp.try($$UPDATE topup.vouchers SET expires_at = now() + interval '90 days'
 WHERE client_id = 't_vouchers_trigger' AND series = 'VT1'$$);
SELECT count(*) AS until_90_days
  FROM topup.vouchers
 WHERE client_id = 't_vouchers_trigger' AND expires_at > now() + interval '89 days';

-- the same statement without the activated voucher expires the whole
-- series, as the expired VT1-3 and VT1-6 stay expired
UPDATE topup.vouchers SET status = 'expired'
 WHERE client_id = 't_vouchers_trigger' AND series = 'VT1' AND status <> 'activated';
SELECT * FROM vt;

--
-- DELETE: new, blocked and expired vouchers may go, activated ones stay
--
UPDATE topup.vouchers SET status = 'blocked'
 WHERE client_id = 't_vouchers_trigger' AND serial = topup.make_serial('VT2', 2);
DELETE FROM topup.vouchers
 WHERE client_id = 't_vouchers_trigger' AND serial = topup.make_serial('VT2', 1);   -- new
DELETE FROM topup.vouchers
 WHERE client_id = 't_vouchers_trigger' AND serial = topup.make_serial('VT2', 2);   -- blocked
DELETE FROM topup.vouchers
 WHERE client_id = 't_vouchers_trigger' AND serial = topup.make_serial('VT1', 8);   -- expired
-- a DELETE that includes the activated voucher deletes nothing
SELECT pg_temp.try($$DELETE FROM topup.vouchers
 WHERE client_id = 't_vouchers_trigger' AND series = 'VT1'$$);
SELECT * FROM vt;

--
-- No INSERT and no TRUNCATE
--
INSERT INTO topup.vouchers (serial, client_id, series, amount, currency, pin_length, pin_hash, pin_cipher)
VALUES (topup.make_serial('VT1', 50), 't_vouchers_trigger', 'VT1', 10, 'USD', 12,
        '\x00'::bytea, '\x00'::bytea);
SELECT pg_temp.try($$INSERT INTO topup.vouchers
    SELECT topup.make_serial('VT1', 51), client_id, series, amount, currency, 'new', NULL, NULL,
           now(), NULL, NULL, NULL, pin_length, sha256(pin_hash), pin_cipher
      FROM topup.vouchers
     WHERE client_id = 't_vouchers_trigger' AND serial = topup.make_serial('VT1', 1)$$);
-- COPY with a query that writes is not a restore: the guard still applies
COPY (INSERT INTO topup.vouchers (serial, client_id, series, amount, currency, pin_length, pin_hash, pin_cipher)
      VALUES (topup.make_serial('VT1', 52), 't_vouchers_trigger', 'VT1', 10, 'USD', 12,
              '\x01'::bytea, '\x01'::bytea) RETURNING serial) TO STDOUT;
COPY (UPDATE topup.vouchers SET status = 'new'
       WHERE client_id = 't_vouchers_trigger' AND serial = topup.make_serial('VT1', 5)
      RETURNING serial) TO STDOUT;
TRUNCATE topup.vouchers;
SELECT pg_temp.try('TRUNCATE topup.vouchers');
SELECT count(*) AS vouchers FROM vt;

-- the ledger still balances
SELECT * FROM topup.verify_ledger();
