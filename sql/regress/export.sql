SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS topup CASCADE;
RESET client_min_messages;

--
-- topup.export_vouchers: the only way to read PINs back.  Rows in serial
-- order with the voucher's current status; the stored PIN data is the HMAC
-- of the PIN (lookup key) and its AES ciphertext, which pgcrypto can read
-- with the database secret; voucher_list masks the PIN.
--

SELECT topup.create_client('t_export');
SELECT topup.create_client('t_export2');
SELECT topup.create_reseller('kiosk', 't_export');

SELECT series, quantity, first_serial, last_serial
  FROM topup.generate_vouchers('EXP', 12, 20, 'USD', 12, NULL, NULL, 't_export');
SELECT series, quantity
  FROM topup.generate_vouchers('EXP', 3, 20, 'USD', 12, NULL, NULL, 't_export');

-- Every voucher once, in serial order, with its data; no PIN is printed.
SELECT serial, length(pin) AS pin_length, pin ~ '^[0-9]{12}$' AS digits,
       amount, currency, expires_at, reseller, status
  FROM topup.export_vouchers('EXP', 't_export');
SELECT count(*) AS rows,
       bool_and(n = topup.serial_number(serial)) AS in_serial_order,
       count(DISTINCT pin) AS distinct_pins
  FROM topup.export_vouchers('EXP', 't_export') WITH ORDINALITY AS e(serial, pin, amount, currency,
                                                                      expires_at, reseller, status, n);

-- Reseller and expiry are exported as stored.
SELECT series, quantity
  FROM topup.generate_vouchers('KIOSK', 2, 1000, 'JPY', 16, '2100-01-01 00:00:00+00', 'kiosk', 't_export');
SELECT serial, length(pin) AS pin_length, amount, currency,
       expires_at = '2100-01-01 00:00:00+00' AS expires_as_given, reseller, status
  FROM topup.export_vouchers('KIOSK', 't_export');

-- A lower-case series code is accepted; the export is the same.
SELECT (SELECT array_agg(e ORDER BY e.serial) FROM topup.export_vouchers('exp', 't_export') e) =
       (SELECT array_agg(e ORDER BY e.serial) FROM topup.export_vouchers('EXP', 't_export') e)
       AS same_export;

-- Exporting twice gives the same PINs.
SELECT count(*) AS same_pins
  FROM topup.export_vouchers('EXP', 't_export') a
  JOIN topup.export_vouchers('EXP', 't_export') b ON a.serial OPERATOR(topup.=) b.serial AND a.pin = b.pin;

-- The status column follows the voucher: block one, redeem another.
UPDATE topup.vouchers SET status = 'blocked'
 WHERE client_id = 't_export' AND serial OPERATOR(topup.=) topup.make_serial('EXP', 2);
SELECT topup.open_account('exp-customer', 'USD', 'customer', true, NULL, 't_export');
SELECT status, error_slug, amount, currency, serial
  FROM topup.redeem_voucher((SELECT pin FROM topup.export_vouchers('EXP', 't_export')
                             WHERE serial OPERATOR(topup.=) topup.make_serial('EXP', 3)),
                            'exp-customer', NULL, NULL, 't_export');
UPDATE topup.vouchers SET expires_at = now() - interval '1 minute'
 WHERE client_id = 't_export' AND serial OPERATOR(topup.=) topup.make_serial('EXP', 4);
SELECT serial, status FROM topup.export_vouchers('EXP', 't_export')
 WHERE topup.serial_number(serial) <= 5;
SELECT status, count(*) FROM topup.export_vouchers('EXP', 't_export') GROUP BY status ORDER BY status;

--
-- Errors.  A series of another client is reported exactly like a missing one.
--
\set VERBOSITY default
SELECT * FROM topup.export_vouchers('NOPE', 't_export');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM topup.export_vouchers('EXP', 't_export2');
SELECT * FROM topup.export_vouchers('EXP', 'no_such_client');
SELECT * FROM topup.export_vouchers('EXP');
SELECT * FROM topup.export_vouchers('E-X', 't_export');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM topup.export_vouchers('', 't_export');
-- STRICT: NULL arguments give no rows.
SELECT count(*) FROM topup.export_vouchers(NULL, 't_export');
SELECT count(*) FROM topup.export_vouchers('EXP', NULL);

