SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS topup CASCADE;
RESET client_min_messages;

--
-- topup.verify_ledger() (SPEC §7): no rows when everything holds, one row
-- per broken invariant otherwise.  The invariants are broken on purpose
-- below with the triggers off (session_replication_role = replica, as
-- only a superuser can), each inside a transaction that is rolled back.
--

-- the operators of topup.voucher_serial
SET search_path = public, topup;

SELECT topup.create_client('t_verify');
SELECT topup.open_account('vf-acc', 'USD', client_id => 't_verify');
SELECT series, quantity FROM topup.generate_vouchers('VF1', 3, 20, 'USD', 12, client_id => 't_verify');

-- a normal day: two redeems, two failures
SELECT status, error_slug, amount, account_balance_after FROM topup.redeem_voucher(
    (SELECT pin FROM topup.export_vouchers('VF1', 't_verify') WHERE topup.serial_number(serial) = 1),
    'vf-acc', client_id => 't_verify');
SELECT status, error_slug, amount, account_balance_after FROM topup.redeem_voucher_by_serial(
    topup.make_serial('VF1', 2), 'vf-acc', client_id => 't_verify');
SELECT status, error_slug, amount, account_balance_after FROM topup.redeem_voucher(
    '1234567', 'vf-acc', client_id => 't_verify');
SELECT status, error_slug, amount, account_balance_after FROM topup.redeem_voucher(
    (SELECT pin FROM topup.export_vouchers('VF1', 't_verify') WHERE topup.serial_number(serial) = 3),
    'vf-nobody', client_id => 't_verify');

-- and card top-ups paid from the master balance
SELECT topup.fund_master(100, 'USD', 'vf-fund-1', 't_verify');
SELECT topup.set_pricing('USD', 1, 50, 0.50, 2, 't_verify');
SELECT topup.open_account('vf-card', 'USD', 'card', client_id => 't_verify');
SELECT status, error_slug, amount, fee, master_balance_before, master_balance_after, account_balance_after
  FROM topup.topup_card('vf-card', 10, 'vf-topup-1', client_id => 't_verify');
SELECT status, error_slug, amount, fee, master_balance_before, master_balance_after, account_balance_after
  FROM topup.topup_card('vf-card', 60, 'vf-topup-2', client_id => 't_verify');

SELECT * FROM topup.verify_ledger();

SELECT min(order_id) AS completed_id FROM topup.orders
 WHERE client_id = 't_verify' AND status = 'completed' AND order_type = 'voucher_redeem' \gset
SELECT min(order_id) AS topup_id FROM topup.orders
 WHERE client_id = 't_verify' AND status = 'completed' AND order_type = 'card_topup' \gset
SELECT funding_id FROM topup.fundings WHERE client_id = 't_verify' AND reference = 'vf-fund-1' \gset
SELECT min(slot) AS master_slot FROM topup.balance_slots
 WHERE client_id = 't_verify' AND currency = 'USD' AND book = 'master' AND balance >= 1 \gset
SELECT max(slot) AS master_slot2 FROM topup.balance_slots
 WHERE client_id = 't_verify' AND currency = 'USD' AND book = 'master' AND balance >= 1 \gset

SELECT min(order_id) AS failed_id FROM topup.orders
 WHERE client_id = 't_verify' AND status = 'failed' \gset

-- The problems found, with order, funding and entry ids masked.
CREATE TEMP VIEW problems AS
SELECT problem,
       regexp_replace(detail, '(order|entry|funding|top-up|slot) \d+', '\1 N', 'g') AS detail
  FROM topup.verify_ledger()
 ORDER BY 1, 2;

-- a balance that differs from its ledger
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE topup.accounts SET balance = balance + 5 WHERE client_id = 't_verify' AND account_id = 'vf-acc';
SELECT * FROM problems;
ROLLBACK;

-- an entry that unbalances an order
BEGIN;
SET LOCAL session_replication_role = replica;
INSERT INTO topup.ledger (order_id, client_id, book, currency, amount)
VALUES (:completed_id, 't_verify', 'voucher_float', 'USD', 1);
SELECT * FROM problems;
ROLLBACK;

-- ... and one that also credits the account, beyond its balance and the
-- voucher's amount
BEGIN;
SET LOCAL session_replication_role = replica;
INSERT INTO topup.ledger (order_id, client_id, book, account_id, currency, amount)
VALUES (:completed_id, 't_verify', 'account', 'vf-acc', 'USD', 5);
SELECT * FROM problems;
ROLLBACK;

-- an activated voucher without its order
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE topup.vouchers SET order_id = NULL
 WHERE client_id = 't_verify' AND serial = topup.make_serial('VF1', 1);
SELECT * FROM problems;
ROLLBACK;

-- an activated voucher whose order is for another amount
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE topup.orders SET amount = 25 WHERE order_id = :completed_id;
SELECT * FROM problems;
ROLLBACK;

