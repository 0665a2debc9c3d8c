#!/usr/bin/env bash
# scripts/checks/drain_master.sh — many clients drain one master balance.
#
# 32 pgbench clients top up random cards with random amounts (1.00-60.00,
# fee 0.10 + 1.5 %) against a master balance of 5000.00, far more demand
# than supply, so the run goes from the fast path (one free slot covers
# the order) through the slow path (rebalancing) to refusals.  Afterwards:
#
#   - nothing went negative; the master balance went down by exactly the
#     amount + fee of the completed orders, the cards went up by their
#     amounts and the fee account by their fees;
#   - every refusal is insufficient_funds, and none was wrong: the balance
#     only falls, so the final balance must be below the cost of every
#     refused order (else that order could have been covered when it was
#     refused);
#   - every pgbench transaction stored exactly one order, no transaction
#     failed (a deadlock or serialization failure would count as failed,
#     any other error aborts a client), and verify_ledger() finds nothing.
#
# Phase 2 goes on with fundings of 50.00 arriving between the top-ups
# (fund_master and the slow path both lock every slot) and checks the same
# again, except for the refusals: the balance now rises too.
#
# Run by scripts/test.sh with PGHOST, PGPORT, PGUSER and PATH (PG bindir)
# exported; prints "ok N - ..." / "not ok N - ..." lines and exits nonzero
# if any check failed.  Creates and drops its own database.
set -uo pipefail

# shellcheck source=scripts/tap.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tap.sh"

DB=topup_drain_master
CLIENTS=32
PER_CLIENT=60
FUNDING=5000.00

TMP=$(mktemp -d "${TMPDIR:-/tmp}/topup-drain.XXXXXX") || exit 1

cleanup() {
	dropdb --if-exists "$DB" >/dev/null 2>&1
	rm -rf -- "$TMP"
}
trap cleanup EXIT

q() {
	psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" -c "$*"
}

# ---------------------------------------------------------------- setup
dropdb --if-exists "$DB" >/dev/null 2>&1
if ! createdb "$DB" ||
	! psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >"$TMP/setup.log" 2>&1 <<EOF
SET client_min_messages = warning;
CREATE EXTENSION topup CASCADE;
SELECT count(topup.open_account('card' || i, 'USD', 'card')) FROM generate_series(1, 200) AS i;
SELECT topup.set_pricing('USD', 1, 1000, 0.10, 1.5);
SELECT topup.fund_master($FUNDING, 'USD', 'drain-funding');
-- a fresh idempotency key per transaction
CREATE SEQUENCE public.k;
EOF
then
	not_ok "set up the database (200 cards, pricing, master funded with $FUNDING)"
	diag_file "$TMP/setup.log"
	exit 1
fi
ok "set up the database (200 cards, pricing, master funded with $FUNDING)"

cat >"$TMP/topup.sql" <<'EOF'
\set card random(1, 200)
\set cents random(100, 6000)
SELECT nextval('public.k') AS k \gset
SELECT status FROM topup.topup_card('card' || :card, :cents * 0.01, 'drain-' || :k);
EOF

# ---------------------------------------------------------------- run
pgbench -n -M prepared -c "$CLIENTS" -j 2 -t "$PER_CLIENT" -f "$TMP/topup.sql" "$DB" \
	>"$TMP/pgbench.log" 2>&1
rc=$?
TXNS=$((CLIENTS * PER_CLIENT))
if ((rc == 0)) &&
	grep -q "^number of transactions actually processed: $TXNS/$TXNS\$" "$TMP/pgbench.log" &&
	! grep -q 'aborted' "$TMP/pgbench.log" &&
	{ ! grep -q '^number of failed transactions' "$TMP/pgbench.log" ||
		grep -q '^number of failed transactions: 0 ' "$TMP/pgbench.log"; }; then
	ok "pgbench: $TXNS top-ups by $CLIENTS clients, no failed transaction, no aborted client"
else
	not_ok "pgbench: $TXNS top-ups by $CLIENTS clients, no failed transaction, no aborted client"
	echo "#   pgbench exited $rc"
	grep -E 'processed|failed|aborted|ERROR|deadlock' "$TMP/pgbench.log" | sort | uniq -c | head -n 20 |
		sed -e 's/^/#   /'
fi

# ---------------------------------------------------------------- checks
FINAL=$(q "SELECT balance FROM topup.master_balances WHERE client_id = 'default' AND currency = 'USD'")

is "every pgbench transaction stored exactly one order" \
	"$(q "SELECT count(*) FROM topup.orders WHERE order_type = 'card_topup'")" "$TXNS"

is "the master balance and every slot are not negative" \
	"$(q "SELECT bool_and(balance >= 0) FROM topup.balance_slots")|$(q "SELECT $FINAL >= 0")" "t|t"

is "no completed order saw a negative master balance" \
	"$(q "SELECT count(*) FROM topup.orders
	       WHERE status = 'completed' AND (master_balance_after < 0 OR master_balance_before < 0)")" 0

is "the master balance fell by exactly the amount + fee of the completed orders" \
	"$(q "SELECT $FUNDING - $FINAL = sum(amount + fee) FROM topup.orders WHERE status = 'completed'")" t

is "the cards rose by exactly the amounts of the completed orders" \
	"$(q "SELECT (SELECT sum(balance) FROM topup.accounts)
	             = (SELECT sum(amount) FROM topup.orders WHERE status = 'completed')")" t

