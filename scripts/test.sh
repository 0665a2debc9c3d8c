#!/usr/bin/env bash
# scripts/test.sh — run every test of topup, from a bare machine:
#
#   bash scripts/test.sh
#
# Phases: install packages (apt, only what is missing), build (clang-14
# compile check, then gcc build + install), layout checks, start a
# throwaway cluster, create database topup_test (pg_cron, pgtap, topup),
# pg_regress (REGRESS of the Makefile), isolation specs (ISOLATION), pgTAP
# (pg_prove on test/*.sql), stop the cluster, Perl TAP (make
# prove_installcheck on test/t/*.pl; each test makes its own clusters).
#
# The counts come from the runners' own summaries: "All N tests passed." /
# "M of N tests failed." of pg_regress and pg_isolation_regress, and
# "Files=..., Tests=N" with the "Test Summary Report" of pg_prove and prove
# (a file that stopped early adds the tests it planned but did not run).  A
# runner that printed no summary, or failed although its summary says
# otherwise, counts as one failure.  The last line printed is
# "N passed, N failed": pg_regress tests + isolation specs + pgTAP
# assertions + Perl TAP assertions + layout checks.  The exit status is 0
# only if nothing failed and at least one test ran.
#
# Layout checks (one test each): every pg_regress input file is in REGRESS
# and every REGRESS entry has one; every specs/*.spec is in ISOLATION and
# back; every REGRESS and ISOLATION entry has an expected output
# (expected/<entry>.out or a variant <entry>_N.out) and every output under
# expected/ belongs to one; pg_regress and the isolation tester ran as many
# tests as listed; every test/*.sql ran under pg_prove and every
# test/t/*.pl under prove.  The lists come from make itself.  pg_regress
# inputs are sql/regress/<name>.sql (REGRESS = regress/<name>) when
# sql/regress/ exists, else (the older layout) sql/<name>.sql other than
# the upgrade scripts sql/*--*.sql.
#
# Optional environment, for running a part only:
#   TOPUP_SKIP_DEPS=1     do not check/install packages
#   TOPUP_SKIP_CLANG=1    skip the clang-14 compile check
#   TOPUP_SKIP_BUILD=1    skip building and installing (use what is installed)
#   TOPUP_ONLY=LIST       comma list of phases to run, out of
#                         layout,regress,isolation,pgtap,tap (default: all)
#   TOPUP_REGRESS="a b"   override the Makefile's REGRESS list
#   TOPUP_ISOLATION="a b" override the Makefile's ISOLATION list
#   TOPUP_PGTAP="test/x.sql ..."     pgTAP files (default test/*.sql)
#   PROVE_TESTS="test/t/x.pl ..."    Perl TAP files (default test/t/*.pl)
#   TOPUP_PORT, PG_CONFIG, TOPUP_KEEP_TMP: see scripts/lib.sh
# A list overridden this way is not checked against the files.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
cd "$TOPUP_ROOT"

TOTAL_PASS=0
TOTAL_FAIL=0
SUMMARY=()
LAYOUT_PASS=0
LAYOUT_FAIL=0
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
	if ((LAYOUT_PASS + LAYOUT_FAIL > 0)); then
		record layout "$LAYOUT_PASS" "$LAYOUT_FAIL"
	fi
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

