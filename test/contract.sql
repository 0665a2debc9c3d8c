--
-- The public contract of SPEC.md, checked against the catalog: functions
-- with their exact signatures and results, types and enum labels, the
-- order_result composite, the admin views, the tables' public columns,
-- GUCs and their defaults, error codes, and the SECURITY DEFINER rule.
--
-- Run with pg_prove in a database where topup is installed.
--
BEGIN;
SELECT plan(201);

-- ---------------------------------------------------------------------------
-- Extension
-- ---------------------------------------------------------------------------

SELECT has_extension('topup', 'topup is installed');
SELECT is((SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'topup'),
          'topup', 'topup lives in schema topup');
SELECT is((SELECT extrelocatable FROM pg_extension WHERE extname = 'topup'),
          false, 'topup is not relocatable');
SELECT is((SELECT requires FROM pg_available_extension_versions
            WHERE name = 'topup' AND version = (SELECT extversion FROM pg_extension WHERE extname = 'topup')),
          ARRAY['pgcrypto']::name[], 'topup requires pgcrypto');
SELECT ok(EXISTS (SELECT 1 FROM topup.clients WHERE client_id = 'default'),
          'client default exists after CREATE EXTENSION');

-- ---------------------------------------------------------------------------
-- Functions: (identity signature, arguments with names and defaults, result)
-- ---------------------------------------------------------------------------

