#!/usr/bin/env bash
# bench/run.sh — benchmarks of topup's voucher functions (generation, redeem,
# expiry; the 0.1.0 contract) and card top-ups (0.2.0), from a bare machine
# (as root):
#
#   bash bench/run.sh
#
# Every benchmark measures the extension AND a bare-SQL floor (plain SQL
# doing the same writes on copies of the tables with the same indexes and
# CHECK constraints but no triggers) in the same invocation on the same
# cluster, BENCH_RUNS times, alternating which side goes first, and prints
# the medians and their ratio.  Measurement only: nothing here asserts on
# time; a missed target is reported, the exit status stays 0.
#
#   B1 generation  SELECT topup.generate_vouchers('B1x', 1000000, ...) against
#                  one INSERT ... SELECT from generate_series writing the same
#                  columns (random 12-digit PIN from pgcrypto gen_random_bytes,
#                  hmac() for pin_hash, encrypt_iv() AES-CBC for pin_cipher)
#                  into bench_floor.vouchers.  Both start from empty tables
#                  (DROP/CREATE EXTENSION before each run).  Also the peak
#                  anonymous memory (RssAnon, sampled every 100 ms) of the
#                  generating backend.  Targets: time <= 1.0x floor, peak
#                  RssAnon < 256 MB.
#   B2 redeem      pgbench -M prepared, BENCH_CLIENTS clients, BENCH_SECONDS s:
#                  topup.redeem_voucher (bench/redeem.pgbench) against one
#                  writable CTE doing the same writes (bench/redeem_floor.pgbench),
#                  over a pool of 1M vouchers with 12-digit PINs and 1000
#                  accounts; every transaction redeems a PIN never used before.
#                  Target: TPS >= 1.0x floor; topup.verify_ledger() empty.
#   B3 expiry      CALL topup.run_expiry() over 1M due vouchers -> rows/s
#                  (target >= 50k rows/s); redeem TPS (BENCH_B3_CLIENTS clients,
#                  BENCH_B3_SECONDS s) without a sweep and while a sweep of
#                  another 1M due vouchers runs (TPS over the seconds the sweep
#                  overlapped) -> ratio (target >= 0.70).  The sweep runs with
#                  the extension's defaults, topup.expiry_max_rate included
#                  (printed with the results).
#   B4 top-up      pgbench -M prepared, BENCH_B4_SECONDS s, at each of
#                  BENCH_B4_CLIENTS clients: topup.topup_card with a fresh
#                  idempotency key per transaction over 10,000 cards of ONE
#                  client (bench/topup.pgbench) against a bare floor: one
#                  writable CTE doing the same writes against a single
#                  master-balance row and a single fee row
#                  (bench/topup_floor.pgbench); at 32 clients also (a) the
#                  same load spread over 32 clients of the extension, one per
#                  pgbench client, nothing shared (bench/topup_spread.pgbench).
#                  Targets at 32 clients: TPS >= 2.0x floor and >= 0.7x (a);
#                  topup.verify_ledger() empty, no failed transactions.  Also
#                  the wait events of the pgbench backends (pg_stat_activity
#                  sampled every 0.25 s).
#
# Besides wall-clock results the bench reports the CPU time the server
# backends used (per transaction, per generation): on a shared or busy
# machine that is far steadier than TPS.
#
# The cluster is a throwaway one (scripts/lib.sh) with these settings on top,
# applied with ALTER SYSTEM and a restart (see BENCH_SETTINGS below):
#   shared_buffers = '2GB'         the 1M-voucher tables and indexes of both
#                                  sides (~300 MB each) stay in shared buffers
#   max_wal_size = '8GB'           no WAL-triggered checkpoint inside a step
#   checkpoint_timeout = '30min'   no timed one either; the bench runs VACUUM
#                                  ANALYZE and CHECKPOINT before each step
# Peak disk use is a few GB under /tmp; a full run at BENCH_RUNS=3 takes
# about 11 minutes on 2 cores for B1-B3 and 12 more for B4.
#
# Results go to stdout and to bench/results/<UTC timestamp>.txt (gitignored).
#
# Environment (all optional):
#   BENCH_RUNS=3           repetitions of every measurement
#   BENCH_SECONDS=30       duration of each B2 pgbench run
#   BENCH_B3_SECONDS=20    duration of each B3 pgbench run
#   BENCH_CLIENTS=8        pgbench clients in B2
#   BENCH_B3_CLIENTS=4     pgbench clients in B3
#   BENCH_B4_SECONDS=30    duration of each B4 pgbench run
#   BENCH_B4_CLIENTS="1 8 32"  client counts of B4 ((a) runs at 32 only)
#   BENCH_WARMUP=5         seconds of each script run (not counted) before
#                          the first run of B2 and of B4
#   BENCH_QUANTITY=1000000 vouchers per generation (B1, the B2 pool, B3 sweeps)
#   BENCH_ONLY=b1,b2,b3,b4 which benchmarks to run
#   BENCH_EXT_VERSION      extension version to create (default: the
#                          control file's default_version)
#   BENCH_SKIP_DEPS=1      do not check/install packages
#   BENCH_SKIP_BUILD=1     do not build and install (use what is installed)
#   TOPUP_PORT             port of the throwaway cluster (default here 54344)
#   PG_CONFIG, TOPUP_KEEP_TMP: see scripts/lib.sh
set -euo pipefail

TOPUP_PORT=${TOPUP_PORT:-54344}
# shellcheck source=scripts/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/scripts/lib.sh"
cd "$TOPUP_ROOT"

BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_SECONDS=${BENCH_SECONDS:-30}
BENCH_B3_SECONDS=${BENCH_B3_SECONDS:-20}
BENCH_CLIENTS=${BENCH_CLIENTS:-8}
BENCH_B3_CLIENTS=${BENCH_B3_CLIENTS:-4}
BENCH_B4_SECONDS=${BENCH_B4_SECONDS:-30}
BENCH_B4_CLIENTS=${BENCH_B4_CLIENTS:-1 8 32}
BENCH_WARMUP=${BENCH_WARMUP:-5}
BENCH_QUANTITY=${BENCH_QUANTITY:-1000000}
BENCH_ONLY=${BENCH_ONLY:-b1,b2,b3,b4}
BENCH_DB=topup_test # the database pg_cron watches (cron.database_name in lib.sh)

