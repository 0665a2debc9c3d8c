#!/usr/bin/env bash
# B4 top-up: topup.topup_card vs the single-row floor, and vs the load spread over 32 clients.
#
# pgbench -M prepared, BENCH_B4_SECONDS s, at each of BENCH_B4_CLIENTS
# clients: topup.topup_card with a fresh idempotency key per transaction over
# 10,000 cards of ONE client (bench/topup.pgbench) against a bare floor: one
# writable CTE doing the same writes against a single master-balance row and
# a single fee row (bench/topup_floor.pgbench); at 32 clients also (a) the
# same load spread over 32 clients of the extension, one per pgbench client,
# nothing shared (bench/topup_spread.pgbench).  Targets at 32 clients: TPS >=
# 2.0x floor and >= 0.7x (a); topup.verify_ledger() empty, no failed
# transactions.  Also the wait events of the pgbench backends
# (pg_stat_activity sampled every 0.25 s).  Set-up: bench/setup/topup_cards.sql
# and bench/setup/topup_floor.sql.
#
# Environment (besides bench/lib.sh's):
#   BENCH_B4_SECONDS=30    duration of each pgbench run
#   BENCH_B4_CLIENTS="1 8 32"  client counts ((a) runs at 32 only)
#   BENCH_B4_NOTIFY_EVENTS=off  topup.notify_events in the bench database
#                          (on: every top-up also sends NOTIFY topup_events;
#                          from 0.5.0, whose top-ups write events)
#
# Run alone: bash bench/b4_topup.sh (or bash bench/run.sh B4).
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_attach
bench_knobs BENCH_B4_SECONDS=30 BENCH_B4_CLIENTS="1 8 32" BENCH_B4_NOTIFY_EVENTS=off

topup_say "B4 setup: clients b4 and a0..a31, 20016 cards, floor tables"
reset_db
bsql topup_cards.sql
floor_tables
bsql topup_floor.sql
if [[ $BENCH_B4_NOTIFY_EVENTS != off ]]; then
	bq -c "ALTER DATABASE $BENCH_DB SET topup.notify_events = $BENCH_B4_NOTIFY_EVENTS"
fi
declare -A SCRIPT=(
	[topup]=$BENCH_DIR/topup.pgbench
	[spread]=$BENCH_DIR/topup_spread.pgbench
	[floor]=$(pgbench_script topup_floor.pgbench)
)
declare -A TXNS=() FAILED=()

# b4_step SIDE CLIENTS SECONDS TAG: one pgbench run of topup, spread or floor
b4_step() {
	local side=$1 n=$2 secs=$3 tag=$4
	mkdir -p "$BENCH_WORK/waits"
	waits_start "$BENCH_WORK/waits/$tag"
	PB_ALLOW_FAILED=1 run_pgbench "$tag" "$n" "$secs" "${SCRIPT[$side]}"
	waits_stop
	TXNS[$side]=$((${TXNS[$side]:-0} + PB_TXNS))
	FAILED[$side]=$((${FAILED[$side]:-0} + PB_FAILED))
}

topup_header "B4 top-up"
say ""
say "== B4 top-up: pgbench -M prepared, ${BENCH_B4_SECONDS} s, clients ${BENCH_B4_CLIENTS}, $BENCH_RUNS runs =="
bench_knobs_line
say "topup:  bench/topup.pgbench (SELECT status FROM topup.topup_card('card' || c, 10.00, 'k' || key,"
say "        client_id => 'b4')) over 10000 cards of client 'b4'; a fresh key per transaction"
say "(a):    bench/topup_spread.pgbench, 32 clients only: the same load over clients a0..a31 (313 cards"
say "        each), pgbench client N -> client 'aN': no master balance, fee account or card shared"
say "floor:  bench/topup_floor.pgbench: one writable CTE per transaction, ONE master-balance row and one"
say "        fee row (debit 10.25, card +10.00, fee +0.25, 3 ledger rows, the completed order)"
say "notify: topup.notify_events = $BENCH_B4_NOTIFY_EVENTS for the pgbench sessions (topup $(bval "SELECT extversion FROM pg_extension WHERE extname = 'topup'"))"
say "cpu:    server backend CPU per transaction; waits: pg_stat_activity of the pgbench backends every"
say "        0.25 s (ClientRead = waiting for pgbench, CPU = running or runnable)"
if ((BENCH_WARMUP > 0)); then
	topup_say "B4 warm-up"
	b4_step topup 8 "$BENCH_WARMUP" b4_warm_topup
	b4_step floor 8 "$BENCH_WARMUP" b4_warm_floor
	b4_step spread 32 "$BENCH_WARMUP" b4_warm_spread
	say "warm-up: ${BENCH_WARMUP} s of topup (8 clients), floor (8) and (a) (32), not counted"
