# test/t/003_redeem_pgbench.pl — voucher redeems from many clients, with
# wrong PINs among them, and the brute-force lockout.
#
#   1. 8 pgbench clients redeem 20000 vouchers (12-digit PINs), each PIN
#      once, into 500 customer accounts from 500 sources, and send 2000
#      wrong PINs among them, all in random order: every account and every
#      source gets exactly topup.max_failed_redeems - 1 wrong PINs, one
#      short of the lockout.  Every redeem completes, every wrong PIN fails
#      invalid_pin, none is locked out.
#   1b. Then each account, from its source, both now one failure short of
#      the lockout, redeems once more: every redeem completes.
#   2. 8 clients redeem the same 100 vouchers at random, over and over:
#      each voucher is activated exactly once, every other attempt fails
#      voucher_already_redeemed.
#   No redeem of runs 1, 1b and 2 was locked out (too_many_attempts).
#
# Then the lockout engages: one more wrong PIN for an account, or from a
# source, is still judged (invalid_pin), and after it a correct PIN for
# that account, or from that source, fails too_many_attempts and leaves the
# voucher unredeemed.
#
#   3. 8 clients send 400 wrong PINs to 4 accounts at once: each account
#      gets at least topup.max_failed_redeems invalid_pin failures and at
#      most 8 - 1 more (attempts already under way when the limit was
#      reached), every other attempt fails too_many_attempts, and a correct
#      PIN for those accounts is locked out.
#
# Afterwards: no voucher has more than one completed redeem order, each
# account's balance is the sum of the vouchers it activated, the accounts
# together hold exactly the activated vouchers' value, no pgbench
# transaction failed (a deadlock or serialization failure counts as
# failed, any other error aborts a client) and verify_ledger() finds
# nothing.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use TopupTest qw(topup_node pgbench_ok);
use Test::More tests => 39;

my $clients   = 8;
my $vouchers  = 20000;
my $accounts  = 500;
my $max_failed = 5;                  # topup.max_failed_redeems
my $wrong_per = $max_failed - 1;     # wrong PINs per account and per source
my $wrong     = $accounts * $wrong_per;
my $run1      = $vouchers + $wrong;
my $hot       = 100;
my $hot_per_client = 250;
my $hot_txns  = $clients * $hot_per_client;
my $victims   = 4;
my $attack_per_client = 50;
my $attack    = $clients * $attack_per_client;

# The lockout window is far longer than the test, so no failure ages out.
my $node = topup_node('redeem', qq{
log_statement = none
topup.max_failed_redeems = $max_failed
topup.redeem_lockout = '1h'
});

# The result of a query on topup_redeem (TopupTest::query).
sub query { return TopupTest::query($node, 'topup_redeem', @_); }

# pgbench with SCRIPTS (name => text) on topup_redeem: 4 assertions, that it
# exits 0, processes every transaction, has no failed transaction and
# prints nothing on stderr (an aborted client would).
sub run_pgbench
{
	my ($name, $nclients, $per_client, $scripts) = @_;
	pgbench_ok($node, 'topup_redeem', $name, "-c $nclients -j 2 -t $per_client",
		$nclients * $per_client, $scripts);
	return;
}

