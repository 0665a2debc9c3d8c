SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS topup CASCADE;
RESET client_min_messages;

--
-- The redeem without a plan (src/redeem.c over src/rowops.c).  It is taken
-- when the tables are as the extension made them; an administrator's own
-- trigger, CHECK constraint or column default sends redeems through SQL,
-- where they take effect.  Both ways must write the same rows.
--
-- Which way a redeem went shows in the call counts of the guard trigger
-- functions: the SQL path fires them, the direct path never does.  The
-- counts are read inside one transaction, before and after the redeem
-- (counts of earlier transactions may not have been flushed yet).
--
SET track_functions = 'all';

SELECT topup.create_client('t_direct');
SELECT topup.open_account('c1', 'USD', client_id => 't_direct');
SELECT topup.open_account('c2', 'EUR', client_id => 't_direct');
SELECT quantity FROM topup.generate_vouchers('D', 20, 5.00, 'USD', 8, client_id => 't_direct');
CREATE TEMP TABLE pins AS
SELECT row_number() OVER (ORDER BY serial) AS n, serial, pin
  FROM topup.export_vouchers('D', 't_direct');

-- guard trigger calls in this transaction (0: the direct path)
CREATE FUNCTION pg_temp.guard_calls() RETURNS bigint LANGUAGE sql AS $$
    SELECT COALESCE(sum(pg_stat_get_xact_function_calls(p.oid)), 0)::bigint
      FROM pg_proc p
     WHERE p.pronamespace = 'topup'::regnamespace
       AND p.proname IN ('_vouchers_guard', '_accounts_guard', '_ledger_guard', '_orders_guard')
$$;

CREATE TEMP TABLE gmark (v bigint);
INSERT INTO gmark VALUES (0);
CREATE FUNCTION pg_temp.guard_delta() RETURNS bigint LANGUAGE sql AS $$
    SELECT pg_temp.guard_calls() - v FROM gmark
$$;