CREATE TEMP TABLE spec_function (
    name text,
    argtypes text[],
    arguments text,             -- pg_get_function_arguments()
    result text,                -- pg_get_function_result()
    definer boolean             -- moves money or reads secrets
);
INSERT INTO spec_function VALUES
    ('serial_series', '{topup.voucher_serial}', 'topup.voucher_serial', 'text', false),
    ('serial_number', '{topup.voucher_serial}', 'topup.voucher_serial', 'bigint', false),
    ('make_serial', '{text,bigint}', 'series text, number bigint', 'topup.voucher_serial', false),
    ('create_client', '{text,text}', 'client_id text, name text DEFAULT NULL::text', 'void', true),
    ('create_reseller', '{text,text}', $$reseller text, client_id text DEFAULT topup.current_client()$$, 'void', true),
    ('generate_vouchers', '{text,integer,numeric,text,integer,timestamptz,text,text}',
     $$series text, quantity integer, amount numeric, currency text DEFAULT 'USD'::text, pin_length integer DEFAULT 12, expires_at timestamp with time zone DEFAULT NULL::timestamp with time zone, reseller text DEFAULT NULL::text, client_id text DEFAULT topup.current_client()$$,
     'topup.series_list', true),
    ('redeem_voucher', '{text,text,text,text,text}',
     $$pin text, account_id text, idempotency_key text DEFAULT NULL::text, source text DEFAULT NULL::text, client_id text DEFAULT topup.current_client()$$,
     'topup.order_result', true),
    ('redeem_voucher_by_serial', '{topup.voucher_serial,text,text,text}',
     $$serial topup.voucher_serial, account_id text, idempotency_key text DEFAULT NULL::text, client_id text DEFAULT topup.current_client()$$,
     'topup.order_result', true),
    ('expire_vouchers', '{integer}', 'max_rows integer DEFAULT 100000', 'bigint', true),
    ('schedule_expiry', '{text}', $$schedule text DEFAULT '*/5 * * * *'::text$$, 'bigint', false),
    ('export_vouchers', '{text,text}', $$series text, client_id text DEFAULT topup.current_client()$$,
     'TABLE(serial topup.voucher_serial, pin text, amount numeric, currency text, expires_at timestamp with time zone, reseller text, status topup.voucher_status)',
     true),
    ('open_account', '{text,text,text,boolean,jsonb,text}',
     $$account_id text, currency text, kind text DEFAULT 'customer'::text, active boolean DEFAULT true, customer_info jsonb DEFAULT NULL::jsonb, client_id text DEFAULT topup.current_client()$$,
     'void', true),
    ('verify_ledger', '{}', '', 'TABLE(problem text, detail text)', true),
    ('fund_master', '{numeric,text,text,text}',
     $$amount numeric, currency text, reference text, client_id text DEFAULT topup.current_client()$$,
     'numeric', true),
    ('set_pricing', '{text,numeric,numeric,numeric,numeric,text}',
     $$currency text, min_amount numeric, max_amount numeric, fee_fixed numeric DEFAULT 0, fee_percent numeric DEFAULT 0, client_id text DEFAULT topup.current_client()$$,
     'void', true),
    ('topup_card', '{text,numeric,text,text,boolean,jsonb,text,text,text}',
     $$account_id text, amount numeric, idempotency_key text, currency text DEFAULT NULL::text, activate boolean DEFAULT false, customer_info jsonb DEFAULT NULL::jsonb, entry_type text DEFAULT 'K'::text, channel text DEFAULT NULL::text, client_id text DEFAULT topup.current_client()$$,
     'topup.order_result', true),
    ('check_order', '{bigint,text}', $$order_id bigint, client_id text DEFAULT topup.current_client()$$,
     'topup.order_result', true),
    ('check_order', '{text,text,text}',
     $$idempotency_key text, order_type text DEFAULT 'card_topup'::text, client_id text DEFAULT topup.current_client()$$,
     'topup.order_result', true),
    ('order_json', '{bigint,text}', $$order_id bigint, client_id text DEFAULT topup.current_client()$$,
     'jsonb', true),
    -- §8: bind_role and unbind_role name the client granted, so their default is fixed
    ('current_client', '{}', '', 'text', false),
    ('bind_role', '{regrole,text,text,text}',
     $$role regrole, duty text, client_id text DEFAULT 'default'::text, reseller text DEFAULT NULL::text$$,
     'void', true),
    ('unbind_role', '{regrole,text,text,text}',
     $$role regrole, duty text, client_id text DEFAULT 'default'::text, reseller text DEFAULT NULL::text$$,
     'void', true),
    -- §9
    ('set_channel', '{text,text,interval,integer,text}',
     $$channel text, mode text, attempt_timeout interval DEFAULT '00:00:30'::interval, max_attempts integer DEFAULT 5, client_id text DEFAULT topup.current_client()$$,
     'void', true),
    ('claim_orders', '{text,integer,interval,text}',
     $$channel text, max_orders integer DEFAULT 10, lease interval DEFAULT NULL::interval, client_id text DEFAULT NULL::text$$,
     'SETOF topup.order_result', true),
    ('report_order', '{bigint,text,text,text,text,text}',
     $$order_id bigint, outcome text, provider_reference text DEFAULT NULL::text, error_slug text DEFAULT NULL::text, error_message text DEFAULT NULL::text, client_id text DEFAULT topup.current_client()$$,
     'topup.order_result', true),
    ('schedule_order_timeouts', '{text}', $$schedule text DEFAULT '* * * * *'::text$$, 'bigint', false),
    ('reverse_order', '{bigint,text,text,boolean,numeric,text}',
     $$order_id bigint, reason text, idempotency_key text, refund_fee boolean DEFAULT false, amount numeric DEFAULT NULL::numeric, client_id text DEFAULT topup.current_client()$$,
     'topup.order_result', true),
    ('charge_account', '{text,numeric,text,text,text}',
     $$account_id text, amount numeric, idempotency_key text, description text DEFAULT NULL::text, client_id text DEFAULT topup.current_client()$$,
     'topup.order_result', true),
    ('events_since', '{bigint,integer,text}',
     $$after_event_id bigint, max_events integer DEFAULT 1000, client_id text DEFAULT topup.current_client()$$,
     'SETOF topup.events', true),
    ('purge_events', '{interval,text}', $$older_than interval, client_id text DEFAULT topup.current_client()$$,
     'bigint', true),
    ('set_low_balance', '{text,numeric,text}',
     $$currency text, threshold numeric, client_id text DEFAULT topup.current_client()$$,
     'void', true);

CREATE FUNCTION pg_temp.fn_oid(f spec_function) RETURNS regprocedure LANGUAGE sql AS $$
    SELECT to_regprocedure(format('topup.%I(%s)', f.name, array_to_string(f.argtypes, ',')))
$$;

-- 31 functions x 4
SELECT has_function('topup', name, argtypes::name[], format('function topup.%s(%s) exists', name, array_to_string(argtypes, ', ')))
  FROM spec_function ORDER BY name, argtypes;
SELECT is(pg_get_function_arguments(pg_temp.fn_oid(f)), f.arguments,
          format('topup.%s(%s) has the arguments of the SPEC', f.name, array_to_string(f.argtypes, ', ')))
  FROM spec_function f ORDER BY name, argtypes;
