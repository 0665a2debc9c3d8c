-- ---------------------------------------------------------------------------
-- The duties of §8: what bind_role grants a role for each.  Every duty gets
-- what its calls need to work at all: USAGE on the schema, current_client,
-- and the serial type's functions and operators (a mass edit's WHERE
-- serial = '101-00000420' calls them).  A function that joins a duty later
-- is one row more (see topup._grant_duties).
-- ---------------------------------------------------------------------------

INSERT INTO topup.duty_grants (duty, privilege, object_kind, object, columns)
SELECT d.duty, g.privilege, g.object_kind, g.object, g.columns
  FROM (VALUES ('app'), ('admin'), ('reseller'), ('auditor'), ('provider')) AS d(duty),
       (VALUES ('USAGE', 'schema', 'topup', NULL::text[]),
               ('EXECUTE', 'routine', 'topup.current_client()', NULL),
               ('EXECUTE', 'routine', 'topup.serial_series(topup.voucher_serial)', NULL),
               ('EXECUTE', 'routine', 'topup.serial_number(topup.voucher_serial)', NULL),
               ('EXECUTE', 'routine', 'topup.make_serial(text,bigint)', NULL),
               ('EXECUTE', 'routine', 'topup.voucher_serial_eq(topup.voucher_serial,topup.voucher_serial)', NULL),
               ('EXECUTE', 'routine', 'topup.voucher_serial_ne(topup.voucher_serial,topup.voucher_serial)', NULL),
               ('EXECUTE', 'routine', 'topup.voucher_serial_lt(topup.voucher_serial,topup.voucher_serial)', NULL),
               ('EXECUTE', 'routine', 'topup.voucher_serial_le(topup.voucher_serial,topup.voucher_serial)', NULL),
               ('EXECUTE', 'routine', 'topup.voucher_serial_gt(topup.voucher_serial,topup.voucher_serial)', NULL),
               ('EXECUTE', 'routine', 'topup.voucher_serial_ge(topup.voucher_serial,topup.voucher_serial)', NULL),
               ('EXECUTE', 'routine', 'topup.voucher_serial_cmp(topup.voucher_serial,topup.voucher_serial)', NULL),
               ('EXECUTE', 'routine', 'topup.voucher_serial_hash(topup.voucher_serial)', NULL),
               ('EXECUTE', 'routine', 'topup.voucher_serial_hash_extended(topup.voucher_serial,bigint)', NULL))
       AS g(privilege, object_kind, object, columns);

-- app: the API client's calls; admin: all of app
INSERT INTO topup.duty_grants (duty, privilege, object_kind, object)
SELECT d.duty, 'EXECUTE', 'routine', f.fn
  FROM (VALUES ('app'), ('admin')) AS d(duty),
       (VALUES ('topup.redeem_voucher(text,text,text,text,text)'),
               ('topup.topup_card(text,numeric,text,text,boolean,jsonb,text,text,text)'),
               ('topup.check_order(bigint,text)'),
               ('topup.check_order(text,text,text)'),
               ('topup.order_json(bigint,text)'),
               ('topup.open_account(text,text,text,boolean,jsonb,text)'),
               ('topup.charge_account(text,numeric,text,text,text)'),
               ('topup.events_since(bigint,integer,text)')) AS f(fn);

-- admin, reseller, auditor: the views and what they call
INSERT INTO topup.duty_grants (duty, privilege, object_kind, object)
SELECT d.duty, g.privilege, g.object_kind, g.object
  FROM (VALUES ('admin'), ('auditor')) AS d(duty),
       (VALUES ('SELECT', 'table', 'topup.voucher_list'),
               ('SELECT', 'table', 'topup.series_list'),
               ('SELECT', 'table', 'topup.account_list'),
               ('SELECT', 'table', 'topup.account_payments'),
               ('SELECT', 'table', 'topup.order_list'),
               ('SELECT', 'table', 'topup.master_balances'),
               ('SELECT', 'table', 'topup.fee_balances'),
               ('SELECT', 'table', 'topup.hold_balances')) AS g(privilege, object_kind, object)
UNION ALL
SELECT d.duty, 'SELECT', 'table', v.view
  FROM (VALUES ('reseller')) AS d(duty),
       (VALUES ('topup.voucher_list'), ('topup.series_list')) AS v(view)
UNION ALL
SELECT d.duty, 'EXECUTE', 'routine', f.fn
  FROM (VALUES ('admin'), ('reseller'), ('auditor')) AS d(duty),
       (VALUES ('topup._visible(text,text)'), ('topup._pin_masked(bytea,bytea)')) AS f(fn);

-- admin: vouchers, the mass-edit interface
INSERT INTO topup.duty_grants (duty, privilege, object_kind, object, columns) VALUES
    ('admin', 'EXECUTE', 'routine', 'topup.generate_vouchers(text,integer,numeric,text,integer,timestamp with time zone,text,text)', NULL),
    ('admin', 'EXECUTE', 'routine', 'topup.export_vouchers(text,text)', NULL),
    ('admin', 'EXECUTE', 'routine', 'topup.create_reseller(text,text)', NULL),
    ('admin', 'EXECUTE', 'routine', 'topup.redeem_voucher_by_serial(topup.voucher_serial,text,text,text)', NULL),
    ('admin', 'EXECUTE', 'routine', 'topup._may_edit(text)', NULL),
    ('admin', 'SELECT', 'table', 'topup.vouchers',
        '{serial,client_id,series,amount,currency,status,reseller,expires_at,created_at,activated_at,activated_by,order_id}'),
    ('admin', 'UPDATE', 'table', 'topup.vouchers', '{expires_at,reseller,status}'),
    ('admin', 'DELETE', 'table', 'topup.vouchers', NULL),
    ('admin', 'SELECT', 'table', 'topup.accounts',
        '{client_id,account_id,kind,currency,balance,status,customer_info,created_at,activated_at}'),
    ('admin', 'UPDATE', 'table', 'topup.accounts', '{status,customer_info}'),
    ('admin', 'SELECT', 'table', 'topup.audit_log', NULL),
    -- admin: the order lifecycle (§9)
    ('admin', 'EXECUTE', 'routine', 'topup.reverse_order(bigint,text,text,boolean,numeric,text)', NULL),
    ('admin', 'EXECUTE', 'routine', 'topup.report_order(bigint,text,text,text,text,text)', NULL),
    -- provider: the workers of provider channels
    ('provider', 'EXECUTE', 'routine', 'topup.claim_orders(text,integer,interval,text)', NULL),
    ('provider', 'EXECUTE', 'routine', 'topup.report_order(bigint,text,text,text,text,text)', NULL),
    -- reseller: its own cards
    ('reseller', 'EXECUTE', 'routine', 'topup.export_vouchers(text,text)', NULL),
    -- auditor: the audit log and the ledger check
    ('auditor', 'SELECT', 'table', 'topup.audit_log', NULL),
    ('auditor', 'EXECUTE', 'routine', 'topup.verify_ledger()', NULL);
