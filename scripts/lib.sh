# shellcheck shell=bash
# scripts/lib.sh — shared helpers for scripts/test.sh and scripts/demo.sh.
# Source it; it defines functions and a few variables and runs nothing else.
#
# Environment (all optional):
#   PG_CONFIG      pg_config of the server to build against
#                  (default /usr/lib/postgresql/15/bin/pg_config)
#   TOPUP_PORT     port of the throwaway cluster (default 54329); the cluster
#                  listens on a unix socket only, no TCP.  The Perl TAP
#                  tests' clusters take the ports after it (TOPUP_PORT+1 ...)
#   TOPUP_KEEP_TMP=1  keep the cluster's temp dir (data dir + server log)
#                  after it is stopped, for debugging

TOPUP_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
TOPUP_PORT=${TOPUP_PORT:-54329}
TOPUP_PACKAGES=(
	postgresql-15
	postgresql-server-dev-15
	postgresql-15-pgtap
	postgresql-15-cron
	libtap-parser-sourcehandler-pgtap-perl
	libipc-run-perl
	libssl-dev
	clang-14
	make
	gcc
)
TOPUP_CLANG=${TOPUP_CLANG:-clang-14}
TOPUP_CLANG_COPT="-Werror -Wno-unknown-warning-option -Wno-ignored-optimization-argument -Wno-ignored-attributes"

# Cluster state, filled in by topup_cluster_start.
TOPUP_TMP=${TOPUP_TMP:-}
TOPUP_PGDATA=${TOPUP_PGDATA:-}
TOPUP_PGLOG=${TOPUP_PGLOG:-}

topup_header() {
	printf '\n======== %s ========\n' "$*"
}

topup_say() {
	printf '[topup] %s\n' "$*" >&2
}

# Run a command as the postgres OS user from /, so that the current
# (root-owned) directory does not matter.
topup_as_postgres() {
	(cd / && runuser -u postgres -- "$@")
}

