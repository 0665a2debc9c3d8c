# shellcheck shell=bash
# bench/pool.sh — the redeem pool shared by the redeem benchmarks (B2, B3):
# 1000 customer accounts of client 'bench' and generations of BENCH_QUANTITY
# vouchers with 12-digit PINs, their PINs in bench_pins in random order,
# the rows copied to the floor.  Each redeem takes the next unused PIN
# (bench_seq), so no PIN is redeemed twice and a later benchmark continues
# where an earlier one stopped.  Source it after bench/lib.sh.

# Whether the pool exists in the database (reset_db drops it).
pool_ready() {
	[[ $(bval "SELECT pg_catalog.to_regclass('public.bench_pins') IS NOT NULL") == t ]]
}

# Vouchers generated into the pool so far.
pool_size() {
	bval "SELECT COALESCE(max(i), 0) FROM public.bench_pins"
}

# A new extension, the accounts, the floor tables and one generation.
pool_setup() {
	topup_say "B2 setup: 1000 accounts, $Q vouchers, PIN pool, floor tables"
	reset_db
	floor_tables
	bsql redeem_pool.sql
	pool_extend
}

# Generate BENCH_QUANTITY more vouchers into the pool (series B2P1, B2P2, ...):
# their PINs go to bench_pins in random order, the rows are copied to the floor.
pool_extend() {
	local s
	s=B2P$(($(pool_size) / Q + 1))
	bq -c "SELECT quantity FROM topup.generate_vouchers('$s', $Q, 10, 'USD', 12, NULL, NULL, 'bench')" >/dev/null
	bq -c "INSERT INTO public.bench_pins (pin) SELECT pin FROM topup.export_vouchers('$s', 'bench') ORDER BY random()"
	bq -c "INSERT INTO bench_floor.vouchers SELECT * FROM topup.vouchers WHERE client_id = 'bench' AND series = '$s'"
}

# Make sure a pgbench run of SECONDS cannot run out of unused PINs (at the
# highest TPS measured so far, with a margin).
pool_ensure() {
	local secs=$1 used need size
	used=$(bval "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM public.bench_seq")
	need=$(calc "$(max_tps) * $secs * 1.5 + 1000" %.0f)
	size=$(pool_size)
	while ((size - used < need)); do
		topup_say "extending the PIN pool ($used of $size used)"
		pool_extend
		size=$(pool_size)
	done
}
