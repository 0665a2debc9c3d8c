# shellcheck shell=bash disable=SC2034  # variables for the sourcing scripts
# bench/lib.sh — what the benchmarks share: the throwaway cluster with the
# bench settings, the results file and summary table, timed psql sessions,
# pgbench runs, medians and ratios, the wait-event sampler, and a new
# extension with empty floor tables.  Source it; it runs nothing but
# variable set-up.
#
# bench/run.sh owns a session (cluster, work directory, results file) and
# runs every benchmark file (bench/b<N>_<name>.sh) as a child process in it;
# a benchmark file started directly hands itself to run.sh (bench_attach).
#
# Environment shared by all benchmarks (each benchmark file lists its own):
#   BENCH_RUNS=3           repetitions of every measurement
#   BENCH_WARMUP=5         seconds of each pgbench script run (not counted)
#                          before the first measured run
#   BENCH_QUANTITY=1000000 vouchers per generation (B1, the redeem pool, B3,
#                          B6)
#   BENCH_EXT_VERSION      extension version to create (default: the
#                          control file's default_version)
#   TOPUP_PORT             port of the throwaway cluster (default here 54344)
#   PG_CONFIG, TOPUP_KEEP_TMP: see scripts/lib.sh

TOPUP_PORT=${TOPUP_PORT:-54344}
# shellcheck source=scripts/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/scripts/lib.sh"

BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_WARMUP=${BENCH_WARMUP:-5}
BENCH_QUANTITY=${BENCH_QUANTITY:-1000000}
BENCH_DB=topup_test # the database pg_cron watches (cron.database_name in lib.sh)

# On top of scripts/lib.sh's cluster, applied with ALTER SYSTEM and a restart:
#   shared_buffers      the 1M-voucher tables and indexes of both sides
#                       (~300 MB each) stay in shared buffers
#   max_wal_size        no WAL-triggered checkpoint inside a step
#   checkpoint_timeout  no timed one either; every step starts after VACUUM
#                       ANALYZE and CHECKPOINT (prep)
BENCH_SETTINGS=(
	"shared_buffers = '2GB'"
	"max_wal_size = '8GB'"
	"checkpoint_timeout = '30min'"
)

Q=$BENCH_QUANTITY
NPROC=$(nproc)
BENCH_DIR=$TOPUP_ROOT/bench
CLK_TCK=$(getconf CLK_TCK)
PGCRYPTO=  # quoted name of pgcrypto's schema, for SQL text
PM_PID=
BG_PIDS=()
BENCH_KNOBS=()
declare -A BENCH_V=()

# Session state, set by bench_session_start and inherited by the benchmark
# processes: BENCH_WORK (scratch directory: per-step files, summary rows,
# the highest TPS seen), BENCH_RESULTS (the results file).
BENCH_WORK=${BENCH_WORK:-}
BENCH_RESULTS=${BENCH_RESULTS:-}

# ---------------------------------------------------------------------------
# session
# ---------------------------------------------------------------------------