# layout_check DESCRIPTION STATUS [DETAIL...]: one layout test, passed
# when STATUS is 0 (a count of problems, or an exit status); the details
# are printed when it failed.
layout_check() {
	local desc=$1 status=$2
	shift 2
	if ((status == 0)); then
		LAYOUT_PASS=$((LAYOUT_PASS + 1))
		echo "ok - $desc"
	else
		LAYOUT_FAIL=$((LAYOUT_FAIL + 1))
		echo "not ok - $desc"
		if (($#)); then
			printf '#   %s\n' "$@"
		fi
	fi
}

# The words of a whitespace-separated list, one a line, sorted, unique.
words() {
	local w
	# shellcheck disable=SC2086  # split on purpose
	for w in $1; do
		echo "$w"
	done | sort -u
}

# same_set DESCRIPTION "LIST A" "LIST B" NAME_A NAME_B: a layout test that
# the two whitespace-separated lists hold the same words.
same_set() {
	local desc=$1 only_a only_b
	only_a=$(comm -23 <(words "$2") <(words "$3") | tr '\n' ' ')
	only_b=$(comm -13 <(words "$2") <(words "$3") | tr '\n' ' ')
	if [[ -z $only_a && -z $only_b ]]; then
		layout_check "$desc" 0
	else
		layout_check "$desc" 1 \
			${only_a:+"in $4 only: $only_a"} ${only_b:+"in $5 only: $only_b"}
	fi
}

# The value of a make variable, as the Makefile (with PGXS) defines it.
make_var() {
	# shellcheck disable=SC2016  # $($*) is make's, not the shell's
	make -s --no-print-directory -C "$TOPUP_ROOT" -f Makefile -f - \
		PG_CONFIG="$PG_CONFIG" "print-$1" <<<'print-%: ; @echo $($*)'
}

# run_logged LOG COMMAND...: run COMMAND, its output shown and kept in LOG;
# its exit status is left in RC.
run_logged() {
	local log=$1
	shift
	set +e
	"$@" </dev/null 2>&1 | tee "$log"
	RC=${PIPESTATUS[0]}
	set -e
}

# regress_summary LOG: "PASSED FAILED TOTAL" from the summary line of
# pg_regress or pg_isolation_regress (PG <= 15 plain, PG >= 16 as a TAP
# comment), nothing when there is none.  Ignored failures count as failed.
regress_summary() {
	local line n
	while IFS= read -r line; do
		line=${line#\# }
		line=${line#"${line%%[![:space:]]*}"}
		if [[ $line =~ ^All\ ([0-9]+)\ tests\ passed\. ]]; then
			n=${BASH_REMATCH[1]}
			echo "$n 0 $n"
			return
		elif [[ $line =~ ^([0-9]+)\ of\ ([0-9]+)\ tests\ failed ]]; then
			echo "$((BASH_REMATCH[2] - BASH_REMATCH[1])) ${BASH_REMATCH[1]} ${BASH_REMATCH[2]}"
			return
		elif [[ $line =~ ^([0-9]+)\ of\ ([0-9]+)\ tests\ passed,\ ([0-9]+)\ failed\ test ]]; then
			echo "${BASH_REMATCH[1]} ${BASH_REMATCH[3]} ${BASH_REMATCH[2]}"
			return
		fi
	done <"$1"
}

# tap_summary LOG: "PASSED FAILED" from the summary of TAP::Harness (prove,
# pg_prove), nothing when there is no "Files=..., Tests=N" line or no
# "Result:" line.  Tests=N counts the assertions that ran; the "Test Summary
# Report" gives each failing file's "Failed: K", and for a file that stopped
# early "You planned P tests but ran R" (P - R more failures).  A file
# reported there with no failure counted otherwise (a non-zero exit, no
# plan) adds one; so does "Result: FAIL" with no failure counted at all.
tap_summary() {
	local line total='' result='' ran_failed=0 failed=0 file_failed=-1 file_extra=0
	while IFS= read -r line; do
		if [[ $line =~ \ \(Wstat:\ [0-9]+.*\ Tests:\ [0-9]+\ Failed:\ ([0-9]+)\)$ ]] ||
			[[ $line =~ ^Files=[0-9]+,\ Tests= ]]; then
			# the end of the previous file's report
			if ((file_failed >= 0)); then
				ran_failed=$((ran_failed + file_failed))
				failed=$((failed + file_failed + file_extra))
				((file_failed + file_extra > 0)) || failed=$((failed + 1))
			fi
			file_failed=-1
			file_extra=0
		fi
		if [[ $line =~ \ \(Wstat:\ [0-9]+.*\ Tests:\ [0-9]+\ Failed:\ ([0-9]+)\)$ ]]; then
			file_failed=${BASH_REMATCH[1]}
		elif ((file_failed >= 0)) && [[ $line =~ You\ planned\ ([0-9]+)\ tests?\ but\ ran\ ([0-9]+) ]]; then
			if ((BASH_REMATCH[1] > BASH_REMATCH[2])); then
				file_extra=$((BASH_REMATCH[1] - BASH_REMATCH[2]))
			fi
		elif [[ $line =~ ^Files=[0-9]+,\ Tests=([0-9]+) ]]; then
			total=${BASH_REMATCH[1]}
		elif [[ $line =~ ^Result:\ ([A-Z]+) ]]; then
			result=${BASH_REMATCH[1]}
		fi
	done <"$1"
	[[ -n $total && -n $result ]] || return 0
	if [[ $result != PASS ]] && ((failed == 0)); then
		failed=1
	fi
	echo "$((total - ran_failed)) $failed"
}

# count_regress PHASE LOG STATUS LISTED: record a pg_regress-style run.
# LISTED is the number of tests it was asked to run ('' if not checked).
count_regress() {
	local phase=$1 log=$2 rc=$3 listed=$4 p f n summary
	summary=$(regress_summary "$log")
	if [[ -z $summary ]]; then
		topup_say "$phase printed no summary line (aborted?)"
		record "$phase" 0 1
		return
	fi
	read -r p f n <<<"$summary"
	if ((rc != 0 && f == 0)); then
		topup_say "$phase exited $rc although its summary counts no failure"
		f=1
	fi
	record "$phase" "$p" "$f"
	if [[ -n $listed ]]; then
		layout_check "$phase ran as many tests as the Makefile lists ($listed)" \
			"$([[ $n == "$listed" ]] && echo 0 || echo 1)" "its summary counts $n"
	fi
}

# count_tap PHASE LOG STATUS: record a pg_prove / prove run.
count_tap() {
	local phase=$1 log=$2 rc=$3 p f summary
	summary=$(tap_summary "$log")
	if [[ -z $summary ]]; then
		topup_say "$phase printed no summary (no Files=/Tests= or Result: line)"
		record "$phase" 0 1
		return
	fi
	read -r p f <<<"$summary"
	if ((rc != 0 && f == 0)); then
		topup_say "$phase exited $rc although its summary counts no failure"
		f=1
	fi
	record "$phase" "$p" "$f"
}

# ran_each PHASE LOG FILE...: a layout test that the harness output in LOG
# has a result line ("FILE .. ok", "FILE .. Failed ...") for every FILE.
ran_each() {
	local phase=$1 log=$2 f missing=()
	shift 2
	for f in "$@"; do
		grep -q -F -e "$f .." "$log" || missing+=("$f")
	done
	layout_check "every one of the $# files ran under $phase" "${#missing[@]}" \
		${missing[@]+"did not run: ${missing[*]}"}
}

show_regress_diffs() {
	local f=$1
	if [[ -s $f ]]; then
		topup_header "$f"
		head -n 3000 "$f"
	fi
}

shopt -s nullglob

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

# ---------------------------------------------------------------- layout
MAKE_REGRESS=$(make_var REGRESS) || fatal layout "make could not print REGRESS"
MAKE_ISOLATION=$(make_var ISOLATION) || fatal layout "make could not print ISOLATION"
REGRESS_LIST=${TOPUP_REGRESS-$MAKE_REGRESS}
ISOLATION_LIST=${TOPUP_ISOLATION-$MAKE_ISOLATION}
PGTAP_FILES=(test/*.sql)
[[ -n ${TOPUP_PGTAP:-} ]] && read -r -a PGTAP_FILES <<<"$TOPUP_PGTAP"
TAP_FILES=(test/t/*.pl)

if want layout; then
	topup_header "layout: the Makefile's test lists and the test files"
	inputs=()
	if [[ -d sql/regress ]]; then
		for f in sql/regress/*.sql; do
			inputs+=("regress/$(basename "$f" .sql)")
		done
	else
		for f in sql/*.sql; do
			[[ $f == *--*.sql ]] || inputs+=("$(basename "$f" .sql)")
		done
	fi
	same_set "every pg_regress input file is in REGRESS, and every REGRESS entry has one" \
		"${inputs[*]}" "$MAKE_REGRESS" "sql/" "REGRESS"
	specs=()
	for f in specs/*.spec; do
		specs+=("$(basename "$f" .spec)")
	done
	same_set "every specs/*.spec is in ISOLATION, and every ISOLATION entry has one" \
		"${specs[*]}" "$MAKE_ISOLATION" "specs/" "ISOLATION"
	# expected/<entry>.out, or a variant expected/<entry>_N.out
	outputs=()
	while IFS= read -r f; do
		name=${f#expected/}
		name=${name%.out}
		outputs+=("${name%_[0-9]}")
	done < <(find expected -name '*.out')
	same_set "every REGRESS and ISOLATION entry has an expected/ output, and every output a test" \
		"$MAKE_REGRESS $MAKE_ISOLATION" "${outputs[*]}" "REGRESS/ISOLATION" "expected/"
fi

# ---------------------------------------------------------------- cluster
if want regress || want isolation || want pgtap; then
	topup_header "start throwaway cluster"
	topup_cluster_start || fatal cluster "could not start the test cluster"
	topup_say "PGHOST=$PGHOST PGPORT=$PGPORT PGUSER=$PGUSER"

	topup_header "create database topup_test"
	if ! { topup_create_test_db topup_test && topup_create_extension topup_test; }; then
		topup_say "creating topup_test with pg_cron, pgtap and topup failed"
		record setup 0 1
	fi
fi

# checked "${OVERRIDE+x}": whether to check a list against the files (not
# when the list was overridden, nor without the layout phase).
checked() {
	[[ -z $1 ]] && want layout
}

# ---------------------------------------------------------------- pg_regress
rm -rf results output_iso regression.diffs regression.out
if want regress && [[ -n $REGRESS_LIST ]]; then
	topup_header "pg_regress: make installcheck ISOLATION="
	log=$LOGDIR/regress.log
	run_logged "$log" topup_make installcheck with_llvm=no REGRESS="$REGRESS_LIST" ISOLATION=
	listed=''
	checked "${TOPUP_REGRESS+x}" && listed=$(wc -w <<<"$REGRESS_LIST")
	count_regress pg_regress "$log" "$RC" "$listed"
	((RC == 0)) || show_regress_diffs regression.diffs
fi

# ---------------------------------------------------------------- isolation
if want isolation && [[ -n $ISOLATION_LIST ]]; then
	topup_header "isolation: make installcheck REGRESS="
	log=$LOGDIR/isolation.log
	run_logged "$log" topup_make installcheck with_llvm=no REGRESS= ISOLATION="$ISOLATION_LIST"
	listed=''
	checked "${TOPUP_ISOLATION+x}" && listed=$(wc -w <<<"$ISOLATION_LIST")
	count_regress isolation "$log" "$RC" "$listed"
	((RC == 0)) || show_regress_diffs output_iso/regression.diffs
fi

# ---------------------------------------------------------------- pgTAP
if want pgtap; then
	if ((${#PGTAP_FILES[@]})); then
		topup_header "pgTAP: pg_prove -d topup_test ${PGTAP_FILES[*]}"
		log=$LOGDIR/pg_prove.log
		run_logged "$log" pg_prove --failures --comments -d topup_test "${PGTAP_FILES[@]}"
		count_tap pgTAP "$log" "$RC"
		checked "${TOPUP_PGTAP+x}" && ran_each pg_prove "$log" test/*.sql
	else
		topup_say "no pgTAP files under test/"
	fi
fi

# ---------------------------------------------------------------- Perl TAP
# The Perl TAP tests make clusters of their own: the shared one goes first.
((TOTAL_FAIL == 0)) || topup_server_log_tail 60
topup_cluster_stop || true
if want tap; then
	if ((${#TAP_FILES[@]})); then
		topup_header "Perl TAP: make prove_installcheck ${PROVE_TESTS:-}"
		log=$LOGDIR/prove.log
		run_logged "$log" topup_prove "$LOGDIR/tap"
		count_tap "Perl TAP" "$log" "$RC"
		checked "${PROVE_TESTS+x}" && ran_each prove "$log" test/t/*.pl
		# the logs of the tests that failed, as the Test Summary Report names them
		while read -r f _; do
			f=$LOGDIR/tap/regress_log_$(basename "$f" .pl)
			[[ -f $f ]] || continue
			topup_header "$(basename "$f") (last 80 lines)"
			tail -n 80 "$f"
		done < <(grep -E '^test/t/[^ ]+\.pl +\(Wstat: ' "$log" || true)
	else
		topup_say "no Perl TAP files under test/t/"
	fi
fi

finish
