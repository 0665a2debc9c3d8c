-- topup 0.1.0 -> 0.2.0: prepaid card top-up orders, master balance, fees,
-- pricing, order polling.

\echo Use "ALTER EXTENSION topup UPDATE TO '0.2.0'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Error codes of the top-up path
-- ---------------------------------------------------------------------------

INSERT INTO topup.error_codes (slug, sqlstate, description) VALUES
    ('idempotency_key_required', 'TU013', 'A top-up needs a non-empty idempotency key.'),
    ('invalid_amount',           'TU014', 'The amount is missing, not positive, or has more decimals than the currency allows.'),
    ('invalid_entry_type',       'TU015', 'The entry type is not B, K, M or P.'),
    ('card_not_found',           'TU016', 'No prepaid card has this id for this client.'),
    ('card_not_active',          'TU017', 'The card is not active.'),
    ('invalid_pricing',          'TU018', 'No pricing rule, or a misconfigured one, for this client and currency.'),
    ('amount_below_minimum',     'TU019', 'The amount is below the pricing rule''s minimum.'),
    ('amount_above_maximum',     'TU020', 'The amount is above the pricing rule''s maximum.'),
    ('insufficient_funds',       'TU021', 'The master balance cannot cover amount and fee.');

-- ---------------------------------------------------------------------------
-- Pricing
-- ---------------------------------------------------------------------------

CREATE TABLE topup.pricing (
    client_id text NOT NULL REFERENCES topup.clients,
    currency text NOT NULL REFERENCES topup.currencies,
    min_amount numeric NOT NULL,
    max_amount numeric NOT NULL,
    fee_fixed numeric NOT NULL DEFAULT 0,
    fee_percent numeric NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (client_id, currency)
);
COMMENT ON TABLE topup.pricing IS 'top-up pricing per client and currency: amount limits and fee = fee_fixed + fee_percent/100 * amount, rounded half up';

-- ---------------------------------------------------------------------------
-- Master balances and fee accounts.
--
-- Every top-up of a client charges its master balance and credits its fee
-- account, so both would be one hot row.  Each is split into 16 slots; a
-- top-up debits one slot that can cover it (skipping slots other orders
-- hold), and only when none can does it lock every slot, check the total
-- and spread what is left evenly again.  The balance is the sum of the
-- slots; no slot goes negative.
-- ---------------------------------------------------------------------------

CREATE TABLE topup.balance_slots (
    client_id text NOT NULL REFERENCES topup.clients,
    currency text NOT NULL REFERENCES topup.currencies,
    book text NOT NULL CHECK (book IN ('master', 'fee')),
    slot smallint NOT NULL CHECK (slot BETWEEN 0 AND 15),
    balance numeric NOT NULL DEFAULT 0 CHECK (balance OPERATOR(pg_catalog.>=) 0),
    PRIMARY KEY (client_id, currency, book, slot)
) WITH (fillfactor = 50);
COMMENT ON TABLE topup.balance_slots IS 'master balance and fee account of each client and currency, split into 16 slots so concurrent top-ups do not queue on one row';

CREATE TABLE topup.fundings (
    funding_id bigint PRIMARY KEY DEFAULT pg_catalog.nextval('topup.order_id_seq'),
    client_id text NOT NULL REFERENCES topup.clients,
    currency text NOT NULL REFERENCES topup.currencies,
    amount numeric NOT NULL CHECK (amount OPERATOR(pg_catalog.>) 0),
    reference text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    UNIQUE (client_id, reference)
);
COMMENT ON TABLE topup.fundings IS 'money paid into master balances; fund_master is idempotent on the reference';

-- ---------------------------------------------------------------------------
-- Orders and ledger: columns of card top-ups, entries of fundings
-- ---------------------------------------------------------------------------

ALTER TABLE topup.orders
    ADD COLUMN entry_type text CHECK (entry_type IN ('B', 'K', 'M', 'P')),
    ADD COLUMN channel text,
    ADD COLUMN card_activated boolean;
COMMENT ON COLUMN topup.orders.entry_type IS 'how the card id was entered: B barcode, K keyed, M magnetic stripe, P proximity';
COMMENT ON COLUMN topup.orders.card_activated IS 'the top-up activated the card';

ALTER TABLE topup.ledger
    ALTER COLUMN order_id DROP NOT NULL,
    ADD COLUMN funding_id bigint,
    ADD CONSTRAINT ledger_one_source CHECK ((order_id IS NULL) <> (funding_id IS NULL));
