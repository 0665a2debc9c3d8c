#!/usr/bin/env bash
# B3 expiry: the expiry sweep alone (rows/s) and redeem TPS while a sweep runs.
#
# CALL topup.run_expiry() over 1M due vouchers -> rows/s (target >= 50k
# rows/s); redeem TPS (bench/redeem.pgbench over the redeem pool,
# BENCH_B3_CLIENTS clients, BENCH_B3_SECONDS s) without a sweep and while a
# sweep of another 1M due vouchers runs (TPS over the seconds the sweep
# overlapped) -> ratio (target >= 0.70).  The sweep runs with the
# extension's defaults, topup.expiry_max_rate included (printed with the
# results).  The due vouchers belong to client 'bench3'.
#
# Environment (besides bench/lib.sh's):
#   BENCH_B3_SECONDS=20    duration of each pgbench run
#   BENCH_B3_CLIENTS=4     pgbench clients
#
# Run alone: bash bench/b3_expiry.sh (or bash bench/run.sh B3).
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=bench/pool.sh
source "$BENCH_DIR/pool.sh"
bench_attach
bench_knobs BENCH_B3_SECONDS=20 BENCH_B3_CLIENTS=4

pool_ready || pool_setup
bval "SELECT count(*) FROM topup.clients WHERE client_id = 'bench3'" | grep -qx 1 ||
	bq -c "SELECT topup.create_client('bench3')" >/dev/null
REDEEM=$BENCH_DIR/redeem.pgbench

# b3_due SERIES: generate Q vouchers of SERIES in client bench3 due 5 seconds
# after the generation started, and wait until they are all due.
b3_due() {
	topup_say "B3 run $r: generating $Q due vouchers"
	bq -c "SELECT quantity FROM topup.generate_vouchers('$1', $Q, 10, 'USD', 12, now() + interval '5 seconds', NULL, 'bench3')" >/dev/null
	bq -c "SELECT pg_catalog.pg_sleep(GREATEST(0, extract(epoch FROM max(expires_at) - now())) + 0.2)
	         FROM topup.vouchers WHERE client_id = 'bench3' AND series = '$1'" >/dev/null
}

# b3_expired SERIES: whether every voucher of SERIES has expired
b3_expired() {
	[[ $(bval "SELECT count(*) FROM topup.vouchers WHERE client_id = 'bench3' AND series = '$1' AND status = 'expired'") == "$Q" ]]
}

# b3_sweep: a sweep alone
b3_sweep() {
	local s=E${r}A tag=b3_sweep_$r
	b3_due "$s"
	prep
	topup_say "B3 run $r: sweep alone"
	timed_session "$tag" "CALL topup.run_expiry();" || die "run_expiry failed: $(cat "$BENCH_WORK/$tag/err")"
	b3_expired "$s" || die "run_expiry did not expire $Q vouchers"
	rec sweep_rate "$(calc "$Q / $(session_result "$tag" elapsed)" %.0f)"
	rec sweep_cpu "$(session_result "$tag" cpu)"
}

# b3_base: redeem without a sweep
b3_base() {
	topup_say "B3 run $r: redeem without a sweep"
	pool_ensure "$BENCH_B3_SECONDS"
	prep
	run_pgbench "b3_base_$r" "$BENCH_B3_CLIENTS" "$BENCH_B3_SECONDS" "$REDEEM" -P 1
	rec base_tps "$PB_TPS"
	rec base_cpu "$PB_CPU_US"
}

