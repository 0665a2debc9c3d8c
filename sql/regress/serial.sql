SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS topup CASCADE;
RESET client_min_messages;

-- The operators live in schema topup; put it on the path so that plain
-- =, < etc. resolve (functions are still called schema-qualified).
SET search_path = public, topup;

--
-- topup.voucher_serial: text I/O, check digit, accessors, ordering,
-- btree/hash opclasses, binary I/O.
--

-- Every example of the spec round-trips.
SELECT s::text AS serial,
       topup.serial_series(s) AS series,
       topup.serial_number(s) AS number,
       topup.make_serial(topup.serial_series(s), topup.serial_number(s)) = s AS remade
FROM (VALUES ('101-00000016'::topup.voucher_serial),
             ('101-00000420'),
             ('101-23423427'),
             ('GOLD-00000079'),
             ('X-123456783')) AS v(s);

SELECT topup.make_serial('101', 1) AS s1,
       topup.make_serial('101', 42) AS s42,
       topup.make_serial('101', 2342342) AS s2342342,
       topup.make_serial('GOLD', 7) AS gold7,
       topup.make_serial('X', 12345678) AS x12345678;

-- Limits: longest series, smallest and largest number.
SELECT topup.make_serial('ZZZZZZZZZZ', 999999999999) AS biggest,
       topup.make_serial('0', 1) AS smallest;
SELECT topup.make_serial('ZZZZZZZZZZ', 999999999999)::text::topup.voucher_serial
       = topup.make_serial('ZZZZZZZZZZ', 999999999999) AS roundtrip;
SELECT topup.serial_series('A1B2C3D4E5-00000014'), topup.serial_number('A1B2C3D4E5-00000014');

-- Lower case, surrounding white space and extra leading zeros are accepted
-- and normalised.
SELECT '  gold-00000079  '::topup.voucher_serial AS spaces_lower,
       'Gold-0000000000079'::topup.voucher_serial AS extra_zeros,
       E'\t101-000000016\n'::topup.voucher_serial AS tab_newline,
       topup.make_serial('gold', 7) AS make_lower;

-- Bad input: every class of error.
SELECT '101-00000011'::topup.voucher_serial;     -- wrong check digit
SELECT '101-00000017'::topup.voucher_serial;     -- wrong check digit
SELECT '10100000016'::topup.voucher_serial;      -- missing dash
SELECT ''::topup.voucher_serial;                 -- empty
SELECT '-00000016'::topup.voucher_serial;        -- empty series
SELECT 'ABCDEFGHIJK-00000016'::topup.voucher_serial;  -- series too long
SELECT 'GO_LD-00000079'::topup.voucher_serial;   -- bad series character
SELECT 'GÖLD-00000079'::topup.voucher_serial;    -- non-ASCII series character
SELECT '10 1-00000016'::topup.voucher_serial;    -- space inside series
SELECT '101-0000001a'::topup.voucher_serial;     -- bad digit
SELECT '101-00000016-1'::topup.voucher_serial;   -- second dash
SELECT '101- 00000016'::topup.voucher_serial;    -- space after dash
SELECT '101-0000016'::topup.voucher_serial;      -- too few digits
SELECT '101-'::topup.voucher_serial;             -- no digits
SELECT '101-00000000'::topup.voucher_serial;     -- sequence number 0
SELECT '101-99999999999999'::topup.voucher_serial;  -- sequence number too big
SELECT '101-00000010000000000000'::topup.voucher_serial;  -- too big behind zeros

-- The SQLSTATE is invalid_text_representation.
\set VERBOSITY sqlstate
SELECT '101-00000011'::topup.voucher_serial;
SELECT 'nodash'::topup.voucher_serial;
SELECT '101-00000000'::topup.voucher_serial;
\set VERBOSITY default

-- make_serial argument errors are invalid_parameter_value.
SELECT topup.make_serial('', 1);
SELECT topup.make_serial('ABCDEFGHIJK', 1);
SELECT topup.make_serial('10-1', 1);
SELECT topup.make_serial(' 101', 1);
SELECT topup.make_serial('101', 0);
SELECT topup.make_serial('101', -5);
SELECT topup.make_serial('101', 1000000000000);
\set VERBOSITY sqlstate
SELECT topup.make_serial('a b', 1);
SELECT topup.make_serial('101', 0);
\set VERBOSITY default

