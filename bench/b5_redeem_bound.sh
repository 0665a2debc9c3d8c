#!/usr/bin/env bash
# B5 redeem as an app-bound role: topup.redeem_voucher as role bench_app vs the writable-CTE floor.
#
# B2 as an application would run it: pgbench -M prepared, BENCH_CLIENTS
# clients, BENCH_SECONDS s, connected as role bench_app, which is bound to
# client 'bench' with the app duty (bench/setup/bound_app.sql), calling
# topup.redeem_voucher(pin, account) without naming the client (its default
# is topup.current_client()) (bench/redeem_bound.pgbench), against the floor
# of B2 run by the owner (bench/redeem_floor.pgbench: one writable CTE doing
# the same writes), over the redeem pool (bench/pool.sh).  Target: TPS >=
# 1.3x floor; topup.verify_ledger() empty.  Also whether the redeems stayed
# on the plan-free path: bench_app's sessions run with track_functions =
# 'all', and the plan-free path fires no guard trigger, so the calls of
# topup._vouchers_guard, _accounts_guard, _ledger_guard and _orders_guard
# during its runs must be 0 (the calls of redeem_voucher show that the
# counting works).
#
# Environment (besides bench/lib.sh's):
#   BENCH_SECONDS=30       duration of each pgbench run
#   BENCH_CLIENTS=8        pgbench clients
#
# Run alone: bash bench/b5_redeem_bound.sh (or bash bench/run.sh B5).
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=bench/pool.sh
source "$BENCH_DIR/pool.sh"
bench_attach
bench_knobs BENCH_SECONDS=30 BENCH_CLIENTS=8

pool_ready || pool_setup
bsql bound_app.sql
TOPUP_SCRIPT=$BENCH_DIR/redeem_bound.pgbench
FLOOR_SCRIPT=$(pgbench_script redeem_floor.pgbench)
GUARDS="'_vouchers_guard', '_accounts_guard', '_ledger_guard', '_orders_guard'"
declare -A TXNS=([topup]=0 [floor]=0)

# Calls of the guard trigger functions and of redeem_voucher counted so far
# (sessions with track_functions on: bench_app's only), as "GUARDS REDEEMS".
b5_calls() {
	bval "SELECT COALESCE(sum(calls) FILTER (WHERE funcname IN ($GUARDS)), 0) || ' ' ||
	             COALESCE(sum(calls) FILTER (WHERE funcname = 'redeem_voucher'), 0)
	        FROM pg_catalog.pg_stat_user_functions WHERE schemaname = 'topup'"
}

# b5_step SIDE TAG SECONDS: one pgbench run of topup (as bench_app) or floor
# (as the owner); for topup, the guard and redeem calls it made (G_CALLS,
# R_CALLS: a backend's counts reach the shared statistics when it exits, so
# wait until the redeems counted match the transactions, at most 10 s).
b5_step() {
	local side=$1 tag=$2 secs=$3 g0 r0 g1 r1 i
	if [[ $side == floor ]]; then
		run_pgbench "$tag" "$BENCH_CLIENTS" "$secs" "$FLOOR_SCRIPT"
	else
		read -r g0 r0 <<<"$(b5_calls)"
		run_pgbench "$tag" "$BENCH_CLIENTS" "$secs" "$TOPUP_SCRIPT" -U bench_app
		for ((i = 0; i < 100; i++)); do
			read -r g1 r1 <<<"$(b5_calls)"
			((r1 - r0 >= PB_TXNS)) && break
			sleep 0.1
		done
		G_CALLS=$((g1 - g0))
		R_CALLS=$((r1 - r0))
	fi
	TXNS[$side]=$((TXNS[$side] + PB_TXNS))
}

topup_header "B5 redeem as an app-bound role"
say ""
say "== B5 redeem as an app-bound role: pgbench -M prepared, $BENCH_CLIENTS clients, ${BENCH_SECONDS} s, $BENCH_RUNS runs =="
bench_knobs_line
say "pool:   $(pool_size) vouchers with 12-digit PINs in client 'bench', 1000 customer accounts;"
say "        each transaction takes the next unused PIN (bench_seq over bench_pins, random order)"
say "topup:  bench/redeem_bound.pgbench as role bench_app (bind_role('bench_app', 'app', 'bench'),"
say "        current_client() = '$(bq -At -c 'SET ROLE bench_app' -c 'SELECT topup.current_client()')'):" \
	"SELECT status FROM topup.redeem_voucher(pin, 'acct' || n)"
