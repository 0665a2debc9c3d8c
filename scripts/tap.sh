# scripts/tap.sh — TAP helpers shared by the check scripts in scripts/checks/
# (sourced).  Each check prints "ok N - ..." / "not ok N - ..." lines, which
# scripts/test.sh counts, and ends with tap_finish, whose status is the
# script's: nonzero when a check failed.

# The PostgreSQL client programs of the server under test come first.
PATH="$("${PG_CONFIG:-pg_config}" --bindir):$PATH"

N=0
FAILED=0

ok() {
	N=$((N + 1))
	echo "ok $N - $*"
}

not_ok() {
	N=$((N + 1))
	FAILED=$((FAILED + 1))
	echo "not ok $N - $*"
}

# check DESCRIPTION COMMAND...: ok when the command succeeds.
check() {
	local desc=$1
	shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

# is DESCRIPTION GOT WANT: ok when the strings are equal.
is() {
	if [[ $2 == "$3" ]]; then
		ok "$1"
	else
		not_ok "$1"
		echo "#   got:  '$2'"
		echo "#   want: '$3'"
	fi
}

# Print a file as TAP comments (diagnostics of a failure).
diag_file() {
	sed -e 's/^/#   /' "$1" | head -n 40
}

# The closing comment; the status is nonzero when a check failed.
tap_finish() {
	echo "# $N checks, $FAILED failed"
	((FAILED == 0))
}