-- NULL handling (the functions are strict).
SELECT topup.make_serial(NULL, 1) IS NULL AS null_series,
       topup.serial_number(NULL) IS NULL AS null_number;

-- Ordering: series text in C order, then sequence number.
SELECT s
FROM (VALUES ('101-100000005'::topup.voucher_serial),
             ('101-99999995'),
             ('B-00000015'),
             ('AB-00000013'),
             ('A-00000024'),
             ('A-00000016'),
             ('1-00000017'),
             ('10-00000016'),
             ('9-00000019'),
             ('101-00000016'),
             ('Z-00000017'),
             ('zzzzzzzzzz-9999999999992')) AS v(s)
ORDER BY s;

SELECT topup.make_serial('101', 9999999) < topup.make_serial('101', 10000000) AS lt,
       topup.make_serial('101', 9999999) <= topup.make_serial('101', 9999999) AS le,
       topup.make_serial('A', 5) < topup.make_serial('AB', 1) AS prefix_lt,
       topup.make_serial('AB', 5) < topup.make_serial('B', 1) AS ab_lt_b,
       topup.make_serial('B', 1) > topup.make_serial('AB', 9) AS gt,
       topup.make_serial('B', 1) >= topup.make_serial('b', 1) AS ge,
       topup.make_serial('B', 1) = topup.make_serial('b', 1) AS eq,
       topup.make_serial('B', 1) <> topup.make_serial('B', 2) AS ne;

-- The btree order matches text order of the series for all characters.
SELECT bool_and((topup.make_serial(a, 1) < topup.make_serial(b, 1))
                = (a COLLATE "C" < b COLLATE "C")) AS matches_c_order
FROM (SELECT chr(c) AS a FROM generate_series(48, 57) c
      UNION ALL SELECT chr(c) FROM generate_series(65, 90) c
      UNION ALL SELECT 'A' || chr(c) FROM generate_series(48, 57) c
      UNION ALL SELECT '' || 'ZZ') x,
     (SELECT chr(c) AS b FROM generate_series(48, 57) c
      UNION ALL SELECT chr(c) FROM generate_series(65, 90) c
      UNION ALL SELECT 'Z9') y;

-- Both operator classes are valid and are the defaults.
SELECT am.amname, opc.opcdefault, amvalidate(opc.oid)
FROM pg_opclass opc JOIN pg_am am ON am.oid = opc.opcmethod
WHERE opc.opcname = 'voucher_serial_ops'
ORDER BY am.amname;
SELECT amvalidate(oid) FROM pg_opclass WHERE opcname = 'voucher_serial_ops';

-- A primary key.
CREATE TEMP TABLE serial_pk (s topup.voucher_serial PRIMARY KEY, note text);
INSERT INTO serial_pk
SELECT topup.make_serial(CASE WHEN n % 2 = 0 THEN '101' ELSE 'GOLD' END, n), 'n=' || n
FROM generate_series(1, 1000) n;
INSERT INTO serial_pk VALUES ('gold-00000079', 'duplicate');
SELECT s, note FROM serial_pk WHERE s = '101-00000420';
SELECT count(*) FROM serial_pk WHERE s BETWEEN '101-00000016' AND '101-00001006';
SELECT s FROM serial_pk ORDER BY s DESC LIMIT 3;

-- Hash join.
CREATE TEMP TABLE serial_a (s topup.voucher_serial);
CREATE TEMP TABLE serial_b (s topup.voucher_serial);
INSERT INTO serial_a SELECT topup.make_serial('A', n) FROM generate_series(1, 100) n;
INSERT INTO serial_b SELECT topup.make_serial('a', n) FROM generate_series(95, 105) n;
ANALYZE serial_a, serial_b;
SET enable_mergejoin = off;
SET enable_nestloop = off;
EXPLAIN (COSTS OFF)
SELECT a.s FROM serial_a a JOIN serial_b b ON a.s = b.s;
SELECT a.s FROM serial_a a JOIN serial_b b ON a.s = b.s ORDER BY a.s;
RESET enable_mergejoin;
RESET enable_nestloop;