# Install the build/test dependencies with apt-get, only those missing.
topup_install_deps() {
	local p status missing=()
	for p in "${TOPUP_PACKAGES[@]}"; do
		status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
		[[ $status == "install ok installed" ]] || missing+=("$p")
	done
	if ((${#missing[@]} == 0)); then
		topup_say "packages already installed"
		return 0
	fi
	topup_say "installing: ${missing[*]}"
	if [[ $(id -u) -ne 0 ]]; then
		topup_say "not root: cannot install missing packages"
		return 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq </dev/null || return 1
	apt-get install -y -q -o Dpkg::Use-Pty=0 \
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
		"${missing[@]}" </dev/null || return 1
}

# Print the bin directory of the configured server.
topup_pg_bindir() {
	"$PG_CONFIG" --bindir
}

topup_make() {
	make -C "$TOPUP_ROOT" --no-print-directory PG_CONFIG="$PG_CONFIG" "$@"
}

# Compile every C file with clang (warnings are errors): a compile check
# only, nothing is installed (topup_build_gcc starts with make clean).
topup_build_clang() {
	topup_make clean >/dev/null &&
		topup_make -j"$(nproc)" with_llvm=no CC="$TOPUP_CLANG" COPT="$TOPUP_CLANG_COPT"
}

# Build with gcc (warnings are errors) and install into the server's dirs.
topup_build_gcc() {
	topup_make clean >/dev/null &&
		topup_make -j"$(nproc)" with_llvm=no COPT=-Werror &&
		topup_make with_llvm=no install
}

# Start a throwaway cluster.  Sets and exports TOPUP_TMP (temp dir, also the
# socket dir), TOPUP_PGDATA, TOPUP_PGLOG, PGHOST, PGPORT, PGUSER, PATH.
topup_cluster_start() {
	local bindir
	bindir=$(topup_pg_bindir) || return 1
	TOPUP_TMP=$(mktemp -d /tmp/topup.XXXXXX) || return 1
	TOPUP_PGDATA=$TOPUP_TMP/data
	TOPUP_PGLOG=$TOPUP_PGDATA/server.log
	export TOPUP_TMP TOPUP_PGDATA TOPUP_PGLOG
	chown postgres: "$TOPUP_TMP" && chmod 0755 "$TOPUP_TMP" &&
		install -d -o postgres -g postgres -m 0700 "$TOPUP_PGDATA" || return 1

	topup_say "initdb in $TOPUP_PGDATA"
	topup_as_postgres "$bindir/initdb" -D "$TOPUP_PGDATA" -U postgres \
		--auth=trust -E UTF8 --locale=C.UTF-8 >"$TOPUP_TMP/initdb.log" 2>&1 || {
		cat "$TOPUP_TMP/initdb.log"
		return 1
	}
	cat >>"$TOPUP_PGDATA/postgresql.conf" <<EOF

# --- topup throwaway test cluster ---
port = $TOPUP_PORT
listen_addresses = ''
unix_socket_directories = '$TOPUP_TMP'
max_connections = 100
shared_buffers = '512MB'
logging_collector = off
timezone = 'UTC'
shared_preload_libraries = 'pg_cron'
cron.database_name = 'topup_test'
cron.host = '$TOPUP_TMP'
EOF

	export PATH="$bindir:$PATH"
	export PGHOST=$TOPUP_TMP PGPORT=$TOPUP_PORT PGUSER=postgres
	unset PGHOSTADDR PGSERVICE PGDATABASE PGPASSWORD PGOPTIONS

	topup_say "starting server on $PGHOST port $PGPORT"
	if ! topup_as_postgres "$bindir/pg_ctl" -D "$TOPUP_PGDATA" -l "$TOPUP_PGLOG" \
		-w -t 120 start >/dev/null; then
		topup_say "server failed to start; log tail:"
		tail -n 60 "$TOPUP_PGLOG" 2>/dev/null
		return 1
	fi
}

# Stop the cluster (if running) and remove its temp dir.  Safe to call more
# than once and from an EXIT trap; never changes the caller's exit status.
topup_cluster_stop() {
	local rc=$? bindir
	if [[ -n $TOPUP_PGDATA && -f $TOPUP_PGDATA/postmaster.pid ]]; then
		bindir=$(topup_pg_bindir)
		topup_as_postgres "$bindir/pg_ctl" -D "$TOPUP_PGDATA" -m fast -w -t 60 \
			stop >/dev/null 2>&1 ||
			topup_as_postgres "$bindir/pg_ctl" -D "$TOPUP_PGDATA" -m immediate -w \
				stop >/dev/null 2>&1 || true
	fi
	if [[ -n $TOPUP_TMP && -d $TOPUP_TMP ]]; then
		if [[ ${TOPUP_KEEP_TMP:-0} == 1 ]]; then
			topup_say "kept $TOPUP_TMP"
		else
			rm -rf -- "$TOPUP_TMP"
		fi
	fi
	TOPUP_TMP='' TOPUP_PGDATA='' TOPUP_PGLOG=''
	return "$rc"
}

# Restart the running cluster (e.g. from a check script that changes a
# setting or tests recovery); the environment stays the same.
topup_cluster_restart() {
	topup_as_postgres "$(topup_pg_bindir)/pg_ctl" -D "$TOPUP_PGDATA" -l "$TOPUP_PGLOG" \
		-m fast -w -t 120 restart >/dev/null || {
		topup_say "server failed to restart; log tail:"
		tail -n 60 "$TOPUP_PGLOG" 2>/dev/null
		return 1
	}
}

# Print the tail of the server log (for failure reports).
topup_server_log_tail() {
	local n=${1:-80}
	[[ -n $TOPUP_PGLOG && -f $TOPUP_PGLOG ]] || return 0
	topup_header "server log (last $n lines)"
	tail -n "$n" "$TOPUP_PGLOG"
}

topup_psql() {
	psql -X -q -v ON_ERROR_STOP=1 "$@"
}

# Create a database with pg_cron and pgtap (not topup: see
# topup_create_extension).  pg_cron only works in the database named by
# cron.database_name, i.e. topup_test.
topup_create_test_db() {
	local db=${1:-topup_test}
	createdb "$db" &&
		topup_psql -d "$db" -c 'CREATE EXTENSION pg_cron' -c 'CREATE EXTENSION pgtap'
}

# CREATE EXTENSION topup CASCADE (pulls in pgcrypto) in the given database.
topup_create_extension() {
	local db=${1:-topup_test}
	topup_psql -d "$db" -c 'CREATE EXTENSION topup CASCADE'
}

# topup_prove [LOGDIR]: run the Perl TAP tests (make prove_installcheck;
# PROVE_TESTS, if set, picks some) against the installed server.  initdb
# refuses to run as root, so as root they run as the postgres user in a copy
# of the tree that postgres owns (the checkout may be root-owned and
# unreadable to postgres).  Their clusters take ports from TOPUP_PORT+1 on.
# On failure the tests' logs (tmp_check/log) are copied into LOGDIR, or
# without LOGDIR their tails are printed on stderr.  The status is prove's.
topup_prove() {
	local logdir=${1:-} dir rc=0 f
	local vars=(PG_CONFIG="$PG_CONFIG" ${PROVE_TESTS:+PROVE_TESTS="$PROVE_TESTS"})
	export TOPUP_TAP_PORT=$((TOPUP_PORT + 1))
	if [[ $(id -u) -ne 0 ]]; then
		dir=$TOPUP_ROOT
		topup_make prove_installcheck "${vars[@]}" || rc=$?
	else
		dir=$(mktemp -d /tmp/topup-tap.XXXXXX) || return 1
		if ! tar -C "$TOPUP_ROOT" --exclude=./.git --exclude='*.o' --exclude='*.bc' \
			--exclude='*.so' --exclude=./tmp_check --exclude=./results \
			--exclude=./output_iso -cf - . | tar -C "$dir" -xf - ||
			! chown -R postgres: "$dir"; then
			rm -rf -- "$dir"
			return 1
		fi
		topup_as_postgres env PATH="$(topup_pg_bindir):$PATH" TOPUP_TAP_PORT="$TOPUP_TAP_PORT" \
			make -C "$dir" --no-print-directory "${vars[@]}" prove_installcheck || rc=$?
	fi
	if ((rc != 0)); then
		for f in "$dir"/tmp_check/log/*; do
			[[ -f $f ]] || continue
			if [[ -n $logdir ]]; then
				mkdir -p "$logdir" && cp "$f" "$logdir/"
			elif [[ $f == */regress_log_* ]]; then
				topup_header "$f (last 60 lines)" >&2
				tail -n 60 "$f" >&2
			fi
		done
	fi
	[[ $dir == "$TOPUP_ROOT" ]] || rm -rf -- "$dir"
	return "$rc"
}
