-- B4: client b4 with 10,000 cards 'card1' .. 'card10000', clients a0 .. a31
-- with 313 cards each ('a<N>-1' .. 'a<N>-313'), every client with pricing
-- 0.10 + 1.5 % and a master balance far larger than the bench can spend;
-- the idempotency-key sequence b4_keys.
SELECT topup.create_client('b4');
SELECT topup.set_pricing('USD', 1, 1000, 0.10, 1.5, 'b4');
SELECT topup.fund_master(1000000000, 'USD', 'b4-wire', 'b4');
SELECT pg_catalog.count(*)
  FROM (SELECT topup.open_account('card' || g, 'USD', 'card', true, NULL, 'b4')
          FROM pg_catalog.generate_series(1, 10000) AS g) AS s;
SELECT pg_catalog.count(*)
  FROM (SELECT topup.create_client('a' || n) FROM pg_catalog.generate_series(0, 31) AS n) AS s;
SELECT pg_catalog.count(*)
  FROM (SELECT topup.set_pricing('USD', 1, 1000, 0.10, 1.5, 'a' || n)
          FROM pg_catalog.generate_series(0, 31) AS n) AS s;
SELECT pg_catalog.count(*)
  FROM (SELECT topup.fund_master(1000000000, 'USD', 'a' || n || '-wire', 'a' || n)
          FROM pg_catalog.generate_series(0, 31) AS n) AS s;
SELECT pg_catalog.count(*)
  FROM (SELECT topup.open_account('a' || n || '-' || g, 'USD', 'card', true, NULL, 'a' || n)
          FROM pg_catalog.generate_series(0, 31) AS n, pg_catalog.generate_series(1, 313) AS g) AS s;
CREATE SEQUENCE public.b4_keys;
