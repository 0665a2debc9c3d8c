-- The floor's accounts, ledger and orders (empty copies of the extension's
-- tables: same columns, defaults, CHECKs and indexes; no triggers, no
-- foreign keys), its order-number sequence, and bench_floor.hkey(): the
-- extension's HMAC key as a constant the planner folds in.
CREATE TABLE bench_floor.accounts (LIKE topup.accounts INCLUDING ALL);
CREATE TABLE bench_floor.ledger (LIKE topup.ledger INCLUDING ALL);
CREATE SEQUENCE bench_floor.order_id_seq;
CREATE TABLE bench_floor.orders (LIKE topup.orders INCLUDING ALL);
ALTER TABLE bench_floor.orders ALTER order_id SET DEFAULT pg_catalog.nextval('bench_floor.order_id_seq');
SELECT pg_catalog.format('CREATE FUNCTION bench_floor.hkey() RETURNS bytea LANGUAGE sql IMMUTABLE PARALLEL SAFE AS %L',
                         pg_catalog.format('SELECT %L::bytea', '\x' || pg_catalog.encode(hmac_key, 'hex')))
  FROM topup.secret \gexec
