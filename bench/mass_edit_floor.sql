-- B6 floor (psql variable series): the mass edit of bench/b6_mass_edit.sh
-- on bench_floor.mass_vouchers, a copy of the vouchers without triggers or
-- row-level security (bench/setup/mass_edit.sql), run by the owner.
UPDATE bench_floor.mass_vouchers SET expires_at = now() + interval '30 days'
 WHERE series = :'series' AND status = 'new';
