#!/usr/bin/env bash
# scripts/test.sh — run every test of topup, from a bare machine:
#
#   bash scripts/test.sh
#
# Phases: install packages (apt, only what is missing), build (clang-14
# compile check, then gcc build + install), start a throwaway cluster,
# create database topup_test (pg_cron, pgtap, topup), make installcheck
# (pg_regress REGRESS + isolation ISOLATION from the Makefile), pg_prove on
# test/*.sql, scripts/checks/*.sh, stop the cluster.  The last line printed
# is "N passed, N failed"; the exit status is 0 only if nothing failed and
# at least one test ran.
#
# Optional environment, for running a part only:
#   TOPUP_SKIP_DEPS=1     do not check/install packages
#   TOPUP_SKIP_CLANG=1    skip the clang-14 compile check
#   TOPUP_SKIP_BUILD=1    skip building and installing (use what is installed)
#   TOPUP_ONLY=LIST       comma list of test phases to run, out of
#                         regress,isolation,pgtap,checks (default: all)
#   TOPUP_REGRESS="a b"   override the Makefile's REGRESS list
#   TOPUP_ISOLATION="a b" override the Makefile's ISOLATION list
#   TOPUP_PGTAP="test/x.sql ..."   pgTAP files (default test/*.sql)
#   TOPUP_CHECKS="scripts/checks/x.sh ..."  check scripts (default all)
#   TOPUP_PORT, PG_CONFIG, TOPUP_KEEP_TMP: see scripts/lib.sh
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
cd "$TOPUP_ROOT"

TOTAL_PASS=0
TOTAL_FAIL=0
SUMMARY=()
LOGDIR=$(mktemp -d /tmp/topup-log.XXXXXX)