CREATE INDEX ledger_funding_idx ON topup.ledger (funding_id) WHERE funding_id IS NOT NULL;
CREATE INDEX ledger_book_idx ON topup.ledger (client_id, currency, book) WHERE book IN ('master', 'fee');

SELECT pg_catalog.pg_extension_config_dump('topup.pricing', '');
SELECT pg_catalog.pg_extension_config_dump('topup.balance_slots', '');
SELECT pg_catalog.pg_extension_config_dump('topup.fundings', '');

-- balance_slots: balances change only through the extension
CREATE FUNCTION topup._slots_guard() RETURNS trigger
    AS 'MODULE_PATHNAME', 'topup_slots_guard' LANGUAGE C;
COMMENT ON FUNCTION topup._slots_guard() IS 'internal trigger: master and fee balances change only through the extension';
CREATE TRIGGER slots_guard BEFORE INSERT OR UPDATE OR DELETE ON topup.balance_slots
    FOR EACH ROW EXECUTE FUNCTION topup._slots_guard();
CREATE TRIGGER slots_truncate_guard BEFORE TRUNCATE ON topup.balance_slots
    FOR EACH STATEMENT EXECUTE FUNCTION topup._slots_guard();
CREATE TRIGGER fundings_guard BEFORE INSERT OR UPDATE OR DELETE ON topup.fundings
    FOR EACH ROW EXECUTE FUNCTION topup._slots_guard();
CREATE TRIGGER fundings_truncate_guard BEFORE TRUNCATE ON topup.fundings
    FOR EACH STATEMENT EXECUTE FUNCTION topup._slots_guard();

-- ---------------------------------------------------------------------------
-- Functions
-- ---------------------------------------------------------------------------

CREATE FUNCTION topup.fund_master(amount numeric, currency text, reference text,
        client_id text DEFAULT 'default') RETURNS numeric
    AS 'MODULE_PATHNAME', 'topup_fund_master' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION topup.fund_master(numeric, text, text, text) IS 'credit a client''s master balance; idempotent on reference; returns the new balance';

CREATE FUNCTION topup.set_pricing(currency text, min_amount numeric, max_amount numeric,
        fee_fixed numeric DEFAULT 0, fee_percent numeric DEFAULT 0,
        client_id text DEFAULT 'default') RETURNS void
    AS 'MODULE_PATHNAME', 'topup_set_pricing' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION topup.set_pricing(text, numeric, numeric, numeric, numeric, text) IS 'set the top-up pricing rule of a client and currency (replaces the earlier one)';

CREATE FUNCTION topup.topup_card(account_id text, amount numeric, idempotency_key text,
        currency text DEFAULT NULL, activate boolean DEFAULT false,
        customer_info jsonb DEFAULT NULL, entry_type text DEFAULT 'K',
        channel text DEFAULT NULL, client_id text DEFAULT 'default')
    RETURNS topup.order_result
    AS 'MODULE_PATHNAME', 'topup_topup_card' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION topup.topup_card(text, numeric, text, text, boolean, jsonb, text, text, text) IS 'top up a prepaid card; amount + fee is charged to the client''s master balance';

CREATE FUNCTION topup.check_order(order_id bigint, client_id text DEFAULT 'default')
    RETURNS topup.order_result
    AS 'MODULE_PATHNAME', 'topup_check_order_by_id' LANGUAGE C STABLE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION topup.check_order(bigint, text) IS 'poll an order by id';

CREATE FUNCTION topup.check_order(idempotency_key text, order_type text DEFAULT 'card_topup',
        client_id text DEFAULT 'default')
    RETURNS topup.order_result
    AS 'MODULE_PATHNAME', 'topup_check_order_by_key' LANGUAGE C STABLE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION topup.check_order(text, text, text) IS 'poll an order by its idempotency key and order type';

CREATE FUNCTION topup.order_json(order_id bigint, client_id text DEFAULT 'default') RETURNS jsonb
    AS 'MODULE_PATHNAME', 'topup_order_json' LANGUAGE C STABLE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION topup.order_json(bigint, text) IS 'the CardTopupOrder document of an order';

-- ---------------------------------------------------------------------------
-- Views
-- ---------------------------------------------------------------------------

CREATE VIEW topup.master_balances AS
SELECT client_id, currency, pg_catalog.sum(balance) AS balance
  FROM topup.balance_slots
 WHERE book OPERATOR(pg_catalog.=) 'master'
 GROUP BY client_id, currency;
COMMENT ON VIEW topup.master_balances IS 'master balance of each client and currency';