-- Hash aggregation and a hash index use the hash opclass.
SET enable_sort = off;
EXPLAIN (COSTS OFF)
SELECT s, count(*) FROM (SELECT s FROM serial_a UNION ALL SELECT s FROM serial_b) u
GROUP BY s HAVING count(*) > 1;
SELECT s, count(*) FROM (SELECT s FROM serial_a UNION ALL SELECT s FROM serial_b) u
GROUP BY s HAVING count(*) > 1 ORDER BY s;
RESET enable_sort;
CREATE INDEX serial_a_hash ON serial_a USING hash (s);
SET enable_seqscan = off;
EXPLAIN (COSTS OFF)
SELECT s FROM serial_a WHERE s = 'A-00000982';
SELECT s FROM serial_a WHERE s = 'A-00000982';
RESET enable_seqscan;

-- The hash functions agree with equality (case differences are equal).
SELECT topup.voucher_serial_hash('gold-00000079') = topup.voucher_serial_hash('GOLD-00000079') AS hash_eq,
       topup.voucher_serial_hash_extended('gold-00000079', 42)
         = topup.voucher_serial_hash_extended('GOLD-00000079', 42) AS hash_ext_eq,
       topup.voucher_serial_hash_extended('gold-00000079', 0)
         <> topup.voucher_serial_hash_extended('gold-00000079', 1) AS seed_matters;

-- Binary I/O round-trip through COPY.
CREATE TEMP TABLE serial_copy_src (s topup.voucher_serial);
INSERT INTO serial_copy_src
SELECT s FROM serial_pk
UNION ALL SELECT topup.make_serial('ZZZZZZZZZZ', 999999999999)
UNION ALL SELECT topup.make_serial('0', 1);
COPY serial_copy_src TO '/tmp/serial_test.bin' (FORMAT binary);
CREATE TEMP TABLE serial_copy_dst (s topup.voucher_serial);
COPY serial_copy_dst FROM '/tmp/serial_test.bin' (FORMAT binary);
SELECT (SELECT count(*) FROM serial_copy_src) AS src,
       (SELECT count(*) FROM serial_copy_dst) AS dst,
       (SELECT count(*) FROM (SELECT s FROM serial_copy_src
                              EXCEPT ALL
                              SELECT s FROM serial_copy_dst) d) AS missing;
SELECT topup.voucher_serial_send('101-23423427');

-- Binary input is validated like text input.  A bytea column's binary form
-- is its raw bytes, so it can carry a hand-made voucher_serial value.
CREATE TEMP TABLE serial_raw (b bytea);
CREATE TEMP TABLE serial_bad (s topup.voucher_serial);
-- good: series '1', number 1
INSERT INTO serial_raw VALUES ('\x0000ec6626ab750a0000000000000001');
COPY serial_raw TO '/tmp/serial_test.bin' (FORMAT binary);
COPY serial_bad FROM '/tmp/serial_test.bin' (FORMAT binary);
SELECT s FROM serial_bad;
-- number 0
TRUNCATE serial_raw;
INSERT INTO serial_raw VALUES ('\x0000ec6626ab750a0000000000000000');
COPY serial_raw TO '/tmp/serial_test.bin' (FORMAT binary);
COPY serial_bad FROM '/tmp/serial_test.bin' (FORMAT binary);
-- empty series
TRUNCATE serial_raw;
INSERT INTO serial_raw VALUES ('\x00000000000000000000000000000001');
COPY serial_raw TO '/tmp/serial_test.bin' (FORMAT binary);
COPY serial_bad FROM '/tmp/serial_test.bin' (FORMAT binary);
-- padding before a character
TRUNCATE serial_raw;
INSERT INTO serial_raw VALUES ('\x00000000000000010000000000000001');
COPY serial_raw TO '/tmp/serial_test.bin' (FORMAT binary);
COPY serial_bad FROM '/tmp/serial_test.bin' (FORMAT binary);
-- wrong length
TRUNCATE serial_raw;
INSERT INTO serial_raw VALUES ('\x0000ec6626ab750a00000000000001');
COPY serial_raw TO '/tmp/serial_test.bin' (FORMAT binary);
COPY serial_bad FROM '/tmp/serial_test.bin' (FORMAT binary);

DROP TABLE serial_pk, serial_a, serial_b, serial_copy_src, serial_copy_dst,
    serial_raw, serial_bad;