SELECT is(pg_get_function_result(pg_temp.fn_oid(f)), f.result,
          format('topup.%s(%s) returns %s', f.name, array_to_string(f.argtypes, ', '), f.result))
  FROM spec_function f ORDER BY name, argtypes;
SELECT is((SELECT ROW(p.prosecdef, p.proconfig)::text FROM pg_proc p WHERE p.oid = pg_temp.fn_oid(f)),
          CASE WHEN f.definer
               THEN ROW(true, '{"search_path=pg_catalog, pg_temp",log_min_error_statement=panic}'::text[])::text
               ELSE ROW(false, NULL::text[])::text END,
          format('topup.%s(%s) is %s', f.name, array_to_string(f.argtypes, ', '),
                 CASE WHEN f.definer THEN 'SECURITY DEFINER with search_path = pg_catalog, pg_temp, '
                                          'its errors'' statements kept out of the log'
                      ELSE 'SECURITY INVOKER' END))
  FROM spec_function f ORDER BY name, argtypes;

-- the procedure
SELECT has_function('topup', 'run_expiry', ARRAY['integer']::name[], 'procedure topup.run_expiry(integer) exists');
SELECT is((SELECT prokind FROM pg_proc WHERE oid = to_regprocedure('topup.run_expiry(integer)')),
          'p'::"char", 'topup.run_expiry is a procedure');
SELECT is(pg_get_function_arguments(to_regprocedure('topup.run_expiry(integer)')),
          'IN batch_size integer DEFAULT 10000', 'topup.run_expiry(batch_size integer DEFAULT 10000)');
SELECT has_function('topup', 'run_order_timeouts', ARRAY[]::name[], 'procedure topup.run_order_timeouts() exists');
SELECT is((SELECT prokind FROM pg_proc WHERE oid = to_regprocedure('topup.run_order_timeouts()')),
          'p'::"char", 'topup.run_order_timeouts is a procedure');

-- the internal functions that read the secret are SECURITY DEFINER too
SELECT is_definer('topup', '_pin_masked', ARRAY['bytea', 'bytea']::name[],
                  'topup._pin_masked (reads the secret) is SECURITY DEFINER');
-- every SECURITY DEFINER function of the schema pins its search_path
SELECT is(ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p
                 WHERE p.pronamespace = 'topup'::regnamespace AND p.prosecdef
                   AND (p.proconfig IS NULL OR p.proconfig[1] IS DISTINCT FROM 'search_path=pg_catalog, pg_temp')
                 ORDER BY 1),
          '{}'::text[], 'every SECURITY DEFINER function sets search_path = pg_catalog, pg_temp');

-- ---------------------------------------------------------------------------
-- Types
-- ---------------------------------------------------------------------------

SELECT has_type('topup', 'voucher_serial', 'type topup.voucher_serial exists');
SELECT is((SELECT ROW(typtype, typlen, typbyval)::text FROM pg_type
            WHERE oid = 'topup.voucher_serial'::regtype),
          ROW('b'::"char", 16::smallint, false)::text, 'topup.voucher_serial is a fixed-size base type');
SELECT ok((SELECT typsend <> 0 AND typreceive <> 0 FROM pg_type WHERE oid = 'topup.voucher_serial'::regtype),
          'topup.voucher_serial has binary send/recv');
SELECT is(ARRAY(SELECT am.amname::text FROM pg_opclass c JOIN pg_am am ON am.oid = c.opcmethod
                 WHERE c.opcintype = 'topup.voucher_serial'::regtype AND c.opcdefault
                 ORDER BY 1),
          ARRAY['btree', 'hash'], 'topup.voucher_serial has default btree and hash operator classes');

SELECT enum_has_labels('topup', 'voucher_status', ARRAY['new', 'activated', 'expired', 'blocked'],
                       'topup.voucher_status labels');
SELECT enum_has_labels('topup', 'account_status', ARRAY['inactive', 'active', 'blocked', 'closed'],
                       'topup.account_status labels');
SELECT enum_has_labels('topup', 'order_status', ARRAY['new', 'activating', 'processing', 'completed', 'failed'],
                       'topup.order_status labels');
SELECT enum_has_labels('topup', 'topup_status',
                       ARRAY['new', 'provider_in_progress', 'new_error', 'provider_in_progress_error',
                             'provider_verification', 'provider_verification_error', 'completed', 'failed'],
                       'topup.topup_status labels');

