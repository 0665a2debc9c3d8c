-- topup 0.4.0 -> 0.5.0: the order lifecycle (SPEC §9).  Channels and
-- provider-backed top-ups (held money, workers claiming and reporting
-- orders, timeouts), reversals, charges, the event outbox.
\echo Use "ALTER EXTENSION topup UPDATE TO '0.5.0'" to load this file. \quit

-- new error slugs
UPDATE topup.error_codes SET description = 'The master balance (or the account) cannot cover the amount.'
 WHERE slug = 'insufficient_funds';
INSERT INTO topup.error_codes (slug, sqlstate, description) VALUES
    ('order_already_final',      'TU022', 'The order is completed or failed; a contradicting report changes nothing.'),
    ('unknown_channel',          'TU023', 'No client the caller may act for has this channel.'),
    ('order_not_reversible',     'TU024', 'Only a completed order that is not itself a reversal can be reversed.'),
    ('order_already_reversed',   'TU025', 'Nothing of the order is left to reverse.'),
    ('provider_declined',        'TU026', 'The card processor declined the top-up.'),
    ('provider_unavailable',     'TU027', 'The card processor could not be reached within the channel''s attempts.');

-- orders: charges and reversals; the lifecycle of provider-backed top-ups
ALTER TABLE topup.orders DROP CONSTRAINT orders_order_type_check,
    ADD CONSTRAINT orders_order_type_check
        CHECK (order_type IN ('voucher_redeem', 'card_topup', 'account_charge', 'reversal')),
    ADD COLUMN attempts integer,
    ADD COLUMN lease_until timestamptz,
    ADD COLUMN next_attempt_at timestamptz,
    ADD COLUMN provider_reference text,
    ADD COLUMN reverses_order_id bigint,
    ADD COLUMN hold_slot smallint,
    ADD COLUMN note text;
COMMENT ON COLUMN topup.orders.attempts IS 'provider-backed orders: how many times a worker claimed it';
COMMENT ON COLUMN topup.orders.lease_until IS 'provider-backed orders: the claiming worker''s lease';
COMMENT ON COLUMN topup.orders.next_attempt_at IS 'provider-backed orders: claimable again from (after an error or in doubt)';
COMMENT ON COLUMN topup.orders.provider_reference IS 'the card processor''s reference of the top-up';
COMMENT ON COLUMN topup.orders.reverses_order_id IS 'reversals: the order reversed';
COMMENT ON COLUMN topup.orders.hold_slot IS 'provider-backed orders: the hold slot holding amount + fee';
COMMENT ON COLUMN topup.orders.note IS 'the reason of a reversal, the description of a charge';
-- provider-backed orders to claim, and the reversals of an order
CREATE INDEX orders_claimable_idx ON topup.orders (channel, order_id) WHERE status = 'processing';
CREATE INDEX orders_reverses_idx ON topup.orders (reverses_order_id) WHERE reverses_order_id IS NOT NULL;

-- the ledger's new books: money held for provider-backed top-ups, revenue of charges
ALTER TABLE topup.ledger DROP CONSTRAINT ledger_book_check,
    ADD CONSTRAINT ledger_book_check
        CHECK (book IN ('account', 'voucher_float', 'master', 'fee', 'funding', 'hold', 'revenue'));

-- hold slots, next to every client's master and fee slots
ALTER TABLE topup.balance_slots DROP CONSTRAINT balance_slots_book_check,
    ADD CONSTRAINT balance_slots_book_check CHECK (book IN ('master', 'fee', 'hold'));
ALTER TABLE topup.balance_slots DISABLE TRIGGER slots_guard;
INSERT INTO topup.balance_slots (client_id, currency, book, slot)
SELECT client_id, currency, 'hold', slot FROM topup.balance_slots WHERE book = 'master'
ON CONFLICT DO NOTHING;
ALTER TABLE topup.balance_slots ENABLE TRIGGER slots_guard;

-- ---------------------------------------------------------------------------
-- Channels (SPEC §9): a provider channel's top-ups are applied later by a
-- card processor; its orders are claimed by workers.
-- ---------------------------------------------------------------------------

