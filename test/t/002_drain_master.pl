# test/t/002_drain_master.pl — many clients drain one master balance.
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
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use TopupTest qw(topup_node pgbench_ok);
use Test::More tests => 26;

my $clients    = 32;
my $per_client = 60;
my $txns       = $clients * $per_client;
my $funding    = '5000.00';

my $node = topup_node('drain', qq{
max_connections = 50
log_statement = none
});

# The result of a query on topup_drain (TopupTest::query).
sub query { return TopupTest::query($node, 'topup_drain', @_); }

# pgbench with SCRIPTS (name => text) on topup_drain: 4 assertions, that it
# exits 0, processes every transaction, has no failed transaction and
# prints nothing on stderr (an aborted client would).
sub run_pgbench
{
	my ($name, $opts, $scripts) = @_;
	pgbench_ok($node, 'topup_drain', $name, "-c $clients -j 2 -t $per_client $opts", $txns, $scripts);
	return;
}

# ---------------------------------------------------------------- setup
ok( $node->psql('postgres', 'CREATE DATABASE topup_drain') == 0
	  && defined query(
		qq{
SET client_min_messages = warning;
CREATE EXTENSION topup CASCADE;
SELECT count(topup.open_account('card' || i, 'USD', 'card')) FROM generate_series(1, 200) AS i;
SELECT topup.set_pricing('USD', 1, 1000, 0.10, 1.5);
SELECT topup.fund_master($funding, 'USD', 'drain-funding');
-- a fresh idempotency key per transaction
CREATE SEQUENCE public.k;
}),
	"set up the database (200 cards, pricing, master funded with $funding)");

my $topup_sql = q{
\set card random(1, 200)
\set cents random(100, 6000)
SELECT nextval('public.k') AS k \gset
SELECT status FROM topup.topup_card('card' || :card, :cents * 0.01, 'drain-' || :k);
};

# ---------------------------------------------------------------- phase 1
run_pgbench("phase 1: $txns top-ups by $clients clients",
	'', { '002_topup_1.sql' => $topup_sql });

my $final = query(
	q{SELECT balance FROM topup.master_balances WHERE client_id = 'default' AND currency = 'USD'}
) // 'NULL';

is(query(q{SELECT count(*) FROM topup.orders WHERE order_type = 'card_topup'}),
	$txns, 'every pgbench transaction stored exactly one order');

is( query(
		"SELECT (SELECT bool_and(balance >= 0) FROM topup.balance_slots) AND $final >= 0"),
	't',
	'the master balance and every slot are not negative');

is( query(
		q{SELECT count(*) FROM topup.orders
		   WHERE status = 'completed' AND (master_balance_after < 0 OR master_balance_before < 0)}
	),
	'0',
	'no completed order saw a negative master balance');

is( query(
		"SELECT $funding - $final = sum(amount + fee) FROM topup.orders WHERE status = 'completed'"
	),
	't',
	'the master balance fell by exactly the amount + fee of the completed orders');

is( query(
		q{SELECT (SELECT sum(balance) FROM topup.accounts)
		         = (SELECT sum(amount) FROM topup.orders WHERE status = 'completed')}),
	't',
	'the cards rose by exactly the amounts of the completed orders');

is( query(
		q{SELECT (SELECT balance FROM topup.fee_balances WHERE client_id = 'default' AND currency = 'USD')
		         = (SELECT sum(fee) FROM topup.orders WHERE status = 'completed')}),
	't',
	'the fee account holds exactly the fees of the completed orders');

is( query(
		q{SELECT count(*) FROM topup.orders
		   WHERE status <> 'completed' AND error_slug IS DISTINCT FROM 'insufficient_funds'}),
	'0',
	'every refused order is insufficient_funds');

is( query(
		q{SELECT count(*) FILTER (WHERE status = 'completed') > 0
		         AND count(*) FILTER (WHERE status = 'failed') > 0 FROM topup.orders}),
	't',
	'demand exceeded supply: some orders completed and some were refused');

# The balance only falls, so a refusal is right only if even the final
# balance is below that order's amount + fee (fee = 0.10 + 1.5 %, half up).
is( query(
		"SELECT count(*) FROM topup.orders
		  WHERE status = 'failed' AND amount + round(0.10 + amount * 0.015, 2) <= $final"
	),
	'0',
	'no refused order could have been covered (final balance < the cost of every refused order)');

is(query("SELECT $final < 61.00"),
	't', 'the final balance is below the largest possible order cost (60.00 + 1.00)');

is( query(
		q{SELECT count(*) FROM topup.orders WHERE status = 'completed'
		     AND master_balance_before - master_balance_after <> amount + fee}),
	'0',
	'completed orders report before - after = amount + fee');

is(query('SELECT count(*) FROM topup.verify_ledger()'),
	'0', 'verify_ledger() finds nothing')
  or diag(query(q{SELECT problem || ': ' || detail FROM topup.verify_ledger() LIMIT 10}));

note("final master balance $final; "
	  . (query(
			q{SELECT count(*) FILTER (WHERE status = 'completed') || ' completed, '
			         || count(*) FILTER (WHERE status = 'failed') || ' refused' FROM topup.orders}
		) // ''));

# ---------------------------------------------------------------- phase 2
# Fundings arrive while the clients keep topping up: fund_master locks the
# slots in slot order, as the slow path does, so neither waits for the
# other in a cycle.  One transaction in 8 funds 50.00, so supply and
# demand are close and the run crosses between the fast path, the slow
# path and refusals many times.
run_pgbench(
	"phase 2: $txns top-ups and fundings by $clients clients",
	'',
	{
		'002_topup_2.sql@7' => $topup_sql,
		'002_fund_2.sql@1'  => q{
SELECT nextval('public.k') AS k \gset
SELECT topup.fund_master(50, 'USD', 'drain-funding-' || :k);
}
	});

$final = query(
	q{SELECT balance FROM topup.master_balances WHERE client_id = 'default' AND currency = 'USD'}
) // 'NULL';

is( query(
		q{SELECT (SELECT count(*) FROM topup.orders) + (SELECT count(*) FROM topup.fundings)}),
	2 * $txns + 1,
	'phase 2: every transaction stored one order or one funding');

is( query(
		"SELECT (SELECT sum(amount) FROM topup.fundings)
		        - (SELECT sum(amount + fee) FROM topup.orders WHERE status = 'completed') = $final
		        AND (SELECT bool_and(balance >= 0) FROM topup.balance_slots)"
	),
	't',
	'phase 2: fundings - (amount + fee of the completed orders) = the master balance; no slot negative'
);

is( query(
		q{SELECT (SELECT balance FROM topup.fee_balances WHERE client_id = 'default' AND currency = 'USD')
		         = (SELECT sum(fee) FROM topup.orders WHERE status = 'completed')}),
	't',
	'phase 2: the fee account holds exactly the fees of the completed orders');

is( query(
		q{SELECT count(*) FROM topup.orders
		   WHERE status <> 'completed' AND error_slug IS DISTINCT FROM 'insufficient_funds'}),
	'0',
	'phase 2: every refused order is insufficient_funds');

is(query('SELECT count(*) FROM topup.verify_ledger()'),
	'0', 'phase 2: verify_ledger() finds nothing')
  or diag(query(q{SELECT problem || ': ' || detail FROM topup.verify_ledger() LIMIT 10}));

note("phase 2: final master balance $final; "
	  . (query(
			q{SELECT count(*) - 1 || ' fundings, '
			         || (SELECT count(*) FILTER (WHERE status = 'completed') FROM topup.orders)
			         || ' completed orders in all' FROM topup.fundings}
		) // ''));

$node->stop;