-- "name type" of a relation's columns, in order
CREATE FUNCTION pg_temp.columns(rel regclass) RETURNS text[] LANGUAGE sql AS $$
    SELECT array_agg(attname || ' ' || format_type(atttypid, atttypmod) ORDER BY attnum)
      FROM pg_attribute WHERE attrelid = rel AND attnum > 0 AND NOT attisdropped
$$;
-- the same for a relation that may not exist
CREATE FUNCTION pg_temp.columns(rel text) RETURNS text[] LANGUAGE sql AS $$
    SELECT pg_temp.columns(to_regclass(rel))
$$;

SELECT has_type('topup', 'order_result', 'type topup.order_result exists');
SELECT is(pg_temp.columns('topup.order_result'), ARRAY[
    'order_id bigint', 'order_type text', 'status topup.order_status',
    'topup_status topup.topup_status', 'client_id text', 'account_id text',
    'serial topup.voucher_serial', 'amount numeric', 'fee numeric', 'currency text',
    'master_balance_before numeric', 'master_balance_after numeric',
    'account_balance_after numeric', 'error_slug text', 'error_message text',
    'idempotency_key text', 'reference text', 'replayed boolean',
    'created_at timestamp with time zone', 'completed_at timestamp with time zone',
    'failed_at timestamp with time zone'],
    'topup.order_result has the columns of the SPEC, in order');

-- ---------------------------------------------------------------------------
-- Admin views: exact column lists, in order
-- ---------------------------------------------------------------------------

SELECT has_view('topup', 'voucher_list', 'view topup.voucher_list exists');
SELECT is(pg_temp.columns('topup.voucher_list'), ARRAY[
    'status topup.voucher_status', 'serial topup.voucher_serial', 'series text', 'amount numeric',
    'currency text', 'pin_masked text', 'reseller text', 'activated_at timestamp with time zone',
    'activated_by text', 'created_at timestamp with time zone', 'expires_at timestamp with time zone',
    'client_id text'],
    'topup.voucher_list columns');

SELECT has_view('topup', 'series_list', 'view topup.series_list exists');
SELECT is(pg_temp.columns('topup.series_list'), ARRAY[
    'client_id text', 'series text', 'amount numeric', 'currency text', 'quantity bigint',
    'new bigint', 'activated bigint', 'expired bigint', 'blocked bigint',
    'value_outstanding numeric', 'value_redeemed numeric',
    'first_serial topup.voucher_serial', 'last_serial topup.voucher_serial',
    'created_at timestamp with time zone', 'last_generated_at timestamp with time zone',
    'expires_min timestamp with time zone', 'expires_max timestamp with time zone'],
    'topup.series_list columns');

SELECT has_view('topup', 'account_list', 'view topup.account_list exists');
SELECT is(pg_temp.columns('topup.account_list'), ARRAY[
    'client_id text', 'account_id text', 'kind text', 'currency text', 'balance numeric',
    'status topup.account_status', 'created_at timestamp with time zone',
    'activated_at timestamp with time zone', 'customer_name text'],
    'topup.account_list columns');

SELECT has_view('topup', 'account_payments', 'view topup.account_payments exists');
SELECT is(pg_temp.columns('topup.account_payments'), ARRAY[
    'client_id text', 'account_id text', 'created_at timestamp with time zone', 'payment_type text',
    'amount numeric', 'currency text', 'balance_after numeric', 'comment text', 'order_id bigint'],
    'topup.account_payments columns');

SELECT has_view('topup', 'order_list', 'view topup.order_list exists');
SELECT is(pg_temp.columns('topup.order_list'),
          (SELECT array_agg(c) FROM unnest(pg_temp.columns('topup.order_result')) c
            WHERE c <> 'replayed boolean'),
          'topup.order_list has the order_result columns but replayed, in order');

SELECT has_view('topup', 'master_balances', 'view topup.master_balances exists');
SELECT is(pg_temp.columns('topup.master_balances'),
          ARRAY['client_id text', 'currency text', 'balance numeric'],
          'topup.master_balances columns');
SELECT has_view('topup', 'fee_balances', 'view topup.fee_balances exists');
SELECT is(pg_temp.columns('topup.fee_balances'),
          ARRAY['client_id text', 'currency text', 'balance numeric'],
          'topup.fee_balances columns');
SELECT has_view('topup', 'hold_balances', 'view topup.hold_balances exists');
SELECT is(pg_temp.columns('topup.hold_balances'),
          ARRAY['client_id text', 'currency text', 'balance numeric'],
          'topup.hold_balances columns');

