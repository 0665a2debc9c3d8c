#!/usr/bin/env bash
# scripts/demo.sh — build and install topup, start a throwaway cluster and
# run scripts/demo.sql in a fresh database topup_demo:
#
#   bash scripts/demo.sh
#
# The exit status is psql's.  Environment: see scripts/lib.sh
# (TOPUP_PORT, PG_CONFIG, TOPUP_KEEP_TMP); TOPUP_SKIP_DEPS=1 and
# TOPUP_SKIP_BUILD=1 skip the package check and the build.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
cd "$TOPUP_ROOT"

LOG=$(mktemp /tmp/topup-demo.XXXXXX)
trap 'topup_cluster_stop || true; rm -f -- "$LOG"' EXIT

# Setup chatter goes to a log, shown only if a step fails.
step() {
	local what=$1
	shift
	topup_say "$what"
	if ! "$@" >"$LOG" 2>&1; then
		cat "$LOG" >&2
		topup_say "$what: failed"
		exit 1
	fi
}

[[ ${TOPUP_SKIP_DEPS:-0} == 1 ]] || step "installing packages" topup_install_deps
[[ ${TOPUP_SKIP_BUILD:-0} == 1 ]] || step "building and installing topup" topup_build_gcc
topup_cluster_start >"$LOG" 2>&1 || {
	cat "$LOG" >&2
	exit 1
}
step "creating database topup_demo" createdb topup_demo

topup_say "running scripts/demo.sql"
rc=0
psql -X -v ON_ERROR_STOP=1 -d topup_demo -f scripts/demo.sql </dev/null || rc=$?
if ((rc != 0)); then
	topup_server_log_tail 40 >&2
fi
exit $rc
