-- ---------------------------------------------------------------------------
-- Admin views.  They read the tables with the owner's rights and show the
-- calling role only the rows of its clients (topup._visible: admins and
-- auditors see their clients' rows, a reseller the vouchers of its own
-- reseller); the owner and superusers see everything.  security_barrier
-- keeps a caller's own functions from seeing the other rows.  (Views with
-- the caller's rights would need the caller to read pin_cipher for
-- pin_masked: see the README, "Access".)
-- ---------------------------------------------------------------------------

CREATE VIEW topup.voucher_list WITH (security_barrier) AS
SELECT v.status, v.serial, v.series, v.amount, v.currency,
       topup._pin_masked(v.pin_cipher, v.pin_hash) AS pin_masked,
       v.reseller, v.activated_at, v.activated_by, v.created_at, v.expires_at,
       v.client_id
  FROM topup.vouchers v
 WHERE topup._visible(v.client_id, v.reseller);
COMMENT ON VIEW topup.voucher_list IS 'admin table of vouchers; the PIN is masked but for its last two digits';

-- A reseller sees only the series that hold its vouchers, counted over them.
CREATE VIEW topup.series_list WITH (security_barrier) AS
SELECT s.client_id, s.series, s.amount, s.currency,
       pg_catalog.count(v.serial) AS quantity,
       pg_catalog.count(v.serial) FILTER (WHERE v.status OPERATOR(pg_catalog.=) 'new') AS new,
       pg_catalog.count(v.serial) FILTER (WHERE v.status OPERATOR(pg_catalog.=) 'activated') AS activated,
       pg_catalog.count(v.serial) FILTER (WHERE v.status OPERATOR(pg_catalog.=) 'expired') AS expired,
       pg_catalog.count(v.serial) FILTER (WHERE v.status OPERATOR(pg_catalog.=) 'blocked') AS blocked,
       s.amount OPERATOR(pg_catalog.*) pg_catalog.count(v.serial) FILTER (WHERE v.status OPERATOR(pg_catalog.=) 'new') AS value_outstanding,
       s.amount OPERATOR(pg_catalog.*) pg_catalog.count(v.serial) FILTER (WHERE v.status OPERATOR(pg_catalog.=) 'activated') AS value_redeemed,
       topup.make_serial(s.series, pg_catalog.min(topup.serial_number(v.serial))) AS first_serial,
       topup.make_serial(s.series, pg_catalog.max(topup.serial_number(v.serial))) AS last_serial,
       s.created_at, s.last_generated_at,
       pg_catalog.min(v.expires_at) AS expires_min,
       pg_catalog.max(v.expires_at) AS expires_max
  FROM topup.series s
  LEFT JOIN topup.vouchers v
    ON v.client_id OPERATOR(pg_catalog.=) s.client_id
   AND v.series OPERATOR(pg_catalog.=) s.series
   AND topup._visible(v.client_id, v.reseller)
 GROUP BY s.client_id, s.series
HAVING topup._visible(s.client_id, NULL) OR pg_catalog.count(v.serial) OPERATOR(pg_catalog.>) 0;
COMMENT ON VIEW topup.series_list IS 'admin table of voucher series with counts per status and outstanding value';

CREATE VIEW topup.account_list WITH (security_barrier) AS
SELECT a.client_id, a.account_id, a.kind, a.currency, a.balance, a.status,
       a.created_at, a.activated_at,
       NULLIF(pg_catalog.concat_ws(' ',
                  NULLIF(a.customer_info OPERATOR(pg_catalog.->>) 'firstName', ''),
                  NULLIF(a.customer_info OPERATOR(pg_catalog.->>) 'middleName', ''),
                  NULLIF(a.customer_info OPERATOR(pg_catalog.->>) 'lastName', '')), '') AS customer_name
  FROM topup.accounts a
 WHERE topup._visible(a.client_id, NULL);
COMMENT ON VIEW topup.account_list IS 'admin table of customer accounts and prepaid cards';

CREATE VIEW topup.account_payments WITH (security_barrier) AS
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

CREATE VIEW topup.order_list WITH (security_barrier) AS
SELECT o.order_id, o.order_type, o.status, o.topup_status, o.client_id, o.account_id,
       o.serial, o.amount, o.fee, o.currency, o.master_balance_before,
       o.master_balance_after, o.account_balance_after, o.error_slug, o.error_message,
       o.idempotency_key, o.reference, o.created_at, o.completed_at, o.failed_at
  FROM topup.orders o
 WHERE topup._visible(o.client_id, NULL);
COMMENT ON VIEW topup.order_list IS 'admin table of orders (the order_result columns but replayed)';

CREATE VIEW topup.master_balances WITH (security_barrier) AS
SELECT client_id, currency, pg_catalog.sum(balance) AS balance
  FROM topup.balance_slots
 WHERE book OPERATOR(pg_catalog.=) 'master'
   AND topup._visible(client_id, NULL)
 GROUP BY client_id, currency;
COMMENT ON VIEW topup.master_balances IS 'master balance of each client and currency';

CREATE VIEW topup.fee_balances WITH (security_barrier) AS
SELECT client_id, currency, pg_catalog.sum(balance) AS balance
  FROM topup.balance_slots
 WHERE book OPERATOR(pg_catalog.=) 'fee'
   AND topup._visible(client_id, NULL)
 GROUP BY client_id, currency;
COMMENT ON VIEW topup.fee_balances IS 'fee account balance of each client and currency';

CREATE VIEW topup.hold_balances WITH (security_barrier) AS
SELECT client_id, currency, pg_catalog.sum(balance) AS balance
  FROM topup.balance_slots
 WHERE book OPERATOR(pg_catalog.=) 'hold'
   AND topup._visible(client_id, NULL)
 GROUP BY client_id, currency;
COMMENT ON VIEW topup.hold_balances IS 'money held for provider-backed top-ups in progress, per client and currency';