# shellcheck disable=SC2317  # invoked by trap
on_exit() {
	local rc=$?
	topup_cluster_stop || true
	rm -rf -- "$LOGDIR"
	return "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# record PHASE PASSED FAILED
record() {
	TOTAL_PASS=$((TOTAL_PASS + $2))
	TOTAL_FAIL=$((TOTAL_FAIL + $3))
	SUMMARY+=("$(printf '%-12s %5d passed, %5d failed' "$1" "$2" "$3")")
}

# Print the summary and the final count line, then exit.
finish() {
	topup_cluster_stop || true
	topup_header "summary"
	((TOTAL_PASS + TOTAL_FAIL > 0)) || topup_say "no test ran"
	if ((${#SUMMARY[@]})); then
		printf '%s\n' "${SUMMARY[@]}"
	fi
	echo "$TOTAL_PASS passed, $TOTAL_FAIL failed"
	if ((TOTAL_FAIL == 0 && TOTAL_PASS > 0)); then
		exit 0
	fi
	exit 1
}

# A failure that makes the rest pointless (install, build, server start).
# fatal PHASE MESSAGE
fatal() {
	topup_say "$2"
	record "$1" 0 1
	finish
}

want() {
	[[ -z ${TOPUP_ONLY:-} ]] && return 0
	[[ ",$TOPUP_ONLY," == *",$1,"* ]]
}

# Count pg_regress / pg_isolation_regress result lines in a log.
# Prints "PASSED FAILED".  Understands the PG <= 15 format
#   test name                     ... ok           12 ms
#        name                     ... FAILED       12 ms    (parallel group)
#   test name                     ... failed (ignored)
# and the TAP format of PG >= 16 ("ok 1 - name", "not ok 2 + name").
# An ignored failure counts as failed.
count_regress() {
	awk '
		/^(test +| +)[^ ]+ +\.\.\. +ok( |$)/ { p++; next }
		/^(test +| +)[^ ]+ +\.\.\. +(FAILED|failed)/ { f++; next }
		/^ok +[0-9]+ +[-+] +[^ ]/ { p++; next }
		/^not ok +[0-9]+ +[-+] +[^ ]/ { f++; next }
		END { printf "%d %d\n", p, f }
	' "$1"
}

# Count pgTAP results from pg_prove (TAP::Harness) output.
# Prints "PASSED FAILED".  Tests=N of the "Files=..., Tests=N" line is the
# number of assertions run; the per-file lines of the "Test Summary Report"
# give the failed ones ("Failed: K"), so passed = N - sum(K).  A file that
# died or had a bad plan adds its planned-but-not-run assertions to the
# failures, and at least one.
count_pgtap() {
	awk '
		function flush() {
			if (!infile) return
			extra = 0
			if (planned > ran) extra = planned - ran
			if ((bad || wstat != 0) && ffail + extra == 0) extra = 1
			failed += ffail + extra
			tfailed += ffail
			infile = 0
		}
		/^Files=[0-9]+, Tests=[0-9]+/ {
			flush()
			s = $0; sub(/^Files=[0-9]+, Tests=/, "", s); sub(/[^0-9].*$/, "", s)
			total = s + 0; seen = 1; next
		}
		# "file.sql (Wstat: 768 (exited 3) Tests: 2 Failed: 0)"
		/\(Wstat: [0-9]+( \([^)]*\))? Tests: [0-9]+ Failed: [0-9]+\)$/ {
			flush()
			s = $0; sub(/^.*\(Wstat: /, "", s); wstat = s + 0
			s = $0; sub(/^.* Tests: /, "", s); ran = s + 0
			s = $0; sub(/^.* Failed: /, "", s); ffail = s + 0
			planned = 0; bad = 0; infile = 1; next
		}
		infile && /^  (Non-zero exit status|Non-zero wait status|Parse errors):/ { bad = 1 }
		infile && /You planned [0-9]+ tests? but ran [0-9]+/ {
			s = $0; sub(/^.*You planned /, "", s); planned = s + 0
		}
		END {
			flush()
			if (!seen) { printf "0 0 noresult\n"; exit }
			passed = total - tfailed
			if (passed < 0) passed = 0
			printf "%d %d\n", passed, failed
		}
	' "$1"
}

# Count TAP-ish lines of a check script: "ok ..." / "not ok ...".
count_checks() {
	awk '
		/^ok( |$)/ { p++; next }
		/^not ok( |$)/ { f++; next }
		END { printf "%d %d\n", p, f }
	' "$1"
}

show_regress_diffs() {
	local f
	for f in regression.diffs output_iso/regression.diffs; do
		if [[ -s $f ]]; then
			topup_header "$f"
			head -n 3000 "$f"
		fi
	done
}

# ---------------------------------------------------------------- install
if [[ ${TOPUP_SKIP_DEPS:-0} != 1 ]]; then
	topup_header "install packages"
	topup_install_deps || fatal install "package installation failed"
fi

# ---------------------------------------------------------------- build
if [[ ${TOPUP_SKIP_BUILD:-0} != 1 ]]; then
	if [[ ${TOPUP_SKIP_CLANG:-0} != 1 ]]; then
		topup_header "build: clang-14 compile check"
		topup_build_clang || fatal build "clang-14 build failed"
	fi
	topup_header "build: gcc + install"
	topup_build_gcc || fatal build "gcc build/install failed"
fi

# ---------------------------------------------------------------- cluster
topup_header "start throwaway cluster"
topup_cluster_start || fatal cluster "could not start the test cluster"
topup_say "PGHOST=$PGHOST PGPORT=$PGPORT PGUSER=$PGUSER"

topup_header "create database topup_test"
if ! { topup_create_test_db topup_test && topup_create_extension topup_test; }; then
	topup_say "creating topup_test with pg_cron, pgtap and topup failed"
	record setup 0 1
fi

# ---------------------------------------------------------------- installcheck
rm -rf results output_iso regression.diffs regression.out
regress_failed=0
MAKEVARS=(with_llvm=no)
[[ -n ${TOPUP_REGRESS+x} ]] && MAKEVARS+=("REGRESS=$TOPUP_REGRESS")
[[ -n ${TOPUP_ISOLATION+x} ]] && MAKEVARS+=("ISOLATION=$TOPUP_ISOLATION")
want regress || MAKEVARS+=(REGRESS=)
want isolation || MAKEVARS+=(ISOLATION=)

# Split a make installcheck log at the "+++ isolation install-check" marker
# into $1.regress and $1.iso.
split_installcheck_log() {
	awk -v r="$1.regress" -v i="$1.iso" '
		/^\+\+\+ isolation install-check/ { iso = 1 }
		{ print > (iso ? i : r) }
	' "$1"
	touch "$1.regress" "$1.iso"
}

if want regress || want isolation; then
	topup_header "make installcheck (pg_regress + isolation)"
	log=$LOGDIR/installcheck.log
	set +e
	topup_make installcheck "${MAKEVARS[@]}" 2>&1 | tee "$log"
	ic_rc=${PIPESTATUS[0]}
	set -e
	split_installcheck_log "$log"
	regress_ran=0
	iso_ran=0
	grep -q '^+++ regress install-check' "$log" && regress_ran=1
	grep -q '^+++ isolation install-check' "$log" && iso_ran=1

	# pg_regress failing stops make before the isolation specs: run them
	# on their own so that the count is complete.
	iso_log=$log.iso
	iso_rc=0
	if ((ic_rc != 0 && iso_ran == 0)) && want isolation; then
		topup_header "make installcheck REGRESS= (isolation specs after the pg_regress failure)"
		iso_log=$LOGDIR/isolation.log
		set +e
		topup_make installcheck "${MAKEVARS[@]}" REGRESS= 2>&1 | tee "$iso_log"
		iso_rc=${PIPESTATUS[0]}
		set -e
		grep -q '^+++ isolation install-check' "$iso_log" && iso_ran=1
		rg_rc=$ic_rc
	elif ((regress_ran == 1 && iso_ran == 0)); then
		rg_rc=$ic_rc # the failure, if any, belongs to pg_regress
	elif ((iso_ran == 1)); then
		rg_rc=0      # pg_regress (if it ran) passed, else make stopped before isolation
		iso_rc=$ic_rc
	else
		rg_rc=$ic_rc # neither ran: make itself failed (or nothing declared)
	fi

	read -r p f < <(count_regress "$log.regress")
	if ((rg_rc != 0 && f == 0)); then
		topup_say "make installcheck failed without a failed test line (pg_regress aborted?)"
		f=1
	fi
	((regress_ran == 1 || p + f > 0)) && record pg_regress "$p" "$f"
	((f > 0)) && regress_failed=1

	read -r p f < <(count_regress "$iso_log")
	if ((iso_rc != 0 && f == 0)); then
		topup_say "isolation run failed without a failed test line (aborted?)"
		f=1
	fi
	((iso_ran == 1 || p + f > 0)) && record isolation "$p" "$f"
	((f > 0)) && regress_failed=1
	((regress_failed)) && show_regress_diffs
fi

# ---------------------------------------------------------------- pgTAP
if want pgtap; then
	if [[ -n ${TOPUP_PGTAP:-} ]]; then
		read -r -a tapfiles <<<"$TOPUP_PGTAP"
	else
		shopt -s nullglob
		tapfiles=(test/*.sql)
		shopt -u nullglob
	fi
	if ((${#tapfiles[@]})); then
		topup_header "pgTAP: pg_prove -d topup_test ${tapfiles[*]}"
		log=$LOGDIR/pg_prove.log
		set +e
		pg_prove --failures --comments -d topup_test "${tapfiles[@]}" </dev/null 2>&1 | tee "$log"
		tap_rc=${PIPESTATUS[0]}
		set -e
		read -r p f extra < <(count_pgtap "$log")
		if [[ ${extra:-} == noresult ]]; then
			topup_say "pg_prove printed no summary"
			f=$((f > 0 ? f : 1))
		fi
		if ((tap_rc != 0 && f == 0)); then
			topup_say "pg_prove exited $tap_rc without a counted failure"
			f=1
		fi
		record pgTAP "$p" "$f"
	else
		topup_say "no pgTAP files under test/"
	fi
fi

# ---------------------------------------------------------------- checks
if want checks; then
	if [[ -n ${TOPUP_CHECKS:-} ]]; then
		read -r -a checks <<<"$TOPUP_CHECKS"
	else
		shopt -s nullglob
		checks=(scripts/checks/*.sh)
		shopt -u nullglob
	fi
	export TOPUP_ROOT PG_CONFIG TOPUP_PORT
	for c in "${checks[@]}"; do
		topup_header "check: $c"
		log=$LOGDIR/check.log
		set +e
		(cd "$TOPUP_ROOT" && bash "$c") </dev/null 2>&1 | tee "$log"
		c_rc=${PIPESTATUS[0]}
		set -e
		read -r p f < <(count_checks "$log")
		if ((c_rc != 0 && f == 0)); then
			topup_say "$c exited $c_rc without a 'not ok' line"
			f=1
		fi
		if ((p + f == 0)); then
			topup_say "$c printed no 'ok'/'not ok' line"
			f=1
		fi
		record "$(basename "$c" .sh)" "$p" "$f"
	done
	# a check may have stopped or broken the server
	if ! pg_isready -q; then
		topup_say "server not answering after the checks"
		record server 0 1
	fi
fi

if ((TOTAL_FAIL > 0)); then
	topup_server_log_tail 60
fi
finish
