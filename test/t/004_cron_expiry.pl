# test/t/004_cron_expiry.pl — the expiry job runs under a real pg_cron.
#
# schedule_expiry registers CALL topup.run_expiry() with pg_cron; this test
# lets pg_cron run it: vouchers that fall due are expired by the job itself
# (no sweep is called by hand), the run is recorded as succeeded, and a
# second schedule replaces the job instead of adding one.  pg_cron's
# schedules are minute-granular, so this waits for up to two minutes.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use TopupTest qw(topup_node pgbench_ok);
use Test::More tests => 7;

# cron.host is the socket directory, known once the cluster exists
my $node = topup_node('cron', qq{
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
});
$node->append_conf('postgresql.conf', "cron.host = '" . $node->host . "'\n");
$node->restart;

$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_cron;
	CREATE EXTENSION topup CASCADE;
	SELECT topup.open_account('cron-acc', 'USD');
	SELECT topup.generate_vouchers('CRON', 5, 10, 'USD', expires_at => now() + interval '2 seconds');
	SELECT topup.generate_vouchers('LATER', 2, 10, 'USD', expires_at => now() + interval '30 days');
});

my $jobid = $node->safe_psql('postgres', q{SELECT topup.schedule_expiry('* * * * *')});
like($jobid, qr/^\d+$/, 'schedule_expiry returns a job id');
is($node->safe_psql('postgres', q{SELECT topup.schedule_expiry('* * * * *')}),
	$jobid, 'scheduling again replaces the job (same id)');
is( $node->safe_psql('postgres',
		q{SELECT count(*) || ' ' || min(command) FROM cron.job WHERE jobname = 'topup-expiry'}),
	'1 CALL topup.run_expiry()',
	'one job, running CALL topup.run_expiry()');

# wait for pg_cron to run it once the vouchers are due
my $expired = $node->poll_query_until(
	'postgres', q{
	SELECT count(*) = 5 FROM topup.vouchers WHERE series = 'CRON' AND status = 'expired'
	  AND EXISTS (SELECT 1 FROM cron.job_run_details d WHERE d.jobid = (SELECT jobid FROM cron.job WHERE jobname = 'topup-expiry')
	                AND d.status = 'succeeded' AND d.start_time > (SELECT max(expires_at) FROM topup.vouchers WHERE series = 'CRON'))
}, 't');
ok($expired, 'pg_cron ran the job and it expired the due vouchers');

is( $node->safe_psql('postgres',
		q{SELECT string_agg(series || ':' || status, ',' ORDER BY series) FROM
		    (SELECT series, status::text, count(*) FROM topup.vouchers GROUP BY 1, 2) s}),
	'CRON:expired,LATER:new',
	'only the due vouchers were expired');
is( $node->safe_psql('postgres',
		q{SELECT count(*) FROM cron.job_run_details WHERE status <> 'succeeded'}),
	'0', 'no run of the job failed');
is($node->safe_psql('postgres', q{SELECT count(*) FROM topup.verify_ledger()}),
	'0', 'verify_ledger() finds nothing');

$node->stop;
