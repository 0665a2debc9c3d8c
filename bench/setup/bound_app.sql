-- B5 (run after the redeem pool, bench/pool.sh): role bench_app, which may
-- log in, bound to client 'bench' with the app duty, so that
-- topup.current_client() is 'bench' for it; read access to the PIN pool
-- (bench_pins, bench_seq), which is the benchmark's and not the extension's;
-- track_functions = 'all' for its sessions, so that the guard triggers' call
-- counts show whether its redeems took the plan-free path.  Roles belong to
-- the cluster and survive reset_db; binding again changes nothing.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'bench_app') THEN
        CREATE ROLE bench_app LOGIN;
    END IF;
END
$$;
SELECT topup.bind_role('bench_app', 'app', 'bench');
GRANT SELECT ON public.bench_pins TO bench_app;
GRANT USAGE ON SEQUENCE public.bench_seq TO bench_app;
ALTER ROLE bench_app SET track_functions = 'all';