# The id of a benchmark file: bench/b2_redeem.sh -> B2.
bench_id_of() {
	local f=${1##*/}
	f=${f%%_*}
	echo "${f^^}"
}

# The benchmark files, in number order.
bench_files() {
	local f
	for f in "$BENCH_DIR"/b[0-9]*_*.sh; do
		[[ -e $f ]] && echo "$f"
	done | sort -V
}

# shellcheck disable=SC2317  # invoked by trap
bench_on_exit() {
	local rc=$? p
	for p in "${BG_PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	if [[ ${BENCH_OWNER:-0} == 1 ]]; then
		topup_cluster_stop || true
		rm -rf -- "$BENCH_WORK"
	fi
	return "$rc"
}

bench_traps() {
	trap bench_on_exit EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# Start the session (run.sh): work directory, results file, the cluster
# with BENCH_SETTINGS, the bench database with a new extension.
bench_session_start() {
	BENCH_OWNER=1
	BENCH_WORK=$(mktemp -d -t topup-bench.XXXXXX)
	BENCH_RESULTS=$BENCH_DIR/results/$(date -u +%Y%m%dT%H%M%SZ).txt
	export BENCH_WORK BENCH_RESULTS
	bench_traps
	mkdir -p "${BENCH_RESULTS%/*}"
	: >"$BENCH_RESULTS"
	: >"$BENCH_WORK/summary"
	echo 5000 >"$BENCH_WORK/max_tps" # pool sizing guess until a run has measured the real TPS
	topup_header "cluster"
	topup_cluster_start || die "could not start the cluster"
	local s
	for s in "${BENCH_SETTINGS[@]}"; do
		psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "ALTER SYSTEM SET $s"
	done
	topup_cluster_restart || die "could not restart the cluster"
	createdb "$BENCH_DB"
	PM_PID=$(head -n 1 "$TOPUP_PGDATA/postmaster.pid")
	reset_db # creates the extensions; sets PGCRYPTO
}

# Join the session of run.sh (a benchmark file's first step); started
# directly, the benchmark file runs as "bash bench/run.sh <its id>".
bench_attach() {
	local self=${BASH_SOURCE[1]}
	if [[ -z $BENCH_WORK ]]; then
		exec bash "$BENCH_DIR/run.sh" "$(bench_id_of "$self")"
	fi
	bench_traps
	cd "$TOPUP_ROOT" || exit 1
	PM_PID=$(head -n 1 "$TOPUP_PGDATA/postmaster.pid")
	PGCRYPTO=$(pgcrypto_schema)
}

# bench_knobs NAME=DEFAULT...: the benchmark's own environment settings
# (default when unset); bench_knobs_line prints them for the report.
bench_knobs() {
	local kv name
	for kv in "$@"; do
		name=${kv%%=*}
		[[ -n ${!name:-} ]] || printf -v "$name" '%s' "${kv#*=}"
		BENCH_KNOBS+=("$name")
	done
}

bench_knobs_line() {
	local name line="knobs:"
	for name in "${BENCH_KNOBS[@]}"; do
		if [[ ${!name} == *' '* ]]; then
			line+=" $name='${!name}'"
		else
			line+=" $name=${!name}"
		fi
	done
	say "$line"
}

# ---------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------

# A line of the report: stdout and the results file.
say() {
	printf '%s\n' "$*" | tee -a "$BENCH_RESULTS"
}

die() {
	topup_say "$*"
	topup_server_log_tail 40 >&2
	exit 1
}

# summary ROW...: a row of the final table (tab separated): benchmark,
# metric, topup, floor/base, ratio, target, met
summary() {
	local IFS=$'\t'
	printf '%s\n' "$*" >>"$BENCH_WORK/summary"
}

# Print the summary table of the session.
summary_table() {
	{
		printf 'benchmark\tmetric\ttopup\tfloor/base\tratio\ttarget\tmet\n'
		cat "$BENCH_WORK/summary"
	} | print_table | tee -a "$BENCH_RESULTS"
}

# Align tab-separated lines into columns.
print_table() {
	awk -F '\t' '{
		for (i = 1; i <= NF; i++) { cell[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) }
		if (NF > nf) nf = NF
	} END {
		for (r = 1; r <= NR; r++) {
			line = ""
			for (i = 1; i <= nf; i++) line = line sprintf("%-" (w[i] + 2) "s", cell[r, i])
			sub(/ +$/, "", line)
			print line
		}
	}'
}

# ---------------------------------------------------------------------------
# numbers
# ---------------------------------------------------------------------------

# median of the arguments
median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) print "nan";
		else if (NR % 2) print v[(NR + 1) / 2];
		else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# calc EXPR [FORMAT]: floating point arithmetic with awk (default %.3f)
calc() {
	awk "BEGIN { printf \"${2:-%.3f}\", $1 }"
}

# ratio A B: A / B to three decimals
ratio() {
	calc "$1 / $2"
}

# verdict VALUE OP LIMIT: "yes"/"NO"
verdict() {
	if awk "BEGIN { exit !($1 $2 $3) }"; then echo yes; else echo NO; fi
}

# Measurements by name, one value per run: rec NAME VALUE appends; med,
# last and maxv read them back.
rec() {
	BENCH_V[$1]+="${BENCH_V[$1]:+ }$2"
}

med() {
	# shellcheck disable=SC2086  # a word list
	median ${BENCH_V[$1]:-}
}

last() {
	echo "${BENCH_V[$1]##* }"
}

maxv() {
	# shellcheck disable=SC2086
	printf '%s\n' ${BENCH_V[$1]:-0} | sort -g | tail -n 1
}

