# test/t/010_cron_order_timeouts.pl — the order timeouts under a real
# pg_cron.
#
# schedule_order_timeouts registers CALL topup.run_order_timeouts() with
# pg_cron as the job topup-order-timeouts; scheduling again replaces the
# job (same name, same id, one job, the new schedule).  Then pg_cron runs
# it by itself: an order whose lease ran out goes in doubt
# (provider_verification), while an order whose lease has not run out stays
# with its worker (provider_in_progress) and an unclaimed one stays new.
# pg_cron's schedules are minute-granular, so this waits for the job for
# up to about two minutes (polling, no fixed sleep).
#
# Without pg_cron in the database, schedule_order_timeouts raises
# object_not_in_prerequisite_state (55000) with a hint; a role that is not
# the extension owner gets insufficient_privilege (42501) even when granted
# EXECUTE by hand or bound as an admin, and no job changes.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use TopupTest qw(topup_node);
use Test::More tests => 13;

# cron.host is the socket directory, known once the cluster exists
my $node = topup_node('cron_timeouts', qq{
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
log_statement = none
});
$node->append_conf('postgresql.conf', "cron.host = '" . $node->host . "'\n");
$node->restart;

# The result of a query on postgres (TopupTest::query).
sub query { return TopupTest::query($node, 'postgres', @_); }

# "SQLSTATE: message / HINT or DETAIL" of a statement that must fail, run
# on $db as $role (undef: the owner).
sub error_of
{
	my ($db, $role, $sql) = @_;
	my ($out, $err) = ('', '');
	my $rc = $node->psql(
		$db,
		(defined $role ? "SET ROLE $role;\n" : '') . $sql,
		stdout        => \$out,
		stderr        => \$err,
		on_error_stop => 1,
		extra_params  => [ '-v', 'VERBOSITY=verbose' ]);
	return "no error: $out" if $rc == 0;
	my ($state, $msg) = $err =~ /ERROR:  ([0-9A-Z]{5}): (.*)/;
	my ($more) = $err =~ /(?:HINT|DETAIL):  (.*)/;
	return ($state // '?') . ': ' . ($msg // $err) . ' / ' . ($more // '');
}

ok( defined query(
		q{
SET client_min_messages = warning;
CREATE EXTENSION pg_cron;
CREATE EXTENSION topup CASCADE;
SELECT topup.open_account('card' || i, 'USD', 'card') FROM generate_series(1, 3) AS i;
SELECT topup.set_pricing('USD', 1, 1000, 0.10, 1.5);
SELECT topup.fund_master(1000, 'USD', 'cron-funding');
SELECT topup.set_channel('prov', 'provider', '1 hour', 5);
SELECT r.status FROM generate_series(1, 3) AS i,
       LATERAL topup.topup_card('card' || i, 10, 'cron-' || i, channel => 'prov') AS r;
CREATE DATABASE nocron;
CREATE ROLE granted_role LOGIN;
CREATE ROLE admin_role LOGIN;
GRANT USAGE ON SCHEMA topup TO granted_role;
GRANT EXECUTE ON FUNCTION topup.schedule_order_timeouts(text) TO granted_role;
SELECT topup.bind_role('admin_role', 'admin');
}),
	'set up pg_cron, topup, 3 held top-ups, a role granted EXECUTE by hand and a bound admin');

# ---------------------------------------------------------------- the job
my $jobid = query(q{SELECT topup.schedule_order_timeouts('0 3 * * *')}) // '';
like($jobid, qr/^\d+$/, 'schedule_order_timeouts returns a job id');
is( query(q{SELECT count(*) || '|' || min(command) || '|' || min(schedule)
              FROM cron.job WHERE jobname = 'topup-order-timeouts'}),
	'1|CALL topup.run_order_timeouts()|0 3 * * *',
	'one job topup-order-timeouts, running CALL topup.run_order_timeouts() on the schedule given');
is(query(q{SELECT topup.schedule_order_timeouts('* * * * *')}),
	$jobid, 'scheduling again returns the same job id');
is( query(q{SELECT count(*) || '|' || string_agg(jobname || ' ' || schedule, ',') FROM cron.job}),
	'1|topup-order-timeouts * * * * *',
	'scheduling again replaced the job: still one job, with the new schedule');

# ---------------------------------------------------------------- pg_cron runs it
# order 1: a lease of a second (runs out); order 2: a lease of an hour;
# order 3: not claimed
ok( defined query(
		q{
CREATE TABLE public.ids AS SELECT row_number() OVER (ORDER BY order_id) AS n, order_id
                             FROM topup.orders WHERE channel = 'prov';
SELECT count(*) FROM topup.claim_orders('prov', 1, '1 second');
SELECT count(*) FROM topup.claim_orders('prov', 1, '1 hour');
}),
	'claim one order with a lease of a second and one with a lease of an hour');

my $ran = $node->poll_query_until(
	'postgres', qq{
	SELECT o.topup_status = 'provider_verification'
	   AND EXISTS (SELECT 1 FROM cron.job_run_details d
	                WHERE d.jobid = $jobid AND d.status = 'succeeded' AND d.start_time > o.created_at)
	  FROM topup.orders o JOIN public.ids USING (order_id) WHERE ids.n = 1
}, 't');
ok($ran, 'pg_cron ran the job and it put the order whose lease ran out in doubt (provider_verification)');

is( query(
		q{SELECT string_agg(n || ':' || o.status || ':' || o.topup_status || ':' || o.attempts
		                    || ':' || (o.lease_until IS NULL), ',' ORDER BY n)
		    FROM topup.orders o JOIN public.ids USING (order_id)}),
	'1:processing:provider_verification:1:true,2:processing:provider_in_progress:1:false,3:processing:new:0:true',
	'the order with a live lease stays with its worker, the unclaimed one stays new, none failed');
is( query(
		qq{SELECT count(*) FILTER (WHERE status <> 'succeeded') || '|' || (count(*) > 0)
		     FROM cron.job_run_details WHERE jobid = $jobid}),
	'0|true',
	'no run of the job failed');
is(query('SELECT count(*) FROM topup.verify_ledger()'),
	'0', 'verify_ledger() finds nothing');

# ---------------------------------------------------------------- refusals
$node->safe_psql('nocron', 'SET client_min_messages = warning; CREATE EXTENSION topup CASCADE');
is( error_of('nocron', undef, q{SELECT topup.schedule_order_timeouts()}),
	'55000: pg_cron is not installed in this database / Add pg_cron to shared_preload_libraries, '
	  . 'set cron.database_name to this database, restart, and run CREATE EXTENSION pg_cron; '
	  . 'or schedule CALL topup.run_order_timeouts() with another scheduler.',
	'without pg_cron in the database: 55000 (object_not_in_prerequisite_state) with a hint');

is( error_of('postgres', 'granted_role', q{SELECT topup.schedule_order_timeouts('*/5 * * * *')}) . ' | '
	  . error_of('postgres', 'admin_role', q{SELECT topup.schedule_order_timeouts('*/5 * * * *')}),
	'42501: permission denied for function schedule_order_timeouts / '
	  . 'No duty bound to the role allows it; it is the extension owner\'s. | '
	  . '42501: permission denied for function schedule_order_timeouts / ',
	'a role that is not the owner gets 42501: granted EXECUTE by hand, or bound as an admin');

is( query(q{SELECT count(*) || '|' || string_agg(jobname || ' ' || schedule, ',') FROM cron.job}),
	'1|topup-order-timeouts * * * * *',
	'the refused calls changed no job');

$node->stop;