CREATE TABLE topup.channels (
    client_id text NOT NULL REFERENCES topup.clients,
    channel text NOT NULL CHECK (channel OPERATOR(pg_catalog.<>) ''),
    mode text NOT NULL CHECK (mode IN ('instant', 'provider')),
    attempt_timeout interval NOT NULL DEFAULT '30 seconds'
        CHECK (attempt_timeout OPERATOR(pg_catalog.>) '0'::interval),
    max_attempts integer NOT NULL DEFAULT 5 CHECK (max_attempts OPERATOR(pg_catalog.>=) 1),
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (client_id, channel)
);
COMMENT ON TABLE topup.channels IS 'top-up channels of each client: instant, or provider-backed (applied later by a card processor)';

-- The threshold below which a master balance raises a master.low event
-- (once per crossing: low says it is below).
CREATE TABLE topup.low_balances (
    client_id text NOT NULL REFERENCES topup.clients,
    currency text NOT NULL REFERENCES topup.currencies,
    threshold numeric NOT NULL CHECK (threshold OPERATOR(pg_catalog.>=) 0),
    low boolean NOT NULL DEFAULT false,
    PRIMARY KEY (client_id, currency)
);
COMMENT ON TABLE topup.low_balances IS 'master balance thresholds (set_low_balance); low is true while the balance is below';

-- ---------------------------------------------------------------------------
-- Events (SPEC §9): an outbox written in the same transaction as what it
-- reports.  A row gets its event_id when it is published: events_since
-- first numbers, in one serialized step, the events of committed
-- transactions that have none yet, then reads by event_id.  An event
-- committed later therefore always gets a higher id than any a reader has
-- seen, so a reader that polls with the last id it saw never skips one.
-- ---------------------------------------------------------------------------

CREATE SEQUENCE topup.event_id_seq;
COMMENT ON SEQUENCE topup.event_id_seq IS 'event ids, assigned at publication';

CREATE TABLE topup.events (
    event_id bigint,
    at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    client_id text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('order.completed', 'order.failed', 'order.processing',
                                       'order.reversed', 'voucher.expiring', 'master.low')),
    order_id bigint,
    serial topup.voucher_serial,
    account_id text,
    payload jsonb
);
COMMENT ON TABLE topup.events IS 'the outbox: order.completed, order.failed, order.processing, order.reversed, voucher.expiring, master.low; read with events_since()';
COMMENT ON COLUMN topup.events.event_id IS 'assigned in commit order when the event is published; NULL until then';
CREATE UNIQUE INDEX events_event_id_key ON topup.events (event_id) WHERE event_id IS NOT NULL;
CREATE INDEX events_client_idx ON topup.events (client_id, event_id) WHERE event_id IS NOT NULL;
CREATE INDEX events_unpublished_idx ON topup.events (at) WHERE event_id IS NULL;

-- vouchers whose expiry was announced (voucher.expiring, once per voucher)
CREATE TABLE topup.expiry_notices (
    client_id text NOT NULL,
    serial topup.voucher_serial NOT NULL,
    noticed_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (client_id, serial)
);
COMMENT ON TABLE topup.expiry_notices IS 'vouchers whose voucher.expiring event was written';

