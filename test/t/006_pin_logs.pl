# test/t/006_pin_logs.pl — no PIN in the server log (SPEC §8): with
# PostgreSQL's defaults log_min_error_statement = error and
# log_statement = none, an error raised inside one of topup's functions
# must not log the caller's statement, which may hold a PIN as a literal.
#
# Every case below is one statement holding a PIN literal (a real PIN of
# the database, a different one per case) that makes a function of the
# extension raise: money functions (redeem with a reused idempotency key,
# for an unknown client or one the role is not bound to; top-ups with a bad
# entry type, amount, customer info or a reused key), secret functions
# (generate and export with bad arguments), the owner's functions
# (bind_role and unbind_role errors, duplicates, funding, pricing) and a
# SQL function around a redeem.  For each: the error has the expected
# SQLSTATE, the error itself was logged, and its PIN is nowhere in the log.
#
# The search is shown to work: errors raised outside the extension's
# functions log the statement and with it the PIN (division by zero, the
# regrole input of an unknown role before bind_role runs, the permission
# check of a function the role may not call).  These are PostgreSQL's own
# and why callers pass PINs as bind parameters.
#
# A PL/pgSQL caller with a PIN literal in its code: PL/pgSQL's error
# context ("SQL statement ...") would carry the statement text into the
# report; redeem_voucher leaves its caller's error context out.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More tests => 79;
use TopupTest;

# PostgreSQL::Test::Cluster logs every statement by default: back to
# PostgreSQL's own default, which callers of topup are told to keep
my $node = topup_node('pinlog', "log_statement = none\n");

is( query(
		$node, 'postgres',
		q{SELECT current_setting('log_min_error_statement') || ' ' || current_setting('log_statement')}),
	'error none',
	'the server runs with log_min_error_statement = error and log_statement = none');

my $setup_ok = defined query(
	$node, 'postgres', q{
SET client_min_messages = warning;
CREATE EXTENSION topup CASCADE;
CREATE ROLE log_app;
CREATE ROLE log_admin;
SELECT topup.create_client('logco');
SELECT topup.create_client('otherco');
SELECT topup.create_reseller('shop', 'logco');
SELECT topup.open_account('cust', 'USD', client_id => 'logco');
SELECT topup.open_account('card1', 'USD', 'card', client_id => 'logco');
SELECT topup.set_pricing('USD', 1, 100, 0.5, 0, 'logco');
SELECT topup.fund_master(1000, 'USD', 'fund-1', 'logco');
SELECT 1 FROM topup.generate_vouchers('LOG', 60, 5, 'USD', client_id => 'logco');
SELECT 1 FROM topup.generate_vouchers('OTH', 2, 5, 'USD', client_id => 'otherco');
SELECT topup.bind_role('log_app', 'app', 'logco');
SELECT topup.bind_role('log_admin', 'admin', 'logco');
-- a hand-written grant, so that bind_role's own check is what refuses
GRANT EXECUTE ON FUNCTION topup.bind_role(regrole, text, text, text) TO log_admin;
SELECT 1 FROM topup.topup_card('card1', 5, 'tk1', client_id => 'logco');
});
ok($setup_ok, 'set up clients, roles, accounts and 60 vouchers');

