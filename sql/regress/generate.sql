SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS topup CASCADE;
RESET client_min_messages;

--
-- topup.generate_vouchers: the returned series_list row, consecutive
-- numbering, normalisation, every rejection (nothing written), the PIN
-- density rule, and the quality of the PINs (unique, digits only, uniform,
-- never stored in plain text, collisions retried).
--

SELECT topup.create_client('t_gen');
SELECT topup.create_client('t_gen2');

-- Vouchers and series of t_gen, to show that a rejected call writes nothing.
CREATE TEMP VIEW gen_counts AS
SELECT (SELECT count(*) FROM topup.vouchers WHERE client_id = 't_gen') AS vouchers,
       (SELECT count(*) FROM topup.series WHERE client_id = 't_gen') AS series;

-- Run a statement, report its SQLSTATE and message instead of failing.
CREATE FUNCTION pg_temp.try(sql text, OUT state text, OUT message text)
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    state := '00000';
    message := 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
END
$$;

--
-- Success: the series' row of series_list.
--
SELECT series, amount, currency, quantity, new, value_outstanding, first_serial, last_serial
  FROM topup.generate_vouchers('S1', 3, 10, 'USD', 12, NULL, NULL, 't_gen');

-- A second generation continues the numbering (same amount, written otherwise).
SELECT series, amount, currency, quantity, new, value_outstanding, first_serial, last_serial
  FROM topup.generate_vouchers('S1', 4, 10.0, 'USD', 12, NULL, NULL, 't_gen');

-- Numbers 1..7, no gap, no duplicate; every row has the series' amount.
SELECT count(*) AS vouchers,
       min(topup.serial_number(serial)) AS first_number,
       max(topup.serial_number(serial)) AS last_number,
       count(DISTINCT topup.serial_number(serial)) AS distinct_numbers,
       string_agg(DISTINCT amount::text, ',') AS amounts,
       string_agg(DISTINCT status::text, ',') AS statuses
  FROM topup.vouchers WHERE client_id = 't_gen' AND series = 'S1';

-- Series codes belong to a client: another client's S1 is a new series
-- with its own amount and numbering.
SELECT series, amount, currency, quantity, first_serial, last_serial
  FROM topup.generate_vouchers('S1', 2, 25, 'EUR', 12, NULL, NULL, 't_gen2');

-- A lower-case series code is stored upper case and continues the same series.
SELECT series, amount, currency, quantity, first_serial, last_serial
  FROM topup.generate_vouchers('gold', 2, 5, 'JPY', 12, NULL, NULL, 't_gen');
SELECT series, quantity, first_serial, last_serial
  FROM topup.generate_vouchers('Gold', 1, 5, 'JPY', 12, NULL, NULL, 't_gen');
SELECT DISTINCT series FROM topup.vouchers WHERE client_id = 't_gen' AND series ILIKE 'gold';

-- Amounts take the currency's minor units: 10 USD is 10.00, 5 JPY is 5,
-- 1 BHD is 1.000; trailing zeros within the minor units are accepted.
SELECT series, amount, currency FROM topup.generate_vouchers('AMT1', 1, 10, 'USD', 12, NULL, NULL, 't_gen');
SELECT series, amount, currency FROM topup.generate_vouchers('AMT2', 1, 5, 'JPY', 12, NULL, NULL, 't_gen');
SELECT series, amount, currency FROM topup.generate_vouchers('AMT3', 1, 1.5, 'BHD', 12, NULL, NULL, 't_gen');
SELECT series, amount, currency FROM topup.generate_vouchers('AMT4', 1, 7.5000, 'EUR', 12, NULL, NULL, 't_gen');
SELECT series, amount::text AS stored_amount, currency
  FROM topup.vouchers WHERE client_id = 't_gen' AND series LIKE 'AMT%' ORDER BY series;

-- Resellers: created per client; a second creation is a unique violation.
SELECT topup.create_reseller('shop1', 't_gen');
SELECT topup.create_reseller('shop2', 't_gen2');
\set VERBOSITY default
SELECT topup.create_reseller('shop1', 't_gen');
\echo :LAST_ERROR_SQLSTATE
SELECT series, quantity FROM topup.generate_vouchers('RES', 2, 3, 'USD', 12, now() + interval '30 days', 'shop1', 't_gen');
SELECT count(*) AS vouchers,
       bool_and(reseller = 'shop1') AS reseller_set,
       bool_and(expires_at > now() + interval '29 days') AS expiry_set
  FROM topup.vouchers WHERE client_id = 't_gen' AND series = 'RES';
