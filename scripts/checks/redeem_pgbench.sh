#!/usr/bin/env bash
# scripts/checks/redeem_pgbench.sh — voucher redeems from many clients.
#
#   1. 8 pgbench clients redeem 20000 vouchers (12-digit PINs), each PIN
#      once, taken in random order through a sequence, into 500 customer
#      accounts: every redeem completes.
#   2. 8 clients redeem the same 100 vouchers at random, over and over:
#      each voucher is activated exactly once, every other attempt fails
#      voucher_already_redeemed.
#
# Afterwards: no voucher has more than one completed redeem order, each
# account's balance is the sum of the vouchers it activated, the accounts
# together hold exactly the activated vouchers' value, no pgbench
# transaction failed (a deadlock or serialization failure counts as
# failed, any other error aborts a client) and verify_ledger() finds
# nothing.
#
# Run by scripts/test.sh with PGHOST, PGPORT, PGUSER and PATH (PG bindir)
# exported; prints "ok N - ..." / "not ok N - ..." lines and exits nonzero
# if any check failed.  Creates and drops its own database.
set -uo pipefail

# shellcheck source=scripts/tap.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tap.sh"

DB=topup_redeem_pgbench
CLIENTS=8
VOUCHERS=20000
PER_CLIENT=$((VOUCHERS / CLIENTS))
HOT=100
HOT_PER_CLIENT=250

TMP=$(mktemp -d "${TMPDIR:-/tmp}/topup-redeem.XXXXXX") || exit 1

cleanup() {
	dropdb --if-exists "$DB" >/dev/null 2>&1
	rm -rf -- "$TMP"
}
trap cleanup EXIT

q() {
	psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" -c "$*"
}

# pgbench_ok DESCRIPTION TRANSACTIONS LOG RC: ok when pgbench exited 0,
# processed every transaction, had no failed transaction and no aborted
# client.
pgbench_ok() {
	local desc=$1 txns=$2 log=$3 rc=$4
	if ((rc == 0)) &&
		grep -q "^number of transactions actually processed: $txns/$txns\$" "$log" &&
		! grep -q 'aborted' "$log" &&
		{ ! grep -q '^number of failed transactions' "$log" ||
			grep -q '^number of failed transactions: 0 ' "$log"; }; then
		ok "$desc"
	else
		not_ok "$desc"
		echo "#   pgbench exited $rc"
		grep -E 'processed|failed|aborted|ERROR|deadlock' "$log" | sort | uniq -c | head -n 20 |
			sed -e 's/^/#   /'
	fi
}

# ---------------------------------------------------------------- setup
dropdb --if-exists "$DB" >/dev/null 2>&1
if ! createdb "$DB" ||
	! psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >"$TMP/setup.log" 2>&1 <<EOF
SET client_min_messages = warning;
CREATE EXTENSION topup CASCADE;
SELECT count(topup.open_account('acct' || i, 'USD')) FROM generate_series(0, 499) AS i;
SELECT quantity FROM topup.generate_vouchers('RB', $VOUCHERS, 5, 'USD', 12);
SELECT quantity FROM topup.generate_vouchers('RD', $HOT, 7, 'USD', 12);
-- the PINs in random order; pgbench takes them by number
CREATE TABLE pins (i serial PRIMARY KEY, pin text NOT NULL);
INSERT INTO pins (pin) SELECT pin FROM topup.export_vouchers('RB') ORDER BY random();
CREATE TABLE hot_pins (i serial PRIMARY KEY, pin text NOT NULL);
INSERT INTO hot_pins (pin) SELECT pin FROM topup.export_vouchers('RD') ORDER BY random();
CREATE SEQUENCE pin_seq;
EOF
then
	not_ok "set up the database (500 accounts, $VOUCHERS + $HOT vouchers, PIN tables)"
	diag_file "$TMP/setup.log"
	exit 1
fi
ok "set up the database (500 accounts, $VOUCHERS + $HOT vouchers, PIN tables)"

is "the PIN tables hold $VOUCHERS and $HOT distinct 12-digit PINs" \
	"$(q "SELECT count(DISTINCT pin) FILTER (WHERE pin ~ '^[0-9]{12}\$') FROM pins")|$(q "SELECT count(DISTINCT pin) FROM hot_pins")" \
	"$VOUCHERS|$HOT"

# ---------------------------------------------------------------- run 1
cat >"$TMP/each.sql" <<'EOF'
SELECT nextval('pin_seq') AS n \gset
SELECT status FROM topup.redeem_voucher((SELECT pin FROM pins WHERE i = :n), 'acct' || (:n % 500), NULL, NULL);
EOF
pgbench -n -M prepared -c "$CLIENTS" -j 2 -t "$PER_CLIENT" -f "$TMP/each.sql" "$DB" >"$TMP/run1.log" 2>&1
pgbench_ok "run 1: $CLIENTS clients redeem $VOUCHERS PINs once each" "$VOUCHERS" "$TMP/run1.log" $?