fi
for ((r = 1; r <= BENCH_RUNS; r++)); do
	for n in $BENCH_B4_CLIENTS; do
		if ((n == 32)); then
			sides=$(alternate "$r" topup spread floor)
		else
			sides=$(alternate "$r" topup floor)
		fi
		for side in $sides; do
			topup_say "B4 run $r: $side, $n clients"
			prep
			b4_step "$side" "$n" "$BENCH_B4_SECONDS" "b4_${side}_${n}_$r"
			rec "$side:$n" "$PB_TPS"
			rec "$side:$n:cpu" "$PB_CPU_US"
		done
		line=$(printf 'run %d %2dc:' "$r" "$n")
		for side in topup spread floor; do
			[[ $sides == *$side* ]] || continue
			line+=$(printf '  %s %7.1f tps (%4d us cpu/txn)' "$side" "$(last "$side:$n")" "$(last "$side:$n:cpu")")
		done
		say "$line"
	done
done

say "median over $BENCH_RUNS runs:"
for n in $BENCH_B4_CLIENTS; do
	mt=$(med "topup:$n")
	mf=$(med "floor:$n")
	mc=$(med "topup:$n:cpu")
	mfc=$(med "floor:$n:cpu")
	tratio=$(ratio "$mt" "$mf")
	cratio=$(ratio "$mc" "$mfc")
	target="(info)" met="" note=""
	if ((n == 32)); then
		target=">= 2.0x" met=$(verdict "$tratio" '>=' 2.0) note=" (target >= 2.0x)"
	fi
	say "$(printf '  %2dc: topup %7.1f tps, floor %7.1f tps, ratio topup/floor %sx%s; cpu/txn topup %s us, floor %s us (%sx)' \
		"$n" "$mt" "$mf" "$tratio" "$note" "$mc" "$mfc" "$cratio")"
	summary "B4 top-up ${n}c" "tps vs floor" "$(calc "$mt" %.1f)" "$(calc "$mf" %.1f)" "${tratio}x" "$target" "$met"
	summary "B4 top-up ${n}c" "backend CPU/txn (us)" "$mc" "$mfc" "${cratio}x" "(info)" ""
	if [[ -n ${BENCH_V[spread:$n]:-} ]]; then
		ma=$(med "spread:$n")
		mac=$(med "spread:$n:cpu")
		aratio=$(ratio "$mt" "$ma")
		say "$(printf '       (a) spread over 32 clients %7.1f tps, ratio topup/(a) %sx (target >= 0.7x); cpu/txn (a) %s us' \
			"$ma" "$aratio" "$mac")"
		summary "B4 top-up ${n}c" "tps vs (a) 32 clients" "$(calc "$mt" %.1f)" "$(calc "$ma" %.1f)" "${aratio}x" \
			">= 0.7x" "$(verdict "$aratio" '>=' 0.7)"
		summary "B4 top-up ${n}c" "CPU/txn vs (a) (us)" "$mc" "$mac" "$(ratio "$mc" "$mac")x" "(info)" ""
	fi
done
say "waits (all runs; share of samples of the pgbench backends):"
for n in $BENCH_B4_CLIENTS; do
	for side in topup spread floor; do
		[[ -n ${BENCH_V[$side:$n]:-} ]] || continue
		say "$(printf '  %2dc %-6s %s' "$n" "$side" "$(waits_summary "$BENCH_WORK"/waits/b4_"${side}"_"${n}"_[0-9]*)")"
	done
done

verify=$(bval "SELECT count(*) FROM topup.verify_ledger()")
done_b4=$(bval "SELECT count(*) FROM topup.orders WHERE client_id = 'b4' AND status = 'completed'")
done_a=$(bval "SELECT count(*) FROM topup.orders WHERE client_id LIKE 'a%' AND status = 'completed'")
notdone=$(bval "SELECT count(*) FROM topup.orders WHERE status <> 'completed'")
fdone=$(bval "SELECT count(*) FROM bench_floor.orders WHERE status = 'completed'")
master=$(bval "SELECT balance = 1000000000 - 10.25 * $done_b4 FROM topup.master_balances
                WHERE client_id = 'b4' AND currency = 'USD'")
say "checks: pgbench failed transactions: topup ${FAILED[topup]:-0}, (a) ${FAILED[spread]:-0}, floor ${FAILED[floor]:-0}"
say "        topup transactions (warm-up included) ${TXNS[topup]:-0}, completed orders of b4 $done_b4;" \
	"(a) transactions ${TXNS[spread]:-0}, completed orders of a0..a31 $done_a; orders not completed $notdone"
say "        floor transactions ${TXNS[floor]:-0}, floor orders $fdone;" \
	"b4 master balance = 1e9 - 10.25 x completed: $master; count(*) FROM topup.verify_ledger() = $verify"
failed_ext=$((${FAILED[topup]:-0} + ${FAILED[spread]:-0}))
summary "B4 top-up" "verify_ledger rows" "$verify" "-" "-" "0" "$(verdict "$verify" '==' 0)"
summary "B4 top-up" "pgbench failed txns" "$failed_ext" "${FAILED[floor]:-0}" "-" "0" "$(verdict "$failed_ext" '==' 0)"
[[ $done_b4 == "${TXNS[topup]:-0}" && $done_a == "${TXNS[spread]:-0}" && $notdone == 0 &&
	$fdone == "${TXNS[floor]:-0}" && $master == t ]] ||
	say "WARNING: completed orders differ from transactions, failed orders exist, or the master balance is off"
if [[ $BENCH_B4_NOTIFY_EVENTS != off ]]; then
	bq -c "ALTER DATABASE $BENCH_DB RESET topup.notify_events"
fi