-- a voucher activated by hand, with no order at all
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE topup.vouchers SET status = 'activated', activated_by = 'vf-acc', activated_at = now()
 WHERE client_id = 't_verify' AND serial = topup.make_serial('VF1', 3);
SELECT * FROM problems;
ROLLBACK;

-- a completed order whose entries are gone
BEGIN;
SET LOCAL session_replication_role = replica;
DELETE FROM topup.ledger WHERE order_id = :completed_id;
SELECT * FROM problems;
ROLLBACK;

-- a failed order with (balanced) entries
BEGIN;
SET LOCAL session_replication_role = replica;
INSERT INTO topup.ledger (order_id, client_id, book, currency, amount)
VALUES (:failed_id, 't_verify', 'voucher_float', 'USD', -3),
       (:failed_id, 't_verify', 'funding', 'USD', 3);
SELECT * FROM problems;
ROLLBACK;

-- entries of an order that does not exist, for an account that does not exist
BEGIN;
SET LOCAL session_replication_role = replica;
INSERT INTO topup.ledger (order_id, client_id, book, account_id, currency, amount)
VALUES (-1, 't_verify', 'account', 'vf-ghost', 'USD', 7),
       (-1, 't_verify', 'voucher_float', NULL, 'USD', -7);
SELECT * FROM problems;
ROLLBACK;

-- a negative balance: the CHECK constraint of topup.accounts forbids it,
-- so it is dropped for the test (an extension's table can be altered by
-- a superuser; the rollback restores the constraint)
BEGIN;
ALTER TABLE topup.accounts DROP CONSTRAINT accounts_balance_check;
SET LOCAL session_replication_role = replica;
UPDATE topup.accounts SET balance = -10 WHERE client_id = 't_verify' AND account_id = 'vf-acc';
INSERT INTO topup.ledger (order_id, client_id, book, account_id, currency, amount)
VALUES (:failed_id, 't_verify', 'account', 'vf-acc', 'USD', -50),
       (:failed_id, 't_verify', 'funding', NULL, 'USD', 50);
SELECT * FROM problems;
ROLLBACK;

-- a master balance that differs from its ledger
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE topup.balance_slots SET balance = balance + 1
 WHERE client_id = 't_verify' AND currency = 'USD' AND book = 'master' AND slot = :master_slot;
SELECT * FROM problems;
ROLLBACK;

-- a fee account that differs from its ledger
BEGIN;
SET LOCAL session_replication_role = replica;
DELETE FROM topup.balance_slots WHERE client_id = 't_verify' AND currency = 'USD' AND book = 'fee';
SELECT * FROM problems;
ROLLBACK;

-- a negative slot (the total is right, but no slot may go below zero)
BEGIN;
ALTER TABLE topup.balance_slots DROP CONSTRAINT balance_slots_balance_check;
SET LOCAL session_replication_role = replica;
UPDATE topup.balance_slots
   SET balance = balance + (SELECT balance + 1 FROM topup.balance_slots
                             WHERE client_id = 't_verify' AND currency = 'USD' AND book = 'master'
                               AND slot = :master_slot)
 WHERE client_id = 't_verify' AND currency = 'USD' AND book = 'master' AND slot = :master_slot2;
UPDATE topup.balance_slots SET balance = -1
 WHERE client_id = 't_verify' AND currency = 'USD' AND book = 'master' AND slot = :master_slot;
SELECT * FROM problems;
ROLLBACK;

-- an entry that unbalances a funding
BEGIN;
SET LOCAL session_replication_role = replica;
INSERT INTO topup.ledger (funding_id, client_id, book, currency, amount)
VALUES (:funding_id, 't_verify', 'funding', 'USD', -1);
SELECT * FROM problems;
ROLLBACK;

-- entries of a funding that does not exist
BEGIN;
SET LOCAL session_replication_role = replica;
INSERT INTO topup.ledger (funding_id, client_id, book, currency, amount)
VALUES (-1, 't_verify', 'funding', 'USD', -2),
       (-1, 't_verify', 'funding', 'USD', 2);
SELECT * FROM problems;
ROLLBACK;

-- a completed top-up whose order and entries disagree
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE topup.orders SET fee = 1 WHERE order_id = :topup_id;
SELECT * FROM problems;
ROLLBACK;
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE topup.orders SET master_balance_after = 90 WHERE order_id = :topup_id;
SELECT * FROM problems;
ROLLBACK;

-- all undone: the constraint is back and the audit is clean again
SELECT conrelid::regclass, conname FROM pg_constraint
 WHERE conrelid IN ('topup.accounts'::regclass, 'topup.balance_slots'::regclass)
   AND contype = 'c' ORDER BY 1, 2;
SELECT account_id, balance FROM topup.accounts WHERE client_id = 't_verify' ORDER BY 1;
SELECT * FROM topup.master_balances WHERE client_id = 't_verify';
SELECT * FROM topup.verify_ledger();
