-- topup demo: a day at a small prepaid operator.
-- Run by scripts/demo.sh in a fresh database; every step prints what an
-- admin UI would show.
\set QUIET on
\pset footer off
SET client_min_messages = warning;
CREATE EXTENSION topup CASCADE;
RESET client_min_messages;
-- the serial type's operators live in schema topup: put it on the path
-- (for new sessions of this database, and for this one)
ALTER DATABASE topup_demo SET search_path = "$user", public, topup;
SET search_path = "$user", public, topup;
\set QUIET off

\echo
\echo '== 1. The operator sets up a reseller and two customers'
SELECT topup.create_reseller('corner-shop');
SELECT topup.open_account('alice', 'USD');
SELECT topup.open_account('bob', 'USD');

\echo
\echo '== 2. Generate two series of top-up cards (series 101: 10 USD; GOLD: 50 USD)'
SELECT series, amount, currency, quantity, new, value_outstanding, first_serial, last_serial
  FROM topup.generate_vouchers('101', 8, 10, 'USD', 12, now() + interval '90 days', 'corner-shop');
SELECT series, amount, currency, quantity, new, value_outstanding, first_serial, last_serial
  FROM topup.generate_vouchers('GOLD', 3, 50, 'USD', 14, now() + interval '1 year');

\echo
\echo '== 3. Export series 101 for printing (the only way to read PINs back)'
CREATE TEMP TABLE printed AS SELECT * FROM topup.export_vouchers('101');
SELECT serial, pin, amount, currency, reseller, status FROM printed ORDER BY serial;

\echo
\echo '== 4. Customers redeem PINs'
SELECT pin AS alice_pin FROM printed ORDER BY serial LIMIT 1 \gset
SELECT pin AS bob_pin FROM printed ORDER BY serial OFFSET 1 LIMIT 1 \gset
SELECT status, error_slug, serial, amount, account_balance_after, replayed
  FROM topup.redeem_voucher(:'alice_pin', 'alice', 'web-req-1', '203.0.113.7');
\echo '-- the app retries the same request (same idempotency key): replayed, no second credit'
SELECT status, error_slug, serial, amount, account_balance_after, replayed
  FROM topup.redeem_voucher(:'alice_pin', 'alice', 'web-req-1', '203.0.113.7');
\echo '-- bob tries alice''s card, then a wrong PIN'
SELECT status, error_slug, error_message FROM topup.redeem_voucher(:'alice_pin', 'bob');
SELECT status, error_slug, error_message FROM topup.redeem_voucher('000000000000', 'bob', NULL, '198.51.100.9');
SELECT status, error_slug, amount, account_balance_after FROM topup.redeem_voucher(:'bob_pin', 'bob');
\echo '-- the admin redeems a GOLD card for bob by its serial'
SELECT status, serial, amount, account_balance_after
  FROM topup.redeem_voucher_by_serial(topup.make_serial('GOLD', 1), 'bob');

\echo
\echo '== 5. Mass edit: block two cards, extend the rest of series 101, delete one'
UPDATE topup.vouchers SET status = 'blocked'
 WHERE serial IN ('101-00000073', '101-00000081') AND status = 'new';
UPDATE topup.vouchers SET expires_at = now() + interval '180 days'
 WHERE series = '101' AND status = 'new';
DELETE FROM topup.vouchers WHERE series = '101' AND topup.serial_number(serial) = 6;
\echo '-- a blocked card cannot be redeemed'
SELECT pin AS blocked_pin FROM printed WHERE topup.serial_number(serial) = 7 \gset
SELECT status, error_slug FROM topup.redeem_voucher(:'blocked_pin', 'alice');
\echo '-- the trigger refuses to touch a redeemed card'
\set ON_ERROR_STOP off
UPDATE topup.vouchers SET status = 'new' WHERE status = 'activated';
\set ON_ERROR_STOP on

\echo
\echo '== 6. Expiry: a promo series valid for two seconds; the sweep (scheduled with pg_cron in production) expires it'
SELECT series, quantity, new FROM topup.generate_vouchers('PROMO', 4, 5, 'USD', 12, now() + interval '2 seconds');
SELECT pin AS promo_pin FROM topup.export_vouchers('PROMO') LIMIT 1 \gset
SELECT pg_sleep(2.5);
\echo '-- a due card is refused even before the sweep marks it'
SELECT status, error_slug FROM topup.redeem_voucher(:'promo_pin', 'alice');
CALL topup.run_expiry();
SELECT series, quantity, new, expired FROM topup.series_list WHERE series = 'PROMO';