-- run a redeem, keep its result in res with the guard calls it made
CREATE FUNCTION pg_temp.step(p_step text, p_call text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    g0 bigint := pg_temp.guard_calls();
    r topup.order_result;
BEGIN
    EXECUTE p_call INTO r;
    INSERT INTO res VALUES (p_step, r.order_id, r.status, r.error_slug, r.account_balance_after,
                            pg_temp.guard_calls() - g0);
END $$;

-- what an order wrote, without ids, times and the random reference
CREATE FUNCTION pg_temp.written(p_order bigint) RETURNS TABLE (what text, row_text text)
LANGUAGE sql AS $$
    SELECT 'order', format('%s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s',
                  o.order_type, o.status, o.topup_status, o.client_id, o.account_id, o.amount,
                  o.fee, o.currency, o.master_balance_before, o.master_balance_after,
                  o.error_slug, o.error_message, o.idempotency_key, o.source,
                  o.completed_at = o.created_at, o.failed_at, o.entry_type, o.channel,
                  o.card_activated, length(o.request_hash))
      FROM topup.orders o WHERE o.order_id = p_order
    UNION ALL
    SELECT 'ledger', format('%s %s %s %s %s %s %s', l.client_id, l.book, l.account_id, l.currency,
                            l.amount, l.balance_after IS NOT NULL, l.funding_id)
      FROM topup.ledger l WHERE l.order_id = p_order
    UNION ALL
    SELECT 'voucher', format('%s %s %s', v.status, v.activated_by, v.activated_at IS NOT NULL)
      FROM topup.vouchers v WHERE v.order_id = p_order
$$;

CREATE TEMP TABLE res (step text PRIMARY KEY, order_id bigint, status text, error_slug text,
                       balance numeric, calls bigint);

-- 1. As created: the direct path, by PIN (with key and source) and by serial.
SELECT pg_temp.step('direct', $$SELECT * FROM topup.redeem_voucher((SELECT pin FROM pins WHERE n = 1), 'c1', 'k-direct', '10.0.0.1', 't_direct')$$);
SELECT pg_temp.step('by_serial', $$SELECT * FROM topup.redeem_voucher_by_serial((SELECT serial FROM pins WHERE n = 2), 'c1', NULL, 't_direct')$$);

-- 2. An administrator's AFTER INSERT trigger on orders: the SQL path, which fires it.
CREATE TABLE public.order_log (order_id bigint);
CREATE FUNCTION public.log_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.order_log VALUES (NEW.order_id);
    RETURN NULL;
END $$;
CREATE TRIGGER admin_log AFTER INSERT ON topup.orders FOR EACH ROW EXECUTE FUNCTION public.log_order();
SELECT pg_temp.step('sql', $$SELECT * FROM topup.redeem_voucher((SELECT pin FROM pins WHERE n = 3), 'c1', 'k-sql', '10.0.0.1', 't_direct')$$);
SELECT count(*) AS logged FROM public.order_log WHERE order_id = (SELECT order_id FROM res WHERE step = 'sql');
DROP TRIGGER admin_log ON topup.orders;

-- a disabled trigger does not count
CREATE TRIGGER admin_log AFTER INSERT ON topup.orders FOR EACH ROW EXECUTE FUNCTION public.log_order();
ALTER TABLE topup.orders DISABLE TRIGGER admin_log;
SELECT pg_temp.step('disabled_trigger', $$SELECT * FROM topup.redeem_voucher((SELECT pin FROM pins WHERE n = 4), 'c1', NULL, NULL, 't_direct')$$);
DROP TRIGGER admin_log ON topup.orders;

-- the same rows either way (the key differs by name only)
SELECT step, status, error_slug, balance, calls > 0 AS fired_guards FROM res ORDER BY order_id;
SELECT d.what, replace(d.row_text, 'k-direct', 'k') = replace(s.row_text, 'k-sql', 'k') AS same, d.row_text
  FROM pg_temp.written((SELECT order_id FROM res WHERE step = 'direct')) d
  FULL JOIN pg_temp.written((SELECT order_id FROM res WHERE step = 'sql')) s
    ON s.what = d.what AND split_part(s.row_text, ' ', 2) = split_part(d.row_text, ' ', 2)
 ORDER BY 1, 3;

-- 3. An administrator's CHECK constraint is enforced (through SQL), nothing is written.
ALTER TABLE topup.orders ADD CONSTRAINT admin_small CHECK (amount IS NULL OR amount < 5) NOT VALID;
\set VERBOSITY terse
SELECT status FROM topup.redeem_voucher((SELECT pin FROM pins WHERE n = 5), 'c1', NULL, NULL, 't_direct');
\set VERBOSITY default
SELECT status, order_id IS NULL AS no_order FROM topup.vouchers
 WHERE client_id = 't_direct' AND serial OPERATOR(topup.=) (SELECT serial FROM pins WHERE n = 5);
ALTER TABLE topup.orders DROP CONSTRAINT admin_small;

-- 4. A column with a default gets its default (through SQL); once it is
-- dropped, the direct path is back and skips the dropped column.
ALTER TABLE topup.orders ADD COLUMN admin_note text DEFAULT 'noted';
SELECT pg_temp.step('default', $$SELECT * FROM topup.redeem_voucher((SELECT pin FROM pins WHERE n = 6), 'c1', NULL, NULL, 't_direct')$$);
SELECT admin_note FROM topup.orders WHERE order_id = (SELECT order_id FROM res WHERE step = 'default');
ALTER TABLE topup.orders DROP COLUMN admin_note;
SELECT pg_temp.step('dropped_column', $$SELECT * FROM topup.redeem_voucher((SELECT pin FROM pins WHERE n = 7), 'c1', NULL, NULL, 't_direct')$$);

-- 5. An administrator's row-level security policy on a table: through SQL.
-- (The extension's own policies on vouchers and accounts keep the path.)
CREATE POLICY admin_p ON topup.accounts USING (true);
SELECT pg_temp.step('rls', $$SELECT * FROM topup.redeem_voucher((SELECT pin FROM pins WHERE n = 8), 'c1', NULL, NULL, 't_direct')$$);
DROP POLICY admin_p ON topup.accounts;
-- forced row-level security too
ALTER TABLE topup.vouchers FORCE ROW LEVEL SECURITY;
SELECT pg_temp.step('forced_rls', $$SELECT * FROM topup.redeem_voucher((SELECT pin FROM pins WHERE n = 20), 'c1', NULL, NULL, 't_direct')$$);
ALTER TABLE topup.vouchers NO FORCE ROW LEVEL SECURITY;

-- 5b. Each table of the redeem, each kind of administrator's change.  A
-- trigger, a CHECK constraint, row-level security or a deferrable unique
-- constraint (an internal trigger that is not a foreign-key check) on any
-- of the four tables sends the redeem through SQL; a column default does so
-- on the tables the redeem inserts into (ledger, orders), not on those it
-- only updates (vouchers, accounts), where SQL would not apply it either.
-- Every redeem succeeds.
SELECT quantity FROM topup.generate_vouchers('E', 30, 1.00, 'USD', 8, client_id => 't_direct');
CREATE TEMP TABLE epins AS
SELECT row_number() OVER (ORDER BY serial) AS n, pin FROM topup.export_vouchers('E', 't_direct');
CREATE FUNCTION public.admin_noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TEMP TABLE alter_cases (n serial, tbl text, kind text, key text);
INSERT INTO alter_cases (tbl, kind, key) SELECT t.tbl, k.kind, t.key
  FROM (VALUES ('vouchers', 'serial, client_id'), ('accounts', 'client_id, account_id'),
               ('ledger', 'entry_id'), ('orders', 'order_id')) AS t(tbl, key),
       (VALUES ('trigger'), ('check'), ('rls'), ('deferrable unique'), ('default')) AS k(kind)
 ORDER BY t.tbl, k.kind;
CREATE FUNCTION pg_temp.alter_case(c alter_cases, undo boolean) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    t text := 'topup.' || c.tbl;
BEGIN
    IF c.kind = 'trigger' THEN
        EXECUTE CASE WHEN undo THEN format('DROP TRIGGER admin_t ON %s', t)
                     ELSE format('CREATE TRIGGER admin_t AFTER INSERT OR UPDATE ON %s FOR EACH ROW EXECUTE FUNCTION public.admin_noop()', t) END;
    ELSIF c.kind = 'check' THEN
        EXECUTE CASE WHEN undo THEN format('ALTER TABLE %s DROP CONSTRAINT admin_ck', t)
                     ELSE format('ALTER TABLE %s ADD CONSTRAINT admin_ck CHECK (true) NOT VALID', t) END;
    ELSIF c.kind = 'rls' THEN
        -- an admin's policy (vouchers and accounts have the extension's own)
        IF c.tbl IN ('ledger', 'orders') THEN
            EXECUTE format('ALTER TABLE %s %s ROW LEVEL SECURITY', t, CASE WHEN undo THEN 'DISABLE' ELSE 'ENABLE' END);
        END IF;
        EXECUTE CASE WHEN undo THEN format('DROP POLICY admin_p ON %s', t)
                     ELSE format('CREATE POLICY admin_p ON %s USING (true)', t) END;
    ELSIF c.kind = 'deferrable unique' THEN
        EXECUTE CASE WHEN undo THEN format('ALTER TABLE %s DROP CONSTRAINT admin_u', t)
                     ELSE format('ALTER TABLE %s ADD CONSTRAINT admin_u UNIQUE (%s) DEFERRABLE', t, c.key) END;
    ELSE
        EXECUTE CASE WHEN undo THEN format('ALTER TABLE %s DROP COLUMN admin_col', t)
                     ELSE format('ALTER TABLE %s ADD COLUMN admin_col text DEFAULT %L', t, 'x') END;
    END IF;
END $$;
DO $$
DECLARE
    c alter_cases;
BEGIN
    FOR c IN SELECT * FROM alter_cases ORDER BY n LOOP
        PERFORM pg_temp.alter_case(c, false);
        PERFORM pg_temp.step(c.tbl || ' ' || c.kind,
                             format('SELECT * FROM topup.redeem_voucher(%L, %L, NULL, NULL, %L)',
                                    (SELECT pin FROM epins WHERE epins.n = c.n), 'c1', 't_direct'));
        PERFORM pg_temp.alter_case(c, true);
    END LOOP;
END $$;
SELECT c.tbl, c.kind, r.status, r.error_slug, r.calls > 0 AS through_sql
  FROM alter_cases c JOIN res r ON r.step = c.tbl || ' ' || c.kind ORDER BY c.n;
-- the admin's changes are gone again: the plan-free path is back
SELECT pg_temp.step('after_cases', $$SELECT * FROM topup.redeem_voucher((SELECT pin FROM epins WHERE n = 25), 'c1', NULL, NULL, 't_direct')$$);
SELECT status, calls > 0 AS through_sql FROM res WHERE step = 'after_cases';
-- A rule is never bypassed: the redeem goes to SQL, whose writable CTE
-- PostgreSQL refuses for a table with a DO ALSO rule; nothing is written.
CREATE RULE admin_r AS ON UPDATE TO topup.vouchers DO ALSO NOTIFY admin_r;
\set VERBOSITY terse
SELECT status FROM topup.redeem_voucher((SELECT pin FROM epins WHERE n = 27), 'c1', NULL, NULL, 't_direct');
\set VERBOSITY default
DROP RULE admin_r ON topup.vouchers;
SELECT v.status FROM topup.vouchers v JOIN topup.export_vouchers('E', 't_direct') e ON e.serial OPERATOR(topup.=) v.serial
 WHERE v.client_id = 't_direct' AND e.pin = (SELECT pin FROM epins WHERE n = 27);

-- 5c. An administrator's BRIN index on vouchers.activated_at, a column the
-- redeem sets: the plan-free update keeps it as the executor would
-- (PostgreSQL 16+ adds only the summarizing entry to a HOT update, 15 makes
-- the update non-HOT), so a bitmap scan of it finds the redeemed voucher.
CREATE INDEX admin_brin ON topup.vouchers USING brin (activated_at);
SELECT pg_temp.step('brin', $$SELECT * FROM topup.redeem_voucher((SELECT pin FROM epins WHERE n = 26), 'c1', NULL, NULL, 't_direct')$$);
SET enable_seqscan = off;
SET enable_indexscan = off;
SELECT count(*) AS found_through_brin FROM topup.vouchers
 WHERE activated_at BETWEEN now() - interval '1 hour' AND now() + interval '1 hour'
   AND order_id = (SELECT order_id FROM res WHERE step = 'brin');
RESET enable_seqscan;
RESET enable_indexscan;
SELECT status, calls > 0 AS through_sql FROM res WHERE step = 'brin';
DROP INDEX topup.admin_brin;

-- 6. Rebuilt indexes have new OIDs; the direct path finds them again.
REINDEX TABLE CONCURRENTLY topup.vouchers;
REINDEX TABLE CONCURRENTLY topup.accounts;
REINDEX TABLE CONCURRENTLY topup.orders;
SELECT pg_temp.step('reindexed', $$SELECT * FROM topup.redeem_voucher((SELECT pin FROM pins WHERE n = 9), 'c1', NULL, NULL, 't_direct')$$);

SELECT step, status, error_slug, balance, calls > 0 AS fired_guards FROM res
 WHERE step IN ('default', 'dropped_column', 'rls', 'forced_rls', 'reindexed') ORDER BY order_id;

-- 7. Several redeems in one statement: each sees the account as the one
-- before left it; the same PIN twice is redeemed once.
SELECT p.n, r.status, r.error_slug, r.account_balance_after
  FROM (VALUES (10), (11), (11), (12)) AS x (n)
  JOIN pins p USING (n)
  CROSS JOIN LATERAL topup.redeem_voucher(p.pin, 'c1', NULL, NULL, 't_direct') r
 ORDER BY r.order_id;

-- 8. Refusals on this path store the failed order the SQL path names.
SELECT status, error_slug FROM topup.redeem_voucher((SELECT pin FROM pins WHERE n = 13), 'c2', NULL, NULL, 't_direct');
SELECT status, error_slug FROM topup.redeem_voucher((SELECT pin FROM pins WHERE n = 13), 'nobody', NULL, NULL, 't_direct');
SELECT status, error_slug FROM topup.redeem_voucher((SELECT pin FROM pins WHERE n = 1), 'c1', NULL, NULL, 't_direct');
SELECT status, error_slug FROM topup.redeem_voucher((SELECT pin FROM pins WHERE n = 13), 'c1', NULL, NULL, 'default');
UPDATE topup.vouchers SET status = 'blocked'
 WHERE client_id = 't_direct' AND serial OPERATOR(topup.=) (SELECT serial FROM pins WHERE n = 14);
SELECT status, error_slug FROM topup.redeem_voucher((SELECT pin FROM pins WHERE n = 14), 'c1', NULL, NULL, 't_direct');

-- 9. The expiry batch: without a plan as created, through SQL (firing the
-- admin's trigger) when vouchers has one.  Both expire new and blocked due
-- vouchers only, and report how many.  (The sweep is global: first expire
-- what earlier tests left due.)
SELECT topup.expire_vouchers(1000000) AS swept \gset
SELECT count(*) AS still_due FROM topup.vouchers
 WHERE status IN ('new', 'blocked') AND expires_at <= now();
-- (one transaction: none falls due before the block and the redeem)
BEGIN;
SELECT quantity FROM topup.generate_vouchers('X', 6, 5.00, 'USD', 8, now() + interval '1 second',
                                            client_id => 't_direct');
UPDATE topup.vouchers SET status = 'blocked'
 WHERE client_id = 't_direct' AND series = 'X' AND topup.serial_number(serial) <= 2;
SELECT status FROM topup.redeem_voucher(
    (SELECT pin FROM topup.export_vouchers('X', 't_direct') ORDER BY serial OFFSET 5 LIMIT 1),
    'c1', NULL, NULL, 't_direct');
COMMIT;
SELECT pg_sleep(GREATEST(0, EXTRACT(epoch FROM max(expires_at) - clock_timestamp())) + 0.05)
  FROM topup.vouchers WHERE client_id = 't_direct' AND series = 'X';
BEGIN;
UPDATE gmark SET v = pg_temp.guard_calls();
SELECT topup.expire_vouchers(3) AS expired, pg_temp.guard_delta() AS guard_calls;
COMMIT;
CREATE TABLE public.voucher_log (serial text, status text);
CREATE FUNCTION public.log_voucher() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.voucher_log VALUES (NEW.serial::text, NEW.status::text);
    RETURN NULL;
END $$;
CREATE TRIGGER admin_vlog AFTER UPDATE ON topup.vouchers FOR EACH ROW EXECUTE FUNCTION public.log_voucher();
BEGIN;
UPDATE gmark SET v = pg_temp.guard_calls();
SELECT topup.expire_vouchers() AS expired, pg_temp.guard_delta() > 0 AS fired_guards;
COMMIT;
SELECT status, count(*) FROM public.voucher_log GROUP BY status;
DROP TRIGGER admin_vlog ON topup.vouchers;
DROP TABLE public.voucher_log;
DROP FUNCTION public.log_voucher();
SELECT status, count(*) FROM topup.vouchers WHERE client_id = 't_direct' AND series = 'X'
 GROUP BY status ORDER BY status;

-- 10. The extension dropped and created again in this session: the cached
-- tables, indexes and enum labels are looked up anew.
DROP TABLE public.order_log;
DROP FUNCTION public.log_order();
SELECT count(*) AS problems FROM topup.verify_ledger();
SET client_min_messages = warning;
DROP EXTENSION topup CASCADE;
CREATE EXTENSION topup CASCADE;
RESET client_min_messages;
SELECT topup.create_client('t_direct2');
SELECT topup.open_account('c1', 'USD', client_id => 't_direct2');
SELECT quantity FROM topup.generate_vouchers('E', 1, 7.00, 'USD', 8, client_id => 't_direct2');
BEGIN;
UPDATE gmark SET v = pg_temp.guard_calls();
SELECT r.status, r.account_balance_after, pg_temp.guard_delta() AS guard_calls
  FROM topup.export_vouchers('E', 't_direct2') e
  CROSS JOIN LATERAL topup.redeem_voucher(e.pin, 'c1', NULL, NULL, 't_direct2') r;
COMMIT;
SELECT count(*) AS problems FROM topup.verify_ledger();
