# test/t/TopupTest.pm — what the Perl TAP tests of topup share: a cluster
# of their own, a query that reports its error instead of dying, a
# pgbench run with the checks every such run needs, and psql clients run
# side by side (the workers of a provider channel).
package TopupTest;

use strict;
use warnings;

use Exporter 'import';
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT = qw(topup_node query pgbench_ok start_workers wait_workers);

# A cluster listening on its own unix socket, in UTC, started, with the
# settings in $conf appended.  scripts/test.sh passes a base port in
# TOPUP_TAP_PORT (a test with several clusters numbers them with $k);
# without it the module picks a free one.
sub topup_node
{
	my ($name, $conf, $k) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name,
		defined $ENV{TOPUP_TAP_PORT} ? (port => $ENV{TOPUP_TAP_PORT} + ($k // 0)) : ());
	$node->init(extra => [ '--encoding=UTF8', '--locale=C.UTF-8' ]);
	$node->append_conf('postgresql.conf', "timezone = 'UTC'\n" . ($conf // ''));
	$node->start;
	return $node;
}

# The result of a query (unaligned, tuples only).  An error is shown with
# diag and gives undef, so that the assertion using it fails and the test
# goes on.
sub query
{
	my ($node, $db, $sql) = @_;
	my ($rc, $out, $err) = $node->psql($db, $sql);
	if ($rc != 0)
	{
		diag("query failed on " . $node->name . "/$db: $err");
		return undef;
	}
	return $out;
}

# pgbench on $db with $opts (clients, transactions per client, ...) and
# SCRIPTS (name => text), expecting $txns transactions: 4 assertions, that
# it exits 0, processes every transaction, has no failed transaction and
# prints nothing on stderr (an aborted client would).
sub pgbench_ok
{
	my ($node, $db, $name, $opts, $txns, $scripts) = @_;
	$node->pgbench(
		"-n -M prepared $opts",
		0,
		[
			qr{^number of transactions actually processed: $txns/$txns$}m,
			qr{^number of failed transactions: 0 \(}m
		],
		[qr{^$}],
		$name,
		$scripts,
		$db);
	return;
}

# Start $n psql clients on $db, each running the script $script (text)
# with the psql variable w set to its number (1 .. $n), ON_ERROR_STOP on,
# unaligned tuples-only output, and application_name topup_worker_<w>.
# Each one's stdout and stderr go to files of its own under the test's
# temporary directory, so a client that prints much never blocks on a
# pipe; the output is what psql printed, and psql prints a statement's
# result only once the server returned it.  Returns the workers, for
# wait_workers.
sub start_workers
{
	my ($node, $db, $name, $script, $n) = @_;
	my $dir  = PostgreSQL::Test::Utils::tempdir($name);
	my $file = "$dir/worker.sql";
	open my $fh, '>', $file or die "could not write $file: $!";
	print $fh $script;
	close $fh;
	my @workers;
	for my $w (1 .. $n)
	{
		my %worker = (w => $w, out_file => "$dir/out$w", err_file => "$dir/err$w");
		$worker{harness} = IPC::Run::start(
			[
				'psql', '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-v', "w=$w",
				'-d', $node->connstr($db) . " application_name=topup_worker_$w",
				'-f', $file
			],
			'<', \undef, '>', $worker{out_file}, '2>', $worker{err_file},
			IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
		push @workers, \%worker;
	}
	return \@workers;
}

# Wait for the workers of start_workers to exit; each gets rc (psql's exit
# status), out and err (what it printed).
sub wait_workers
{
	my ($workers) = @_;
	for my $worker (@$workers)
	{
		eval { $worker->{harness}->finish; };
		if ($@)
		{
			diag("worker $worker->{w}: $@");
			$worker->{harness}->kill_kill;
			$worker->{rc} = -1;
		}
		else
		{
			$worker->{rc} = $worker->{harness}->full_result(0) >> 8;
		}
		$worker->{out} = PostgreSQL::Test::Utils::slurp_file($worker->{out_file});
		$worker->{err} = PostgreSQL::Test::Utils::slurp_file($worker->{err_file});
	}
	return $workers;
}

1;