\echo
\echo '== 7. An API client tops up prepaid cards from its master balance'
SELECT topup.create_client('acme-api', 'ACME mobile wallet');
SELECT topup.set_pricing('USD', 5, 500, 0.25, 1.5, 'acme-api');
SELECT topup.fund_master(1000, 'USD', 'wire-2026-11-001', 'acme-api') AS master_balance;
\echo '-- the same wire reported twice is credited once'
SELECT topup.fund_master(1000, 'USD', 'wire-2026-11-001', 'acme-api') AS master_balance;
SELECT topup.open_account('914639258868515', 'USD', 'card', false, NULL, 'acme-api');
SELECT topup.open_account('914639258868516', 'USD', 'card', true, NULL, 'acme-api');
\echo '-- the seed request: top up 100 USD, activate the card, store the customer'
SELECT status, topup_status, amount, fee, master_balance_before, master_balance_after,
       account_balance_after, replayed
  FROM topup.topup_card('914639258868515', 100, '20250401123534801', 'USD', true,
       '{"customerType": "1", "firstName": "Jon1", "middleName": "Mid2", "lastName": "Doe3",
         "address1": "295R+VM Settat, Morocco", "address2": "Settat,Morocco", "city": "Morocco",
         "state": "Settat", "postal": "", "country": "US", "mailPref": "O", "phone": "+8612154154",
         "isMobile": "N", "phonePref": "O", "email": "Jon@gmail.com", "emailPref": "O",
         "birthday": "20000101", "anniversary": "", "gender": ""}',
       'K', 'FACTOR4', 'acme-api');
\echo '-- the client times out and retries: same order, replayed, charged once'
SELECT status, amount, fee, master_balance_after, replayed
  FROM topup.topup_card('914639258868515', 100, '20250401123534801', 'USD', true,
       '{"customerType": "1", "firstName": "Jon1", "middleName": "Mid2", "lastName": "Doe3",
         "address1": "295R+VM Settat, Morocco", "address2": "Settat,Morocco", "city": "Morocco",
         "state": "Settat", "postal": "", "country": "US", "mailPref": "O", "phone": "+8612154154",
         "isMobile": "N", "phonePref": "O", "email": "Jon@gmail.com", "emailPref": "O",
         "birthday": "20000101", "anniversary": "", "gender": ""}',
       'K', 'FACTOR4', 'acme-api');
\echo '-- refusals are orders too: below the minimum; a large top-up goes through; the next one exceeds what is left'
SELECT status, error_slug, error_message
  FROM topup.topup_card('914639258868516', 2, 'ord-2', client_id => 'acme-api');
SELECT status, error_slug, error_message
  FROM topup.topup_card('914639258868516', 500, 'ord-3', client_id => 'acme-api');
SELECT status, error_slug, error_message
  FROM topup.topup_card('914639258868516', 499.99, 'ord-4', client_id => 'acme-api');
