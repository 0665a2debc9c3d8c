#!/usr/bin/env bash
# B6 mass edit: a bound admin's UPDATE of BENCH_QUANTITY vouchers vs the same UPDATE on a trigger-free copy.
#
# Role bench_admin, bound to client 'bench' with the admin duty
# (bench/setup/mass_edit.sql), runs SET ROLE bench_admin; UPDATE
# topup.vouchers SET expires_at = now() + interval '30 days' WHERE series =
# 'B6M' AND status = 'new' over BENCH_QUANTITY vouchers: row-level security,
# the guard trigger, and the statement trigger that queues the new due dates
# and writes one audit row per voucher to topup.audit_log, all included.
# The floor: the same UPDATE by the owner on bench_floor.mass_vouchers, a
# copy of the vouchers with the same indexes and fillfactor but no triggers
# and no row-level security (bench/mass_edit_floor.sql).  Each run gives
# every voucher a new due date (later than the one before), so every run
# changes all rows and does the same work; VACUUM ANALYZE and CHECKPOINT
# before each.  Target: time <= 2.0x floor.  Also the peak anonymous memory
# (RssAnon, sampled every 100 ms) of the backend, the temporary files it
# wrote (pg_stat_database.temp_files, temp_bytes: the statement trigger
# reads transition tables, which spill past work_mem), the audit rows and
# queued due dates each run wrote, and with BENCH_B6_EXPLAIN=1 a final
# EXPLAIN ANALYZE of both statements showing where the time goes (the
# trigger times included).
#
# Environment (besides bench/lib.sh's):
#   BENCH_B6_EXPLAIN=1     end with one EXPLAIN (ANALYZE, BUFFERS, WAL) of each side
#
# Run alone: bash bench/b6_mass_edit.sh (or bash bench/run.sh B6).
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_attach
bench_knobs BENCH_B6_EXPLAIN=1

SERIES=B6M
EXT_UPDATE="UPDATE topup.vouchers SET expires_at = now() + interval '30 days' WHERE series = '$SERIES' AND status = 'new';"
EXT_SQL="SET ROLE bench_admin;
$EXT_UPDATE"
FLOOR_SQL="\\i '$BENCH_DIR/mass_edit_floor.sql'"

# Temporary files and bytes written in the bench database so far, as "FILES BYTES".
b6_temp() {
	bval "SELECT temp_files || ' ' || temp_bytes FROM pg_catalog.pg_stat_database WHERE datname = current_database()"
}

# Wait until the backend of timed session TAG has exited: it hands its
# statistics (temporary files) over on the way out.
b6_gone() {
	local pid i
	pid=$(<"$BENCH_WORK/$1/pid")
	for ((i = 0; i < 100; i++)); do
		[[ -e /proc/$pid ]] || return 0
		sleep 0.1
	done
}

# b6_run SIDE TAG: one mass edit; records time, CPU, memory, temporary files
# and what it wrote.
b6_run() {
	local side=$1 tag=$2 t0 a0 tf0 tb0 tf1 tb1 changed sql=$EXT_SQL tbl=topup.vouchers
	[[ $side == topup ]] || {
		sql=$FLOOR_SQL
		tbl=bench_floor.mass_vouchers
	}
	prep
	t0=$(bval "SELECT now()")
	a0=$(bval "SELECT COALESCE(max(audit_id), 0) FROM topup.audit_log")
	read -r tf0 tb0 <<<"$(b6_temp)"
	timed_session "$tag" "$sql" -v series="$SERIES" || die "$side mass edit failed: $(cat "$BENCH_WORK/$tag/err")"
	b6_gone "$tag"
	read -r tf1 tb1 <<<"$(b6_temp)"
	changed=$(bval "SELECT count(*) FROM $tbl WHERE series = '$SERIES' AND expires_at >= '$t0'::timestamptz + interval '30 days'")
	[[ $changed == "$Q" ]] || die "$side mass edit changed $changed vouchers instead of $Q"
	rec "${side}_t" "$(session_result "$tag" elapsed)"
	rec "${side}_cpu" "$(session_result "$tag" cpu)"
	rec "${side}_rss" "$(session_result "$tag" rss)"
	rec "${side}_hwm" "$(session_result "$tag" hwm)"
	rec "${side}_tf" $((tf1 - tf0))
	rec "${side}_tb" $((tb1 - tb0))
	if [[ $side == topup ]]; then
		rec audit "$(bval "SELECT count(*) FROM topup.audit_log WHERE audit_id > $a0 AND action = 'update' AND client_id = 'bench'")"
		rec queued "$(bval "SELECT count(*) FROM topup.voucher_expiry WHERE client_id = 'bench' AND expires_at >= '$t0'::timestamptz + interval '30 days'")"
	fi
}

# b6_explain SIDE: EXPLAIN (ANALYZE, BUFFERS, WAL) of one more mass edit,
# printed to the report; the lines "Trigger ...: time=... calls=..." say
# how much of it the triggers took.
b6_explain() {
	local side=$1 out=$BENCH_WORK/b6_explain_$1
	if [[ $side == topup ]]; then
		printf '%s\n' 'SET ROLE bench_admin;' "EXPLAIN (ANALYZE, BUFFERS, WAL) $EXT_UPDATE" >"$out.sql"
	else
		{
			echo 'EXPLAIN (ANALYZE, BUFFERS, WAL)'
			grep -v '^--' "$BENCH_DIR/mass_edit_floor.sql"
		} >"$out.sql"
	fi
	prep
	bq -v series="$SERIES" -f "$out.sql" >"$out" || die "EXPLAIN ANALYZE of the $side mass edit failed"
	say "EXPLAIN ANALYZE, $side:"
	sed -e 's/[[:space:]]*$//' -e '/^$/d' "$out" | while IFS= read -r line; do
		say "    $line"
	done
}

