# test/t/TopupTest.pm — what the Perl TAP tests of topup share: a cluster
# of their own, a query that reports its error instead of dying, and a
# pgbench run with the checks every such run needs.
package TopupTest;

use strict;
use warnings;

use Exporter 'import';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT = qw(topup_node query pgbench_ok);

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

1;