my @pins = split /\n/,
  (query($node, 'postgres', q{SELECT pin FROM topup.export_vouchers('LOG', 'logco')}) // '');
is(scalar(grep { /^[0-9]{12}$/ } @pins), 60, 'export_vouchers gives the 60 PINs');

# Successful calls with PIN literals: nothing is logged for them.
my @used;
my $pin_ok = shift @pins;
my $pin_app_ok = shift @pins;
push @used, $pin_ok, $pin_app_ok;
is( query(
		$node, 'postgres',
		"SELECT status FROM topup.redeem_voucher('$pin_ok', 'cust', 'k1', NULL, 'logco');
		 SET ROLE log_app;
		 SELECT status FROM topup.redeem_voucher('$pin_app_ok', 'cust', 'k2')"),
	"completed\ncompleted",
	'two redeems with PIN literals succeed (the owner\'s and the app role\'s)');

my $logfile = $node->logfile;

# Run one case: $sql with %PIN% replaced by a fresh PIN, after $pre (e.g.
# SET ROLE), as one psql run.  Returns the SQLSTATE it raised (or a
# description of what went wrong), the log written meanwhile and the PIN.
sub run_case
{
	my ($pre, $sql) = @_;
	my $pin = shift @pins // die 'out of PINs';
	$sql =~ s/%PIN%/$pin/g;
	my $offset = -s $logfile;
	my ($rc, $out, $err) = $node->psql(
		'postgres', ($pre // '') . $sql,
		extra_params => [ '-v', 'VERBOSITY=sqlstate' ]);
	my ($state) = $err =~ /ERROR:  ([0-9A-Z]{5})\s*$/;
	$state //= "exit $rc, stderr: $err";
	return ($state, slurp_file($logfile, $offset), $pin);
}

# [name, statement to run first (no PIN), statement, SQLSTATE]
my @inside = (
	[
		'redeem: idempotency key reused', undef,
		q{SELECT * FROM topup.redeem_voucher('%PIN%', 'cust', 'k1', NULL, 'logco')}, 'TU009'
	],
	[
		'redeem: unknown client', undef,
		q{SELECT * FROM topup.redeem_voucher('%PIN%', 'cust', NULL, NULL, 'nosuch')}, '22023'
	],
	[
		'redeem as app: a client it is not bound to', 'SET ROLE log_app;',
		q{SELECT * FROM topup.redeem_voucher('%PIN%', 'cust', NULL, NULL, 'otherco')}, '22023'
	],
	[
		'redeem as app: its idempotency key reused (default client)', 'SET ROLE log_app;',
		q{SELECT * FROM topup.redeem_voucher('%PIN%', 'cust', 'k2')}, 'TU009'
	],
	[
		'redeem_voucher_by_serial: unknown client', undef,
		q{SELECT * FROM topup.redeem_voucher_by_serial(topup.make_serial('LOG', 3), 'cust', NULL, 'nosuch')
		   WHERE '%PIN%' <> ''}, '22023'
	],
	[
		'generate: quantity 0', undef,
		q{SELECT g.*, '%PIN%' AS pin FROM topup.generate_vouchers('LOG', 0, 5, client_id => 'logco') g},
		'22023'
	],
	[
		'generate: PIN length 4', undef,
		q{SELECT 1 FROM topup.generate_vouchers('NEW', 1, 5, pin_length => 4, client_id => 'logco')
		   WHERE '%PIN%' IS NOT NULL}, '22023'
	],
	[
		'generate: another amount into an existing series', undef,
		q{SELECT '%PIN%', quantity FROM topup.generate_vouchers('LOG', 1, 7, client_id => 'logco')},
		'22023'
	],
	[
		'generate as admin: a client it is not bound to', 'SET ROLE log_admin;',
		q{SELECT '%PIN%', quantity FROM topup.generate_vouchers('OTH', 1, 5, client_id => 'otherco')},
		'22023'
	],
	[
		'export: unknown series', undef,
		q{SELECT * FROM topup.export_vouchers('NOPE', 'logco') WHERE pin = '%PIN%'}, '22023'
	],
	[
		'export: unknown client', undef,
		q{SELECT * FROM topup.export_vouchers('LOG', 'nosuch') WHERE pin = '%PIN%'}, '22023'
	],
	[
		'export as admin: a client it is not bound to', 'SET ROLE log_admin;',
		q{SELECT * FROM topup.export_vouchers('OTH', 'otherco') WHERE pin = '%PIN%'}, '22023'
	],
	[
		'topup_card: bad entry type', undef,
		q{SELECT t.*, '%PIN%' FROM topup.topup_card('card1', 5, 'tk2', entry_type => 'Z', client_id => 'logco') t},
		'TU015'
	],
	[
		'topup_card: invalid amount', undef,
		q{SELECT '%PIN%', t.status FROM topup.topup_card('card1', 0, 'tk3', client_id => 'logco') t},
		'TU014'
	],
	[
		'topup_card: idempotency key reused', undef,
		q{SELECT * FROM topup.topup_card('card1', 6, 'tk1', client_id => 'logco') WHERE '%PIN%' <> ''},
		'TU009'
	],
	[
		'topup_card: the PIN as an invalid customer_info value', undef,
		q{SELECT * FROM topup.topup_card('card1', 5, 'tk4', customer_info => '{"phone": "pin %PIN%"}',
		                                  client_id => 'logco')}, 'TU012'
	],
	[
		'topup_card as app: a client it is not bound to', 'SET ROLE log_app;',
		q{SELECT * FROM topup.topup_card('card1', 5, 'tk5', client_id => 'otherco') WHERE '%PIN%' <> ''},
		'22023'
	],
	[
		'check_order: the PIN as an unknown idempotency key', undef,
		q{SELECT * FROM topup.check_order('%PIN%', 'voucher_redeem', 'logco')}, 'TU010'
	],
	[
		'order_json: unknown order', undef,
		q{SELECT topup.order_json(999999, 'logco'), '%PIN%'}, 'TU010'
	],
	[
		'open_account: unknown currency', undef,
		q{SELECT topup.open_account('acc-x', 'XXX', client_id => 'logco'), '%PIN%'}, '22023'
	],
	[
		'open_account: account exists', undef,
		q{SELECT topup.open_account('cust', 'USD', client_id => 'logco'), '%PIN%'}, '23505'
	],
	[
		'create_client: client exists', undef,
		q{SELECT topup.create_client('logco'), '%PIN%'}, '23505'
	],
	[
		'create_reseller: reseller exists', undef,
		q{SELECT topup.create_reseller('shop', 'logco'), '%PIN%'}, '23505'
	],
	[
		'fund_master: amount not positive', undef,
		q{SELECT topup.fund_master(-1, 'USD', 'fund-2', 'logco'), '%PIN%'}, 'TU014'
	],
	[
		'set_pricing: minimum above maximum', undef,
		q{SELECT topup.set_pricing('USD', 100, 1, 0, 0, 'logco'), '%PIN%'}, '22023'
	],
	[
		'bind_role: unknown duty', undef,
		q{SELECT topup.bind_role('log_app', 'cashier', 'logco'), '%PIN%'}, '22023'
	],
	[
		'bind_role: unknown client', undef,
		q{SELECT topup.bind_role('log_app', 'app', 'nosuch'), '%PIN%'}, '22023'
	],
	[
		'bind_role: reseller duty without a reseller', undef,
		q{SELECT topup.bind_role('log_app', 'reseller', 'logco'), '%PIN%'}, '22023'
	],
	[
		'bind_role: unknown reseller', undef,
		q{SELECT topup.bind_role('log_app', 'reseller', 'logco', 'noshop'), '%PIN%'}, '22023'
	],
	[
		'bind_role by an admin that has EXECUTE on it', 'SET ROLE log_admin;',
		q{SELECT topup.bind_role('log_admin', 'admin', 'otherco'), '%PIN%'}, '42501'
	],
	[
		'unbind_role: unknown client', undef,
		q{SELECT topup.unbind_role('log_app', 'app', 'nosuch'), '%PIN%'}, '22023'
	],
	[
		'a SQL function with the PIN literal around a redeem for an unknown client',
		q{CREATE FUNCTION pg_temp.redeem_it() RETURNS SETOF topup.order_result LANGUAGE sql
		  AS $$ SELECT * FROM topup.redeem_voucher('%PIN%', 'cust', NULL, NULL, 'nosuch') $$;},
		q{SELECT * FROM pg_temp.redeem_it()}, '22023'
	],);

# the SQL function's body holds the PIN: give run_case the same PIN for it
for my $case (@inside)
{
	my ($name, $pre, $sql, $want) = @$case;
	if (defined $pre && $pre =~ /%PIN%/)
	{
		$sql = "$pre\n$sql";
		$pre = undef;
	}
	my ($state, $log, $pin) = run_case($pre, $sql);
	push @used, $pin;
	is($state, $want, "$name: raises $want");
	ok($log =~ /ERROR:/ && index($log, $pin) < 0,
		"$name: the error is logged, the PIN is not")
	  or diag("log written by this case:\n$log");
}

# ---------------------------------------------------------------- the search works
my @outside = (
	[ 'a plain division by zero', undef, q{SELECT 1/0, '%PIN%'}, '22012' ],
	[
		'bind_role of an unknown role (the regrole input fails before the call)', undef,
		q{SELECT topup.bind_role('no_such_role', 'app', 'logco'), '%PIN%'}, '42704'
	],
	[
		'export as app (no EXECUTE: the permission check fails before the call)',
		'SET ROLE log_app;',
		q{SELECT * FROM topup.export_vouchers('LOG') WHERE pin = '%PIN%'}, '42501'
	],);
my @logged;
for my $case (@outside)
{
	my ($name, $pre, $sql, $want) = @$case;
	my ($state, $log, $pin) = run_case($pre, $sql);
	push @logged, $pin;
	is($state, $want, "outside the functions, $name: raises $want");
	ok($log =~ /^.*STATEMENT:  .*\Q$pin\E/m,
		"outside the functions, $name: the statement and its PIN are logged (the search works)")
	  or diag("log written by this case:\n$log");
}

# ---------------------------------------------------------------- PL/pgSQL callers
my ($plpgsql_state, $plpgsql_log, $plpgsql_pin) = run_case(undef,
	q{DO $$ BEGIN PERFORM topup.redeem_voucher('%PIN%', 'cust', NULL, NULL, 'nosuch'); END $$});
is($plpgsql_state, '22023', 'a PL/pgSQL block redeeming for an unknown client: raises 22023');
ok($plpgsql_log =~ /ERROR:/ && index($plpgsql_log, $plpgsql_pin) < 0,
	'a PL/pgSQL block with a PIN literal: the PIN is not logged (the caller\'s error context is left out)')
  or diag("log written by this case:\n$plpgsql_log");

# ---------------------------------------------------------------- the whole log
my $all = slurp_file($logfile);
my @leaked = grep { index($all, $_) >= 0 } @used;
ok(@used == 2 + @inside && !@leaked,
	'no PIN of a successful call or of an error inside the functions is anywhere in the log')
  or diag(scalar(@leaked) . ' PIN(s) found in the log');
is(scalar(grep { index($all, $_) >= 0 } @logged),
	scalar(@outside), 'the PINs of the errors outside the functions are in the log');
is(query($node, 'postgres', 'SELECT count(*) FROM topup.verify_ledger()'),
	'0', 'verify_ledger() finds nothing');

$node->stop;