SELECT series, quantity, expires_min = expires_max AS one_expiry
  FROM topup.series_list WHERE client_id = 't_gen' AND series = 'RES';

--
-- Rejections: SQLSTATE and message of each; none writes anything.
--
SELECT * FROM gen_counts;

SELECT c.label, r.state, r.message
  FROM (VALUES
    (1, 'quantity 0', $$SELECT topup.generate_vouchers('S1', 0, 10, 'USD', 12, NULL, NULL, 't_gen')$$),
    (2, 'quantity -5', $$SELECT topup.generate_vouchers('S1', -5, 10, 'USD', 12, NULL, NULL, 't_gen')$$),
    (3, 'quantity NULL', $$SELECT topup.generate_vouchers('S1', NULL, 10, 'USD', 12, NULL, NULL, 't_gen')$$),
    (4, 'pin_length 4', $$SELECT topup.generate_vouchers('S1', 1, 10, 'USD', 4, NULL, NULL, 't_gen')$$),
    (5, 'pin_length 21', $$SELECT topup.generate_vouchers('S1', 1, 10, 'USD', 21, NULL, NULL, 't_gen')$$),
    (6, 'pin_length NULL', $$SELECT topup.generate_vouchers('S1', 1, 10, 'USD', NULL, NULL, NULL, 't_gen')$$),
    (7, 'amount 0', $$SELECT topup.generate_vouchers('NEW1', 1, 0, 'USD', 12, NULL, NULL, 't_gen')$$),
    (8, 'amount -10', $$SELECT topup.generate_vouchers('NEW1', 1, -10, 'USD', 12, NULL, NULL, 't_gen')$$),
    (9, 'amount 10.001 USD', $$SELECT topup.generate_vouchers('NEW1', 1, 10.001, 'USD', 12, NULL, NULL, 't_gen')$$),
    (10, 'amount 1.5 JPY', $$SELECT topup.generate_vouchers('NEW1', 1, 1.5, 'JPY', 12, NULL, NULL, 't_gen')$$),
    (11, 'amount 1.0001 BHD', $$SELECT topup.generate_vouchers('NEW1', 1, 1.0001, 'BHD', 12, NULL, NULL, 't_gen')$$),
    (12, 'amount NaN', $$SELECT topup.generate_vouchers('NEW1', 1, 'NaN', 'USD', 12, NULL, NULL, 't_gen')$$),
    (13, 'amount Infinity', $$SELECT topup.generate_vouchers('NEW1', 1, 'Infinity', 'USD', 12, NULL, NULL, 't_gen')$$),
    (14, 'amount NULL', $$SELECT topup.generate_vouchers('NEW1', 1, NULL, 'USD', 12, NULL, NULL, 't_gen')$$),
    (15, 'currency XYZ', $$SELECT topup.generate_vouchers('NEW1', 1, 10, 'XYZ', 12, NULL, NULL, 't_gen')$$),
    (16, 'currency usd', $$SELECT topup.generate_vouchers('NEW1', 1, 10, 'usd', 12, NULL, NULL, 't_gen')$$),
    (17, 'currency NULL', $$SELECT topup.generate_vouchers('NEW1', 1, 10, NULL, 12, NULL, NULL, 't_gen')$$),
    (18, 'reseller unknown', $$SELECT topup.generate_vouchers('NEW1', 1, 10, 'USD', 12, NULL, 'nobody', 't_gen')$$),
    (19, 'reseller of another client', $$SELECT topup.generate_vouchers('NEW1', 1, 10, 'USD', 12, NULL, 'shop2', 't_gen')$$),
    (20, 'expires_at in the past', $$SELECT topup.generate_vouchers('NEW1', 1, 10, 'USD', 12, now() - interval '1 day', NULL, 't_gen')$$),
    (21, 'expires_at now', $$SELECT topup.generate_vouchers('NEW1', 1, 10, 'USD', 12, now(), NULL, 't_gen')$$),
    (22, 'series empty', $$SELECT topup.generate_vouchers('', 1, 10, 'USD', 12, NULL, NULL, 't_gen')$$),
    (23, 'series too long', $$SELECT topup.generate_vouchers('TOOLONGSERIES', 1, 10, 'USD', 12, NULL, NULL, 't_gen')$$),
    (24, 'series with dash', $$SELECT topup.generate_vouchers('A-B', 1, 10, 'USD', 12, NULL, NULL, 't_gen')$$),
    (25, 'series non-ASCII', $$SELECT topup.generate_vouchers('ü', 1, 10, 'USD', 12, NULL, NULL, 't_gen')$$),
    (26, 'series NULL', $$SELECT topup.generate_vouchers(NULL, 1, 10, 'USD', 12, NULL, NULL, 't_gen')$$),
    (27, 'series: other amount', $$SELECT topup.generate_vouchers('S1', 1, 20, 'USD', 12, NULL, NULL, 't_gen')$$),
    (28, 'series: other currency', $$SELECT topup.generate_vouchers('S1', 1, 10, 'EUR', 12, NULL, NULL, 't_gen')$$),
    (29, 'client unknown', $$SELECT topup.generate_vouchers('NEW1', 1, 10, 'USD', 12, NULL, NULL, 't_nobody')$$),
    (30, 'client NULL', $$SELECT topup.generate_vouchers('NEW1', 1, 10, 'USD', 12, NULL, NULL, NULL)$$),
    (31, 'reseller for unknown client', $$SELECT topup.create_reseller('shop9', 't_nobody')$$)
  ) AS c(ord, label, sql),
  LATERAL pg_temp.try(c.sql) AS r
 ORDER BY c.ord;