--
-- The stored PIN data.  pgcrypto (installed by CASCADE) decrypts the
-- ciphertext with the secret's AES key, the IV being the first 16 bytes of
-- the HMAC; the HMAC-SHA-256 of the PIN under the secret's HMAC key is the
-- stored lookup hash.
--
SELECT extnamespace::regnamespace AS pgcrypto_schema FROM pg_extension WHERE extname = 'pgcrypto' \gset
SET search_path = :pgcrypto_schema, pg_catalog;

CREATE TEMP VIEW export_check AS
SELECT e.serial, e.pin, v.pin_cipher, v.pin_hash, v.pin_length, s.enc_key, s.hmac_key
  FROM (SELECT * FROM topup.export_vouchers('EXP', 't_export')
        UNION ALL
        SELECT * FROM topup.export_vouchers('KIOSK', 't_export')) e
  JOIN topup.vouchers v
    ON v.client_id = 't_export' AND v.serial OPERATOR(topup.=) e.serial
 CROSS JOIN topup.secret s;

SELECT count(*) AS vouchers,
       count(*) FILTER (WHERE convert_from(decrypt_iv(pin_cipher, enc_key, substring(pin_hash FROM 1 FOR 16),
                                                      'aes-cbc/pad:pkcs'), 'UTF8') = pin) AS decrypted,
       count(*) FILTER (WHERE hmac(convert_to(pin, 'UTF8'), hmac_key, 'sha256') = pin_hash) AS hmac_matches,
       count(*) FILTER (WHERE length(pin) = pin_length) AS length_matches
  FROM export_check;
-- One AES block for 12 digits, two for 16 (PKCS#7 padding).
SELECT pin_length, length(pin_cipher) AS cipher_bytes, length(pin_hash) AS hash_bytes, count(*)
  FROM export_check GROUP BY 1, 2, 3 ORDER BY 1;
-- The same PIN under another key does not give the stored hash.
SELECT count(*) FILTER (WHERE hmac(convert_to(pin, 'UTF8'), '\x00'::bytea, 'sha256') = pin_hash) AS wrong_key_matches
  FROM export_check;
RESET search_path;

-- voucher_list shows the PIN masked but for its last two digits.
SELECT count(*) AS vouchers,
       bool_and(l.pin_masked = repeat('*', length(e.pin) - 2) || right(e.pin, 2)) AS masked_ok,
       bool_and(strpos(l.pin_masked, e.pin) = 0) AS pin_hidden
  FROM topup.export_vouchers('EXP', 't_export') e
  JOIN topup.voucher_list l
    ON l.client_id = 't_export' AND l.serial OPERATOR(topup.=) e.serial;
SELECT serial, regexp_replace(pin_masked, '[0-9]', '#', 'g') AS pin_masked_shape, status
  FROM topup.voucher_list
 WHERE client_id = 't_export' AND series = 'KIOSK'
 ORDER BY serial;

-- Nothing is granted to PUBLIC: another role cannot export or read PIN data.
CREATE ROLE regress_topup_export_reader;
SET ROLE regress_topup_export_reader;
SELECT * FROM topup.export_vouchers('EXP', 't_export');
SELECT count(*) FROM topup.vouchers;
SELECT count(*) FROM topup.secret;
RESET ROLE;
-- Even with USAGE on the schema, the function and the tables stay closed.
GRANT USAGE ON SCHEMA topup TO regress_topup_export_reader;
SET ROLE regress_topup_export_reader;
SELECT * FROM topup.export_vouchers('EXP', 't_export');
SELECT count(*) FROM topup.vouchers;
SELECT count(*) FROM topup.secret;
SELECT count(*) FROM topup.voucher_list;
RESET ROLE;
REVOKE USAGE ON SCHEMA topup FROM regress_topup_export_reader;
DROP ROLE regress_topup_export_reader;