SELECT pg_catalog.pg_extension_config_dump('topup.channels', '');
SELECT pg_catalog.pg_extension_config_dump('topup.low_balances', '');
SELECT pg_catalog.pg_extension_config_dump('topup.events', '');
SELECT pg_catalog.pg_extension_config_dump('topup.event_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('topup.expiry_notices', '');

-- events and expiry notices: written by the extension only (or a restore)
CREATE FUNCTION topup._events_guard() RETURNS trigger
    AS 'MODULE_PATHNAME', 'topup_events_guard' LANGUAGE C;
COMMENT ON FUNCTION topup._events_guard() IS 'internal trigger: the outbox is written only by the extension';
CREATE TRIGGER events_guard BEFORE INSERT OR UPDATE OR DELETE ON topup.events
    FOR EACH ROW EXECUTE FUNCTION topup._events_guard();
CREATE TRIGGER events_truncate_guard BEFORE TRUNCATE ON topup.events
    FOR EACH STATEMENT EXECUTE FUNCTION topup._events_guard();
CREATE TRIGGER expiry_notices_guard BEFORE INSERT OR UPDATE OR DELETE ON topup.expiry_notices
    FOR EACH ROW EXECUTE FUNCTION topup._events_guard();
CREATE TRIGGER expiry_notices_truncate_guard BEFORE TRUNCATE ON topup.expiry_notices
    FOR EACH STATEMENT EXECUTE FUNCTION topup._events_guard();

-- ---------------------------------------------------------------------------
-- The order lifecycle (SPEC §9): channels, provider-backed top-ups claimed
-- and reported by workers, their timeouts, reversals, charges, events.
-- ---------------------------------------------------------------------------

CREATE FUNCTION topup.set_channel(channel text, mode text, attempt_timeout interval DEFAULT '30 seconds',
        max_attempts integer DEFAULT 5, client_id text DEFAULT topup.current_client()) RETURNS void
    AS 'MODULE_PATHNAME', 'topup_set_channel' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;
COMMENT ON FUNCTION topup.set_channel(text, text, interval, integer, text) IS 'create or change a top-up channel: instant, or provider-backed (workers apply its top-ups)';

CREATE FUNCTION topup.claim_orders(channel text, max_orders integer DEFAULT 10, lease interval DEFAULT NULL,
        client_id text DEFAULT NULL) RETURNS SETOF topup.order_result
    AS 'MODULE_PATHNAME', 'topup_claim_orders' LANGUAGE C VOLATILE ROWS 10
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;
COMMENT ON FUNCTION topup.claim_orders(text, integer, interval, text) IS 'hand a worker up to max_orders due orders of a provider channel, oldest first, under a lease';

CREATE FUNCTION topup.report_order(order_id bigint, outcome text, provider_reference text DEFAULT NULL,
        error_slug text DEFAULT NULL, error_message text DEFAULT NULL,
        client_id text DEFAULT topup.current_client()) RETURNS topup.order_result
    AS 'MODULE_PATHNAME', 'topup_report_order' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;
COMMENT ON FUNCTION topup.report_order(bigint, text, text, text, text, text) IS 'a worker reports the outcome of a claimed order: completed, failed, error or unknown';

CREATE FUNCTION topup._order_timeouts() RETURNS bigint
    AS 'MODULE_PATHNAME', 'topup_order_timeouts' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION topup._order_timeouts() IS 'internal: put the orders whose lease ran out in doubt; returns how many';

-- Not SECURITY DEFINER: a procedure that commits cannot be.
CREATE PROCEDURE topup.run_order_timeouts()
    AS 'MODULE_PATHNAME', 'topup_run_order_timeouts' LANGUAGE C;
COMMENT ON PROCEDURE topup.run_order_timeouts() IS 'put every provider-backed order whose lease ran out without a report in doubt (provider_verification)';

CREATE FUNCTION topup.schedule_order_timeouts(schedule text DEFAULT '* * * * *') RETURNS bigint
    AS 'MODULE_PATHNAME', 'topup_schedule_order_timeouts' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION topup.schedule_order_timeouts(text) IS 'register CALL topup.run_order_timeouts() with pg_cron as job topup-order-timeouts; returns the job id';

CREATE FUNCTION topup.reverse_order(order_id bigint, reason text, idempotency_key text,
        refund_fee boolean DEFAULT false, amount numeric DEFAULT NULL,
        client_id text DEFAULT topup.current_client()) RETURNS topup.order_result
    AS 'MODULE_PATHNAME', 'topup_reverse_order' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;
COMMENT ON FUNCTION topup.reverse_order(bigint, text, text, boolean, numeric, text) IS 'move the money of a completed order back (whole or partial), as an order of type reversal';

CREATE FUNCTION topup.charge_account(account_id text, amount numeric, idempotency_key text,
        description text DEFAULT NULL, client_id text DEFAULT topup.current_client())
    RETURNS topup.order_result
    AS 'MODULE_PATHNAME', 'topup_charge_account' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;
COMMENT ON FUNCTION topup.charge_account(text, numeric, text, text, text) IS 'spend from a customer balance or a card (order type account_charge)';

CREATE FUNCTION topup.events_since(after_event_id bigint, max_events integer DEFAULT 1000,
        client_id text DEFAULT topup.current_client()) RETURNS SETOF topup.events
    AS 'MODULE_PATHNAME', 'topup_events_since' LANGUAGE C VOLATILE ROWS 1000
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;
COMMENT ON FUNCTION topup.events_since(bigint, integer, text) IS 'the client''s events after an event id, in event_id order; never skips one that commits later';

CREATE FUNCTION topup.purge_events(older_than interval, client_id text DEFAULT topup.current_client())
    RETURNS bigint
    AS 'MODULE_PATHNAME', 'topup_purge_events' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;
COMMENT ON FUNCTION topup.purge_events(interval, text) IS 'delete a client''s published events older than the interval; returns how many';

CREATE FUNCTION topup.set_low_balance(currency text, threshold numeric,
        client_id text DEFAULT topup.current_client()) RETURNS void
    AS 'MODULE_PATHNAME', 'topup_set_low_balance' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic;
COMMENT ON FUNCTION topup.set_low_balance(text, numeric, text) IS 'the threshold below which a master balance raises a master.low event (NULL removes it)';

-- views: charges and reversals in the payment history; the holds
CREATE OR REPLACE VIEW topup.account_payments WITH (security_barrier) AS
SELECT l.client_id, l.account_id, l.created_at,
       CASE o.order_type
           WHEN 'voucher_redeem' THEN 'voucher'
           WHEN 'card_topup' THEN 'topup'
           WHEN 'account_charge' THEN 'charge'
           ELSE o.order_type
       END AS payment_type,
       l.amount, l.currency, l.balance_after,
       CASE o.order_type
           WHEN 'voucher_redeem' THEN 'voucher ' OPERATOR(pg_catalog.||) o.serial::text
           WHEN 'card_topup' THEN pg_catalog.concat_ws(' ', 'top-up', o.reference,
                                                       'via ' OPERATOR(pg_catalog.||) o.channel)
           WHEN 'account_charge' THEN pg_catalog.concat_ws(' ', 'charge', o.reference, o.note)
           ELSE pg_catalog.concat_ws(' ', 'reversal of order ' OPERATOR(pg_catalog.||) o.reverses_order_id::text,
                                     o.note)
       END AS comment,
       l.order_id
  FROM topup.ledger l
  JOIN topup.orders o ON o.order_id OPERATOR(pg_catalog.=) l.order_id
 WHERE l.book OPERATOR(pg_catalog.=) 'account'
   AND topup._visible(l.client_id, NULL);
COMMENT ON VIEW topup.account_payments IS 'a customer''s payment history: every credit to and charge of an account, with its balance after';

CREATE VIEW topup.hold_balances WITH (security_barrier) AS
SELECT client_id, currency, pg_catalog.sum(balance) AS balance
  FROM topup.balance_slots
 WHERE book OPERATOR(pg_catalog.=) 'hold'
   AND topup._visible(client_id, NULL)
 GROUP BY client_id, currency;
COMMENT ON VIEW topup.hold_balances IS 'money held for provider-backed top-ups in progress, per client and currency';

-- verify_ledger: holds, refunds, charges, reversals
CREATE OR REPLACE FUNCTION topup._ledger_problems() RETURNS TABLE (client_id text, problem text, detail text)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    -- each account's balance equals the sum of its ledger entries
    SELECT a.client_id, 'balance_mismatch',
           pg_catalog.format('account %s of client %s has balance %s but its ledger sums to %s',
                             a.account_id, a.client_id, a.balance, COALESCE(l.total, 0))
      FROM topup.accounts a
      LEFT JOIN (SELECT client_id, account_id, pg_catalog.sum(amount) AS total
                   FROM topup.ledger WHERE book = 'account'
                  GROUP BY client_id, account_id) l
        ON l.client_id = a.client_id AND l.account_id = a.account_id
     WHERE a.balance <> COALESCE(l.total, 0)
    UNION ALL
    -- each master balance, fee account and hold equals the sum of its entries
    SELECT COALESCE(s.client_id, l.client_id), 'balance_mismatch',
           pg_catalog.format('%s balance of client %s in %s is %s but its ledger sums to %s',
                             COALESCE(s.book, l.book), COALESCE(s.client_id, l.client_id),
                             COALESCE(s.currency, l.currency), COALESCE(s.total, 0), COALESCE(l.total, 0))
      FROM (SELECT client_id, currency, book, pg_catalog.sum(balance) AS total
              FROM topup.balance_slots GROUP BY client_id, currency, book) s
      FULL JOIN (SELECT client_id, currency, book, pg_catalog.sum(amount) AS total
                   FROM topup.ledger WHERE book IN ('master', 'fee', 'hold')
                  GROUP BY client_id, currency, book) l
        ON l.client_id = s.client_id AND l.currency = s.currency AND l.book = s.book
     WHERE COALESCE(s.total, 0) <> COALESCE(l.total, 0)
    UNION ALL
    -- ledger entries of accounts that do not exist
    SELECT l.client_id, 'orphan_entry',
           pg_catalog.format('ledger entry %s names account %s of client %s, which does not exist',
                             l.entry_id, l.account_id, l.client_id)
      FROM topup.ledger l
     WHERE l.book = 'account'
       AND NOT EXISTS (SELECT 1 FROM topup.accounts a
                        WHERE a.client_id = l.client_id AND a.account_id = l.account_id)
    UNION ALL
    -- each order's (and funding's) entries sum to zero per currency
    SELECT pg_catalog.min(client_id), 'unbalanced_order',
           pg_catalog.format('entries of order %s sum to %s %s instead of zero',
                             order_id, pg_catalog.sum(amount), currency)
      FROM topup.ledger
     WHERE order_id IS NOT NULL
     GROUP BY order_id, currency
    HAVING pg_catalog.sum(amount) <> 0
    UNION ALL
    SELECT pg_catalog.min(client_id), 'unbalanced_funding',
           pg_catalog.format('entries of funding %s sum to %s %s instead of zero',
                             funding_id, pg_catalog.sum(amount), currency)
      FROM topup.ledger
     WHERE funding_id IS NOT NULL
     GROUP BY funding_id, currency
    HAVING pg_catalog.sum(amount) <> 0
    UNION ALL
    -- no balance is negative
    SELECT client_id, 'negative_balance',
           pg_catalog.format('account %s of client %s has negative balance %s',
                             account_id, client_id, balance)
      FROM topup.accounts
     WHERE balance < 0
    UNION ALL
    SELECT client_id, 'negative_balance',
           pg_catalog.format('%s slot %s of client %s in %s has negative balance %s',
                             book, slot, client_id, currency, balance)
      FROM topup.balance_slots
     WHERE balance < 0
    UNION ALL
    -- each completed order has its entries, each failed order none (but a
    -- provider-backed top-up's hold and refund, checked below)
    SELECT o.client_id, 'completed_without_entries',
           pg_catalog.format('completed order %s has no ledger entries', o.order_id)
      FROM topup.orders o
     WHERE o.status = 'completed'
       AND NOT EXISTS (SELECT 1 FROM topup.ledger l WHERE l.order_id = o.order_id)
    UNION ALL
    SELECT o.client_id, 'failed_with_entries',
           pg_catalog.format('%s order %s has ledger entries', o.status, o.order_id)
      FROM topup.orders o
     WHERE o.status <> 'completed' AND o.hold_slot IS NULL
       AND EXISTS (SELECT 1 FROM topup.ledger l WHERE l.order_id = o.order_id)
    UNION ALL
    -- a provider-backed top-up holds amount + fee (master -> hold) while it
    -- is processing; completed, the hold went to the card and the fee
    -- account (checked with the other top-ups below); failed, back to the
    -- master balance
    SELECT o.client_id, 'hold_entries_mismatch',
           pg_catalog.format('%s provider-backed top-up %s of %s + fee %s %s: master %s, hold %s, card %s, fee %s',
                             o.status, o.order_id, o.amount, o.fee, o.currency, COALESCE(e.master, 0),
                             COALESCE(e.hold, 0), COALESCE(e.card, 0), COALESCE(e.fee, 0))
      FROM topup.orders o
      LEFT JOIN (SELECT order_id,
                        pg_catalog.sum(amount) FILTER (WHERE book = 'account') AS card,
                        pg_catalog.sum(amount) FILTER (WHERE book = 'master') AS master,
                        pg_catalog.sum(amount) FILTER (WHERE book = 'fee') AS fee,
                        pg_catalog.sum(amount) FILTER (WHERE book = 'hold') AS hold,
                        pg_catalog.count(*) FILTER (WHERE book = 'hold' AND amount < 0) AS released
                   FROM topup.ledger WHERE order_id IS NOT NULL
                  GROUP BY order_id) e
        ON e.order_id = o.order_id
     WHERE o.hold_slot IS NOT NULL AND o.status <> 'completed'
       AND (CASE o.status
                WHEN 'failed' THEN COALESCE(e.master, 0) <> 0 OR COALESCE(e.hold, 0) <> 0
                                   OR COALESCE(e.released, 0) <> 1
                ELSE COALESCE(e.master, 0) <> - (o.amount + o.fee)
                     OR COALESCE(e.hold, 0) <> o.amount + o.fee
            END
            OR COALESCE(e.card, 0) <> 0 OR COALESCE(e.fee, 0) <> 0)
    UNION ALL
    -- each client's hold is the amount + fee of its processing provider-backed top-ups
    SELECT COALESCE(s.client_id, p.client_id), 'hold_mismatch',
           pg_catalog.format('hold of client %s in %s is %s but its processing provider-backed top-ups hold %s',
                             COALESCE(s.client_id, p.client_id), COALESCE(s.currency, p.currency),
                             COALESCE(s.total, 0), COALESCE(p.total, 0))
      FROM (SELECT client_id, currency, pg_catalog.sum(balance) AS total
              FROM topup.balance_slots WHERE book = 'hold' GROUP BY client_id, currency) s
      FULL JOIN (SELECT client_id, currency, pg_catalog.sum(amount + fee) AS total
                   FROM topup.orders WHERE status = 'processing' AND hold_slot IS NOT NULL
                  GROUP BY client_id, currency) p
        ON p.client_id = s.client_id AND p.currency = s.currency
     WHERE COALESCE(s.total, 0) <> COALESCE(p.total, 0)
    UNION ALL
    -- a completed charge moves its amount from the account to the revenue book
    SELECT o.client_id, 'charge_entries_mismatch',
           pg_catalog.format('completed charge %s of %s %s: account %s, revenue %s',
                             o.order_id, o.amount, o.currency, COALESCE(e.account, 0), COALESCE(e.revenue, 0))
      FROM topup.orders o
      LEFT JOIN (SELECT order_id,
                        pg_catalog.sum(amount) FILTER (WHERE book = 'account') AS account,
                        pg_catalog.sum(amount) FILTER (WHERE book = 'revenue') AS revenue
                   FROM topup.ledger WHERE order_id IS NOT NULL
                  GROUP BY order_id) e
        ON e.order_id = o.order_id
     WHERE o.order_type = 'account_charge' AND o.status = 'completed'
       AND (COALESCE(e.account, 0) <> - o.amount OR COALESCE(e.revenue, 0) <> o.amount)
    UNION ALL
    -- a completed reversal takes back its amount from the account it went to
    -- (gives it back, for a charge), of a completed order that is not a reversal
    SELECT r.client_id, 'reversal_entries_mismatch',
           pg_catalog.format('completed reversal %s of %s order %s (%s) for %s %s: account %s',
                             r.order_id, g.order_type, r.reverses_order_id, g.status, r.amount, r.currency,
                             COALESCE(e.account, 0))
      FROM topup.orders r
      LEFT JOIN topup.orders g ON g.order_id = r.reverses_order_id
      LEFT JOIN (SELECT order_id, pg_catalog.sum(amount) AS account
                   FROM topup.ledger WHERE book = 'account' GROUP BY order_id) e
        ON e.order_id = r.order_id
     WHERE r.order_type = 'reversal' AND r.status = 'completed'
       AND (g.order_id IS NULL OR g.status <> 'completed' OR g.order_type = 'reversal'
            OR g.account_id IS DISTINCT FROM r.account_id OR g.client_id <> r.client_id
            OR COALESCE(e.account, 0) <> CASE g.order_type WHEN 'account_charge' THEN r.amount
                                                           ELSE - r.amount END)
    UNION ALL
    -- no order is reversed by more than it moved
    SELECT g.client_id, 'over_reversed',
           pg_catalog.format('order %s of %s %s is reversed by %s', g.order_id, g.amount, g.currency,
                             pg_catalog.sum(r.amount))
      FROM topup.orders g
      JOIN topup.orders r ON r.reverses_order_id = g.order_id
     WHERE r.status IN ('processing', 'completed')
     GROUP BY g.order_id, g.client_id, g.amount, g.currency
    HAVING pg_catalog.sum(r.amount) > g.amount
    UNION ALL
    SELECT l.client_id, 'entries_without_order',
           pg_catalog.format('ledger entry %s belongs to order %s, which does not exist',
                             l.entry_id, l.order_id)
      FROM topup.ledger l
     WHERE l.order_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM topup.orders o WHERE o.order_id = l.order_id)
    UNION ALL
    SELECT l.client_id, 'entries_without_funding',
           pg_catalog.format('ledger entry %s belongs to funding %s, which does not exist',
                             l.entry_id, l.funding_id)
      FROM topup.ledger l
     WHERE l.funding_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM topup.fundings f WHERE f.funding_id = l.funding_id)
    UNION ALL
    -- a completed redeem credits exactly its amount to its account
    SELECT o.client_id, 'redeem_credit_mismatch',
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
    SELECT o.client_id, 'topup_entries_mismatch',
           pg_catalog.format('completed top-up %s of %s + fee %s %s: card %s, master %s, fee %s, balance %s -> %s',
                             o.order_id, o.amount, o.fee, o.currency, COALESCE(e.card, 0),
                             COALESCE(e.master, 0), COALESCE(e.fee, 0),
                             o.master_balance_before, o.master_balance_after)
      FROM topup.orders o
      LEFT JOIN (SELECT order_id,
                        pg_catalog.sum(amount) FILTER (WHERE book = 'account') AS card,
                        pg_catalog.sum(amount) FILTER (WHERE book = 'master') AS master,
                        pg_catalog.sum(amount) FILTER (WHERE book = 'fee') AS fee,
                        pg_catalog.sum(amount) FILTER (WHERE book = 'hold') AS hold
                   FROM topup.ledger WHERE order_id IS NOT NULL
                  GROUP BY order_id) e
        ON e.order_id = o.order_id
     WHERE o.order_type = 'card_topup' AND o.status = 'completed'
       AND (COALESCE(e.card, 0) <> o.amount
            OR COALESCE(e.master, 0) <> - (o.amount + o.fee)
            OR COALESCE(e.fee, 0) <> o.fee
            OR COALESCE(e.hold, 0) <> 0
            OR o.master_balance_before - o.master_balance_after <> o.amount + o.fee
            OR o.master_balance_after < 0)
    UNION ALL
    -- each activated voucher has a completed redeem order for its amount
    SELECT v.client_id, 'voucher_without_order',
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