-- The same counts as before: nothing was written.
SELECT * FROM gen_counts;

-- The full error report of a few of them.
SELECT topup.generate_vouchers('S1', 0, 10, 'USD', 12, NULL, NULL, 't_gen');
SELECT topup.generate_vouchers('NEW1', 1, 10.001, 'USD', 12, NULL, NULL, 't_gen');
SELECT topup.generate_vouchers('A-B', 1, 10, 'USD', 12, NULL, NULL, 't_gen');
SELECT topup.generate_vouchers('S1', 1, 20, 'USD', 12, NULL, NULL, 't_gen');
SELECT topup.generate_vouchers('NEW1', 1, 10, 'USD', 12, NULL, 'nobody', 't_gen');
SELECT topup.generate_vouchers('NEW1', 1, 10, 'XYZ', 12, NULL, NULL, 't_gen');
SELECT topup.generate_vouchers('NEW1', 1, 10, 'USD', 12, NULL, NULL, 't_nobody');
SELECT topup.generate_vouchers('S1', 1, 10, 'USD', 4, NULL, NULL, 't_gen');

-- topup.max_batch: the limit itself passes, one more does not.
SET topup.max_batch = 10;
SELECT series, quantity, first_serial, last_serial
  FROM topup.generate_vouchers('BATCH', 10, 1, 'USD', 12, NULL, NULL, 't_gen');
SELECT topup.generate_vouchers('BATCH', 11, 1, 'USD', 12, NULL, NULL, 't_gen');
\echo :LAST_ERROR_SQLSTATE
RESET topup.max_batch;
SELECT series, quantity FROM topup.series_list WHERE client_id = 't_gen' AND series = 'BATCH';

--
-- PIN-space density: live vouchers of a PIN length must stay within
-- topup.max_pin_density * 10^length; the hint names a length that would do.
--
SET topup.max_pin_density = 0.0001;
-- 10^5 * 0.0001 = 10: 11 five-digit PINs are too many, six digits would do.
SELECT topup.generate_vouchers('DENS', 11, 1, 'USD', 5, NULL, NULL, 't_gen');
\echo :LAST_ERROR_SQLSTATE
-- Exactly 10 fit; then not even one more, and the hint counts them.
SELECT series, quantity FROM topup.generate_vouchers('DENS', 10, 1, 'USD', 5, NULL, NULL, 't_gen');
SELECT topup.generate_vouchers('DENS', 1, 1, 'USD', 5, NULL, NULL, 't_gen');
-- 10^6 * 0.0001 = 100: 101 six-digit PINs need seven digits.
SELECT topup.generate_vouchers('DENS', 101, 1, 'USD', 6, NULL, NULL, 't_gen');
-- Blocked vouchers are live; expired ones free their PIN space.
UPDATE topup.vouchers SET status = 'blocked'
 WHERE client_id = 't_gen' AND series = 'DENS' AND topup.serial_number(serial) <= 5;
SELECT topup.generate_vouchers('DENS', 1, 1, 'USD', 5, NULL, NULL, 't_gen');
UPDATE topup.vouchers SET status = 'expired'
 WHERE client_id = 't_gen' AND series = 'DENS' AND topup.serial_number(serial) <= 5;
