-- The redeem pool's fixed part (run after floor_tables.sql): 1000 customer
-- accounts 'acct0' .. 'acct999' of client 'bench', copied to the floor;
-- bench_pins, which receives the PINs of every pool generation in random
-- order, and bench_seq, which hands each redeem the next unused one.
SELECT pg_catalog.count(*)
  FROM (SELECT topup.open_account('acct' || a, 'USD', 'customer', true, NULL, 'bench')
          FROM pg_catalog.generate_series(0, 999) AS a) AS s;
CREATE TABLE public.bench_pins (i bigserial PRIMARY KEY, pin text NOT NULL);
CREATE SEQUENCE public.bench_seq;
INSERT INTO bench_floor.accounts SELECT * FROM topup.accounts WHERE client_id = 'bench';
