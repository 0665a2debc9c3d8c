-- B6 (run after reset.sql; psql variables q: vouchers, series: their
-- series): role bench_admin bound to client 'bench' with the admin duty
-- (roles belong to the cluster and survive reset_db; binding again changes
-- nothing); q vouchers of the series in client 'bench', due in 20 days; and
-- the floor's copy of them, bench_floor.mass_vouchers: same columns,
-- defaults, CHECKs and indexes, the same fillfactor (50), no triggers, no
-- row-level security.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'bench_admin') THEN
        CREATE ROLE bench_admin;
    END IF;
END
$$;
SELECT topup.bind_role('bench_admin', 'admin', 'bench');
SELECT quantity FROM topup.generate_vouchers(:'series', :q, 10, 'USD', 12,
                                             pg_catalog.now() + interval '20 days', NULL, 'bench');
CREATE TABLE bench_floor.mass_vouchers (LIKE topup.vouchers INCLUDING ALL) WITH (fillfactor = 50);
INSERT INTO bench_floor.mass_vouchers SELECT * FROM topup.vouchers WHERE client_id = 'bench' AND series = :'series';