BENCH_SETTINGS=(
	"shared_buffers = '2GB'"
	"max_wal_size = '8GB'"
	"checkpoint_timeout = '30min'"
)

Q=$BENCH_QUANTITY
NPROC=$(nproc)
BENCH_DIR=$TOPUP_ROOT/bench
RESULTS_DIR=$BENCH_DIR/results
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RESULTS=$RESULTS_DIR/$STAMP.txt
WORK=$(mktemp -d /tmp/topup-bench.XXXXXX)
CLK_TCK=$(getconf CLK_TCK)
PM_PID=
PGCRYPTO=
POOL_SIZE=0
POOL_SERIES=0
MAX_TPS=5000 # pool sizing guess until a run has measured the real TPS
SUMMARY=()
BG_PIDS=()

# shellcheck disable=SC2317  # invoked by trap
on_exit() {
	local rc=$? p
	for p in "${BG_PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	topup_cluster_stop || true
	rm -rf -- "$WORK"
	return "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

# A line of the report: stdout and the results file.
say() {
	printf '%s\n' "$*" | tee -a "$RESULTS"
}

die() {
	topup_say "$*"
	topup_server_log_tail 40 >&2
	exit 1
}

want() {
	[[ ",$BENCH_ONLY," == *",$1,"* ]]
}

bq() {
	psql -X -q -v ON_ERROR_STOP=1 -d "$BENCH_DB" "$@"
}

# The single value a query returns.
bval() {
	bq -At -c "$1"
}

# Run VACUUM ANALYZE and CHECKPOINT so that every measured step starts from
# the same state: no autovacuum backlog, no dirty buffers to write.
prep() {
	bq -c 'VACUUM ANALYZE' -c 'CHECKPOINT'
}

# CPU time (clock ticks) of the postmaster's exited children: the backends
# of a pgbench run count once the postmaster has reaped them.
pm_cpu_ticks() {
	awk '{ print $16 + $17 }' "/proc/$PM_PID/stat"
}

# median of the arguments
median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) print "nan";
		else if (NR % 2) print v[(NR + 1) / 2];
		else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# calc EXPR: floating point arithmetic with awk (printf format optional)
calc() {
	awk "BEGIN { printf \"${2:-%.3f}\", $1 }"
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

# timed_session TAG SQL: run SQL (autocommit) in a psql session of its own
# and write TAG's result file: elapsed seconds (server clock, from before
# the statement to after its commit), backend CPU seconds (whole session),
# peak RssAnon kB (sampled), VmHWM kB (peak RSS, which also counts the
# shared buffers the backend touched) and the number of RssAnon samples.
# Returns psql's status; the error text is in $WORK/TAG/err.
timed_session() {
	local tag=$1 sql=$2 dir=$WORK/$1 sampler rc=0 elapsed ticks hwm rss samples
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
	bq -f "$dir/script.sql" >"$dir/out" 2>"$dir/err" || rc=$?
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
	read -r e c r h n <"$WORK/$1/result"
	case $2 in
	elapsed) echo "$e" ;;
	cpu) echo "$c" ;;
	rss) echo "$r" ;;
	hwm) echo "$h" ;;
	samples) echo "$n" ;;
	esac
}

# run_pgbench TAG CLIENTS SECONDS SCRIPT [pgbench options]: sets PB_TPS,
# PB_TXNS, PB_FAILED (pgbench's "number of failed transactions": deadlocks
# and serialization failures; fatal unless PB_ALLOW_FAILED=1) and PB_CPU_US
# (backend CPU microseconds per transaction); the progress lines (-P) are in
# $WORK/TAG/err.
run_pgbench() {
	local tag=$1 clients=$2 secs=$3 script=$4 dir=$WORK/$1 c0 c1 rc=0 jobs
	shift 4
	rm -rf "$dir"
	mkdir -p "$dir"
	jobs=$((clients < NPROC ? clients : NPROC))
	c0=$(pm_cpu_ticks)
	pgbench -n -M prepared -c "$clients" -j "$jobs" -T "$secs" "$@" -f "$script" "$BENCH_DB" \
		>"$dir/out" 2>"$dir/err" || rc=$?
	sleep 1 # the postmaster reaps the backends
	c1=$(pm_cpu_ticks)
	PB_TPS=$(awk '/^tps = / { print $3; exit }' "$dir/out")
	PB_TXNS=$(awk '/number of transactions actually processed/ { print $NF }' "$dir/out")
	PB_FAILED=$(awk '/number of failed transactions/ { print $5 }' "$dir/out")
	PB_FAILED=${PB_FAILED:-0}
	if ((rc != 0)) || [[ -z $PB_TPS || -z $PB_TXNS ]] ||
		[[ $PB_FAILED != 0 && ${PB_ALLOW_FAILED:-0} != 1 ]]; then
		cat "$dir/out" >&2
		grep -v '^progress:' "$dir/err" | tail -n 20 >&2
		die "pgbench $tag failed"
	fi
	PB_CPU_US=$(calc "($c1 - $c0) * 1000000 / $CLK_TCK / $PB_TXNS" %.0f)
	if awk "BEGIN { exit !($PB_TPS > $MAX_TPS) }"; then
		MAX_TPS=$PB_TPS
	fi
}

# Mean of the per-second progress TPS of pgbench run TAG over its first
# SECONDS seconds (the window another job overlapped); the whole run's TPS
# when no progress line falls into the window.
progress_tps() {
	local tag=$1 secs=$2 whole=$3
	awk -v lim="$secs" -v whole="$whole" '
		/^progress: / { t = $2 + 0; v = $4 + 0; if (t <= lim + 0.01) { s += v; n++ } }
		END { if (n) printf "%.1f", s / n; else printf "%s", whole }' "$WORK/$tag/err"
}