CREATE VIEW topup.fee_balances AS
SELECT client_id, currency, pg_catalog.sum(balance) AS balance
  FROM topup.balance_slots
 WHERE book OPERATOR(pg_catalog.=) 'fee'
 GROUP BY client_id, currency;
COMMENT ON VIEW topup.fee_balances IS 'fee account balance of each client and currency';

CREATE OR REPLACE VIEW topup.account_payments AS
SELECT l.client_id, l.account_id, l.created_at,
       CASE o.order_type
           WHEN 'voucher_redeem' THEN 'voucher'
           WHEN 'card_topup' THEN 'topup'
           ELSE o.order_type
       END AS payment_type,
       l.amount, l.currency, l.balance_after,
       CASE o.order_type
           WHEN 'voucher_redeem' THEN 'voucher ' OPERATOR(pg_catalog.||) o.serial::text
           ELSE pg_catalog.concat_ws(' ', 'top-up', o.reference,
                                     'via ' OPERATOR(pg_catalog.||) o.channel)
       END AS comment,
       l.order_id
  FROM topup.ledger l
  JOIN topup.orders o ON o.order_id OPERATOR(pg_catalog.=) l.order_id
 WHERE l.book OPERATOR(pg_catalog.=) 'account';

-- ---------------------------------------------------------------------------
-- Audit: the master and fee books, fundings and top-ups join the checks
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION topup.verify_ledger() RETURNS TABLE (problem text, detail text)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    -- each account's balance equals the sum of its ledger entries
    SELECT 'balance_mismatch',
           pg_catalog.format('account %s of client %s has balance %s but its ledger sums to %s',
                             a.account_id, a.client_id, a.balance, COALESCE(l.total, 0))
      FROM topup.accounts a
      LEFT JOIN (SELECT client_id, account_id, pg_catalog.sum(amount) AS total
                   FROM topup.ledger WHERE book = 'account'
                  GROUP BY client_id, account_id) l
        ON l.client_id = a.client_id AND l.account_id = a.account_id
     WHERE a.balance <> COALESCE(l.total, 0)
    UNION ALL
    -- each master balance and fee account equals the sum of its entries
    SELECT 'balance_mismatch',
           pg_catalog.format('%s balance of client %s in %s is %s but its ledger sums to %s',
                             COALESCE(s.book, l.book), COALESCE(s.client_id, l.client_id),
                             COALESCE(s.currency, l.currency), COALESCE(s.total, 0), COALESCE(l.total, 0))
      FROM (SELECT client_id, currency, book, pg_catalog.sum(balance) AS total
              FROM topup.balance_slots GROUP BY client_id, currency, book) s
      FULL JOIN (SELECT client_id, currency, book, pg_catalog.sum(amount) AS total
                   FROM topup.ledger WHERE book IN ('master', 'fee')
                  GROUP BY client_id, currency, book) l
        ON l.client_id = s.client_id AND l.currency = s.currency AND l.book = s.book
     WHERE COALESCE(s.total, 0) <> COALESCE(l.total, 0)
    UNION ALL
    -- ledger entries of accounts that do not exist
    SELECT 'orphan_entry',
           pg_catalog.format('ledger entry %s names account %s of client %s, which does not exist',
                             l.entry_id, l.account_id, l.client_id)
      FROM topup.ledger l
     WHERE l.book = 'account'
       AND NOT EXISTS (SELECT 1 FROM topup.accounts a
                        WHERE a.client_id = l.client_id AND a.account_id = l.account_id)
    UNION ALL
    -- each order's (and funding's) entries sum to zero per currency
    SELECT 'unbalanced_order',
           pg_catalog.format('entries of order %s sum to %s %s instead of zero',
                             order_id, pg_catalog.sum(amount), currency)
      FROM topup.ledger
     WHERE order_id IS NOT NULL
     GROUP BY order_id, currency
    HAVING pg_catalog.sum(amount) <> 0
    UNION ALL
    SELECT 'unbalanced_funding',
           pg_catalog.format('entries of funding %s sum to %s %s instead of zero',
                             funding_id, pg_catalog.sum(amount), currency)
      FROM topup.ledger
     WHERE funding_id IS NOT NULL
     GROUP BY funding_id, currency
    HAVING pg_catalog.sum(amount) <> 0
    UNION ALL
    -- no balance is negative
    SELECT 'negative_balance',
           pg_catalog.format('account %s of client %s has negative balance %s',
                             account_id, client_id, balance)
      FROM topup.accounts
     WHERE balance < 0
    UNION ALL
    SELECT 'negative_balance',
           pg_catalog.format('%s slot %s of client %s in %s has negative balance %s',
                             book, slot, client_id, currency, balance)
      FROM topup.balance_slots
     WHERE balance < 0
    UNION ALL
    -- each completed order has its entries, each failed order none
    SELECT 'completed_without_entries',
           pg_catalog.format('completed order %s has no ledger entries', o.order_id)
      FROM topup.orders o
     WHERE o.status = 'completed'
       AND NOT EXISTS (SELECT 1 FROM topup.ledger l WHERE l.order_id = o.order_id)
    UNION ALL
    SELECT 'failed_with_entries',
           pg_catalog.format('%s order %s has ledger entries', o.status, o.order_id)
      FROM topup.orders o
     WHERE o.status <> 'completed'
       AND EXISTS (SELECT 1 FROM topup.ledger l WHERE l.order_id = o.order_id)
    UNION ALL
    SELECT 'entries_without_order',
           pg_catalog.format('ledger entry %s belongs to order %s, which does not exist',
                             l.entry_id, l.order_id)
      FROM topup.ledger l
     WHERE l.order_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM topup.orders o WHERE o.order_id = l.order_id)
    UNION ALL
    SELECT 'entries_without_funding',
           pg_catalog.format('ledger entry %s belongs to funding %s, which does not exist',
                             l.entry_id, l.funding_id)
      FROM topup.ledger l
     WHERE l.funding_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM topup.fundings f WHERE f.funding_id = l.funding_id)
    UNION ALL
    -- a completed redeem credits exactly its amount to its account
    SELECT 'redeem_credit_mismatch',
           pg_catalog.format('completed redeem order %s of %s %s credited %s to account %s',
                             o.order_id, o.amount, o.currency, COALESCE(c.total, 0), o.account_id)
      FROM topup.orders o
      LEFT JOIN (SELECT order_id, account_id, pg_catalog.sum(amount) AS total
                   FROM topup.ledger WHERE book = 'account'
                  GROUP BY order_id, account_id) c
        ON c.order_id = o.order_id AND c.account_id = o.account_id
     WHERE o.order_type = 'voucher_redeem' AND o.status = 'completed'
       AND COALESCE(c.total, 0) <> o.amount
    UNION ALL
    -- a completed top-up credits its amount to the card, charges amount + fee
    -- to the master balance and credits the fee; before - after = amount + fee
    SELECT 'topup_entries_mismatch',
           pg_catalog.format('completed top-up %s of %s + fee %s %s: card %s, master %s, fee %s, balance %s -> %s',
                             o.order_id, o.amount, o.fee, o.currency, COALESCE(e.card, 0),
                             COALESCE(e.master, 0), COALESCE(e.fee, 0),
                             o.master_balance_before, o.master_balance_after)
      FROM topup.orders o
      LEFT JOIN (SELECT order_id,
                        pg_catalog.sum(amount) FILTER (WHERE book = 'account') AS card,
                        pg_catalog.sum(amount) FILTER (WHERE book = 'master') AS master,
                        pg_catalog.sum(amount) FILTER (WHERE book = 'fee') AS fee
                   FROM topup.ledger WHERE order_id IS NOT NULL
                  GROUP BY order_id) e
        ON e.order_id = o.order_id
     WHERE o.order_type = 'card_topup' AND o.status = 'completed'
       AND (COALESCE(e.card, 0) <> o.amount
            OR COALESCE(e.master, 0) <> - (o.amount + o.fee)
            OR COALESCE(e.fee, 0) <> o.fee
            OR o.master_balance_before - o.master_balance_after <> o.amount + o.fee
            OR o.master_balance_after < 0)
    UNION ALL
    -- each activated voucher has a completed redeem order for its amount
    SELECT 'voucher_without_order',
           pg_catalog.format('activated voucher %s of client %s has no completed redeem order for %s %s',
                             v.serial, v.client_id, v.amount, v.currency)
      FROM topup.vouchers v
     WHERE v.status = 'activated'
       AND NOT EXISTS (SELECT 1 FROM topup.orders o
                        WHERE o.order_id = v.order_id
                          AND o.client_id = v.client_id
                          AND o.order_type = 'voucher_redeem'
                          AND o.status = 'completed'
                          AND o.serial OPERATOR(topup.=) v.serial
                          AND o.amount = v.amount
                          AND o.currency = v.currency)
$$;

-- ---------------------------------------------------------------------------
-- Privileges: nothing for PUBLIC
-- ---------------------------------------------------------------------------

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA topup FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA topup FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA topup FROM PUBLIC;