is "the fee account holds exactly the fees of the completed orders" \
	"$(q "SELECT (SELECT balance FROM topup.fee_balances WHERE client_id = 'default' AND currency = 'USD')
	             = (SELECT sum(fee) FROM topup.orders WHERE status = 'completed')")" t

is "every refused order is insufficient_funds" \
	"$(q "SELECT count(*) FROM topup.orders
	       WHERE status <> 'completed' AND error_slug IS DISTINCT FROM 'insufficient_funds'")" 0

is "demand exceeded supply: some orders completed and some were refused" \
	"$(q "SELECT count(*) FILTER (WHERE status = 'completed') > 0
	             AND count(*) FILTER (WHERE status = 'failed') > 0 FROM topup.orders")" t

# The balance only falls, so a refusal is right only if even the final
# balance is below that order's amount + fee (fee = 0.10 + 1.5 %, half up).
is "no refused order could have been covered (final balance < the cost of every refused order)" \
	"$(q "SELECT count(*) FROM topup.orders
	       WHERE status = 'failed' AND amount + round(0.10 + amount * 0.015, 2) <= $FINAL")" 0

is "the final balance is below the largest possible order cost (60.00 + 1.00)" \
	"$(q "SELECT $FINAL < 61.00")" t

is "completed orders report before - after = amount + fee" \
	"$(q "SELECT count(*) FROM topup.orders WHERE status = 'completed'
	       AND master_balance_before - master_balance_after <> amount + fee")" 0

VERIFY=$(q "SELECT count(*) FROM topup.verify_ledger()")
is "verify_ledger() finds nothing" "$VERIFY" 0
if [[ $VERIFY != 0 ]]; then
	q "SELECT problem || ': ' || detail FROM topup.verify_ledger() LIMIT 10" | sed -e 's/^/#   /'
fi

echo "# final master balance $FINAL; $(q "SELECT count(*) FILTER (WHERE status = 'completed') || ' completed, '
                                         || count(*) FILTER (WHERE status = 'failed') || ' refused'
                                    FROM topup.orders")"

# ---------------------------------------------------------------- phase 2
# Fundings arrive while the clients keep topping up: fund_master locks the
# slots in slot order, as the slow path does, so neither waits for the
# other in a cycle.  One transaction in 8 funds 50.00, so supply and
# demand are close and the run crosses between the fast path, the slow
# path and refusals many times.
cat >"$TMP/fund.sql" <<'EOF'
SELECT nextval('public.k') AS k \gset
SELECT topup.fund_master(50, 'USD', 'drain-funding-' || :k);
EOF
pgbench -n -M prepared -c "$CLIENTS" -j 2 -t "$PER_CLIENT" -f "$TMP/topup.sql@7" -f "$TMP/fund.sql@1" "$DB" \
	>"$TMP/pgbench2.log" 2>&1
rc=$?
if ((rc == 0)) &&
	grep -q "^number of transactions actually processed: $TXNS/$TXNS\$" "$TMP/pgbench2.log" &&
	! grep -q 'aborted' "$TMP/pgbench2.log" &&
	{ ! grep -q '^number of failed transactions' "$TMP/pgbench2.log" ||
		grep -q '^number of failed transactions: 0 ' "$TMP/pgbench2.log"; }; then
	ok "phase 2: $TXNS top-ups and fundings by $CLIENTS clients, no failed transaction, no aborted client"
else
	not_ok "phase 2: $TXNS top-ups and fundings by $CLIENTS clients, no failed transaction, no aborted client"
	echo "#   pgbench exited $rc"
	grep -E 'processed|failed|aborted|ERROR|deadlock' "$TMP/pgbench2.log" | sort | uniq -c | head -n 20 |
		sed -e 's/^/#   /'
fi

FINAL=$(q "SELECT balance FROM topup.master_balances WHERE client_id = 'default' AND currency = 'USD'")
is "phase 2: every transaction stored one order or one funding" \
	"$(q "SELECT (SELECT count(*) FROM topup.orders) + (SELECT count(*) FROM topup.fundings)")" \
	"$((2 * TXNS + 1))"
is "phase 2: fundings - (amount + fee of the completed orders) = the master balance; no slot negative" \
	"$(q "SELECT (SELECT sum(amount) FROM topup.fundings)
	             - (SELECT sum(amount + fee) FROM topup.orders WHERE status = 'completed') = $FINAL")|$(q "SELECT bool_and(balance >= 0) FROM topup.balance_slots")" \
	"t|t"
is "phase 2: the fee account holds exactly the fees of the completed orders" \
	"$(q "SELECT (SELECT balance FROM topup.fee_balances WHERE client_id = 'default' AND currency = 'USD')
	             = (SELECT sum(fee) FROM topup.orders WHERE status = 'completed')")" t
is "phase 2: every refused order is insufficient_funds" \
	"$(q "SELECT count(*) FROM topup.orders
	       WHERE status <> 'completed' AND error_slug IS DISTINCT FROM 'insufficient_funds'")" 0
VERIFY=$(q "SELECT count(*) FROM topup.verify_ledger()")
is "phase 2: verify_ledger() finds nothing" "$VERIFY" 0
if [[ $VERIFY != 0 ]]; then
	q "SELECT problem || ': ' || detail FROM topup.verify_ledger() LIMIT 10" | sed -e 's/^/#   /'
fi
echo "# phase 2: final master balance $FINAL; $(q "SELECT count(*) - 1 || ' fundings, '
                                                  || (SELECT count(*) FILTER (WHERE status = 'completed')
                                                        FROM topup.orders) || ' completed orders in all'
                                             FROM topup.fundings")"

tap_finish