# summary ROW...: a row of the final table (tab separated)
summary() {
	local IFS=$'\t'
	SUMMARY+=("$*")
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

# verdict VALUE OP LIMIT: "yes"/"NO"
verdict() {
	if awk "BEGIN { exit !($1 $2 $3) }"; then echo yes; else echo NO; fi
}

# ---------------------------------------------------------------------------
# setup
# ---------------------------------------------------------------------------

# Start from a new extension and no floor tables; client 'bench'.
reset_db() {
	bq -v version="${BENCH_EXT_VERSION:-}" <<'SQL' >/dev/null
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS bench_floor CASCADE;
DROP TABLE IF EXISTS public.bench_pins;
DROP SEQUENCE IF EXISTS public.bench_seq;
DROP SEQUENCE IF EXISTS public.b4_keys;
DROP EXTENSION IF EXISTS topup CASCADE;
SELECT pg_catalog.format('CREATE EXTENSION topup %s CASCADE',
                         CASE WHEN :'version' <> '' THEN 'VERSION ' || pg_catalog.quote_literal(:'version') END) \gexec
SELECT topup.create_client('bench');
CREATE SCHEMA bench_floor;
-- same columns, defaults, CHECKs and indexes; no triggers, no foreign keys
CREATE TABLE bench_floor.vouchers (LIKE topup.vouchers INCLUDING ALL);
SQL
	PGCRYPTO=$(bval "SELECT pg_catalog.quote_ident(n.nspname) FROM pg_catalog.pg_extension e
	                  JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pgcrypto'")
	POOL_SIZE=0
	POOL_SERIES=0
}

# B2/B3 setup: 1000 accounts, the PIN pool and the floor tables.
pool_setup() {
	topup_say "B2 setup: 1000 accounts, $Q vouchers, PIN pool, floor tables"
	reset_db
	bq <<'SQL' >/dev/null
SELECT pg_catalog.count(*)
  FROM (SELECT topup.open_account('acct' || a, 'USD', 'customer', true, NULL, 'bench')
          FROM pg_catalog.generate_series(0, 999) AS a) AS s;
CREATE TABLE public.bench_pins (i bigserial PRIMARY KEY, pin text NOT NULL);
CREATE SEQUENCE public.bench_seq;
SQL
	floor_tables
	bq -c "INSERT INTO bench_floor.accounts SELECT * FROM topup.accounts WHERE client_id = 'bench'" >/dev/null
	sed "s/@PGCRYPTO@/$PGCRYPTO/g" "$BENCH_DIR/redeem_floor.pgbench" >"$WORK/redeem_floor.pgbench"
	pool_extend
	POOL_READY=1
}

# The floor's accounts, ledger and orders (empty) and bench_floor.hkey().
floor_tables() {
	bq <<'SQL' >/dev/null
CREATE TABLE bench_floor.accounts (LIKE topup.accounts INCLUDING ALL);
CREATE TABLE bench_floor.ledger (LIKE topup.ledger INCLUDING ALL);
CREATE SEQUENCE bench_floor.order_id_seq;
CREATE TABLE bench_floor.orders (LIKE topup.orders INCLUDING ALL);
ALTER TABLE bench_floor.orders ALTER order_id SET DEFAULT pg_catalog.nextval('bench_floor.order_id_seq');
-- the extension's HMAC key as a constant the planner folds in
SELECT pg_catalog.format('CREATE FUNCTION bench_floor.hkey() RETURNS bytea LANGUAGE sql IMMUTABLE PARALLEL SAFE AS %L',
                         pg_catalog.format('SELECT %L::bytea', '\x' || pg_catalog.encode(hmac_key, 'hex')))
  FROM topup.secret \gexec
SQL
}

# Generate BENCH_QUANTITY more vouchers into the pool: their PINs go to
# bench_pins in random order, the rows are copied to the floor.
pool_extend() {
	local s
	POOL_SERIES=$((POOL_SERIES + 1))
	s=B2P$POOL_SERIES
	bq -c "SELECT quantity FROM topup.generate_vouchers('$s', $Q, 10, 'USD', 12, NULL, NULL, 'bench')" >/dev/null
	bq -c "INSERT INTO public.bench_pins (pin) SELECT pin FROM topup.export_vouchers('$s', 'bench') ORDER BY random()"
	bq -c "INSERT INTO bench_floor.vouchers SELECT * FROM topup.vouchers WHERE client_id = 'bench' AND series = '$s'"
	POOL_SIZE=$((POOL_SIZE + Q))
}

# Make sure a pgbench run of SECONDS cannot run out of unused PINs.
pool_ensure() {
	local secs=$1 used need
	used=$(bval "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM public.bench_seq")
	need=$(calc "$MAX_TPS * $secs * 1.5 + 1000" %.0f)
	while ((POOL_SIZE - used < need)); do
		topup_say "extending the PIN pool ($used of $POOL_SIZE used)"
		pool_extend
	done
}

# Sleep until every voucher of client bench3's series is due.
wait_due() {
	bq -c "SELECT pg_catalog.pg_sleep(GREATEST(0, extract(epoch FROM max(expires_at) - now())) + 0.2)
	         FROM topup.vouchers WHERE client_id = 'bench3' AND series = '$1'" >/dev/null
}

# ---------------------------------------------------------------------------
# B1 generation
# ---------------------------------------------------------------------------

b1() {
	local r side tag attempt ok
	local ext_t=() ext_cpu=() ext_rss=() ext_hwm=() ext_n=() fl_t=() fl_cpu=() fl_rss=() retries=0
	local ext_sql floor_sql hk ek
	topup_header "B1 generation of $Q vouchers"
	say ""
	say "== B1 generation: $Q vouchers, 12-digit PINs, $BENCH_RUNS runs =="
	say "topup:  SELECT topup.generate_vouchers('B1x', $Q, 10, 'USD', 12, NULL, NULL, 'bench')"
	say "floor:  one INSERT ... SELECT FROM generate_series into bench_floor.vouchers (same columns and"
	say "        indexes, no triggers): PIN digits from $PGCRYPTO.gen_random_bytes(8), pin_hash = hmac(pin,"
	say "        key, 'sha256'), pin_cipher = encrypt_iv(pin, key, first 16 bytes of pin_hash, 'aes-cbc')"
	say "        (the ciphertext IS included in the floor).  On a birthday collision of two random"
	say "        12-digit PINs (~40% of 1M batches) the floor attempt is discarded and repeated."
	say "memory: RssAnon of the generating backend sampled every 100 ms (peak); VmHWM is peak RSS"
	say "        and also counts the shared_buffers pages the backend touched, so it is not the target."
	ext_sql="SELECT quantity FROM topup.generate_vouchers('B1x', $Q, 10, 'USD', 12, NULL, NULL, 'bench');"
	for ((r = 1; r <= BENCH_RUNS; r++)); do
		reset_db
		hk=$(bval "SELECT encode(hmac_key, 'hex') FROM topup.secret")
		ek=$(bval "SELECT encode(enc_key, 'hex') FROM topup.secret")
		floor_sql="INSERT INTO bench_floor.vouchers (serial, client_id, series, amount, currency, status,
        pin_length, pin_hash, pin_cipher, created_at)
SELECT topup.make_serial('F1', x.g), 'bench', 'F1', 10.00, 'USD', 'new', 12, x.h,
       $PGCRYPTO.encrypt_iv(convert_to(x.p, 'UTF8'), decode('$ek', 'hex'), substring(x.h FROM 1 FOR 16), 'aes-cbc'),
       now()
  FROM (SELECT s.g, s.p, $PGCRYPTO.hmac(convert_to(s.p, 'UTF8'), decode('$hk', 'hex'), 'sha256') AS h
          FROM (SELECT g, lpad(((('x' || encode($PGCRYPTO.gen_random_bytes(8), 'hex'))::bit(64)::bigint
                                 & x'7fffffffffffffff'::bigint) % 1000000000000)::text, 12, '0') AS p
                  FROM generate_series(1, $Q) AS g) AS s
        OFFSET 0) AS x;"
		for side in $( ((r % 2)) && echo "topup floor" || echo "floor topup"); do
			tag=b1_${side}_$r
			topup_say "B1 run $r: $side"
			if [[ $side == topup ]]; then
				prep
				timed_session "$tag" "$ext_sql" || die "generate_vouchers failed: $(cat "$WORK/$tag/err")"
				[[ $(bval "SELECT count(*) FROM topup.vouchers WHERE client_id = 'bench' AND status = 'new'") == "$Q" ]] ||
					die "generate_vouchers did not write $Q vouchers"
				ext_t+=("$(session_result "$tag" elapsed)")
				ext_cpu+=("$(session_result "$tag" cpu)")
				ext_rss+=("$(session_result "$tag" rss)")
				ext_hwm+=("$(session_result "$tag" hwm)")
				ext_n+=("$(session_result "$tag" samples)")
			else
				ok=0
				for ((attempt = 1; attempt <= 6; attempt++)); do
					bq -c 'TRUNCATE bench_floor.vouchers'
					prep
					if timed_session "$tag" "$floor_sql"; then
						ok=1
						break
					fi
					grep -q 'duplicate key value violates unique constraint' "$WORK/$tag/err" ||
						die "floor INSERT failed: $(cat "$WORK/$tag/err")"
					retries=$((retries + 1))
					topup_say "floor attempt $attempt: two random PINs collided; again"
				done
				((ok)) || die "floor INSERT kept colliding"
				fl_t+=("$(session_result "$tag" elapsed)")
				fl_cpu+=("$(session_result "$tag" cpu)")
				fl_rss+=("$(session_result "$tag" rss)")
			fi
		done
		say "$(printf 'run %d: topup %7.2f s (cpu %6.2f s, peak RssAnon %4d MB of %d samples, VmHWM %4d MB)   floor %7.2f s (cpu %6.2f s, peak RssAnon %4d MB)' \
			"$r" "${ext_t[-1]}" "${ext_cpu[-1]}" $((ext_rss[-1] / 1024)) "${ext_n[-1]}" $((ext_hwm[-1] / 1024)) \
			"${fl_t[-1]}" "${fl_cpu[-1]}" $((fl_rss[-1] / 1024)))"
	done
	local mt mf mc mfc rss ratio cratio
	mt=$(median "${ext_t[@]}")
	mf=$(median "${fl_t[@]}")
	mc=$(median "${ext_cpu[@]}")
	mfc=$(median "${fl_cpu[@]}")
	rss=$(printf '%s\n' "${ext_rss[@]}" | sort -g | tail -n 1)
	ratio=$(calc "$mt / $mf")
	cratio=$(calc "$mc / $mfc")
	say "median: topup $(calc "$mt" %.2f) s, floor $(calc "$mf" %.2f) s, ratio topup/floor ${ratio}x (target <= 1.0x)"
	say "        backend CPU: topup $(calc "$mc" %.2f) s, floor $(calc "$mfc" %.2f) s, ratio ${cratio}x"
	say "        throughput: topup $(calc "$Q / $mt" %.0f) vouchers/s, floor $(calc "$Q / $mf" %.0f) rows/s"
	say "        peak RssAnon of generate_vouchers (max of runs): $((rss / 1024)) MB (target < 256 MB);" \
		"median VmHWM $(($(median "${ext_hwm[@]}") / 1024)) MB"
	say "        floor attempts discarded for PIN collisions: $retries"
	summary "B1 generate $Q" "time (s)" "$(calc "$mt" %.2f)" "$(calc "$mf" %.2f)" "${ratio}x" "<= 1.0x" \
		"$(verdict "$ratio" '<=' 1.0)"
	summary "B1 generate $Q" "backend CPU (s)" "$(calc "$mc" %.2f)" "$(calc "$mfc" %.2f)" "${cratio}x" "(info)" ""
	summary "B1 generate $Q" "peak RssAnon (MB)" "$((rss / 1024))" "-" "-" "< 256 MB" \
		"$(verdict "$rss" '<' $((256 * 1024)))"
}

# ---------------------------------------------------------------------------
# B2 redeem
# ---------------------------------------------------------------------------

b2() {
	local r side tag
	local ext_tps=() ext_cpu=() fl_tps=() fl_cpu=() ext_txns=0 fl_txns=0
	[[ ${POOL_READY:-0} == 1 ]] || pool_setup
	topup_header "B2 redeem"
	say ""
	say "== B2 redeem: pgbench -M prepared, $BENCH_CLIENTS clients, ${BENCH_SECONDS} s, $BENCH_RUNS runs =="
	say "pool:   $POOL_SIZE vouchers with 12-digit PINs in client 'bench', 1000 customer accounts;"
	say "        each transaction takes the next unused PIN (bench_seq over bench_pins, random order)"
	say "topup:  bench/redeem.pgbench (SELECT status FROM topup.redeem_voucher(pin, 'acct' || n, NULL, NULL, 'bench'))"
	say "floor:  bench/redeem_floor.pgbench (one writable CTE: voucher, account, 2 ledger rows, order)"
	say "cpu:    server backend CPU per transaction (the pgbench client's CPU not included)"
	say "warm-up: ${BENCH_WARMUP} s of each script before the first run, not counted"
	if ((BENCH_WARMUP > 0)); then
		topup_say "B2 warm-up"
		pool_ensure $((2 * BENCH_WARMUP))
		run_pgbench b2_warm_topup "$BENCH_CLIENTS" "$BENCH_WARMUP" "$BENCH_DIR/redeem.pgbench"
		ext_txns=$((ext_txns + PB_TXNS))
		run_pgbench b2_warm_floor "$BENCH_CLIENTS" "$BENCH_WARMUP" "$WORK/redeem_floor.pgbench"
		fl_txns=$((fl_txns + PB_TXNS))
	fi
	for ((r = 1; r <= BENCH_RUNS; r++)); do
		for side in $( ((r % 2)) && echo "topup floor" || echo "floor topup"); do
			tag=b2_${side}_$r
			topup_say "B2 run $r: $side"
			pool_ensure "$BENCH_SECONDS"
			prep
			if [[ $side == topup ]]; then
				run_pgbench "$tag" "$BENCH_CLIENTS" "$BENCH_SECONDS" "$BENCH_DIR/redeem.pgbench"
				ext_tps+=("$PB_TPS")
				ext_cpu+=("$PB_CPU_US")
				ext_txns=$((ext_txns + PB_TXNS))
			else
				run_pgbench "$tag" "$BENCH_CLIENTS" "$BENCH_SECONDS" "$WORK/redeem_floor.pgbench"
				fl_tps+=("$PB_TPS")
				fl_cpu+=("$PB_CPU_US")
				fl_txns=$((fl_txns + PB_TXNS))
			fi
		done
		say "$(printf 'run %d: topup %8.1f tps (%4d us cpu/txn)   floor %8.1f tps (%4d us cpu/txn)   load %s' \
			"$r" "${ext_tps[-1]}" "${ext_cpu[-1]}" "${fl_tps[-1]}" "${fl_cpu[-1]}" "$(cut -d' ' -f1-3 /proc/loadavg)")"
	done
	local mt mf mc mfc ratio cratio verify completed failed fcompleted
	mt=$(median "${ext_tps[@]}")
	mf=$(median "${fl_tps[@]}")
	mc=$(median "${ext_cpu[@]}")
	mfc=$(median "${fl_cpu[@]}")
	ratio=$(calc "$mt / $mf")
	cratio=$(calc "$mc / $mfc")
	verify=$(bval "SELECT count(*) FROM topup.verify_ledger()")
	completed=$(bval "SELECT count(*) FROM topup.orders WHERE client_id = 'bench' AND status = 'completed'")
	failed=$(bval "SELECT count(*) FROM topup.orders WHERE client_id = 'bench' AND status <> 'completed'")
	fcompleted=$(bval "SELECT count(*) FROM bench_floor.orders WHERE status = 'completed'")
	say "median: topup $(calc "$mt" %.1f) tps, floor $(calc "$mf" %.1f) tps, ratio topup/floor ${ratio}x (target >= 1.0x)"
	say "        backend CPU per transaction: topup $mc us, floor $mfc us, ratio ${cratio}x"
	say "checks: topup transactions (warm-up included) $ext_txns, completed redeem orders $completed, other orders $failed;"
	say "        floor transactions $fl_txns, floor orders $fcompleted; count(*) FROM topup.verify_ledger() = $verify"
	summary "B2 redeem ${BENCH_CLIENTS}c" "tps" "$(calc "$mt" %.1f)" "$(calc "$mf" %.1f)" "${ratio}x" ">= 1.0x" \
		"$(verdict "$ratio" '>=' 1.0)"
	summary "B2 redeem ${BENCH_CLIENTS}c" "backend CPU/txn (us)" "$mc" "$mfc" "${cratio}x" "(info)" ""
	summary "B2 redeem ${BENCH_CLIENTS}c" "verify_ledger rows" "$verify" "-" "-" "0" "$(verdict "$verify" '==' 0)"
	[[ $completed == "$ext_txns" && $failed == 0 ]] ||
		say "WARNING: completed orders ($completed) differ from topup transactions ($ext_txns) or failed orders exist"
}

# ---------------------------------------------------------------------------
# B3 expiry
# ---------------------------------------------------------------------------

# Generate Q vouchers of series S in client bench3 due 5 seconds after the
# generation started, and wait until they are due.
b3_due() {
	bq -c "SELECT quantity FROM topup.generate_vouchers('$1', $Q, 10, 'USD', 12, now() + interval '5 seconds', NULL, 'bench3')" >/dev/null
	wait_due "$1"
}

b3() {
	local r s tag step
	local sweep_rate=() sweep_cpu=() base_tps=() load_tps=() load_sweep_rate=() overlap=()
	local base_cpu=() load_cpu=() c0 c1 se
	[[ ${POOL_READY:-0} == 1 ]] || pool_setup
	bval "SELECT count(*) FROM topup.clients WHERE client_id = 'bench3'" | grep -qx 1 ||
		bq -c "SELECT topup.create_client('bench3')" >/dev/null
	topup_header "B3 expiry"
	say ""
	say "== B3 expiry: $Q due vouchers per sweep, redeem pgbench $BENCH_B3_CLIENTS clients ${BENCH_B3_SECONDS} s, $BENCH_RUNS runs =="
	say "sweep:  CALL topup.run_expiry() (batches of 10000) over $Q vouchers due 5 s after their generation,"
	say "        topup.expiry_max_rate = $(bval "SELECT topup.make_serial('A', 1); SHOW topup.expiry_max_rate" | tail -n 1) (the default)"
	say "redeem: bench/redeem.pgbench over the B2 pool, once alone and once started together with a sweep"
	say "        of another $Q due vouchers; TPS during the sweep = mean of pgbench's per-second TPS over"
	say "        the seconds the sweep ran (all of the run when the sweep outlasts it)"
	for ((r = 1; r <= BENCH_RUNS; r++)); do
		topup_say "B3 run $r: generating $Q due vouchers"
		s=E${r}A
		b3_due "$s"
		prep
		topup_say "B3 run $r: sweep alone"
		tag=b3_sweep_$r
		timed_session "$tag" "CALL topup.run_expiry();" || die "run_expiry failed: $(cat "$WORK/$tag/err")"
		[[ $(bval "SELECT count(*) FROM topup.vouchers WHERE client_id = 'bench3' AND series = '$s' AND status = 'expired'") == "$Q" ]] ||
			die "run_expiry did not expire $Q vouchers"
		sweep_rate+=("$(calc "$Q / $(session_result "$tag" elapsed)" %.0f)")
		sweep_cpu+=("$(session_result "$tag" cpu)")
		# alternate the order of the two redeem measurements between runs
		for step in $( ((r % 2)) && echo "base load" || echo "load base"); do
			if [[ $step == base ]]; then
				topup_say "B3 run $r: redeem without a sweep"
				pool_ensure "$BENCH_B3_SECONDS"
				prep
				run_pgbench "b3_base_$r" "$BENCH_B3_CLIENTS" "$BENCH_B3_SECONDS" "$BENCH_DIR/redeem.pgbench" -P 1
				base_tps+=("$PB_TPS")
				base_cpu+=("$PB_CPU_US")
			else
				topup_say "B3 run $r: generating $Q due vouchers"
				s=E${r}B
				b3_due "$s"
				pool_ensure "$BENCH_B3_SECONDS"
				prep
				topup_say "B3 run $r: redeem while a sweep runs"
				tag=b3_loadsweep_$r
				c0=$(pm_cpu_ticks)
				timed_session "$tag" "CALL topup.run_expiry();" &
				BG_PIDS+=($!)
				run_pgbench "b3_load_$r" "$BENCH_B3_CLIENTS" "$BENCH_B3_SECONDS" "$BENCH_DIR/redeem.pgbench" -P 1
				wait "${BG_PIDS[-1]}" || die "run_expiry under load failed: $(cat "$WORK/$tag/err")"
				unset 'BG_PIDS[-1]'
				sleep 1 # the sweep's backend is reaped too
				c1=$(pm_cpu_ticks)
				# redeem backends' CPU = all exited backends' CPU minus the sweep's
				load_cpu+=("$(calc "(($c1 - $c0) / $CLK_TCK - $(session_result "$tag" cpu)) * 1000000 / $PB_TXNS" %.0f)")
				[[ $(bval "SELECT count(*) FROM topup.vouchers WHERE client_id = 'bench3' AND series = '$s' AND status = 'expired'") == "$Q" ]] ||
					die "run_expiry under load did not expire $Q vouchers"
				se=$(session_result "$tag" elapsed)
				load_sweep_rate+=("$(calc "$Q / $se" %.0f)")
				overlap+=("$(calc "$se < $BENCH_B3_SECONDS ? $se : $BENCH_B3_SECONDS" %.1f)")
				load_tps+=("$(progress_tps "b3_load_$r" "$se" "$PB_TPS")")
			fi
		done
		say "$(printf 'run %d: sweep alone %7d rows/s (cpu %5.2f s)   redeem alone %7.1f tps (%4d us cpu/txn)   during sweep %7.1f tps (%4d us cpu/txn, over %s s; sweep under load %d rows/s)' \
			"$r" "${sweep_rate[-1]}" "${sweep_cpu[-1]}" "${base_tps[-1]}" "${base_cpu[-1]}" "${load_tps[-1]}" "${load_cpu[-1]}" \
			"${overlap[-1]}" "${load_sweep_rate[-1]}")"
		# keep the table the same size from run to run
		bq -c "DELETE FROM topup.vouchers WHERE client_id = 'bench3'"
	done
	local ms mb ml ratio verify
	ms=$(median "${sweep_rate[@]}")
	mb=$(median "${base_tps[@]}")
	ml=$(median "${load_tps[@]}")
	ratio=$(calc "$ml / $mb")
	verify=$(bval "SELECT count(*) FROM topup.verify_ledger()")
	say "median: sweep $ms rows/s (target >= 50000); sweep under redeem load $(median "${load_sweep_rate[@]}") rows/s"
	say "        redeem alone $(calc "$mb" %.1f) tps, during the sweep $(calc "$ml" %.1f) tps, ratio ${ratio} (target >= 0.70)"
	say "        backend CPU per redeem: alone $(median "${base_cpu[@]}") us, during the sweep $(median "${load_cpu[@]}") us" \
		"(the sweep itself keeps one backend busy: $(median "${sweep_cpu[@]}") s CPU per $Q rows on $NPROC cpus)"
	say "checks: count(*) FROM topup.verify_ledger() = $verify"
	summary "B3 expiry sweep" "rows/s" "$ms" "-" "-" ">= 50000" "$(verdict "$ms" '>=' 50000)"
	summary "B3 redeem ${BENCH_B3_CLIENTS}c" "tps during/without sweep" "$(calc "$ml" %.1f)" "$(calc "$mb" %.1f)" \
		"$ratio" ">= 0.70" "$(verdict "$ratio" '>=' 0.70)"
	summary "B3 redeem ${BENCH_B3_CLIENTS}c" "CPU/txn during/without (us)" "$(median "${load_cpu[@]}")" "$(median "${base_cpu[@]}")" \
		"$(calc "$(median "${load_cpu[@]}") / $(median "${base_cpu[@]}")")" "(info)" ""
	summary "B3 after sweeps" "verify_ledger rows" "$verify" "-" "-" "0" "$(verdict "$verify" '==' 0)"
}

# ---------------------------------------------------------------------------
# B4 top-up
# ---------------------------------------------------------------------------

# B4 setup (from a new extension): client b4 with 10,000 cards, clients
# a0..a31 with 313 cards each, every client with pricing 0.10 + 1.5 % and a
# master balance far larger than the bench can spend; the floor's copies of
# b4's cards, one master row and one fee row; the key sequence.
b4_setup() {
	topup_say "B4 setup: clients b4 and a0..a31, 20016 cards, floor tables"
	reset_db
	POOL_READY=0
	bq <<'SQL' >/dev/null
SELECT topup.create_client('b4');
SELECT topup.set_pricing('USD', 1, 1000, 0.10, 1.5, 'b4');
SELECT topup.fund_master(1000000000, 'USD', 'b4-wire', 'b4');
SELECT pg_catalog.count(*)
  FROM (SELECT topup.open_account('card' || g, 'USD', 'card', true, NULL, 'b4')
          FROM pg_catalog.generate_series(1, 10000) AS g) AS s;
SELECT pg_catalog.count(*)
  FROM (SELECT topup.create_client('a' || n) FROM pg_catalog.generate_series(0, 31) AS n) AS s;
SELECT pg_catalog.count(*)
  FROM (SELECT topup.set_pricing('USD', 1, 1000, 0.10, 1.5, 'a' || n)
          FROM pg_catalog.generate_series(0, 31) AS n) AS s;
SELECT pg_catalog.count(*)
  FROM (SELECT topup.fund_master(1000000000, 'USD', 'a' || n || '-wire', 'a' || n)
          FROM pg_catalog.generate_series(0, 31) AS n) AS s;
SELECT pg_catalog.count(*)
  FROM (SELECT topup.open_account('a' || n || '-' || g, 'USD', 'card', true, NULL, 'a' || n)
          FROM pg_catalog.generate_series(0, 31) AS n, pg_catalog.generate_series(1, 313) AS g) AS s;
CREATE SEQUENCE public.b4_keys;
SQL
	floor_tables
	bq <<'SQL' >/dev/null
INSERT INTO bench_floor.accounts SELECT * FROM topup.accounts WHERE client_id = 'b4';
CREATE TABLE bench_floor.master (client_id text, currency text,
                                 balance numeric NOT NULL CHECK (balance >= 0),
                                 PRIMARY KEY (client_id, currency));
CREATE TABLE bench_floor.fee (LIKE bench_floor.master INCLUDING ALL);
INSERT INTO bench_floor.master VALUES ('b4', 'USD', 1000000000);
INSERT INTO bench_floor.fee VALUES ('b4', 'USD', 0);
SQL
	sed "s/@PGCRYPTO@/$PGCRYPTO/g" "$BENCH_DIR/topup_floor.pgbench" >"$WORK/topup_floor.pgbench"
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

# b4_step SIDE CLIENTS SECONDS TAG: one pgbench run of topup, spread or floor
b4_step() {
	local side=$1 n=$2 secs=$3 tag=$4 script
	case $side in
	topup) script=$BENCH_DIR/topup.pgbench ;;
	spread) script=$BENCH_DIR/topup_spread.pgbench ;;
	floor) script=$WORK/topup_floor.pgbench ;;
	esac
	mkdir -p "$WORK/waits"
	waits_start "$WORK/waits/$tag"
	PB_ALLOW_FAILED=1 run_pgbench "$tag" "$n" "$secs" "$script"
	waits_stop
	B4_TXNS[$side]=$((${B4_TXNS[$side]:-0} + PB_TXNS))
	B4_FAILED[$side]=$((${B4_FAILED[$side]:-0} + PB_FAILED))
}

