#!/usr/bin/env bash
# scripts/checks/dump_restore.sh — a database using topup survives pg_dump
# and restore (plain SQL through psql, and -Fc through pg_restore):
#
#   - the dump holds no PIN in plain text, but does hold topup.secret;
#   - the restore runs without a single error;
#   - the restored secret replaces the one CREATE EXTENSION made during the
#     restore, so restored PINs still redeem (and a redeemed one stays
#     redeemed), export_vouchers gives back the same PINs, idempotent
#     retries replay, numbering and order ids continue, verify_ledger()
#     finds nothing and seeded rows are not duplicated.
#
# Run by scripts/test.sh with PGHOST, PGPORT, PGUSER and PATH (PG bindir)
# exported; prints "ok N - ..." / "not ok N - ..." lines and exits nonzero
# if any check failed.  Creates and drops its own databases.
set -uo pipefail

# shellcheck source=scripts/tap.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tap.sh"

SRC=topup_dump_src
PLAIN=topup_dump_plain
CUSTOM=topup_dump_custom
FRESH=topup_dump_fresh
DBS=("$SRC" "$PLAIN" "$CUSTOM" "$FRESH")

TMP=$(mktemp -d "${TMPDIR:-/tmp}/topup-dump.XXXXXX") || exit 1

cleanup() {
	local db
	for db in "${DBS[@]}"; do
		dropdb --if-exists "$db" >/dev/null 2>&1
	done
	rm -rf -- "$TMP"
}
trap cleanup EXIT

# q DB SQL: run SQL, print the unaligned, tuples-only result.  Errors go to
# stderr (shown as they come) and make the output empty.
q() {
	local db=$1
	shift
	psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" -c "$*"
}

# The serials and PINs of both series, one "serial<TAB>pin" line each.
export_pins() {
	q "$1" "COPY (SELECT serial, pin FROM topup.export_vouchers('DUMP', 'dumpco')
	               UNION ALL
	               SELECT serial, pin FROM topup.export_vouchers('DUMPB', 'dumpco')
	               ORDER BY 1) TO STDOUT"
}

# A fingerprint of the secret (never the secret itself).
secret_fingerprint() {
	q "$1" "SELECT count(*) || ':' || string_agg(md5(hmac_key || enc_key), ',') FROM topup.secret"
}

# redeem DB PIN ACCOUNT KEY: "status|error_slug|replayed" of the order.
redeem() {
	q "$1" "SELECT status, coalesce(error_slug, ''), replayed
	          FROM topup.redeem_voucher('$2', '$3', NULLIF('$4', ''), NULL, 'dumpco')"
}

pin_of() {
	awk -F '\t' -v n="$2" 'NR == n { print $2 }' "$1"
}

# ---------------------------------------------------------------- source db
for db in "${DBS[@]}"; do
	dropdb --if-exists "$db" >/dev/null 2>&1
done

if ! createdb "$SRC" ||
	! psql -X -q -v ON_ERROR_STOP=1 -d "$SRC" >"$TMP/setup.log" 2>&1 <<'EOF'
SET client_min_messages = warning;
CREATE EXTENSION topup CASCADE;
SELECT topup.create_client('dumpco', 'Dump test client');
SELECT topup.create_reseller('dumpshop', 'dumpco');
-- an admin-added currency: dumped, unlike the seeded ones
INSERT INTO topup.currencies (code, minor_units, name) VALUES ('XTS', 2, 'Test currency');
SELECT topup.open_account('cust1', 'USD', 'customer', true, NULL, 'dumpco');
SELECT 1 FROM topup.generate_vouchers('DUMP', 20, 5, 'USD', 12, now() + interval '1 year', 'dumpshop', 'dumpco');
SELECT 1 FROM topup.generate_vouchers('DUMPB', 5, 7, 'EUR', 16, NULL, NULL, 'dumpco');
EOF
then
	not_ok "set up the source database"
	diag_file "$TMP/setup.log"
	exit 1