is "run 1: every voucher of the series was activated by one completed redeem" \
	"$(q "SELECT count(*) FILTER (WHERE status = 'activated') FROM topup.vouchers WHERE series = 'RB'")|$(q "SELECT count(*) FILTER (WHERE status = 'completed') || '/' || count(*) FROM topup.orders
	       WHERE order_type = 'voucher_redeem' AND topup.serial_series(serial) = 'RB'")" \
	"$VOUCHERS|$VOUCHERS/$VOUCHERS"

# ---------------------------------------------------------------- run 2
cat >"$TMP/hot.sql" <<'EOF'
\set i random(1, 100)
\set a random(0, 499)
SELECT status FROM topup.redeem_voucher((SELECT pin FROM hot_pins WHERE i = :i), 'acct' || :a, NULL, NULL);
EOF
HOT_TXNS=$((CLIENTS * HOT_PER_CLIENT))
pgbench -n -M prepared -c "$CLIENTS" -j 2 -t "$HOT_PER_CLIENT" -f "$TMP/hot.sql" "$DB" >"$TMP/run2.log" 2>&1
pgbench_ok "run 2: $CLIENTS clients redeem the same $HOT PINs $HOT_TXNS times" "$HOT_TXNS" "$TMP/run2.log" $?

# (with 2000 random picks, a PIN that is never picked has odds of ~1e-7)
is "run 2: each of the $HOT vouchers was activated, by exactly one of $HOT_TXNS stored orders" \
	"$(q "SELECT count(*) FILTER (WHERE status = 'activated') FROM topup.vouchers WHERE series = 'RD'")|$(q "SELECT count(*) FILTER (WHERE status = 'completed') || '/' || count(*) FROM topup.orders
	       WHERE order_type = 'voucher_redeem' AND topup.serial_series(serial) = 'RD'")" \
	"$HOT|$HOT/$HOT_TXNS"

is "run 2: every other attempt failed voucher_already_redeemed" \
	"$(q "SELECT string_agg(DISTINCT coalesce(error_slug, 'NULL'), ',') FROM topup.orders
	       WHERE order_type = 'voucher_redeem' AND status <> 'completed'")" \
	"voucher_already_redeemed"

# ---------------------------------------------------------------- checks
is "no voucher has more than one completed redeem order" \
	"$(q "SELECT count(*) FROM (SELECT serial FROM topup.orders
	       WHERE order_type = 'voucher_redeem' AND status = 'completed'
	       GROUP BY client_id, serial HAVING count(*) > 1) AS twice")" 0

is "each activated voucher names the completed order that activated it" \
	"$(q "SELECT count(*) FROM topup.vouchers v
	       WHERE v.status = 'activated' AND NOT EXISTS (
	             SELECT 1 FROM topup.orders o
	              WHERE o.order_id = v.order_id AND o.status = 'completed'
	                AND o.serial OPERATOR(topup.=) v.serial AND o.account_id = v.activated_by)")" 0

is "each account's balance is the sum of the vouchers it activated" \
	"$(q "SELECT count(*) FROM topup.accounts a
	       WHERE a.balance <> (SELECT coalesce(sum(v.amount), 0) FROM topup.vouchers v
	                           WHERE v.status = 'activated' AND v.activated_by = a.account_id
	                             AND v.client_id = a.client_id)")" 0

is "the accounts together hold exactly the activated vouchers' value" \
	"$(q "SELECT (SELECT sum(balance) FROM topup.accounts)
	             = (SELECT sum(amount) FROM topup.vouchers WHERE status = 'activated')")|$(q "SELECT sum(balance) FROM topup.accounts")" \
	"t|$((VOUCHERS * 5 + HOT * 7)).00"

is "no redeem was locked out (too_many_attempts)" \
	"$(q "SELECT count(*) FROM topup.orders WHERE error_slug = 'too_many_attempts'")" 0

VERIFY=$(q "SELECT count(*) FROM topup.verify_ledger()")
is "verify_ledger() finds nothing" "$VERIFY" 0
if [[ $VERIFY != 0 ]]; then
	q "SELECT problem || ': ' || detail FROM topup.verify_ledger() LIMIT 10" | sed -e 's/^/#   /'
fi

echo "# $(grep -h '^tps' "$TMP/run1.log" "$TMP/run2.log" | tr '\n' ' ')"
tap_finish
