-- A new extension and no floor tables: drops what any benchmark set up,
-- creates topup (at the version in psql variable version, when not empty),
-- client 'bench', and the empty schema bench_floor with a copy of
-- topup.vouchers (same columns, defaults, CHECKs and indexes; no triggers,
-- no foreign keys).
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS bench_floor CASCADE;
DROP TABLE IF EXISTS public.bench_pins;
DROP SEQUENCE IF EXISTS public.bench_seq;
DROP SEQUENCE IF EXISTS public.b4_keys;
DROP EXTENSION IF EXISTS topup CASCADE;
SELECT pg_catalog.format('CREATE EXTENSION topup %s CASCADE',
                         CASE WHEN :'version' <> '' THEN 'VERSION ' || pg_catalog.quote_literal(:'version') END) \gexec
SELECT topup.create_client('bench');
CREATE SCHEMA bench_floor;
CREATE TABLE bench_floor.vouchers (LIKE topup.vouchers INCLUDING ALL);
