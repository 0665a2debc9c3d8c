-- B1 floor: the bare-SQL floor of topup.generate_vouchers, one INSERT ...
-- SELECT FROM generate_series writing the columns the extension writes into
-- bench_floor.vouchers (same columns and indexes, no triggers): a random
-- 12-digit PIN from gen_random_bytes(8), pin_hash = hmac(pin, key,
-- 'sha256'), pin_cipher = encrypt_iv(pin, key, first 16 bytes of pin_hash,
-- 'aes-cbc').  psql variables: q (rows), hk and ek (the extension's HMAC and
-- encryption keys in hex, inlined as constants), pgcrypto (pgcrypto's
-- schema, quoted).  Two random PINs may collide: the unique index then
-- fails the statement and bench/b1_generate.sh runs it again.
INSERT INTO bench_floor.vouchers (serial, client_id, series, amount, currency, status,
        pin_length, pin_hash, pin_cipher, created_at)
SELECT topup.make_serial('F1', x.g), 'bench', 'F1', 10.00, 'USD', 'new', 12, x.h,
       :pgcrypto.encrypt_iv(convert_to(x.p, 'UTF8'), decode(:'ek', 'hex'), substring(x.h FROM 1 FOR 16), 'aes-cbc'),
       now()
  FROM (SELECT s.g, s.p, :pgcrypto.hmac(convert_to(s.p, 'UTF8'), decode(:'hk', 'hex'), 'sha256') AS h
          FROM (SELECT g, lpad(((('x' || encode(:pgcrypto.gen_random_bytes(8), 'hex'))::bit(64)::bigint
                                 & x'7fffffffffffffff'::bigint) % 1000000000000)::text, 12, '0') AS p
                  FROM generate_series(1, :q) AS g) AS s
        OFFSET 0) AS x;
