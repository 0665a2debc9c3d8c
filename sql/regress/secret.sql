SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS topup CASCADE;
RESET client_min_messages;

--
-- The database secret: what happens when it is missing or does not belong
-- to the vouchers (the README's troubleshooting entries), and that nothing
-- is written then.  Each case runs in a transaction that is rolled back;
-- the guard trigger is disabled in it, as a DBA editing by hand would.
--
CREATE FUNCTION pg_temp.try(cmd text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    st text;
    msg text;
    det text;
    hnt text;
BEGIN
    EXECUTE cmd;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
                            det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    RETURN st || ': ' || msg || COALESCE(' | ' || NULLIF(det, ''), '') || COALESCE(' | ' || NULLIF(hnt, ''), '');
END $$;

SELECT topup.create_client('t_secret');
SELECT topup.open_account('s_acc', 'USD', client_id => 't_secret');
SELECT series, quantity FROM topup.generate_vouchers('SEC', 3, 10, 'USD', client_id => 't_secret');
SELECT pin AS sec_pin FROM topup.export_vouchers('SEC', 't_secret') ORDER BY serial LIMIT 1 \gset
CREATE TEMP VIEW sec_state AS
SELECT (SELECT count(*) FROM topup.orders WHERE client_id = 't_secret') AS orders,
       (SELECT count(*) FROM topup.ledger WHERE client_id = 't_secret') AS entries,
       (SELECT count(*) FROM topup.vouchers WHERE client_id = 't_secret' AND status = 'new') AS new_vouchers;
SELECT * FROM sec_state;

-- 1. The secret is missing: every function that needs a key says so.
BEGIN;
ALTER TABLE topup.secret DISABLE TRIGGER secret_guard;
DELETE FROM topup.secret;
SELECT pg_temp.try(cmd) FROM (VALUES
    ($$SELECT topup.redeem_voucher('$$ || :'sec_pin' || $$', 's_acc', client_id => 't_secret')$$),
    ($$SELECT * FROM topup.export_vouchers('SEC', 't_secret')$$),
    ($$SELECT * FROM topup.generate_vouchers('SEC', 1, 10, 'USD', client_id => 't_secret')$$),
    ($$SELECT * FROM topup.voucher_list WHERE client_id = 't_secret'$$)) AS c(cmd);
SELECT * FROM sec_state;
ROLLBACK;
SELECT * FROM sec_state;

-- 2. Another database's secret: the stored ciphertexts do not decrypt, and
-- the lookup hashes do not match either (a redeem finds no voucher).
BEGIN;
ALTER TABLE topup.secret DISABLE TRIGGER secret_guard;
UPDATE topup.secret SET hmac_key = '\x0101010101010101010101010101010101010101010101010101010101010101',
                        enc_key = '\x0202020202020202020202020202020202020202020202020202020202020202';
SELECT pg_temp.try(cmd) FROM (VALUES
    ($$SELECT * FROM topup.export_vouchers('SEC', 't_secret')$$),
    ($$SELECT * FROM topup.voucher_list WHERE client_id = 't_secret'$$)) AS c(cmd);
SELECT status, error_slug FROM topup.redeem_voucher(:'sec_pin', 's_acc', client_id => 't_secret');
ROLLBACK;
SELECT * FROM sec_state;

-- 3. With its own secret back, the database works as before.
SELECT count(*) AS exported FROM topup.export_vouchers('SEC', 't_secret');
SELECT status, error_slug, amount FROM topup.redeem_voucher(:'sec_pin', 's_acc', client_id => 't_secret');
SELECT * FROM sec_state;
SELECT * FROM topup.verify_ledger();