-- the new functions join their duties (§8), granted at once to the roles already bound
INSERT INTO topup.duty_grants (duty, privilege, object_kind, object)
SELECT d.duty, 'EXECUTE', 'routine', f.fn
  FROM (VALUES ('app'), ('admin')) AS d(duty),
       (VALUES ('topup.charge_account(text,numeric,text,text,text)'),
               ('topup.events_since(bigint,integer,text)')) AS f(fn)
UNION ALL
SELECT d.duty, 'SELECT', 'table', 'topup.hold_balances'
  FROM (VALUES ('admin'), ('auditor')) AS d(duty);
INSERT INTO topup.duty_grants (duty, privilege, object_kind, object, columns) VALUES
    ('admin', 'EXECUTE', 'routine', 'topup.reverse_order(bigint,text,text,boolean,numeric,text)', NULL),
    ('admin', 'EXECUTE', 'routine', 'topup.report_order(bigint,text,text,text,text,text)', NULL),
    ('provider', 'EXECUTE', 'routine', 'topup.claim_orders(text,integer,interval,text)', NULL),
    ('provider', 'EXECUTE', 'routine', 'topup.report_order(bigint,text,text,text,text,text)', NULL);
SELECT topup._grant_duties();

-- nothing of the extension is PUBLIC
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA topup FROM PUBLIC;
REVOKE ALL ON ALL PROCEDURES IN SCHEMA topup FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA topup FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA topup FROM PUBLIC;
