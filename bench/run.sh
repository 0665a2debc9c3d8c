#!/usr/bin/env bash
# bench/run.sh — benchmarks of topup against bare-SQL floors, from a bare
# machine (as root):
#
#   bash bench/run.sh              every benchmark
#   bash bench/run.sh B2 B4        some of them (in number order)
#   bash bench/run.sh --list       what there is
#
# Each benchmark is one file, bench/b<N>_<name>.sh, whose header says what it
# measures and which environment settings it reads; started directly
# (bash bench/b2_redeem.sh) it runs alone through this script.  Every
# benchmark measures the extension AND a baseline, mostly a floor (plain SQL
# doing the same writes on copies of the tables with the same indexes and
# CHECK constraints but no triggers), in the same invocation on the same
# cluster, BENCH_RUNS times, alternating which side goes first, and prints
# the medians and their ratio, the server backends' CPU time (far steadier
# than wall-clock numbers on a shared machine) and its targets with met/not
# met.
# Measurement only: nothing asserts on time; a missed target is reported,
# the exit status stays 0.
#
# This script installs the packages and builds the extension, starts one
# throwaway cluster (bench/lib.sh: BENCH_SETTINGS), runs the benchmarks in
# it one after the other, and ends with a summary table of all of them.
# Results go to stdout and to bench/results/<UTC timestamp>.txt (gitignored).
# Peak disk use is a few GB in the temporary directory; a full run at
# BENCH_RUNS=3 takes about 11 minutes on 2 cores for B1-B3, 12 more for B4,
# about as long as B2 for B5, 3 minutes for B6 and, for B7, three times
# the instant + hold + drain of its 100,000 orders (minutes at the rates
# it reports).
#
# Adding a benchmark: a new file bench/b<N>_<name>.sh that sources
# bench/lib.sh, calls bench_attach (and bench_knobs for its own settings),
# prints its report with say, and adds its rows to the summary with summary;
# its SQL set-up in bench/setup/*.sql, its floor as bench/*.sql or
# bench/*.pgbench.  Nothing else needs to change.
#
# Environment (all optional), besides each benchmark's own and those of
# bench/lib.sh (BENCH_RUNS, BENCH_WARMUP, BENCH_QUANTITY, BENCH_EXT_VERSION,
# TOPUP_PORT):
#   BENCH_ONLY=b1,b2       which benchmarks to run when none is named
#   BENCH_SKIP_DEPS=1      do not check/install packages
#   BENCH_SKIP_BUILD=1     do not build and install (use what is installed)
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$TOPUP_ROOT"

# The first line of a benchmark file's header comment.
describe() {
	sed -n '2{s/^# //;p;q}' "$1"
}

list() {
	local f
	for f in $(bench_files); do
		printf '%-4s %-26s %s\n' "$(bench_id_of "$f")" "bench/${f##*/}" "$(describe "$f" | sed 's/^B[0-9]* //')"
	done
}

# The benchmarks asked for (upper case): the arguments, else BENCH_ONLY,
# else ALL.
requested() {
	if (($# > 0)); then
		echo "${*^^}"
	else
		tr ',' ' ' <<<"${BENCH_ONLY:-all}" | tr '[:lower:]' '[:upper:]'
	fi
}

case ${1:-} in
-h | --help)
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
	exit 0
	;;
-l | --list)
	list
	exit 0
	;;
esac
IDS=" $(for f in $(bench_files); do bench_id_of "$f"; done | paste -sd ' ') "
WANT=" $(requested "$@") "
for id in $WANT; do
	[[ $id == ALL || $IDS == *" $id "* ]] || {
		topup_say "no benchmark $id; there are:"
		list >&2
		exit 2
	}
done
FILES=()
for f in $(bench_files); do
	if [[ $WANT == *" ALL "* || $WANT == *" $(bench_id_of "$f") "* ]]; then
		FILES+=("$f")
	fi
done

[[ $(id -u) -eq 0 ]] || {
	topup_say "run bench/run.sh as root (it starts a throwaway cluster as the postgres user)"
	exit 1
}
if [[ ${BENCH_SKIP_DEPS:-0} != 1 ]]; then
	topup_header "dependencies"
	topup_install_deps || die "could not install the dependencies"
fi
if [[ ${BENCH_SKIP_BUILD:-0} != 1 ]]; then
	topup_header "build"
	topup_build_gcc || die "build failed"
fi

bench_session_start

say "topup benchmarks $(basename "$BENCH_RESULTS" .txt)"
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
say "runs: BENCH_RUNS=$BENCH_RUNS BENCH_WARMUP=$BENCH_WARMUP BENCH_QUANTITY=$Q;" \
	"benchmarks: $(for f in "${FILES[@]}"; do bench_id_of "$f"; done | paste -sd ' ')"

for f in "${FILES[@]}"; do
	bash "$f" || {
		topup_say "$(bench_id_of "$f") failed"
		exit 1
	}
done

say ""
say "== summary (medians of $BENCH_RUNS runs; total $((SECONDS / 60)) min $((SECONDS % 60)) s) =="
summary_table
say ""
say "results: $BENCH_RESULTS"