# alternate RUN SIDE...: the sides in the given order on odd runs, reversed
# on even runs, so that no side always goes first.
alternate() {
	local r=$1 i reversed=()
	shift
	if ((r % 2)); then
		echo "$*"
		return
	fi
	for ((i = $#; i >= 1; i--)); do
		reversed+=("${!i}")
	done
	echo "${reversed[*]}"
}

# ---------------------------------------------------------------------------
# database
# ---------------------------------------------------------------------------

bq() {
	psql -X -q -v ON_ERROR_STOP=1 -d "$BENCH_DB" "$@"
}

# The single value a query returns.
bval() {
	bq -At -c "$1"
}

# bsql FILE [psql options]: run bench/setup/FILE
bsql() {
	local f=$1
	shift
	bq -f "$BENCH_DIR/setup/$f" "$@" >/dev/null
}

pgcrypto_schema() {
	bval "SELECT pg_catalog.quote_ident(n.nspname) FROM pg_catalog.pg_extension e
	        JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pgcrypto'"
}

# Start from a new extension and no floor tables; client 'bench'.
reset_db() {
	bsql reset.sql -v version="${BENCH_EXT_VERSION:-}"
	PGCRYPTO=$(pgcrypto_schema)
}

# The floor's accounts, ledger and orders (empty) and bench_floor.hkey().
floor_tables() {
	bsql floor_tables.sql
}

# pgbench_script FILE: bench/FILE with @PGCRYPTO@ replaced by pgcrypto's
# schema, written to the work directory; prints its path.
pgbench_script() {
	local out=$BENCH_WORK/$1
	sed "s/@PGCRYPTO@/$PGCRYPTO/g" "$BENCH_DIR/$1" >"$out"
	echo "$out"
}

# Run VACUUM ANALYZE and CHECKPOINT so that every measured step starts from
# the same state: no autovacuum backlog, no dirty buffers to write.
prep() {
	bq -c 'VACUUM ANALYZE' -c 'CHECKPOINT'
}

# ---------------------------------------------------------------------------
# measuring
# ---------------------------------------------------------------------------

# CPU time (clock ticks) of the postmaster's exited children: the backends
# of a pgbench run count once the postmaster has reaped them.
pm_cpu_ticks() {
	awk '{ print $16 + $17 }' "/proc/$PM_PID/stat"
}

# Print the maximum RssAnon (kB) of the backend whose pid appears in $1,
# sampled every 100 ms until $2 exists or the backend is gone, and the
# number of samples.
rss_sampler() {
	local pidfile=$1 donefile=$2 pid max=0 n=0 key val rest
	while [[ ! -s $pidfile ]]; do
		if [[ -e $donefile ]]; then
			echo 0 0
			return 0
		fi
		sleep 0.02
	done
	pid=$(<"$pidfile")
	while [[ ! -e $donefile && -r /proc/$pid/status ]]; do
		{
			while read -r key val rest; do
				if [[ $key == RssAnon: ]]; then
					((val > max)) && max=$val
					n=$((n + 1))
					break
				fi
			done
		} 2>/dev/null <"/proc/$pid/status" || true
		sleep 0.1
	done
	echo "$max $n"
}

# timed_session TAG SQL [psql options]: run SQL (autocommit; psql
# meta-commands such as \i FILE allowed) in a psql session of its own and
# write TAG's result file: elapsed seconds (server clock, from before the
# statement to after its commit), backend CPU seconds (whole session), peak
# RssAnon kB (sampled), VmHWM kB (peak RSS, which also counts the shared
# buffers the backend touched) and the number of RssAnon samples.  Returns
# psql's status; the error text is in $BENCH_WORK/TAG/err.
timed_session() {
	local tag=$1 sql=$2 dir=$BENCH_WORK/$1 sampler rc=0 elapsed ticks hwm rss samples
	shift 2
	rm -rf "$dir"
	mkdir -p "$dir"
	cat >"$dir/script.sql" <<EOF
SELECT pg_backend_pid() AS bench_pid \gset
\setenv BENCH_PID :bench_pid
\! echo "\$BENCH_PID" > '$dir/pid'
SELECT extract(epoch FROM clock_timestamp()) AS bench_t0 \gset
$sql
SELECT extract(epoch FROM clock_timestamp()) - :bench_t0 AS bench_elapsed \gset
\echo bench_elapsed=:bench_elapsed
\! awk '{ print "bench_cpu_ticks=" \$14 + \$15 }' "/proc/\$BENCH_PID/stat"; awk '/^VmHWM:/ { print "bench_hwm_kb=" \$2 }' "/proc/\$BENCH_PID/status"
EOF
	rss_sampler "$dir/pid" "$dir/done" >"$dir/rss" &
	sampler=$!
	bq "$@" -f "$dir/script.sql" >"$dir/out" 2>"$dir/err" || rc=$?
	touch "$dir/done"
	wait "$sampler" || true
	elapsed=$(sed -n 's/^bench_elapsed=//p' "$dir/out")
	ticks=$(sed -n 's/^bench_cpu_ticks=//p' "$dir/out")
	hwm=$(sed -n 's/^bench_hwm_kb=//p' "$dir/out")
	read -r rss samples <"$dir/rss" || true
	echo "${elapsed:-nan} $(calc "${ticks:-0} / $CLK_TCK" %.2f) ${rss:-0} ${hwm:-0} ${samples:-0}" >"$dir/result"
	return "$rc"
}

# session_result TAG FIELD: elapsed | cpu | rss | hwm | samples
session_result() {
	local e c r h n
	read -r e c r h n <"$BENCH_WORK/$1/result"
	case $2 in
	elapsed) echo "$e" ;;
	cpu) echo "$c" ;;
	rss) echo "$r" ;;
	hwm) echo "$h" ;;
	samples) echo "$n" ;;
	esac
}

