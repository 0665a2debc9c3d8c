-- pg_dump carries the rows of these tables (and sequences).
-- Rows the install script seeds are left out: CREATE EXTENSION makes them again.
SELECT pg_catalog.pg_extension_config_dump('topup.currencies', 'WHERE NOT seeded');
SELECT pg_catalog.pg_extension_config_dump('topup.clients', $$WHERE client_id OPERATOR(pg_catalog.<>) 'default'$$);
SELECT pg_catalog.pg_extension_config_dump('topup.resellers', '');
SELECT pg_catalog.pg_extension_config_dump('topup.secret', '');
SELECT pg_catalog.pg_extension_config_dump('topup.series', '');
SELECT pg_catalog.pg_extension_config_dump('topup.vouchers', '');
SELECT pg_catalog.pg_extension_config_dump('topup.accounts', '');
SELECT pg_catalog.pg_extension_config_dump('topup.orders', '');
SELECT pg_catalog.pg_extension_config_dump('topup.ledger', '');
SELECT pg_catalog.pg_extension_config_dump('topup.order_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('topup.ledger_entry_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('topup.voucher_expiry', '');
SELECT pg_catalog.pg_extension_config_dump('topup.pricing', '');
SELECT pg_catalog.pg_extension_config_dump('topup.balance_slots', '');
SELECT pg_catalog.pg_extension_config_dump('topup.fundings', '');
-- a binding whose role was dropped is void: a dump never carries it
SELECT pg_catalog.pg_extension_config_dump('topup.role_bindings',
    'WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.oid OPERATOR(pg_catalog.=) role)');
SELECT pg_catalog.pg_extension_config_dump('topup.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('topup.audit_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('topup.channels', '');
SELECT pg_catalog.pg_extension_config_dump('topup.low_balances', '');
SELECT pg_catalog.pg_extension_config_dump('topup.events', '');
SELECT pg_catalog.pg_extension_config_dump('topup.event_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('topup.expiry_notices', '');