SELECT series, quantity, new, blocked, expired
  FROM topup.generate_vouchers('DENS', 5, 1, 'USD', 5, NULL, NULL, 't_gen');
DELETE FROM topup.vouchers WHERE client_id = 't_gen' AND series = 'DENS';
-- No PIN length fits at all: the hint says to generate fewer.  With the
-- smallest density, 10^20 * 1e-12 = 10^8 PINs of 20 digits may be live.
SET topup.max_pin_density = 1e-12;
SET topup.max_batch = 100000000;
SELECT series, quantity FROM topup.generate_vouchers('FEWER', 1, 1, 'USD', 20, NULL, NULL, 't_gen');
SELECT topup.generate_vouchers('FEWER', 100000000, 1, 'USD', 20, NULL, NULL, 't_gen');
\echo :LAST_ERROR_SQLSTATE
SELECT topup.generate_vouchers('FEWER', 100000000, 1, 'USD', 19, NULL, NULL, 't_gen');
DELETE FROM topup.vouchers WHERE client_id = 't_gen' AND series = 'FEWER';
RESET topup.max_batch;
RESET topup.max_pin_density;

--
-- PIN quality.
--

-- 2000 PINs: unique, of the requested length, digits only.
SELECT series, quantity FROM topup.generate_vouchers('UNIQ', 2000, 1, 'USD', 12, NULL, NULL, 't_gen');
CREATE TEMP TABLE gen_pins AS
SELECT serial::text AS serial, pin FROM topup.export_vouchers('UNIQ', 't_gen');
SELECT count(*) AS pins,
       count(DISTINCT pin) AS distinct_pins,
       bool_and(length(pin) = 12) AS all_length_12,
       bool_and(pin ~ '^[0-9]+$') AS all_digits
  FROM gen_pins;
-- Other lengths too.
SELECT series, quantity FROM topup.generate_vouchers('LEN20', 50, 1, 'USD', 20, NULL, NULL, 't_gen');
SELECT series, quantity FROM topup.generate_vouchers('LEN7', 50, 1, 'USD', 7, NULL, NULL, 't_gen');
SELECT length(pin) AS pin_length, count(*) AS pins, count(DISTINCT pin) AS distinct_pins,
       bool_and(pin ~ '^[0-9]+$') AS all_digits
  FROM (SELECT pin FROM topup.export_vouchers('LEN20', 't_gen')
        UNION ALL
        SELECT pin FROM topup.export_vouchers('LEN7', 't_gen')) p
 GROUP BY 1 ORDER BY 1;

-- No PIN is stored in plain text: no row of any table of schema topup
-- contains any of 50 exported PINs in its text form.
CREATE FUNCTION pg_temp.pin_hits(tab regclass, pins text[]) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM %s t, unnest($1) p(pin) WHERE strpos(t::text, p.pin) > 0', tab)
       INTO n USING pins;
    RETURN n;
END
$$;
SELECT bool_or(t.tablename = 'vouchers') AS vouchers_searched,
       bool_or(t.tablename = 'secret') AS secret_searched,
       sum(pg_temp.pin_hits(format('%I.%I', t.schemaname, t.tablename)::regclass,
                            ARRAY(SELECT pin FROM gen_pins ORDER BY serial LIMIT 50))) AS hits
  FROM pg_tables t
 WHERE t.schemaname = 'topup';
-- The search does find PINs where they are (here, the list of them).
SELECT pg_temp.pin_hits('gen_pins', ARRAY(SELECT pin FROM gen_pins ORDER BY serial LIMIT 50)) AS control_hits;

-- Digit uniformity: 20000 twelve-digit PINs (20000 <= 0.001 * 10^12) give
-- 240000 digits; the chi-square statistic over the 10 digits (9 degrees of
-- freedom, 99.99th percentile about 33.7) stays below a generous 40.
SELECT topup.create_client('t_gen_uniform');
SELECT series, quantity FROM topup.generate_vouchers('UNIF', 20000, 1, 'USD', 12, NULL, NULL, 't_gen_uniform');
CREATE TEMP TABLE gen_uniform AS SELECT pin FROM topup.export_vouchers('UNIF', 't_gen_uniform');
SELECT count(*) AS digits_seen, sum(chi) < 40 AS uniform
  FROM (SELECT d, (count(*) - 24000.0) ^ 2 / 24000.0 AS chi
          FROM gen_uniform, regexp_split_to_table(pin, '') AS d
         GROUP BY d) x;