\echo '-- polling: check_order by key, and the CardTopupOrder document'
SELECT status, topup_status, amount, fee FROM topup.check_order('20250401123534801', 'card_topup', 'acme-api');
SELECT jsonb_pretty(topup.order_json(order_id, 'acme-api') - 'created_at' - 'completed_at'
                    #- '{data,reference}')
  FROM topup.check_order('20250401123534801', 'card_topup', 'acme-api');
SELECT * FROM topup.master_balances ORDER BY client_id, currency;

\echo
\echo '== 8. Roles bound to clients: the API client''s app, its staff, the corner shop, an auditor'
\set QUIET on
SET client_min_messages = warning;
DROP ROLE IF EXISTS acme_app, acme_staff, shop_till, acme_auditor;
RESET client_min_messages;
CREATE ROLE acme_app LOGIN;
CREATE ROLE acme_staff LOGIN;
CREATE ROLE shop_till LOGIN;
CREATE ROLE acme_auditor LOGIN;
\set QUIET off
SELECT topup.bind_role('acme_app', 'app', 'acme-api');
SELECT topup.bind_role('acme_staff', 'admin', 'acme-api');
SELECT topup.bind_role('shop_till', 'reseller', 'default', 'corner-shop');
SELECT topup.bind_role('acme_auditor', 'auditor', 'acme-api');
SELECT role, duty, client_id, reseller FROM topup.role_bindings ORDER BY role::text;
\echo '-- the app tops up without naming its client (client_id defaults to topup.current_client())'
SET ROLE acme_app;
SELECT topup.current_client();
SELECT status, client_id, amount, fee, master_balance_after FROM topup.topup_card('914639258868516', 50, 'ord-5');
\echo '-- another client is as unknown to it as one that does not exist'
\set ON_ERROR_STOP off
SELECT status FROM topup.topup_card('914639258868516', 50, 'ord-6', client_id => 'default');
\set ON_ERROR_STOP on
RESET ROLE;
\echo '-- acme staff generate cards and mass-edit them; they see acme''s rows only'
SET ROLE acme_staff;
SELECT series, quantity FROM topup.generate_vouchers('ACME', 3, 20, 'USD', 12);
UPDATE topup.vouchers SET expires_at = now() + interval '1 year' WHERE series = 'ACME' AND status = 'new';
SELECT client_id, series, quantity, new, expires_min::date = (now() + interval '1 year')::date AS extended
  FROM topup.series_list;
RESET ROLE;
\echo '-- the corner shop sees only its own cards'
SET ROLE shop_till;
SELECT series, status, count(*) FROM topup.voucher_list GROUP BY series, status ORDER BY 1, 2;
RESET ROLE;
\echo '-- the auditor reads acme''s audit log and ledger check'
SET ROLE acme_auditor;
SELECT role, action, target, new FROM topup.audit_log ORDER BY audit_id;
SELECT count(*) AS problems FROM topup.verify_ledger();
RESET ROLE;

\echo
\echo '== 9. A card processor applies top-ups later: a provider channel, its worker, reversals, charges, events'
SELECT topup.set_channel('PROCESSOR', 'provider', attempt_timeout => '30 seconds', max_attempts => 3,
                         client_id => 'acme-api');
\set QUIET on
SET client_min_messages = warning;
DROP ROLE IF EXISTS acme_worker;
RESET client_min_messages;
CREATE ROLE acme_worker LOGIN;
\set QUIET off
SELECT topup.bind_role('acme_worker', 'provider', 'acme-api');
\echo '-- two top-ups through the processor: amount + fee is held, the cards are not credited yet'
SET ROLE acme_app;
SELECT status, topup_status, amount, fee, master_balance_after, account_balance_after
  FROM topup.topup_card('914639258868515', 40, 'prov-1', channel => 'PROCESSOR');
SELECT status, topup_status, amount, fee, master_balance_after
  FROM topup.topup_card('914639258868516', 60, 'prov-2', channel => 'PROCESSOR');
RESET ROLE;
SELECT client_id, currency, balance AS held FROM topup.hold_balances;
\echo '-- the worker claims both (a lease each), the processor applies one and declines the other'
SET ROLE acme_worker;
SELECT account_id, amount, topup_status FROM topup.claim_orders('PROCESSOR', 10) ORDER BY order_id;
RESET ROLE;
SELECT order_id AS prov1 FROM topup.check_order('prov-1', 'card_topup', 'acme-api') \gset
SELECT order_id AS prov2 FROM topup.check_order('prov-2', 'card_topup', 'acme-api') \gset
SELECT order_id, topup_status, attempts, lease_until > now() AS leased
  FROM topup.orders WHERE order_id IN (:prov1, :prov2) ORDER BY order_id;
SET ROLE acme_worker;
SELECT status, topup_status, account_balance_after
  FROM topup.report_order(:prov1, 'completed', provider_reference => 'PRC-0001');
SELECT status, topup_status, error_slug, error_message
  FROM topup.report_order(:prov2, 'failed', error_slug => 'card_limit_exceeded',
                          error_message => 'daily load limit reached');
\echo '-- the processor''s retry of the same report changes nothing'
SELECT status, replayed FROM topup.report_order(:prov1, 'completed', provider_reference => 'PRC-0001');
RESET ROLE;
\echo '-- the hold is empty again: 40 + fee went to the card and the fee account, 60 + fee back to the master balance'
SELECT client_id, currency, balance AS held FROM topup.hold_balances;
SELECT * FROM topup.master_balances WHERE client_id = 'acme-api';
\echo '-- staff reverse the instant top-up of 50 (sent twice by mistake), the fee too'
SELECT order_id AS ord5 FROM topup.check_order('ord-5', 'card_topup', 'acme-api') \gset
SET ROLE acme_staff;
SELECT order_type, status, amount, account_balance_after
  FROM topup.reverse_order(:ord5, 'sent twice', 'rev-1', refund_fee => true);
SELECT order_type, status, error_slug FROM topup.reverse_order(:ord5, 'again', 'rev-2');
RESET ROLE;
\echo '-- the app charges a card for a purchase; one it cannot cover is refused, stored'
SET ROLE acme_app;
SELECT order_type, status, amount, account_balance_after
  FROM topup.charge_account('914639258868515', 12.50, 'pay-1', 'data plan');
SELECT order_type, status, error_slug FROM topup.charge_account('914639258868515', 10000, 'pay-2');
\echo '-- the app reads its events (published in commit order; poll with the last id seen)'
SELECT kind, order_id IS NOT NULL AS has_order, account_id, payload ->> 'status' AS status,
       payload ->> 'amount' AS amount
  FROM topup.events_since(0) ORDER BY event_id;
RESET ROLE;

\echo
\echo '== Admin view: voucher_list'
SELECT status, serial, series, amount, currency, pin_masked, reseller, activated_by
  FROM topup.voucher_list ORDER BY serial;

\echo
\echo '== Admin view: series_list'
SELECT series, amount, currency, quantity, new, activated, expired, blocked,
       value_outstanding, value_redeemed, first_serial, last_serial
  FROM topup.series_list ORDER BY series;

\echo
\echo '== Admin view: account_list'
SELECT client_id, account_id, kind, currency, balance, status, customer_name
  FROM topup.account_list ORDER BY client_id, account_id;

\echo
\echo '== Admin view: account_payments (customer payment history)'
SELECT account_id, payment_type, amount, currency, balance_after,
       regexp_replace(comment, 'TU[A-Z2-9]{20}', 'TU…') AS comment
  FROM topup.account_payments ORDER BY order_id;

\echo
\echo '== Admin view: order_list'
SELECT order_id, order_type, status, client_id, account_id, serial, amount, fee, error_slug
  FROM topup.order_list ORDER BY order_id;

\echo
\echo '== Audit: verify_ledger() (no rows = every invariant holds)'
SELECT * FROM topup.verify_ledger();