# "status|error_slug|error_message" of a redeem by PIN; $source may be undef.
sub redeem
{
	my ($pin, $account, $source) = @_;
	$source = defined $source ? "'$source'" : 'NULL';
	return query(
		"SELECT status, coalesce(error_slug, ''), coalesce(error_message, '')
		   FROM topup.redeem_voucher($pin, '$account', NULL, $source)");
}

# The PIN of voucher $n (1-based) of a series, as an SQL expression.
sub pin_of
{
	my ($series, $n) = @_;
	return "(SELECT pin FROM topup.export_vouchers('$series') ORDER BY serial OFFSET $n - 1 LIMIT 1)";
}

# ---------------------------------------------------------------- setup
# pins: the run-1 attempts in random order, numbered by i: each voucher of
# series RB once (account k % 500, source k % 500), and the wrong PINs
# (account j % 500, source 7j % 500, so an account's wrong PINs come from
# several sources): every account and every source gets $wrong_per.
ok( $node->psql('postgres', 'CREATE DATABASE topup_redeem') == 0
	  && defined query(
		qq{
SET client_min_messages = warning;
CREATE EXTENSION topup CASCADE;
SELECT count(topup.open_account('acct' || i, 'USD')) FROM generate_series(0, $accounts - 1) AS i;
SELECT count(topup.open_account(a, 'USD'))
  FROM unnest(ARRAY['fresh1', 'fresh2']
              || ARRAY(SELECT 'victim' || i FROM generate_series(0, $victims - 1) AS i)) AS a;
SELECT quantity FROM topup.generate_vouchers('RB', $vouchers, 5, 'USD', 12);
SELECT quantity FROM topup.generate_vouchers('RC', $accounts, 5, 'USD', 12);
SELECT quantity FROM topup.generate_vouchers('RD', $hot, 7, 'USD', 12);
SELECT quantity FROM topup.generate_vouchers('RL', 10, 3, 'USD', 12);
CREATE TABLE real_pins AS
  SELECT pin FROM topup.export_vouchers('RB') UNION ALL SELECT pin FROM topup.export_vouchers('RC')
  UNION ALL SELECT pin FROM topup.export_vouchers('RD') UNION ALL SELECT pin FROM topup.export_vouchers('RL');
-- 12-digit PINs that belong to no voucher, numbered by j from 0
CREATE TABLE wrong_pins (j int PRIMARY KEY, pin text NOT NULL UNIQUE);
INSERT INTO wrong_pins
  SELECT row_number() OVER () - 1, pin
    FROM (SELECT DISTINCT lpad((floor(random() * 1e12))::bigint::text, 12, '0') AS pin
            FROM generate_series(1, $wrong + 100)) AS c
   WHERE pin NOT IN (SELECT pin FROM real_pins)
   LIMIT $wrong;
CREATE TABLE pins (i serial PRIMARY KEY, pin text NOT NULL, account text NOT NULL,
                   source text NOT NULL, good boolean NOT NULL);
INSERT INTO pins (pin, account, source, good)
  SELECT pin, account, source, good FROM (
    SELECT pin, 'acct' || (k % $accounts), 'ip' || (k % $accounts), true
      FROM (SELECT pin, row_number() OVER () - 1 AS k FROM topup.export_vouchers('RB')) AS v
    UNION ALL
    SELECT pin, 'acct' || (j % $accounts), 'ip' || ((7 * j) % $accounts), false FROM wrong_pins
  ) AS a (pin, account, source, good)
  ORDER BY random();
-- run 1b: voucher k of series RC for account k from source k
CREATE TABLE pins_c (i serial PRIMARY KEY, pin text NOT NULL, account text NOT NULL, source text NOT NULL);
INSERT INTO pins_c (pin, account, source)
  SELECT pin, 'acct' || k, 'ip' || k
    FROM (SELECT pin, row_number() OVER (ORDER BY serial) - 1 AS k FROM topup.export_vouchers('RC')) AS v
   ORDER BY random();
CREATE TABLE hot_pins (i serial PRIMARY KEY, pin text NOT NULL);
INSERT INTO hot_pins (pin) SELECT pin FROM topup.export_vouchers('RD') ORDER BY random();
CREATE SEQUENCE pin_seq;
CREATE SEQUENCE pin_c_seq;
}),
	"set up the database ($accounts accounts, vouchers, PIN tables)");

is( query(
		qq{SELECT (SELECT count(DISTINCT pin) FILTER (WHERE good AND pin ~ '^[0-9]{12}\$') FROM pins)
		   || '|' || (SELECT count(*) FILTER (WHERE NOT good) FROM pins)
		   || '|' || (SELECT count(DISTINCT pin) FROM pins WHERE NOT good AND pin ~ '^[0-9]{12}\$'
		                AND pin NOT IN (SELECT pin FROM real_pins))
		   || '|' || (SELECT count(DISTINCT pin) FROM hot_pins)}
	),
	"$vouchers|$wrong|$wrong|$hot",
	"the PIN tables hold $vouchers real and $wrong distinct wrong 12-digit PINs, and $hot hot ones");

is( query(
		qq{SELECT (SELECT count(*) FROM (SELECT account FROM pins WHERE NOT good GROUP BY account
		                                  HAVING count(*) = $wrong_per) AS a)
		   || '|' || (SELECT count(*) FROM (SELECT source FROM pins WHERE NOT good GROUP BY source
		                                  HAVING count(*) = $wrong_per) AS s)}
	),
	"$accounts|$accounts",
	"run 1 sends $wrong_per wrong PINs (topup.max_failed_redeems - 1) for each account and from each source"
);

# ---------------------------------------------------------------- run 1
run_pgbench(
	"run 1: $clients clients redeem $vouchers PINs once each and send $wrong wrong PINs",
	$clients,
	$run1 / $clients,
	{
		'003_run1.sql' => q{
SELECT nextval('pin_seq') AS n \gset
SELECT r.status FROM pins p CROSS JOIN LATERAL topup.redeem_voucher(p.pin, p.account, NULL, p.source) AS r
 WHERE p.i = :n;
}
	});

is( query(
		q{SELECT (SELECT count(*) FILTER (WHERE status = 'activated') FROM topup.vouchers WHERE series = 'RB')
		   || '|' || (SELECT count(*) FILTER (WHERE status = 'completed') || '/' || count(*) FROM topup.orders
		               WHERE order_type = 'voucher_redeem' AND topup.serial_series(serial) = 'RB')}
	),
	"$vouchers|$vouchers/$vouchers",
	'run 1: every voucher of the series was activated by one completed redeem');

is( query(
		q{SELECT count(*) FILTER (WHERE error_slug = 'invalid_pin') || '|' || count(*)
		    FROM topup.orders WHERE order_type = 'voucher_redeem' AND serial IS NULL}),
	"$wrong|$wrong",
	"run 1: each of the $wrong wrong PINs failed invalid_pin (none too_many_attempts)");

is( query(
		qq{SELECT (SELECT count(*) FROM (SELECT account_id FROM topup.orders WHERE error_slug = 'invalid_pin'
		                                  GROUP BY account_id HAVING count(*) = $wrong_per) AS a)
		   || '|' || (SELECT count(*) FROM (SELECT source FROM topup.orders WHERE error_slug = 'invalid_pin'
		                                  GROUP BY source HAVING count(*) = $wrong_per) AS s)}
	),
	"$accounts|$accounts",
	"run 1: every account and every source has $wrong_per invalid_pin failures, one short of the lockout"
);

# ---------------------------------------------------------------- run 1b
run_pgbench(
	"run 1b: 4 clients redeem once more for each of the $accounts accounts, from its source",
	4,
	$accounts / 4,
	{
		'003_run1b.sql' => q{
SELECT nextval('pin_c_seq') AS n \gset
SELECT r.status FROM pins_c p CROSS JOIN LATERAL topup.redeem_voucher(p.pin, p.account, NULL, p.source) AS r
 WHERE p.i = :n;
}
	});

is( query(
		q{SELECT (SELECT count(*) FILTER (WHERE status = 'activated') FROM topup.vouchers WHERE series = 'RC')
		   || '|' || (SELECT count(*) FILTER (WHERE status = 'completed') || '/' || count(*) FROM topup.orders
		               WHERE order_type = 'voucher_redeem' AND topup.serial_series(serial) = 'RC')}
	),
	"$accounts|$accounts/$accounts",
	'run 1b: every account and every source, one failure short of the lockout, still redeems');

# ---------------------------------------------------------------- run 2
run_pgbench(
	"run 2: $clients clients redeem the same $hot PINs $hot_txns times",
	$clients,
	$hot_per_client,
	{
		'003_run2.sql' => qq{
\\set i random(1, $hot)
\\set a random(0, $accounts - 1)
SELECT status FROM topup.redeem_voucher((SELECT pin FROM hot_pins WHERE i = :i), 'acct' || :a, NULL, NULL);
}
	});

# (with 2000 random picks, a PIN that is never picked has odds of ~1e-7)
is( query(
		q{SELECT (SELECT count(*) FILTER (WHERE status = 'activated') FROM topup.vouchers WHERE series = 'RD')
		   || '|' || (SELECT count(*) FILTER (WHERE status = 'completed') || '/' || count(*) FROM topup.orders
		               WHERE order_type = 'voucher_redeem' AND topup.serial_series(serial) = 'RD')}
	),
	"$hot|$hot/$hot_txns",
	"run 2: each of the $hot vouchers was activated, by exactly one of $hot_txns stored orders");

is( query(
		q{SELECT string_agg(DISTINCT coalesce(error_slug, 'NULL'), ',') FROM topup.orders
		   WHERE order_type = 'voucher_redeem' AND status <> 'completed'
		     AND topup.serial_series(serial) = 'RD'}),
	'voucher_already_redeemed',
	'run 2: every other attempt failed voucher_already_redeemed');

is(query(q{SELECT count(*) FROM topup.orders WHERE error_slug = 'too_many_attempts'}),
	'0', 'runs 1, 1b and 2: no redeem was locked out (too_many_attempts)');

# ---------------------------------------------------------------- the lockout engages
# acct0 has max - 1 failures: one more wrong PIN is still judged, and then
# the account is locked out, even for a correct PIN.
is( redeem("(SELECT pin FROM wrong_pins WHERE j = 0)", 'acct0'),
	'failed|invalid_pin|no voucher has this PIN',
	"account: wrong PIN number $max_failed is still judged (invalid_pin)");
is( redeem(pin_of('RL', 1), 'acct0'),
	'failed|too_many_attempts|too many failed attempts for this account; try again later',
	'account: then a correct PIN for it is locked out (too_many_attempts)');

# ip1 has max - 1 failures: one more wrong PIN from it (into an account
# with none) is judged, and then the source is locked out, for any account.
is( redeem("(SELECT pin FROM wrong_pins WHERE j = 1)", 'fresh1', 'ip1'),
	'failed|invalid_pin|no voucher has this PIN',
	"source: wrong PIN number $max_failed is still judged (invalid_pin)");
is( redeem(pin_of('RL', 2), 'fresh2', 'ip1'),
	'failed|too_many_attempts|too many failed attempts from this source; try again later',
	'source: then a correct PIN from it is locked out, for another account too (too_many_attempts)');
is( redeem(pin_of('RL', 2), 'fresh2', 'ip-other'),
	'completed||',
	'source: the same PIN and account from another source redeem');

# ---------------------------------------------------------------- run 3
run_pgbench(
	"run 3: $clients clients send $attack wrong PINs to $victims accounts",
	$clients,
	$attack_per_client,
	{
		'003_run3.sql' => qq{
\\set j random(0, $wrong - 1)
\\set v random(0, $victims - 1)
SELECT status FROM topup.redeem_voucher((SELECT pin FROM wrong_pins WHERE j = :j), 'victim' || :v, NULL, NULL);
}
	});

is( query(
		q{SELECT count(*) FILTER (WHERE error_slug IN ('invalid_pin', 'too_many_attempts')) || '/' || count(*)
		    FROM topup.orders WHERE account_id LIKE 'victim%'}),
	"$attack/$attack",
	'run 3: every attempt failed invalid_pin or too_many_attempts');

my $most = $max_failed + $clients - 1;
is( query(
		qq{SELECT count(*) FROM (
		     SELECT account_id FROM topup.orders WHERE account_id LIKE 'victim%' GROUP BY account_id
		     HAVING count(*) FILTER (WHERE error_slug = 'invalid_pin') BETWEEN $max_failed AND $most
		        AND count(*) FILTER (WHERE error_slug = 'too_many_attempts') > 0) AS v}
	),
	$victims,
	"run 3: each account got $max_failed to $most invalid_pin failures, then too_many_attempts");
note(
	"run 3: invalid_pin failures per account: "
	  . (query(
			q{SELECT string_agg(account_id || '=' || n, ' ' ORDER BY account_id) FROM (
			    SELECT account_id, count(*) AS n FROM topup.orders
			     WHERE account_id LIKE 'victim%' AND error_slug = 'invalid_pin' GROUP BY account_id) AS c}
		) // ''));

# (the count of new vouchers in a statement of its own, which sees what
# the redeems wrote)
is( (query(
			qq{SELECT string_agg(DISTINCT r.error_slug, ',')
			     FROM generate_series(0, $victims - 1) AS i
			    CROSS JOIN LATERAL topup.redeem_voucher(
			          (SELECT pin FROM topup.export_vouchers('RL') ORDER BY serial OFFSET 2 + i LIMIT 1),
			          'victim' || i) AS r}
		  ) // 'error')
	  . '|'
	  . (query(q{SELECT count(*) FROM topup.vouchers WHERE series = 'RL' AND status = 'new'}) // 'error'),
	'too_many_attempts|9',
	'run 3: a correct PIN for each attacked account is locked out, the vouchers stay new');

# ---------------------------------------------------------------- checks
is( query(
		q{SELECT count(*) FROM (SELECT serial FROM topup.orders
		   WHERE order_type = 'voucher_redeem' AND status = 'completed'
		   GROUP BY client_id, serial HAVING count(*) > 1) AS twice}),
	'0',
	'no voucher has more than one completed redeem order');

is( query(
		q{SELECT count(*) FROM topup.vouchers v
		   WHERE v.status = 'activated' AND NOT EXISTS (
		         SELECT 1 FROM topup.orders o
		          WHERE o.order_id = v.order_id AND o.status = 'completed'
		            AND o.serial OPERATOR(topup.=) v.serial AND o.account_id = v.activated_by)}),
	'0',
	'each activated voucher names the completed order that activated it');

is( query(
		q{SELECT count(*) FROM topup.accounts a
		   WHERE a.balance <> (SELECT coalesce(sum(v.amount), 0) FROM topup.vouchers v
		                       WHERE v.status = 'activated' AND v.activated_by = a.account_id
		                         AND v.client_id = a.client_id)}),
	'0',
	"each account's balance is the sum of the vouchers it activated");

my $value = $vouchers * 5 + $accounts * 5 + $hot * 7 + 3;
is( query(
		q{SELECT ((SELECT sum(balance) FROM topup.accounts)
		          = (SELECT sum(amount) FROM topup.vouchers WHERE status = 'activated'))
		         || '|' || (SELECT sum(balance) FROM topup.accounts)}),
	"true|$value.00",
	"the accounts together hold exactly the activated vouchers' value");

is(query('SELECT count(*) FROM topup.verify_ledger()'),
	'0', 'verify_ledger() finds nothing')
  or diag(query(q{SELECT problem || ': ' || detail FROM topup.verify_ledger() LIMIT 10}));

$node->stop;