-- ---------------------------------------------------------------------------
-- Tables: the public columns exist with their types (more may follow)
-- ---------------------------------------------------------------------------

-- public columns of rel that are missing or have another type
CREATE FUNCTION pg_temp.missing_columns(rel text, spec text[]) RETURNS text[] LANGUAGE sql AS $$
    SELECT coalesce(array_agg(s ORDER BY o), '{}')
      FROM unnest(spec) WITH ORDINALITY AS x(s, o)
     WHERE s <> ALL (coalesce(pg_temp.columns(rel), '{}'))
$$;

SELECT has_table('topup', 'vouchers', 'table topup.vouchers exists');
SELECT is(pg_temp.missing_columns('topup.vouchers', ARRAY[
    'serial topup.voucher_serial', 'client_id text', 'series text', 'amount numeric', 'currency text',
    'status topup.voucher_status', 'reseller text', 'expires_at timestamp with time zone',
    'created_at timestamp with time zone', 'activated_at timestamp with time zone',
    'activated_by text', 'order_id bigint']), '{}', 'topup.vouchers has the public columns');
SELECT col_is_pk('topup', 'vouchers', ARRAY['serial', 'client_id'], 'topup.vouchers primary key is (serial, client_id)');

SELECT has_table('topup', 'accounts', 'table topup.accounts exists');
SELECT is(pg_temp.missing_columns('topup.accounts', ARRAY[
    'client_id text', 'account_id text', 'kind text', 'currency text', 'balance numeric',
    'status topup.account_status', 'customer_info jsonb', 'created_at timestamp with time zone',
    'activated_at timestamp with time zone']), '{}', 'topup.accounts has the public columns');
SELECT col_is_pk('topup', 'accounts', ARRAY['client_id', 'account_id'], 'topup.accounts primary key is (client_id, account_id)');

SELECT has_table('topup', 'currencies', 'table topup.currencies exists');
SELECT results_eq(
    $$SELECT code, minor_units FROM topup.currencies
       WHERE code IN ('USD', 'EUR', 'GBP', 'JPY', 'MAD', 'BHD', 'KWD', 'CNY', 'INR') ORDER BY code$$,
    $$VALUES ('BHD', 3), ('CNY', 2), ('EUR', 2), ('GBP', 2), ('INR', 2), ('JPY', 0), ('KWD', 3), ('MAD', 2), ('USD', 2)$$,
    'topup.currencies is seeded with the ISO 4217 minor units of the SPEC');

SELECT has_table('topup', 'orders', 'table topup.orders exists');
SELECT has_table('topup', 'ledger', 'table topup.ledger exists');
SELECT has_table('topup', 'clients', 'table topup.clients exists');
SELECT has_table('topup', 'resellers', 'table topup.resellers exists');
SELECT has_table('topup', 'secret', 'table topup.secret exists');

-- §9: the outbox has exactly the SPEC's columns, in order; channels and the orders' link
SELECT has_table('topup', 'events', 'table topup.events exists');
SELECT is(pg_temp.columns('topup.events'), ARRAY[
    'event_id bigint', 'at timestamp with time zone', 'client_id text', 'kind text', 'order_id bigint',
    'serial topup.voucher_serial', 'account_id text', 'payload jsonb'],
    'topup.events has the columns of the SPEC, in order');
SELECT has_table('topup', 'channels', 'table topup.channels exists');
SELECT is(pg_temp.missing_columns('topup.channels', ARRAY[
    'client_id text', 'channel text', 'mode text', 'attempt_timeout interval', 'max_attempts integer']),
    '{}', 'topup.channels has the columns of set_channel');
SELECT is(pg_temp.missing_columns('topup.orders', ARRAY['reverses_order_id bigint']), '{}',
          'topup.orders.reverses_order_id links a reversal to its order');
SELECT is((SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'orders_order_type_check'),
          $$CHECK ((order_type = ANY (ARRAY['voucher_redeem'::text, 'card_topup'::text, 'account_charge'::text, 'reversal'::text])))$$,
          'order_type is one of the four of §9');

SELECT has_table('topup', 'error_codes', 'table topup.error_codes exists');
SELECT is(pg_temp.missing_columns('topup.error_codes', ARRAY['slug text', 'sqlstate text', 'description text']),
          '{}', 'topup.error_codes has the columns slug, sqlstate, description');

-- ---------------------------------------------------------------------------
-- Error codes: one SQLSTATE of class TU per slug, unique
-- ---------------------------------------------------------------------------

