--
-- SPEC §0: nothing of schema topup is granted to PUBLIC, and the secret
-- and the PIN data are readable only by the extension owner.  Checked in
-- the catalog (no PUBLIC entry in any ACL) and for a fresh role that has
-- been granted nothing.
--
-- Run with pg_prove in a database where topup is installed.
--
BEGIN;
SELECT plan(27);

CREATE ROLE tu_nobody NOLOGIN;

-- ---------------------------------------------------------------------------
-- No PUBLIC entry in any ACL (a NULL ACL means the built-in default, which
-- for functions includes EXECUTE for PUBLIC)
-- ---------------------------------------------------------------------------

SELECT is(ARRAY(SELECT p.oid::regprocedure::text
                  FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                 WHERE p.pronamespace = 'topup'::regnamespace AND a.grantee = 0
                 ORDER BY 1),
          '{}'::text[], 'no function or procedure of schema topup is granted to PUBLIC');
SELECT is(ARRAY(SELECT c.oid::regclass::text || ' ' || a.privilege_type
                  FROM pg_class c,
                       aclexplode(coalesce(c.relacl,
                                           acldefault(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char",
                                                      c.relowner))) a
                 WHERE c.relnamespace = 'topup'::regnamespace AND c.relkind IN ('r', 'v', 'm', 'S', 'p', 'f')
                   AND a.grantee = 0
                 ORDER BY 1),
          '{}'::text[], 'no table, view or sequence of schema topup is granted to PUBLIC');
SELECT is(ARRAY(SELECT a.privilege_type
                  FROM pg_namespace n, aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a
                 WHERE n.nspname = 'topup' AND a.grantee = 0),
          '{}'::text[], 'schema topup is not granted to PUBLIC');
SELECT is(ARRAY(SELECT c.oid::regclass::text
                  FROM pg_class c, aclexplode(c.relacl) a
                 WHERE c.relnamespace = 'topup'::regnamespace
                   AND c.relname IN ('secret', 'vouchers')
                   AND a.grantee <> c.relowner
                 ORDER BY 1),
          '{}'::text[], 'topup.secret and topup.vouchers (PIN data) are granted to nobody but their owner');

-- ---------------------------------------------------------------------------
-- A role that was granted nothing has no privilege on anything of topup
-- ---------------------------------------------------------------------------

SELECT ok(NOT has_schema_privilege('tu_nobody', 'topup', 'USAGE'), 'tu_nobody has no USAGE on schema topup');
SELECT ok(NOT has_schema_privilege('tu_nobody', 'topup', 'CREATE'), 'tu_nobody has no CREATE on schema topup');
-- the check below covers the whole public interface: every function the
-- contract names is among the routines it looks at
SELECT is(ARRAY(SELECT f FROM unnest(ARRAY['create_client', 'create_reseller', 'open_account',
                                           'generate_vouchers', 'export_vouchers', 'redeem_voucher',
                                           'redeem_voucher_by_serial', 'expire_vouchers', 'run_expiry',
                                           'schedule_expiry', 'fund_master', 'set_pricing', 'topup_card',
                                           'check_order', 'order_json', 'verify_ledger', 'make_serial']) f
                 EXCEPT SELECT proname::text FROM pg_proc WHERE pronamespace = 'topup'::regnamespace),
          '{}'::text[], 'the routines checked include every function of the contract');
SELECT is(ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p
                 WHERE p.pronamespace = 'topup'::regnamespace
                   AND has_function_privilege('tu_nobody', p.oid, 'EXECUTE')
                 ORDER BY 1),
          '{}'::text[], 'tu_nobody may execute no function or procedure of schema topup');