b4() {
	local r n side sides tag line
	local -A tps=() cpu=() last_tps=() last_cpu=()
	declare -gA B4_TXNS=() B4_FAILED=()
	b4_setup
	topup_header "B4 top-up"
	say ""
	say "== B4 top-up: pgbench -M prepared, ${BENCH_B4_SECONDS} s, clients ${BENCH_B4_CLIENTS}, $BENCH_RUNS runs =="
	say "topup:  bench/topup.pgbench (SELECT status FROM topup.topup_card('card' || c, 10.00, 'k' || key,"
	say "        client_id => 'b4')) over 10000 cards of client 'b4'; a fresh key per transaction"
	say "(a):    bench/topup_spread.pgbench, 32 clients only: the same load over clients a0..a31 (313 cards"
	say "        each), pgbench client N -> client 'aN': no master balance, fee account or card shared"
	say "floor:  bench/topup_floor.pgbench: one writable CTE per transaction, ONE master-balance row and one"
	say "        fee row (debit 10.25, card +10.00, fee +0.25, 3 ledger rows, the completed order)"
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
				sides="topup spread floor"
				((r % 2)) || sides="floor spread topup"
			else
				sides="topup floor"
				((r % 2)) || sides="floor topup"
			fi
			line=$(printf 'run %d %2dc:' "$r" "$n")
			for side in $sides; do
				tag=b4_${side}_${n}_$r
				topup_say "B4 run $r: $side, $n clients"
				prep
				b4_step "$side" "$n" "$BENCH_B4_SECONDS" "$tag"
				tps[$side:$n]+=" $PB_TPS"
				cpu[$side:$n]+=" $PB_CPU_US"
				last_tps[$side]=$PB_TPS
				last_cpu[$side]=$PB_CPU_US
			done
			for side in topup spread floor; do
				[[ $sides == *$side* ]] || continue
				line+=$(printf '  %s %7.1f tps (%4d us cpu/txn)' "$side" "${last_tps[$side]}" "${last_cpu[$side]}")
			done
			say "$line"
		done
	done
	local mt mf ma mc mfc mac ratio aratio cratio verify done_b4 done_a notdone fdone master target met note
	say "median over $BENCH_RUNS runs:"
	for n in $BENCH_B4_CLIENTS; do
		# shellcheck disable=SC2086  # word lists
		mt=$(median ${tps[topup:$n]})
		# shellcheck disable=SC2086
		mf=$(median ${tps[floor:$n]})
		# shellcheck disable=SC2086
		mc=$(median ${cpu[topup:$n]})
		# shellcheck disable=SC2086
		mfc=$(median ${cpu[floor:$n]})
		ratio=$(calc "$mt / $mf")
		cratio=$(calc "$mc / $mfc")
		target="(info)" met="" note=""
		if ((n == 32)); then
			target=">= 2.0x" met=$(verdict "$ratio" '>=' 2.0) note=" (target >= 2.0x)"
		fi
		say "$(printf '  %2dc: topup %7.1f tps, floor %7.1f tps, ratio topup/floor %sx%s; cpu/txn topup %s us, floor %s us (%sx)' \
			"$n" "$mt" "$mf" "$ratio" "$note" "$mc" "$mfc" "$cratio")"
		summary "B4 top-up ${n}c" "tps vs floor" "$(calc "$mt" %.1f)" "$(calc "$mf" %.1f)" "${ratio}x" "$target" "$met"
		summary "B4 top-up ${n}c" "backend CPU/txn (us)" "$mc" "$mfc" "${cratio}x" "(info)" ""
		if [[ -n ${tps[spread:$n]:-} ]]; then
			# shellcheck disable=SC2086
			ma=$(median ${tps[spread:$n]})
			# shellcheck disable=SC2086
			mac=$(median ${cpu[spread:$n]})
			aratio=$(calc "$mt / $ma")
			say "$(printf '       (a) spread over 32 clients %7.1f tps, ratio topup/(a) %sx (target >= 0.7x); cpu/txn (a) %s us' \
				"$ma" "$aratio" "$mac")"
			summary "B4 top-up ${n}c" "tps vs (a) 32 clients" "$(calc "$mt" %.1f)" "$(calc "$ma" %.1f)" "${aratio}x" \
				">= 0.7x" "$(verdict "$aratio" '>=' 0.7)"
			summary "B4 top-up ${n}c" "CPU/txn vs (a) (us)" "$mc" "$mac" "$(calc "$mc / $mac")x" "(info)" ""
		fi
	done
	say "waits (all runs; share of samples of the pgbench backends):"
	for n in $BENCH_B4_CLIENTS; do
		for side in topup spread floor; do
			[[ -n ${tps[$side:$n]:-} ]] || continue
			say "$(printf '  %2dc %-6s %s' "$n" "$side" "$(waits_summary "$WORK"/waits/b4_"${side}"_"${n}"_[0-9]*)")"
		done
	done
	verify=$(bval "SELECT count(*) FROM topup.verify_ledger()")
	done_b4=$(bval "SELECT count(*) FROM topup.orders WHERE client_id = 'b4' AND status = 'completed'")
	done_a=$(bval "SELECT count(*) FROM topup.orders WHERE client_id LIKE 'a%' AND status = 'completed'")
	notdone=$(bval "SELECT count(*) FROM topup.orders WHERE status <> 'completed'")
	fdone=$(bval "SELECT count(*) FROM bench_floor.orders WHERE status = 'completed'")
	master=$(bval "SELECT balance = 1000000000 - 10.25 * $done_b4 FROM topup.master_balances
	                WHERE client_id = 'b4' AND currency = 'USD'")
	say "checks: pgbench failed transactions: topup ${B4_FAILED[topup]:-0}, (a) ${B4_FAILED[spread]:-0}, floor ${B4_FAILED[floor]:-0}"
	say "        topup transactions (warm-up included) ${B4_TXNS[topup]:-0}, completed orders of b4 $done_b4;" \
		"(a) transactions ${B4_TXNS[spread]:-0}, completed orders of a0..a31 $done_a; orders not completed $notdone"
	say "        floor transactions ${B4_TXNS[floor]:-0}, floor orders $fdone;" \
		"b4 master balance = 1e9 - 10.25 x completed: $master; count(*) FROM topup.verify_ledger() = $verify"
	summary "B4 top-up" "verify_ledger rows" "$verify" "-" "-" "0" "$(verdict "$verify" '==' 0)"
	summary "B4 top-up" "pgbench failed txns" "$((${B4_FAILED[topup]:-0} + ${B4_FAILED[spread]:-0}))" \
		"${B4_FAILED[floor]:-0}" "-" "0" "$(verdict "$((${B4_FAILED[topup]:-0} + ${B4_FAILED[spread]:-0}))" '==' 0)"
	[[ $done_b4 == "${B4_TXNS[topup]:-0}" && $done_a == "${B4_TXNS[spread]:-0}" && $notdone == 0 &&
		$fdone == "${B4_TXNS[floor]:-0}" && $master == t ]] ||
		say "WARNING: completed orders differ from transactions, failed orders exist, or the master balance is off"
}

# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------

[[ $(id -u) -eq 0 ]] || {
	topup_say "run bench/run.sh as root (it starts a throwaway cluster as the postgres user)"
	exit 1
}
mkdir -p "$RESULTS_DIR"
: >"$RESULTS"

if [[ ${BENCH_SKIP_DEPS:-0} != 1 ]]; then
	topup_header "dependencies"
	topup_install_deps || die "could not install the dependencies"
fi
if [[ ${BENCH_SKIP_BUILD:-0} != 1 ]]; then
	topup_header "build"
	topup_build_gcc || die "build failed"
fi

topup_header "cluster"
topup_cluster_start || die "could not start the cluster"
for s in "${BENCH_SETTINGS[@]}"; do
	psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "ALTER SYSTEM SET $s"
done
topup_cluster_restart || die "could not restart the cluster"
createdb "$BENCH_DB"
PM_PID=$(head -n 1 "$TOPUP_PGDATA/postmaster.pid")
reset_db # creates the extensions; sets PGCRYPTO

say "topup benchmarks $STAMP"
REV='?'
if command -v git >/dev/null && git -C "$TOPUP_ROOT" rev-parse --git-dir >/dev/null 2>&1; then
	REV=$(git -C "$TOPUP_ROOT" rev-parse --short HEAD)
	git -C "$TOPUP_ROOT" diff --quiet HEAD -- src sql || REV="$REV (src/sql modified)"
fi
say "commit $REV, topup $(bval "SELECT extversion FROM pg_extension WHERE extname = 'topup'")," \
	"$(bval 'SELECT version()' | cut -d, -f1)"
say "machine: $NPROC cpus, $(awk '/^MemTotal/ { printf "%.1f GB", $2 / 1048576 }' /proc/meminfo) RAM, load average $(cut -d' ' -f1-3 /proc/loadavg)"
say "settings: $(bval "SELECT string_agg(name || '=' || current_setting(name), ', ' ORDER BY name) FROM pg_settings
                    WHERE name IN ('shared_buffers', 'max_wal_size', 'checkpoint_timeout', 'synchronous_commit', 'jit')")"
say "runs: BENCH_RUNS=$BENCH_RUNS BENCH_SECONDS=$BENCH_SECONDS BENCH_B3_SECONDS=$BENCH_B3_SECONDS" \
	"BENCH_CLIENTS=$BENCH_CLIENTS BENCH_B3_CLIENTS=$BENCH_B3_CLIENTS BENCH_QUANTITY=$Q" \
	"BENCH_B4_SECONDS=$BENCH_B4_SECONDS BENCH_B4_CLIENTS='$BENCH_B4_CLIENTS'"

if want b1; then b1; fi
if want b2; then b2; fi
if want b3; then b3; fi
if want b4; then b4; fi

say ""
say "== summary (medians of $BENCH_RUNS runs; total $((SECONDS / 60)) min $((SECONDS % 60)) s) =="
{
	printf 'benchmark\tmetric\ttopup\tfloor/base\tratio\ttarget\tmet\n'
	printf '%s\n' "${SUMMARY[@]}"
} | print_table | tee -a "$RESULTS"
say ""
say "results: $RESULTS"
