SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS topup CASCADE;
DROP ROLE IF EXISTS cg_writer;
RESET client_min_messages;

--
-- The COPY exception of the guards (SPEC §0, §3): pg_dump restores the
-- extension's tables with COPY ... FROM, so the guards of the ledger,
-- orders and accounts let a COPY FROM through, but only when the COPY's
-- target is that very table and it runs as the extension owner or a
-- superuser.  verify_ledger() audits what such a COPY brought.
--
SELECT topup.create_client('cg_client');
SELECT topup.open_account('cg_cust', 'USD', client_id => 'cg_client');

-- What the ledger and the orders hold for the test's order ids.
CREATE TEMP VIEW cg_rows AS
SELECT 'ledger' AS t, order_id, book, account_id, amount FROM topup.ledger
 WHERE order_id BETWEEN 900000001 AND 900000099
UNION ALL
SELECT 'orders', order_id, status::text, account_id, amount FROM topup.orders
 WHERE order_id BETWEEN 900000001 AND 900000099;

--
-- (a) A COPY into a table of the user, whose trigger writes into
-- topup.ledger or topup.orders, is refused (even run by a superuser): the
-- COPY's target is not the guarded table.
--
CREATE TABLE cg_feed (order_id bigint, amount numeric);
CREATE FUNCTION cg_feed_to_ledger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO topup.ledger (order_id, client_id, book, account_id, currency, amount)
    VALUES (NEW.order_id, 'cg_client', 'account', 'cg_cust', 'USD', NEW.amount);
    RETURN NEW;
END
$$;
CREATE TRIGGER cg_feed_to_ledger AFTER INSERT ON cg_feed
    FOR EACH ROW EXECUTE FUNCTION cg_feed_to_ledger();
COPY cg_feed FROM STDIN;
900000001	5
\.
DROP TRIGGER cg_feed_to_ledger ON cg_feed;

CREATE FUNCTION cg_feed_to_orders() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO topup.orders (order_id, order_type, status, client_id, account_id, amount, currency, reference)
    VALUES (NEW.order_id, 'voucher_redeem', 'completed', 'cg_client', 'cg_cust', NEW.amount, 'USD', 'cg-ref-' || NEW.order_id);
    RETURN NEW;
END
$$;
CREATE TRIGGER cg_feed_to_orders BEFORE INSERT ON cg_feed
    FOR EACH ROW EXECUTE FUNCTION cg_feed_to_orders();
COPY cg_feed FROM STDIN;
900000002	5
\.

-- a table of the user named like the guarded one (matched by OID, not name)
CREATE SCHEMA cg;
CREATE TABLE cg.ledger (order_id bigint, amount numeric);
CREATE TRIGGER cg_feed_to_ledger AFTER INSERT ON cg.ledger
    FOR EACH ROW EXECUTE FUNCTION cg_feed_to_ledger();
COPY cg.ledger FROM STDIN;
900000003	5
\.
SET search_path = cg, public;
COPY ledger FROM STDIN;
900000004	5
\.
RESET search_path;
SELECT count(*) AS cg_feed_rows FROM cg_feed;
SELECT * FROM cg_rows ORDER BY t, order_id;

--
-- (b) A role that is not the owner, granted INSERT on the ledger and the
-- orders, cannot COPY into them.
--
CREATE ROLE cg_writer;
GRANT USAGE ON SCHEMA topup TO cg_writer;
GRANT INSERT ON topup.ledger, topup.orders TO cg_writer;
SET ROLE cg_writer;
COPY topup.ledger (order_id, client_id, book, account_id, currency, amount) FROM STDIN;
900000005	cg_client	account	cg_cust	USD	5
\.
COPY topup.orders (order_id, order_type, status, client_id, account_id, amount, currency, reference) FROM STDIN;
900000006	voucher_redeem	completed	cg_client	cg_cust	5	USD	cg-ref-6
\.
-- nor insert into them, of course
INSERT INTO topup.ledger (order_id, client_id, book, account_id, currency, amount)
VALUES (900000007, 'cg_client', 'account', 'cg_cust', 'USD', 5);
RESET ROLE;
SELECT * FROM cg_rows ORDER BY t, order_id;

--
-- (c) The owner's COPY into the ledger itself goes through, as a restore's
-- does; verify_ledger() then reports what the row broke (how a restore is
-- audited).  In a transaction that is rolled back.
--
BEGIN;
COPY topup.ledger (entry_id, order_id, client_id, book, account_id, currency, amount, balance_after, created_at) FROM STDIN;
900000008	900000008	cg_client	account	cg_cust	USD	5.00	5.00	2026-01-01 00:00:00+00
\.
SELECT * FROM cg_rows ORDER BY t, order_id;
SELECT problem, detail FROM topup.verify_ledger()
 WHERE detail LIKE '%900000008%' OR detail LIKE '%cg_client%'
 ORDER BY problem, detail;
-- an INSERT by the owner in the same transaction is still refused
INSERT INTO topup.ledger (order_id, client_id, book, account_id, currency, amount)
VALUES (900000009, 'cg_client', 'account', 'cg_cust', 'USD', 5);
ROLLBACK;
SELECT * FROM cg_rows ORDER BY t, order_id;
SELECT problem, detail FROM topup.verify_ledger()
 WHERE detail LIKE '%900000008%' OR detail LIKE '%cg_client%';

-- clean up
DROP SCHEMA cg CASCADE;
DROP TABLE cg_feed;
DROP FUNCTION cg_feed_to_ledger(), cg_feed_to_orders();
DROP OWNED BY cg_writer;
DROP ROLE cg_writer;
