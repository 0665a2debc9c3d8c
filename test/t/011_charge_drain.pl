# test/t/011_charge_drain.pl — 16 clients charge one account far more
# than it holds.
#
# Two cards are topped up with 1000.00 each (instant top-ups).  Run 1: 16
# pgbench clients charge the first 640 times 7.00 (4480.00 asked of
# 1000.00), each charge with a key of its own.  Run 2: the same against the
# second card with random amounts of 1.00 to 19.99.  For each card:
#
#   - no pgbench transaction failed (a serialization failure or deadlock
#     would count as failed, any other error aborts the client) and each
#     stored exactly one account_charge order;
#   - the card never went below zero: neither its balance, nor any
#     completed charge's account_balance_after, nor any ledger entry's
#     balance after;
#   - the completed charges took exactly what the card lost (run 1: 142
#     charges of 7.00 = 994.00, 6.00 left) and the revenue book got it;
#     read in commit order (balance after, falling) each completed charge
#     left exactly the balance before it less its amount: no charge was
#     lost or applied twice;
#   - every other charge is a stored failure, insufficient_funds, with no
#     ledger entry, and none was refused wrongly: the balance only falls,
#     so each refused amount is above even the final balance;
#   - every charge has its one event (order.completed / order.failed);
#     verify_ledger() finds nothing.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use TopupTest qw(topup_node pgbench_ok);
use Test::More tests => 25;

my $clients    = 16;
my $per_client = 40;
my $txns       = $clients * $per_client;

my $node = topup_node('charge', qq{
max_connections = 40
log_statement = none
});

# The result of a query on topup_charge (TopupTest::query).
sub query { return TopupTest::query($node, 'topup_charge', @_); }

ok( $node->psql('postgres', 'CREATE DATABASE topup_charge') == 0
	  && defined query(
		q{
SET client_min_messages = warning;
CREATE EXTENSION topup CASCADE;
SELECT topup.set_pricing('USD', 1, 1000);
SELECT topup.fund_master(2000, 'USD', 'charge-funding');
SELECT topup.open_account(a, 'USD', 'card') FROM unnest(ARRAY['fixed', 'varied']) AS a;
SELECT r.status FROM unnest(ARRAY['fixed', 'varied']) AS a,
       LATERAL topup.topup_card(a, 1000, 'fund-' || a) AS r;
CREATE SEQUENCE public.k;
}),
	'set up the database: two cards holding 1000.00 each');

is(query(q{SELECT string_agg(account_id || '=' || balance, ',' ORDER BY account_id) FROM topup.accounts}),
	'fixed=1000.00,varied=1000.00', 'both cards hold 1000.00');

pgbench_ok($node, 'topup_charge', "run 1: $clients clients charge 7.00 $txns times",
	"-c $clients -j 2 -t $per_client", $txns, {
		'011_fixed.sql' => q{
SELECT nextval('public.k') AS k \gset
SELECT status FROM topup.charge_account('fixed', 7.00, 'charge-' || :k, 'run 1');
}
	});

pgbench_ok($node, 'topup_charge', "run 2: $clients clients charge 1.00-19.99 $txns times",
	"-c $clients -j 2 -t $per_client", $txns, {
		'011_varied.sql' => q{
\set cents random(100, 1999)
SELECT nextval('public.k') AS k \gset
SELECT status FROM topup.charge_account('varied', :cents * 0.01, 'charge-' || :k, 'run 2');
}
	});

for my $acct ('fixed', 'varied')
{
	my $final = query(qq{SELECT balance FROM topup.accounts WHERE account_id = '$acct'}) // 'NULL';
	note("$acct: final balance $final; "
		  . (query(
				qq{SELECT count(*) FILTER (WHERE status = 'completed') || ' completed, '
				          || count(*) FILTER (WHERE status = 'failed') || ' refused'
				     FROM topup.orders WHERE order_type = 'account_charge' AND account_id = '$acct'}
			) // ''));

	is( query(
			qq{SELECT count(*) || '|' || count(DISTINCT idempotency_key)
			     FROM topup.orders WHERE order_type = 'account_charge' AND account_id = '$acct'}),
		"$txns|$txns",
		"$acct: every transaction stored exactly one charge, each with its own key");

	is( query(
			qq{SELECT $final >= 0
			      AND NOT EXISTS (SELECT 1 FROM topup.orders WHERE account_id = '$acct'
			                         AND status = 'completed' AND account_balance_after < 0)
			      AND NOT EXISTS (SELECT 1 FROM topup.ledger WHERE account_id = '$acct' AND balance_after < 0)}
		),
		't',
		"$acct: the card never went below zero (balance, completed charges, ledger entries)");

	is( query(
			qq{SELECT 1000.00 - $final = sum(amount) AND count(*) > 0
			     FROM topup.orders WHERE order_type = 'account_charge' AND account_id = '$acct'
			      AND status = 'completed'}),
		't',
		"$acct: the completed charges took exactly what the card lost");

	is( query(
			qq{SELECT count(*) FROM (
			     SELECT amount, account_balance_after,
			            lag(account_balance_after, 1, 1000.00) OVER (ORDER BY account_balance_after DESC) AS before
			       FROM topup.orders WHERE order_type = 'account_charge' AND account_id = '$acct'
			        AND status = 'completed') AS c
			    WHERE before - amount <> account_balance_after}),
		'0',
		"$acct: in commit order each completed charge left the balance before it less its amount");

	is( query(
			qq{SELECT count(*) FILTER (WHERE error_slug = 'insufficient_funds')
			          || '|' || count(*)
			          || '|' || count(*) FILTER (WHERE amount <= $final)
			          || '|' || count(*) FILTER (WHERE EXISTS (SELECT 1 FROM topup.ledger l
			                                                   WHERE l.order_id = o.order_id))
			     FROM topup.orders o WHERE order_type = 'account_charge' AND account_id = '$acct'
			      AND status <> 'completed'}),
		query(
			qq{SELECT count(*) || '|' || count(*) || '|0|0' FROM topup.orders
			    WHERE order_type = 'account_charge' AND account_id = '$acct' AND status = 'failed'}),
		"$acct: every other charge is a stored insufficient_funds failure without entries, none refused wrongly"
	);

	is( query(
			qq{SELECT count(*) FROM topup.orders o
			    WHERE order_type = 'account_charge' AND account_id = '$acct'
			      AND (SELECT count(*) FROM topup.events e
			            WHERE e.order_id = o.order_id AND e.kind = 'order.' || o.status::text) <> 1}),
		'0',
		"$acct: every charge has its one event");
}

is( query(
		q{SELECT balance || '|' || (SELECT count(*) FROM topup.orders
		                             WHERE order_type = 'account_charge' AND account_id = 'fixed'
		                               AND status = 'completed')
		    FROM topup.accounts WHERE account_id = 'fixed'}),
	'6.00|142',
	'run 1: 142 charges of 7.00 (994.00) went through, 6.00 is left');

is( query(
		q{SELECT (SELECT sum(amount) FROM topup.ledger WHERE book = 'revenue')
		         = (SELECT sum(amount) FROM topup.orders WHERE order_type = 'account_charge' AND status = 'completed')
		         AND (SELECT sum(amount) FROM topup.ledger WHERE book = 'revenue') = 2000.00 - (SELECT sum(balance) FROM topup.accounts)}),
	't',
	'the revenue book holds exactly what the completed charges took');

is(query('SELECT count(*) FROM topup.verify_ledger()'),
	'0', 'verify_ledger() finds nothing')
  or diag(query(q{SELECT problem || ': ' || detail FROM topup.verify_ledger() LIMIT 10}));

$node->stop;