say "floor:  bench/redeem_floor.pgbench as the owner (one writable CTE: voucher, account, 2 ledger rows, order)"
say "path:   calls of topup.$(tr -d "'" <<<"$GUARDS" | sed 's/, /, topup./g') in bench_app's"
say "        sessions (track_functions = 'all'); 0 = every redeem took the plan-free path"
say "cpu:    server backend CPU per transaction (the pgbench client's CPU not included)"
say "warm-up: ${BENCH_WARMUP} s of each script before the first run, not counted"
GUARDS_TOTAL=0
REDEEMS_TOTAL=0
ORDERS0=$(bval "SELECT count(*) FROM topup.orders WHERE client_id = 'bench' AND order_type = 'voucher_redeem' AND status = 'completed'")
if ((BENCH_WARMUP > 0)); then
	topup_say "B5 warm-up"
	pool_ensure $((2 * BENCH_WARMUP))
	b5_step topup b5_warm_topup "$BENCH_WARMUP"
	GUARDS_TOTAL=$((GUARDS_TOTAL + G_CALLS))
	REDEEMS_TOTAL=$((REDEEMS_TOTAL + R_CALLS))
	b5_step floor b5_warm_floor "$BENCH_WARMUP"
fi
for ((r = 1; r <= BENCH_RUNS; r++)); do
	for side in $(alternate "$r" topup floor); do
		topup_say "B5 run $r: $side"
		pool_ensure "$BENCH_SECONDS"
		prep
		b5_step "$side" "b5_${side}_$r" "$BENCH_SECONDS"
		rec "$side" "$PB_TPS"
		rec "${side}_cpu" "$PB_CPU_US"
	done
	GUARDS_TOTAL=$((GUARDS_TOTAL + G_CALLS))
	REDEEMS_TOTAL=$((REDEEMS_TOTAL + R_CALLS))
	say "$(printf 'run %d: topup %8.1f tps (%4d us cpu/txn, %d redeem calls, %d guard trigger calls)   floor %8.1f tps (%4d us cpu/txn)   load %s' \
		"$r" "$(last topup)" "$(last topup_cpu)" "$R_CALLS" "$G_CALLS" "$(last floor)" "$(last floor_cpu)" \
		"$(cut -d' ' -f1-3 /proc/loadavg)")"
done

mt=$(med topup)
mf=$(med floor)
mc=$(med topup_cpu)
mfc=$(med floor_cpu)
tratio=$(ratio "$mt" "$mf")
cratio=$(ratio "$mc" "$mfc")
verify=$(bval "SELECT count(*) FROM topup.verify_ledger()")
orders=$(($(bval "SELECT count(*) FROM topup.orders WHERE client_id = 'bench' AND order_type = 'voucher_redeem' AND status = 'completed'") - ORDERS0))
met=NO
if ((GUARDS_TOTAL == 0 && REDEEMS_TOTAL > 0)); then
	path="plan-free (no guard trigger fired)"
	met=yes
elif ((REDEEMS_TOTAL == 0)); then
	path="unknown (no redeem_voucher call was counted)"
else
	path="not always plan-free ($GUARDS_TOTAL guard trigger calls)"
fi
say "median: topup $(calc "$mt" %.1f) tps, floor $(calc "$mf" %.1f) tps, ratio topup/floor ${tratio}x (target >= 1.3x)"
say "        backend CPU per transaction: topup $mc us, floor $mfc us, ratio ${cratio}x"
say "path:   bench_app's sessions (warm-up included): $REDEEMS_TOTAL redeem_voucher calls," \
	"$GUARDS_TOTAL guard trigger calls: $path"
say "checks: topup transactions (warm-up included) ${TXNS[topup]}, new completed redeem orders of client 'bench' $orders;"
say "        floor transactions ${TXNS[floor]}; count(*) FROM topup.verify_ledger() = $verify"
summary "B5 redeem bound ${BENCH_CLIENTS}c" "tps" "$(calc "$mt" %.1f)" "$(calc "$mf" %.1f)" "${tratio}x" ">= 1.3x" \
	"$(verdict "$tratio" '>=' 1.3)"
summary "B5 redeem bound ${BENCH_CLIENTS}c" "backend CPU/txn (us)" "$mc" "$mfc" "${cratio}x" "(info)" ""
summary "B5 redeem bound ${BENCH_CLIENTS}c" "guard trigger calls" "$GUARDS_TOTAL" "-" "-" "0 (plan-free)" \
	"$met"
summary "B5 redeem bound ${BENCH_CLIENTS}c" "verify_ledger rows" "$verify" "-" "-" "0" "$(verdict "$verify" '==' 0)"
[[ $orders == "${TXNS[topup]}" ]] ||
	say "WARNING: new completed orders of client 'bench' ($orders) differ from topup transactions (${TXNS[topup]})"
