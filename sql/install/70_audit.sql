-- ---------------------------------------------------------------------------
-- Audit
-- ---------------------------------------------------------------------------

-- Every broken invariant, with the client it belongs to (owner only).
CREATE FUNCTION topup._ledger_problems() RETURNS TABLE (client_id text, problem text, detail text)
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
COMMENT ON FUNCTION topup._ledger_problems() IS 'internal: every broken invariant of balances, ledger, orders and vouchers, with its client';

CREATE FUNCTION topup._forget_dropped_roles() RETURNS void
    AS 'MODULE_PATHNAME', 'topup_forget_dropped_roles' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION topup._forget_dropped_roles() IS 'internal: remove the bindings of roles that no longer exist';

-- The auditor's view of it: the problems of the caller's clients (all of
-- them for the owner).  It also removes the bindings of dropped roles.
CREATE FUNCTION topup.verify_ledger() RETURNS TABLE (problem text, detail text)
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic
AS $$
    SELECT topup._forget_dropped_roles();
    SELECT p.problem, p.detail FROM topup._ledger_problems() p WHERE topup._visible(p.client_id, NULL);
$$;
COMMENT ON FUNCTION topup.verify_ledger() IS 'audit: one row per broken invariant of balances, ledger, orders and vouchers; empty when all holds';