topup_say "B6 setup: $Q vouchers of series $SERIES in client 'bench', role bench_admin, the floor's copy"
reset_db
bsql mass_edit.sql -v q="$Q" -v series="$SERIES"

topup_header "B6 mass edit of $Q vouchers"
say ""
say "== B6 mass edit: $Q vouchers, $BENCH_RUNS runs =="
bench_knobs_line
say "topup:  SET ROLE bench_admin (bind_role('bench_admin', 'admin', 'bench')); $EXT_UPDATE"
say "        row-level security, the guard trigger (per row), the statement trigger vouchers_changed"
say "        (queues the due dates, one audit_log row per voucher) all included"
say "floor:  bench/mass_edit_floor.sql: the same UPDATE by the owner on bench_floor.mass_vouchers, a copy"
say "        of the $Q vouchers with the same indexes and fillfactor, no triggers, no row-level security"
say "runs:   every run gives every voucher a new due date, later than the last; VACUUM ANALYZE and"
say "        CHECKPOINT before each; audit_log and the expiry queue keep what earlier runs wrote"
say "memory: RssAnon of the backend sampled every 100 ms (peak); temp: pg_stat_database.temp_files and"
say "        temp_bytes written during the run; work_mem = $(bval 'SHOW work_mem')"
for ((r = 1; r <= BENCH_RUNS; r++)); do
	for side in $(alternate "$r" topup floor); do
		topup_say "B6 run $r: $side"
		b6_run "$side" "b6_${side}_$r"
	done
	say "$(printf 'run %d: topup %7.2f s (cpu %6.2f s, peak RssAnon %4d MB, %d temp files %d MB, %d audit rows, %d queued)   floor %7.2f s (cpu %6.2f s, peak RssAnon %4d MB, %d temp files)' \
		"$r" "$(last topup_t)" "$(last topup_cpu)" $(($(last topup_rss) / 1024)) "$(last topup_tf)" \
		$(($(last topup_tb) / 1048576)) "$(last audit)" "$(last queued)" \
		"$(last floor_t)" "$(last floor_cpu)" $(($(last floor_rss) / 1024)) "$(last floor_tf)")"
done

mt=$(med topup_t)
mf=$(med floor_t)
mc=$(med topup_cpu)
mfc=$(med floor_cpu)
rss=$(maxv topup_rss)
tf=$(maxv topup_tf)
tratio=$(ratio "$mt" "$mf")
cratio=$(ratio "$mc" "$mfc")
say "median: topup $(calc "$mt" %.2f) s, floor $(calc "$mf" %.2f) s, ratio topup/floor ${tratio}x (target <= 2.0x)"
say "        backend CPU: topup $(calc "$mc" %.2f) s, floor $(calc "$mfc" %.2f) s, ratio ${cratio}x"
say "        throughput: topup $(calc "$Q / $mt" %.0f) vouchers/s, floor $(calc "$Q / $mf" %.0f) rows/s"
say "        peak RssAnon (max of runs): topup $((rss / 1024)) MB, floor $(($(maxv floor_rss) / 1024)) MB;" \
	"median VmHWM topup $(calc "$(med topup_hwm) / 1024" %d) MB, floor $(calc "$(med floor_hwm) / 1024" %d) MB"
say "        temporary files per run (max of runs): topup $tf ($(calc "$(maxv topup_tb) / 1048576" %.0f) MB)," \
	"floor $(maxv floor_tf) ($(calc "$(maxv floor_tb) / 1048576" %.0f) MB)"
say "checks: every run changed $Q vouchers on each side; per run $(med audit) audit rows and $(med queued)" \
	"queued due dates (median; runs: ${BENCH_V[audit]} / ${BENCH_V[queued]})"
summary "B6 mass edit $Q" "time (s)" "$(calc "$mt" %.2f)" "$(calc "$mf" %.2f)" "${tratio}x" "<= 2.0x" \
	"$(verdict "$tratio" '<=' 2.0)"
summary "B6 mass edit $Q" "backend CPU (s)" "$(calc "$mc" %.2f)" "$(calc "$mfc" %.2f)" "${cratio}x" "(info)" ""
summary "B6 mass edit $Q" "peak RssAnon (MB)" "$((rss / 1024))" "$(($(maxv floor_rss) / 1024))" "-" "(info)" ""
summary "B6 mass edit $Q" "temp files per run" "$tf" "$(maxv floor_tf)" "-" "(info)" ""
met=NO
[[ $(med audit) == "$Q" && $(med queued) == "$Q" ]] && met=yes
summary "B6 mass edit $Q" "audit rows / queued per run" "$(med audit) / $(med queued)" "-" "-" "$Q / $Q" "$met"
if [[ $BENCH_B6_EXPLAIN == 1 ]]; then
	topup_say "B6 EXPLAIN ANALYZE"
	for side in topup floor; do
		b6_explain "$side"
	done
fi