# run_pgbench TAG CLIENTS LENGTH SCRIPT [pgbench options]: LENGTH is
# seconds (-T), or tN for N transactions per client (-t).  Sets PB_TPS,
# PB_TXNS, PB_FAILED (pgbench's "number of failed transactions": deadlocks
# and serialization failures; fatal unless PB_ALLOW_FAILED=1), PB_CPU_US
# (backend CPU microseconds per transaction) and PB_WALL (seconds from
# pgbench's start to its end, connections included); the progress lines
# (-P) are in $BENCH_WORK/TAG/err.  Keeps the highest TPS of the session
# (max_tps).
run_pgbench() {
	local tag=$1 clients=$2 secs=$3 script=$4 dir=$BENCH_WORK/$1 c0 c1 t0 t1 rc=0 jobs length
	shift 4
	rm -rf "$dir"
	mkdir -p "$dir"
	jobs=$((clients < NPROC ? clients : NPROC))
	if [[ $secs == t* ]]; then
		length=(-t "${secs#t}")
	else
		length=(-T "$secs")
	fi
	c0=$(pm_cpu_ticks)
	t0=$(date +%s.%N)
	pgbench -n -M prepared -c "$clients" -j "$jobs" "${length[@]}" "$@" -f "$script" "$BENCH_DB" \
		>"$dir/out" 2>"$dir/err" || rc=$?
	t1=$(date +%s.%N)
	PB_WALL=$(calc "$t1 - $t0")
	sleep 1 # the postmaster reaps the backends
	c1=$(pm_cpu_ticks)
	PB_TPS=$(awk '/^tps = / { print $3; exit }' "$dir/out")
	PB_TXNS=$(awk '/number of transactions actually processed/ { print $NF }' "$dir/out")
	PB_TXNS=${PB_TXNS%%/*} # with -t: "done/asked"
	PB_FAILED=$(awk '/number of failed transactions/ { print $5 }' "$dir/out")
	PB_FAILED=${PB_FAILED:-0}
	if ((rc != 0)) || [[ -z $PB_TPS || -z $PB_TXNS ]] ||
		[[ $PB_FAILED != 0 && ${PB_ALLOW_FAILED:-0} != 1 ]]; then
		cat "$dir/out" >&2
		grep -v '^progress:' "$dir/err" | tail -n 20 >&2
		die "pgbench $tag failed"
	fi
	PB_CPU_US=$(calc "($c1 - $c0) * 1000000 / $CLK_TCK / $PB_TXNS" %.0f)
	if awk "BEGIN { exit !($PB_TPS > $(max_tps)) }"; then
		echo "$PB_TPS" >"$BENCH_WORK/max_tps"
	fi
}

# The highest TPS any pgbench run of the session has measured (5000 before
# the first one).
max_tps() {
	cat "$BENCH_WORK/max_tps"
}

# Mean of the per-second progress TPS of pgbench run TAG over its first
# SECONDS seconds (the window another job overlapped); the whole run's TPS
# when no progress line falls into the window.
progress_tps() {
	local tag=$1 secs=$2 whole=$3
	awk -v lim="$secs" -v whole="$whole" '
		/^progress: / { t = $2 + 0; v = $4 + 0; if (t <= lim + 0.01) { s += v; n++ } }
		END { if (n) printf "%.1f", s / n; else printf "%s", whole }' "$BENCH_WORK/$tag/err"
}

# waits_start FILE: sample the wait events of the pgbench backends every
# 0.25 s into FILE (one "w|event" line per backend and sample; CPU = active
# without a wait event) in a background psql; waits_stop ends it.
waits_start() {
	printf '%s\n' "SELECT 'w|' || COALESCE(wait_event_type || ':' || wait_event, 'CPU')
  FROM pg_catalog.pg_stat_activity
 WHERE application_name = 'pgbench' AND backend_type = 'client backend' \\watch 0.25" >"$1.sql"
	# psql itself in the background (not bq's subshell), so that kill ends it
	psql -X -q -At -d "$BENCH_DB" -f "$1.sql" >"$1" 2>/dev/null &
	WAITS_PID=$!
	BG_PIDS+=("$WAITS_PID")
}

waits_stop() {
	kill "$WAITS_PID" 2>/dev/null || true
	wait "$WAITS_PID" 2>/dev/null || true
	unset 'BG_PIDS[-1]'
}

# waits_summary FILE...: the most frequent wait events in the samples, in %
waits_summary() {
	cat "$@" 2>/dev/null | awk -F '|' '/^w\|/ { n[$2]++; t++ } END {
		for (e in n) printf "%.1f %s\n", 100 * n[e] / t, e }' | sort -rg | head -n 6 |
		awk '{ printf "%s%s %s%%", (NR > 1 ? ", " : ""), $2, $1 } END { if (!NR) printf "no samples" }'
}