fi
ok "set up the source database (client, reseller, account, 25 vouchers)"

export_pins "$SRC" >"$TMP/export.src"
cut -f 2 "$TMP/export.src" >"$TMP/pins"
is "export_vouchers returns the 25 PINs" "$(grep -cE '^[0-9]{12}([0-9]{4})?$' "$TMP/pins")" 25

PIN1=$(pin_of "$TMP/export.src" 1)
PIN2=$(pin_of "$TMP/export.src" 2)
PIN3=$(pin_of "$TMP/export.src" 3)
is "redeem a voucher in the source database" \
	"$(redeem "$SRC" "$PIN1" cust1 dump-key-1)" "completed||f"

SRC_SECRET=$(secret_fingerprint "$SRC")
SRC_CURRENCIES=$(q "$SRC" "SELECT count(*) FROM topup.currencies")
SRC_CLIENTS=$(q "$SRC" "SELECT count(*) FROM topup.clients")
SRC_MAX_ORDER=$(q "$SRC" "SELECT max(order_id) FROM topup.orders")

# ---------------------------------------------------------------- plain dump
check "pg_dump (plain SQL)" pg_dump -d "$SRC" -f "$TMP/dump.sql"

if grep -q -F -f "$TMP/pins" "$TMP/dump.sql"; then
	not_ok "no exported PIN appears in the plain dump"
	echo "#   $(grep -c -F -f "$TMP/pins" "$TMP/dump.sql") line(s) of the dump contain a PIN"
else
	ok "no exported PIN appears in the plain dump"
fi
check "the dump holds the data of topup.secret" grep -q '^COPY topup\.secret ' "$TMP/dump.sql"
check "the dump holds the data of topup.vouchers" grep -q '^COPY topup\.vouchers ' "$TMP/dump.sql"

# Every check on a restored database.
verify_restored() {
	local db=$1 how=$2

	is "$how: the restored secret replaced the one CREATE EXTENSION made" \
		"$(secret_fingerprint "$db")" "$SRC_SECRET"
	is "$how: redeem an unredeemed PIN" "$(redeem "$db" "$PIN2" cust1 '')" "completed||f"
	is "$how: the PIN redeemed before the dump stays redeemed" \
		"$(redeem "$db" "$PIN1" cust1 '')" "failed|voucher_already_redeemed|f"
	is "$how: a retry with the idempotency key of the source redeem replays it" \
		"$(redeem "$db" "$PIN1" cust1 dump-key-1)" "completed||t"
	export_pins "$db" >"$TMP/export.$how"
	check "$how: export_vouchers returns the same serials and PINs" \
		cmp -s "$TMP/export.src" "$TMP/export.$how"
	is "$how: verify_ledger() finds nothing" \
		"$(q "$db" "SELECT count(*) FROM topup.verify_ledger()")" 0
	is "$how: the account holds both redeems" \
		"$(q "$db" "SELECT balance FROM topup.accounts WHERE client_id = 'dumpco' AND account_id = 'cust1'")" "10.00"
	is "$how: topup.currencies has the source's rows (seeded ones not duplicated)" \
		"$(q "$db" "SELECT count(*) FROM topup.currencies")" "$SRC_CURRENCIES"
	is "$how: topup.clients has the source's rows" \
		"$(q "$db" "SELECT count(*) FROM topup.clients")" "$SRC_CLIENTS"
	# the two new orders (one completed, one failed) got fresh ids
	is "$how: order ids continue after the source's" \
		"$(q "$db" "SELECT count(*) FROM topup.orders WHERE order_id > $SRC_MAX_ORDER")" 2
	is "$how: a new generation continues the series" \
		"$(q "$db" "SELECT first_serial::text || ' ' || last_serial::text || ' ' || quantity
		              FROM topup.generate_vouchers('DUMP', 1, 5, 'USD', 12, NULL, NULL, 'dumpco')")" \
		"$(q "$db" "SELECT topup.make_serial('DUMP', 1)::text || ' ' || topup.make_serial('DUMP', 21)::text || ' 21'")"
	is "$how: the new PIN is not one of the restored ones" \
		"$(q "$db" "SELECT count(DISTINCT pin) FROM topup.export_vouchers('DUMP', 'dumpco')")" 21
	is "$how: an untouched restored voucher is still new" \
		"$(q "$db" "SELECT count(*) FROM topup.export_vouchers('DUMP', 'dumpco')
		              WHERE pin = '$PIN3' AND status = 'new'")" 1
}