# b3_load: redeem started together with a sweep of another Q due vouchers
b3_load() {
	local s=E${r}B tag=b3_loadsweep_$r c0 c1 se
	b3_due "$s"
	pool_ensure "$BENCH_B3_SECONDS"
	prep
	topup_say "B3 run $r: redeem while a sweep runs"
	c0=$(pm_cpu_ticks)
	timed_session "$tag" "CALL topup.run_expiry();" &
	BG_PIDS+=($!)
	run_pgbench "b3_load_$r" "$BENCH_B3_CLIENTS" "$BENCH_B3_SECONDS" "$REDEEM" -P 1
	wait "${BG_PIDS[-1]}" || die "run_expiry under load failed: $(cat "$BENCH_WORK/$tag/err")"
	unset 'BG_PIDS[-1]'
	sleep 1 # the sweep's backend is reaped too
	c1=$(pm_cpu_ticks)
	# redeem backends' CPU = all exited backends' CPU minus the sweep's
	rec load_cpu "$(calc "(($c1 - $c0) / $CLK_TCK - $(session_result "$tag" cpu)) * 1000000 / $PB_TXNS" %.0f)"
	b3_expired "$s" || die "run_expiry under load did not expire $Q vouchers"
	se=$(session_result "$tag" elapsed)
	rec load_sweep_rate "$(calc "$Q / $se" %.0f)"
	rec overlap "$(calc "$se < $BENCH_B3_SECONDS ? $se : $BENCH_B3_SECONDS" %.1f)"
	rec load_tps "$(progress_tps "b3_load_$r" "$se" "$PB_TPS")"
}

topup_header "B3 expiry"
say ""
say "== B3 expiry: $Q due vouchers per sweep, redeem pgbench $BENCH_B3_CLIENTS clients ${BENCH_B3_SECONDS} s, $BENCH_RUNS runs =="
bench_knobs_line
say "sweep:  CALL topup.run_expiry() (batches of 10000) over $Q vouchers due 5 s after their generation,"
say "        topup.expiry_max_rate = $(bval "SELECT topup.make_serial('A', 1); SHOW topup.expiry_max_rate" | tail -n 1) (the default)"
say "redeem: bench/redeem.pgbench over the redeem pool, once alone and once started together with a sweep"
say "        of another $Q due vouchers; TPS during the sweep = mean of pgbench's per-second TPS over"
say "        the seconds the sweep ran (all of the run when the sweep outlasts it)"
for ((r = 1; r <= BENCH_RUNS; r++)); do
	b3_sweep
	# alternate the order of the two redeem measurements between runs
	for step in $(alternate "$r" base load); do
		"b3_$step"
	done
	say "$(printf 'run %d: sweep alone %7d rows/s (cpu %5.2f s)   redeem alone %7.1f tps (%4d us cpu/txn)   during sweep %7.1f tps (%4d us cpu/txn, over %s s; sweep under load %d rows/s)' \
		"$r" "$(last sweep_rate)" "$(last sweep_cpu)" "$(last base_tps)" "$(last base_cpu)" "$(last load_tps)" "$(last load_cpu)" \
		"$(last overlap)" "$(last load_sweep_rate)")"
	# keep the table the same size from run to run
	bq -c "DELETE FROM topup.vouchers WHERE client_id = 'bench3'"
done

ms=$(med sweep_rate)
mb=$(med base_tps)
ml=$(med load_tps)
lratio=$(ratio "$ml" "$mb")
verify=$(bval "SELECT count(*) FROM topup.verify_ledger()")
say "median: sweep $ms rows/s (target >= 50000); sweep under redeem load $(med load_sweep_rate) rows/s"
say "        redeem alone $(calc "$mb" %.1f) tps, during the sweep $(calc "$ml" %.1f) tps, ratio ${lratio} (target >= 0.70)"
say "        backend CPU per redeem: alone $(med base_cpu) us, during the sweep $(med load_cpu) us" \
	"(the sweep itself keeps one backend busy: $(med sweep_cpu) s CPU per $Q rows on $NPROC cpus)"
say "checks: count(*) FROM topup.verify_ledger() = $verify"
summary "B3 expiry sweep" "rows/s" "$ms" "-" "-" ">= 50000" "$(verdict "$ms" '>=' 50000)"
summary "B3 redeem ${BENCH_B3_CLIENTS}c" "tps during/without sweep" "$(calc "$ml" %.1f)" "$(calc "$mb" %.1f)" \
	"$lratio" ">= 0.70" "$(verdict "$lratio" '>=' 0.70)"
summary "B3 redeem ${BENCH_B3_CLIENTS}c" "CPU/txn during/without (us)" "$(med load_cpu)" "$(med base_cpu)" \
	"$(ratio "$(med load_cpu)" "$(med base_cpu)")" "(info)" ""
summary "B3 after sweeps" "verify_ledger rows" "$verify" "-" "-" "0" "$(verdict "$verify" '==' 0)"
