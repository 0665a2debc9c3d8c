#!/usr/bin/env bash
# B2 redeem: topup.redeem_voucher at BENCH_CLIENTS clients vs a writable-CTE floor.
#
# pgbench -M prepared, BENCH_CLIENTS clients, BENCH_SECONDS s:
# topup.redeem_voucher (bench/redeem.pgbench) against one writable CTE doing
# the same writes (bench/redeem_floor.pgbench), over the redeem pool
# (bench/pool.sh: 1M vouchers with 12-digit PINs, 1000 accounts); every
# transaction redeems a PIN never used before.  Target: TPS >= 1.0x floor;
# topup.verify_ledger() empty.
#
# Environment (besides bench/lib.sh's):
#   BENCH_SECONDS=30       duration of each pgbench run
#   BENCH_CLIENTS=8        pgbench clients
#
# Run alone: bash bench/b2_redeem.sh (or bash bench/run.sh B2).
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=bench/pool.sh
source "$BENCH_DIR/pool.sh"
bench_attach
bench_knobs BENCH_SECONDS=30 BENCH_CLIENTS=8

pool_ready || pool_setup
TOPUP_SCRIPT=$BENCH_DIR/redeem.pgbench
FLOOR_SCRIPT=$(pgbench_script redeem_floor.pgbench)
declare -A TXNS=([topup]=0 [floor]=0)

# b2_step SIDE TAG SECONDS: one pgbench run of topup or floor
b2_step() {
	local side=$1 tag=$2 secs=$3 script=$TOPUP_SCRIPT
	[[ $side == topup ]] || script=$FLOOR_SCRIPT
	run_pgbench "$tag" "$BENCH_CLIENTS" "$secs" "$script"
	TXNS[$side]=$((TXNS[$side] + PB_TXNS))
}

topup_header "B2 redeem"
say ""
say "== B2 redeem: pgbench -M prepared, $BENCH_CLIENTS clients, ${BENCH_SECONDS} s, $BENCH_RUNS runs =="
bench_knobs_line
say "pool:   $(pool_size) vouchers with 12-digit PINs in client 'bench', 1000 customer accounts;"
say "        each transaction takes the next unused PIN (bench_seq over bench_pins, random order)"
say "topup:  bench/redeem.pgbench (SELECT status FROM topup.redeem_voucher(pin, 'acct' || n, NULL, NULL, 'bench'))"
say "floor:  bench/redeem_floor.pgbench (one writable CTE: voucher, account, 2 ledger rows, order)"
say "cpu:    server backend CPU per transaction (the pgbench client's CPU not included)"
say "warm-up: ${BENCH_WARMUP} s of each script before the first run, not counted"
if ((BENCH_WARMUP > 0)); then
	topup_say "B2 warm-up"
	pool_ensure $((2 * BENCH_WARMUP))
	b2_step topup b2_warm_topup "$BENCH_WARMUP"
	b2_step floor b2_warm_floor "$BENCH_WARMUP"
fi
for ((r = 1; r <= BENCH_RUNS; r++)); do
	for side in $(alternate "$r" topup floor); do
		topup_say "B2 run $r: $side"
		pool_ensure "$BENCH_SECONDS"
		prep
		b2_step "$side" "b2_${side}_$r" "$BENCH_SECONDS"
		rec "$side" "$PB_TPS"
		rec "${side}_cpu" "$PB_CPU_US"
	done
	say "$(printf 'run %d: topup %8.1f tps (%4d us cpu/txn)   floor %8.1f tps (%4d us cpu/txn)   load %s' \
		"$r" "$(last topup)" "$(last topup_cpu)" "$(last floor)" "$(last floor_cpu)" "$(cut -d' ' -f1-3 /proc/loadavg)")"
done

mt=$(med topup)
mf=$(med floor)
mc=$(med topup_cpu)
mfc=$(med floor_cpu)
tratio=$(ratio "$mt" "$mf")
cratio=$(ratio "$mc" "$mfc")
verify=$(bval "SELECT count(*) FROM topup.verify_ledger()")
completed=$(bval "SELECT count(*) FROM topup.orders WHERE client_id = 'bench' AND status = 'completed'")
failed=$(bval "SELECT count(*) FROM topup.orders WHERE client_id = 'bench' AND status <> 'completed'")
fcompleted=$(bval "SELECT count(*) FROM bench_floor.orders WHERE status = 'completed'")
say "median: topup $(calc "$mt" %.1f) tps, floor $(calc "$mf" %.1f) tps, ratio topup/floor ${tratio}x (target >= 1.0x)"
say "        backend CPU per transaction: topup $mc us, floor $mfc us, ratio ${cratio}x"
say "checks: topup transactions (warm-up included) ${TXNS[topup]}, completed redeem orders $completed, other orders $failed;"
say "        floor transactions ${TXNS[floor]}, floor orders $fcompleted; count(*) FROM topup.verify_ledger() = $verify"
summary "B2 redeem ${BENCH_CLIENTS}c" "tps" "$(calc "$mt" %.1f)" "$(calc "$mf" %.1f)" "${tratio}x" ">= 1.0x" \
	"$(verdict "$tratio" '>=' 1.0)"
summary "B2 redeem ${BENCH_CLIENTS}c" "backend CPU/txn (us)" "$mc" "$mfc" "${cratio}x" "(info)" ""
summary "B2 redeem ${BENCH_CLIENTS}c" "verify_ledger rows" "$verify" "-" "-" "0" "$(verdict "$verify" '==' 0)"
[[ $completed == "${TXNS[topup]}" && $failed == 0 ]] ||
	say "WARNING: completed orders ($completed) differ from topup transactions (${TXNS[topup]}) or failed orders exist"