createdb "$PLAIN"
if psql -X -q -v ON_ERROR_STOP=1 -d "$PLAIN" -f "$TMP/dump.sql" >"$TMP/restore.plain.log" 2>&1 &&
	! grep -q -E '(ERROR|FATAL|WARNING):' "$TMP/restore.plain.log"; then
	ok "plain: restore with psql -v ON_ERROR_STOP=1 reports no error"
else
	not_ok "plain: restore with psql -v ON_ERROR_STOP=1 reports no error"
	diag_file "$TMP/restore.plain.log"
fi
verify_restored "$PLAIN" plain

# ---------------------------------------------------------------- custom dump
check "pg_dump -Fc" pg_dump -Fc -d "$SRC" -f "$TMP/dump.custom"
if pg_restore -f - "$TMP/dump.custom" | grep -q -F -f "$TMP/pins"; then
	not_ok "no exported PIN appears in the -Fc dump"
else
	ok "no exported PIN appears in the -Fc dump"
fi
createdb "$CUSTOM"
if pg_restore --exit-on-error -d "$CUSTOM" "$TMP/dump.custom" >"$TMP/restore.custom.log" 2>&1 &&
	! grep -q -E '(ERROR|FATAL|WARNING|error):' "$TMP/restore.custom.log"; then
	ok "custom: pg_restore --exit-on-error reports no error"
else
	not_ok "custom: pg_restore --exit-on-error reports no error"
	diag_file "$TMP/restore.custom.log"
fi
verify_restored "$CUSTOM" custom

# ---------------------------------------------------------------- the secret trigger
# A fresh CREATE EXTENSION makes its own secret; loading the dumped secret
# with COPY (what a restore does) replaces it, and nothing else may change it.
createdb "$FRESH"
q "$FRESH" "SET client_min_messages = warning; CREATE EXTENSION topup CASCADE" >/dev/null
FRESH_SECRET=$(secret_fingerprint "$FRESH")
if [[ $FRESH_SECRET == 1:* && $FRESH_SECRET != "$SRC_SECRET" ]]; then
	ok "fresh: CREATE EXTENSION makes a secret of its own"
else
	not_ok "fresh: CREATE EXTENSION makes a secret of its own"
fi
awk '/^COPY topup\.secret /, /^\\\.$/' "$TMP/dump.sql" >"$TMP/secret.copy"
if psql -X -q -v ON_ERROR_STOP=1 -d "$FRESH" -f "$TMP/secret.copy" >"$TMP/secret.log" 2>&1; then
	ok "fresh: COPY of the dumped secret is accepted"
else
	not_ok "fresh: COPY of the dumped secret is accepted"
	diag_file "$TMP/secret.log"
fi
is "fresh: the copied secret replaced the fresh one (one row, the source's keys)" \
	"$(secret_fingerprint "$FRESH")" "$SRC_SECRET"
for stmt in "INSERT INTO topup.secret (id, hmac_key, enc_key) VALUES (true, topup._random_key(), topup._random_key())" \
	"UPDATE topup.secret SET hmac_key = topup._random_key()" \
	"DELETE FROM topup.secret"; do
	state=$(psql -X -q -At -d "$FRESH" -v VERBOSITY=sqlstate -c "$stmt" 2>&1)
	is "fresh: ${stmt%% topup.secret*} on topup.secret is rejected (23514)" "$state" "ERROR:  23514"
done
is "fresh: the secret is unchanged after the rejected writes" \
	"$(secret_fingerprint "$FRESH")" "$SRC_SECRET"

tap_finish