-- Leading zeros are kept (about a tenth of the PINs start with 0).
SELECT count(*) AS pins, count(DISTINCT pin) AS distinct_pins,
       count(*) FILTER (WHERE pin LIKE '0%') BETWEEN 1500 AND 2500 AS leading_zeros_kept
  FROM gen_uniform;
DELETE FROM topup.vouchers WHERE client_id = 't_gen_uniform';

-- Collisions: 40000 five-digit PINs in a space of 100000 (allowed by a
-- density of 0.5) certainly collide inside the batch; the retry of the
-- chunks still yields 40000 distinct PINs and consecutive numbers.
SELECT topup.create_client('t_gen_collide');
SET topup.max_pin_density = 0.5;
SELECT series, quantity, first_serial, last_serial
  FROM topup.generate_vouchers('COLL', 40000, 1, 'USD', 5, NULL, NULL, 't_gen_collide');
RESET topup.max_pin_density;
SELECT count(*) AS pins, count(DISTINCT pin) AS distinct_pins,
       bool_and(pin ~ '^[0-9]{5}$') AS all_five_digits,
       count(*) = max(topup.serial_number(serial)) AS consecutive
  FROM topup.export_vouchers('COLL', 't_gen_collide');
-- Free the five-digit PIN space for the tests that follow.
DELETE FROM topup.vouchers WHERE client_id = 't_gen_collide';
SELECT count(*) AS live_five_digit FROM topup.vouchers WHERE pin_length = 5 AND status IN ('new', 'blocked');

-- The end of a series: sequence numbers stop at 999999999999.  A
-- generation that would pass it is refused with nothing written; one that
-- ends on it goes through.  (The series row is the extension's own table,
-- set by hand here to reach the end without a trillion vouchers.)
SELECT topup.create_client('t_gen_end');
SELECT series, quantity FROM topup.generate_vouchers('END', 1, 1, 'USD', 12, NULL, NULL, 't_gen_end');
UPDATE topup.series SET last_number = 999999999998 WHERE client_id = 't_gen_end' AND series = 'END';
SELECT * FROM pg_temp.try($$SELECT topup.generate_vouchers('END', 2, 1, 'USD', 12, NULL, NULL, 't_gen_end')$$);
SELECT count(*) AS vouchers FROM topup.vouchers WHERE client_id = 't_gen_end';
SELECT series, quantity, last_serial FROM topup.generate_vouchers('END', 1, 1, 'USD', 12, NULL, NULL, 't_gen_end');
SELECT * FROM pg_temp.try($$SELECT topup.generate_vouchers('END', 1, 1, 'USD', 12, NULL, NULL, 't_gen_end')$$);
SELECT serial, topup.serial_number(serial) FROM topup.vouchers WHERE client_id = 't_gen_end' ORDER BY serial;

-- PINs that cannot be drawn: when every chunk collides (here an admin's
-- trigger that reports every new voucher as a duplicate PIN, as a full PIN
-- space would), generation gives up after 64 attempts in a row with a hint,
-- and nothing is written.  Another unique violation is not taken for a PIN
-- collision: it is raised at once.
BEGIN;
CREATE FUNCTION pg_temp.always_duplicate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE unique_violation USING MESSAGE = 'duplicate PIN', CONSTRAINT = TG_ARGV[0];
END $$;
CREATE TRIGGER always_duplicate BEFORE INSERT ON topup.vouchers
    FOR EACH ROW EXECUTE FUNCTION pg_temp.always_duplicate('vouchers_pin_hash_key');
SELECT * FROM pg_temp.try($$SELECT topup.generate_vouchers('FULL', 3, 1, 'USD', 12, NULL, NULL, 't_gen_end')$$);
DROP TRIGGER always_duplicate ON topup.vouchers;
CREATE TRIGGER always_duplicate BEFORE INSERT ON topup.vouchers
    FOR EACH ROW EXECUTE FUNCTION pg_temp.always_duplicate('some_other_key');
SELECT * FROM pg_temp.try($$SELECT topup.generate_vouchers('FULL', 3, 1, 'USD', 12, NULL, NULL, 't_gen_end')$$);
SELECT count(*) AS vouchers, (SELECT count(*) FROM topup.series WHERE client_id = 't_gen_end' AND series = 'FULL') AS series
  FROM topup.vouchers WHERE client_id = 't_gen_end' AND series = 'FULL';
ROLLBACK;