SELECT is((SELECT count(*) FROM topup.error_codes WHERE sqlstate !~ '^TU[0-9A-Z]{3}$'), 0::bigint,
          'every error code is of class TU');
SELECT is((SELECT count(DISTINCT sqlstate) FROM topup.error_codes), (SELECT count(*) FROM topup.error_codes),
          'every slug has its own SQLSTATE');
SELECT is((SELECT count(DISTINCT slug) FROM topup.error_codes), (SELECT count(*) FROM topup.error_codes),
          'every slug is listed once');
SELECT is((SELECT count(*) FROM topup.error_codes WHERE coalesce(description, '') = ''), 0::bigint,
          'every slug is described');
SELECT is(ARRAY(SELECT s FROM unnest(ARRAY[
              'invalid_pin', 'voucher_already_redeemed', 'voucher_expired', 'voucher_blocked',
              'account_not_found', 'account_not_active', 'currency_mismatch', 'too_many_attempts',
              'idempotency_key_reused', 'invalid_customer_info', 'order_not_found']) s
           EXCEPT SELECT slug FROM topup.error_codes),
          '{}'::text[], 'the slugs of SPEC §2, §4 and §5 are listed');
-- the codes raised are the ones listed
SELECT throws_ok($$SELECT topup.open_account('contract-acc', 'USD', 'customer', true, '{"nope": "x"}')$$,
                 (SELECT sqlstate FROM topup.error_codes WHERE slug = 'invalid_customer_info')::char(5),
                 NULL, 'invalid_customer_info is raised with its listed SQLSTATE');

SELECT is(ARRAY(SELECT s FROM unnest(ARRAY[
              'idempotency_key_required', 'invalid_amount', 'invalid_entry_type',
              'card_not_found', 'card_not_active', 'invalid_pricing',
              'amount_below_minimum', 'amount_above_maximum', 'insufficient_funds']) s
           EXCEPT SELECT slug FROM topup.error_codes ORDER BY 1),
          '{}'::text[], 'the slugs of SPEC §3 are listed');
SELECT is(ARRAY(SELECT s FROM unnest(ARRAY[
              'order_already_final', 'unknown_channel', 'order_not_reversible', 'order_already_reversed',
              'provider_declined', 'provider_unavailable']) s
           EXCEPT SELECT slug FROM topup.error_codes ORDER BY 1),
          '{}'::text[], 'the slugs of SPEC §9 are listed');

-- ---------------------------------------------------------------------------
-- GUCs and their defaults (defined when the library is loaded)
-- ---------------------------------------------------------------------------

SELECT is(topup.make_serial('101', 1)::text, '101-00000016', 'the topup library is loaded and computes check digits');
SELECT is(current_setting('topup.max_batch'), '1000000', 'topup.max_batch defaults to 1000000');
SELECT is(current_setting('topup.max_pin_density'), '0.001', 'topup.max_pin_density defaults to 0.001');
SELECT is(current_setting('topup.max_failed_redeems'), '5', 'topup.max_failed_redeems defaults to 5');
SELECT is(current_setting('topup.redeem_lockout'), '15min', 'topup.redeem_lockout defaults to 15min');
SELECT is(current_setting('topup.expiry_max_rate'), '60000', 'topup.expiry_max_rate defaults to 60000');
SELECT is(current_setting('topup.notify_events'), 'off', 'topup.notify_events defaults to off');
SELECT is(current_setting('topup.expiry_notice'), '7d', 'topup.expiry_notice defaults to 7 days');
-- the SPEC's six, and the sweep's pace (0.3.0), which the SPEC leaves open
SELECT results_eq(
    $$SELECT name::text, boot_val, unit FROM pg_settings WHERE name LIKE 'topup.%' ORDER BY name$$,
    $$VALUES ('topup.expiry_max_rate', '60000', NULL),
             ('topup.expiry_notice', '604800', 's'),
             ('topup.max_batch', '1000000', NULL),
             ('topup.max_failed_redeems', '5', NULL),
             ('topup.max_pin_density', '0.001', NULL),
             ('topup.notify_events', 'off', NULL),
             ('topup.redeem_lockout', '900', 's')$$,
    'the GUCs, with their built-in defaults and units');
SELECT throws_ok($$SET topup.no_such_setting = 1$$, '42602', NULL,
                 'the topup GUC prefix is reserved');

SELECT * FROM finish();
ROLLBACK;