SELECT is(ARRAY(SELECT c.oid::regclass::text FROM pg_class c
                 WHERE c.relnamespace = 'topup'::regnamespace AND c.relkind IN ('r', 'v', 'm', 'p', 'f')
                   AND has_table_privilege('tu_nobody', c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
                 ORDER BY 1),
          '{}'::text[], 'tu_nobody has no privilege on any table or view of schema topup');
SELECT is(ARRAY(SELECT c.oid::regclass::text FROM pg_class c
                 WHERE c.relnamespace = 'topup'::regnamespace
                   AND CASE WHEN c.relkind = 'S'
                            THEN has_sequence_privilege('tu_nobody', c.oid, 'USAGE, SELECT, UPDATE') END
                 ORDER BY 1),
          '{}'::text[], 'tu_nobody has no privilege on any sequence of schema topup');
SELECT ok(NOT has_table_privilege('tu_nobody', 'topup.secret', 'SELECT'), 'tu_nobody cannot read topup.secret');
SELECT ok(NOT has_table_privilege('tu_nobody', 'topup.vouchers', 'SELECT'), 'tu_nobody cannot read topup.vouchers');
SELECT ok(NOT has_function_privilege('tu_nobody', 'topup.export_vouchers(text, text)', 'EXECUTE'),
          'tu_nobody cannot execute topup.export_vouchers');
SELECT ok(NOT has_function_privilege('tu_nobody', 'topup.redeem_voucher(text, text, text, text, text)', 'EXECUTE'),
          'tu_nobody cannot execute topup.redeem_voucher');

-- ---------------------------------------------------------------------------
-- ... and as that role the statements fail
-- ---------------------------------------------------------------------------

SET LOCAL ROLE tu_nobody;
SELECT throws_ok('SELECT * FROM topup.secret', '42501', 'permission denied for schema topup',
                 'tu_nobody cannot read topup.secret (no schema USAGE)');
SELECT throws_ok($$SELECT * FROM topup.redeem_voucher('123456789012', 'acc', client_id => 'default')$$, '42501', NULL,
                 'tu_nobody cannot redeem');
RESET ROLE;

-- Even with USAGE on the schema, the objects themselves are not granted.
GRANT USAGE ON SCHEMA topup TO tu_nobody;
SET LOCAL ROLE tu_nobody;
SELECT throws_ok('SELECT * FROM topup.secret', '42501', 'permission denied for table secret',
                 'tu_nobody cannot read topup.secret');
SELECT throws_ok('SELECT pin_hash, pin_cipher FROM topup.vouchers', '42501', 'permission denied for table vouchers',
                 'tu_nobody cannot read the PIN data of topup.vouchers');
SELECT throws_ok('SELECT * FROM topup.voucher_list', '42501', 'permission denied for view voucher_list',
                 'tu_nobody cannot read topup.voucher_list');
SELECT throws_ok('UPDATE topup.vouchers SET status = status', '42501', 'permission denied for table vouchers',
                 'tu_nobody cannot update topup.vouchers');
SELECT throws_ok($$SELECT * FROM topup.export_vouchers('101', 'default')$$, '42501',
                 'permission denied for function export_vouchers',
                 'tu_nobody cannot export PINs');
SELECT throws_ok($$SELECT * FROM topup.redeem_voucher('123456789012', 'acc', client_id => 'default')$$, '42501',
                 'permission denied for function redeem_voucher',
                 'tu_nobody cannot redeem');
SELECT throws_ok($$SELECT topup.generate_vouchers('101', 1, 10)$$, '42501',
                 'permission denied for function generate_vouchers',
                 'tu_nobody cannot generate vouchers');
SELECT throws_ok('CALL topup.run_expiry()', '42501', 'permission denied for procedure run_expiry',
                 'tu_nobody cannot run the expiry');
SELECT throws_ok('SELECT * FROM topup.verify_ledger()', '42501', 'permission denied for function verify_ledger',
                 'tu_nobody cannot run the audit');
SELECT throws_ok($$SELECT topup.create_client('tu_client')$$, '42501', 'permission denied for function create_client',
                 'tu_nobody cannot create clients');
RESET ROLE;

-- the owner can, of course
SELECT is((SELECT count(*) FROM topup.secret), 1::bigint, 'the extension owner reads the one secret');

SELECT * FROM finish();
ROLLBACK;
