# test/t/009_crash_timeouts.pl — workers killed with the server, then the
# timeouts put the orders that were in flight in doubt.
#
# 4,000 provider-backed top-ups are held, then 4 psql workers claim
# batches of 10 (a lease of 2 seconds) and report each order as it comes:
# completed, failed, error or unknown, by order_id % 20.  The channel's
# attempt_timeout is an hour, so an order reported error or unknown is not
# claimed again during the test: each order gets at most one report.  A
# worker acknowledges a report only client-side, by printing the row
# report_order returned (psql prints a result once the server has
# committed it).  Besides the workers, one session claims 5 orders and
# never reports them, so that orders are certainly in flight.  Once a
# quarter of the orders are reported the server is killed
# (pg_ctl -m immediate stop) and started again.  Then:
#
#   - the crash hit the workers mid-run (each lost its connection; orders
#     were left new, and claimed but unreported);
#   - no acknowledged report is lost: each acknowledged order is in the
#     state its report returned, and no order was acknowledged twice;
#   - no order is both credited and refunded: a completed order has its
#     hold released to the card and the fee account and no refund, a
#     failed one its refund and no card credit or fee, a processing one
#     only its hold; verify_ledger() finds nothing;
#   - once the leases have run out, CALL topup.run_order_timeouts() puts
#     every order in flight (provider_in_progress) in doubt
#     (provider_verification, claimable at once) and fails none; no other
#     order changes;
#   - the workers run again until nothing is claimable within a minute:
#     each order that was in doubt is claimed as provider_verification and
#     verified (completed or failed), and verify_ledger() finds nothing.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use TopupTest qw(topup_node pgbench_ok start_workers wait_workers);
use Test::More tests => 27;

my $orders     = 4000;
my $cards      = 100;
my $workers    = 4;
my $batch      = 10;
my $iterations = 2000;
my $stuck      = 5;       # claimed by a session that never reports
my $funding    = '500000.00';

my $node = topup_node('crash', q{
log_statement = none
});

# The result of a query on topup_crash (TopupTest::query).
sub query { return TopupTest::query($node, 'topup_crash', @_); }

# ---------------------------------------------------------------- setup
ok( $node->psql('postgres', 'CREATE DATABASE topup_crash') == 0
	  && defined query(
		qq{
SET client_min_messages = warning;
CREATE EXTENSION topup CASCADE;
SELECT count(topup.open_account('card' || i, 'USD', 'card')) FROM generate_series(1, $cards) AS i;
SELECT topup.set_pricing('USD', 1, 1000, 0.10, 1.5);
SELECT topup.fund_master($funding, 'USD', 'crash-funding');
SELECT topup.set_channel('prov', 'provider', '1 hour', 5);
CREATE SEQUENCE public.k;
CREATE TABLE public.claim_log (seq bigserial PRIMARY KEY, worker int NOT NULL, order_id bigint NOT NULL,
                               topup_status text NOT NULL);
CREATE FUNCTION public.decide(o bigint, ts text, OUT outcome text, OUT slug text)
LANGUAGE sql IMMUTABLE AS \$\$
  SELECT split_part(d, '|', 1), nullif(split_part(d, '|', 2), '') FROM (SELECT CASE
    WHEN ts = 'provider_verification' THEN CASE WHEN o % 2 = 0 THEN 'completed|' ELSE 'failed|not_applied' END
    WHEN o % 20 <= 11 THEN 'completed|'
    WHEN o % 20 <= 14 THEN 'failed|card_declined'
    WHEN o % 20 <= 16 THEN 'error|gateway_timeout'
    ELSE 'unknown|in_doubt'
  END AS d) AS s
\$\$;
}),
	"set up the database ($cards cards, pricing, funding, channel prov)");

pgbench_ok($node, 'topup_crash', "4 clients hold $orders provider-backed top-ups",
	'-c 4 -j 2 -t ' . ($orders / 4 / 10), $orders / 10, {
		'009_hold.sql' => qq{
SELECT count(r.status)
  FROM (SELECT nextval('public.k') AS k FROM generate_series(1, 10)) AS s,
       LATERAL topup.topup_card('card' || (s.k % $cards + 1), 1 + s.k % 50, 'prov-' || s.k, channel => 'prov') AS r;
}
	});

# acknowledged reports must be durable: commits are flushed from here on
$node->append_conf('postgresql.conf', "fsync = on\nsynchronous_commit = on\n");
$node->reload;

# ---------------------------------------------------------------- the workers
# A worker claims (the claim logged in its transaction), reports each
# claimed order in a statement of its own and prints "ack|order|outcome|
# status|topup_status" from the row report_order returned.  It stops when
# nothing is claimable within a minute.
my $iteration = qq{
WITH c AS (SELECT * FROM topup.claim_orders('prov', $batch, '2 seconds')),
     l AS (INSERT INTO public.claim_log (worker, order_id, topup_status)
           SELECT :w, order_id, topup_status FROM c)
SELECT format('SELECT ''ack|'' || r.order_id || ''|'' || %L || ''|'' || r.status || ''|'' || r.topup_status '
              'FROM topup.report_order(%s, %L, %L, %L) AS r',
              d.outcome, c.order_id, d.outcome, 'PRV-' || c.order_id, d.slug)
  FROM c CROSS JOIN LATERAL public.decide(c.order_id, c.topup_status::text) AS d
 ORDER BY c.order_id \\gexec
SELECT NOT EXISTS (SELECT 1 FROM topup.orders
                    WHERE status = 'processing' AND channel = 'prov'
                      AND topup_status <> 'provider_in_progress'
                      AND COALESCE(next_attempt_at, '-infinity') <= now() + interval '1 minute')
       AS done \\gset
\\if :done
\\q
\\endif
};
my $script = $iteration x $iterations;

# "ack" lines of the workers' output: order_id => [outcome, status, topup_status, count]
sub acks
{
	my ($w) = @_;
	my %acks;
	for my $line (map { split /\n/, $_->{out} } @$w)
	{
		next unless $line =~ /^ack\|(\d+)\|(\w+)\|(\w+)\|(\w+)$/;
		my $n = $acks{$1} ? $acks{$1}[3] + 1 : 1;
		$acks{$1} = [ $2, $3, $4, $n ];
	}
	return \%acks;
}

# orders claimed and never reported: in flight when the server dies
is( query(
		qq{SELECT count(*) FROM topup.claim_orders('prov', $stuck, '2 seconds')}),
	$stuck, "a session claims $stuck orders and never reports them");

my $started = start_workers($node, 'topup_crash', 'crash', $script, $workers);
ok( $node->poll_query_until(
		'topup_crash', qq{
	SELECT count(*) >= $orders / 4 FROM topup.orders
	 WHERE channel = 'prov' AND topup_status NOT IN ('new', 'provider_in_progress')}),
	'a quarter of the orders reported');
$node->stop('immediate');
my $w = wait_workers($started);
$node->start;

# ---------------------------------------------------------------- after the crash
is( scalar(grep { $_->{rc} != 0 && $_->{err} =~ /terminating connection|server closed the connection|connection to server was lost/ } @$w),
	$workers,
	'the crash cut off every worker mid-run (it lost its connection)')
  or diag(join("\n", map { "worker $_->{w}: rc $_->{rc}: " . substr($_->{err}, 0, 300) } @$w));

my $acks = acks($w);
my $nacks = keys %$acks;
note("$nacks reports acknowledged before the crash");
is(scalar(grep { $_->[3] > 1 } values %$acks), 0, 'no order was acknowledged twice');

is( query(
		q{SELECT count(*) FILTER (WHERE topup_status = 'new') > 0
		         AND count(*) FILTER (WHERE topup_status = 'provider_in_progress') > 0
		    FROM topup.orders WHERE channel = 'prov'}),
	't',
	'the crash left orders new and orders claimed but not reported');

ok( $nacks > 0
	  && defined query(
		'CREATE TABLE public.acks (order_id bigint PRIMARY KEY, outcome text, status text, topup_status text);
		 INSERT INTO public.acks VALUES '
		  . join(',', map { "($_, '$acks->{$_}[0]', '$acks->{$_}[1]', '$acks->{$_}[2]')" } sort keys %$acks)),
	'the acknowledged reports are loaded');

is( query(
		q{SELECT count(*) FILTER (WHERE o.status::text = a.status AND o.topup_status::text = a.topup_status)
		         || '/' || count(*)
		    FROM public.acks a LEFT JOIN topup.orders o USING (order_id)}),
	"$nacks/$nacks",
	'no acknowledged report is lost: each acknowledged order is in the state its report returned');

is( query(
		q{SELECT count(*) FROM public.acks
		   WHERE NOT ((outcome = 'completed' AND status = 'completed' AND topup_status = 'completed')
		           OR (outcome = 'failed' AND status = 'failed' AND topup_status = 'failed')
		           OR (outcome = 'error' AND status = 'processing' AND topup_status = 'provider_in_progress_error')
		           OR (outcome = 'unknown' AND status = 'processing' AND topup_status = 'provider_verification'))}),
	'0',
	'each acknowledged report returned the state its outcome leads to');

note(
	query(
		q{SELECT count(*) || ' orders reported but not acknowledged (committed, the answer lost with the connection)'
		    FROM topup.orders o
		   WHERE channel = 'prov' AND topup_status NOT IN ('new', 'provider_in_progress')
		     AND NOT EXISTS (SELECT 1 FROM public.acks a WHERE a.order_id = o.order_id)}) // '');

# each order's entries by kind: card credit, refund to the master
# balance, hold released, fee
my $entries_sql = q{
SELECT count(*) FROM topup.orders o
  JOIN (SELECT order_id,
               count(*) FILTER (WHERE book = 'account' AND amount > 0) AS credit,
               count(*) FILTER (WHERE book = 'master' AND amount > 0) AS refund,
               count(*) FILTER (WHERE book = 'hold' AND amount < 0) AS released,
               count(*) FILTER (WHERE book = 'fee') AS fee
          FROM topup.ledger GROUP BY order_id) AS e USING (order_id)
 WHERE o.channel = 'prov'
   AND NOT CASE o.status
           WHEN 'completed' THEN e.credit = 1 AND e.refund = 0 AND e.released = 1 AND e.fee = 1
           WHEN 'failed' THEN e.credit = 0 AND e.refund = 1 AND e.released = 1 AND e.fee = 0
           ELSE e.credit = 0 AND e.refund = 0 AND e.released = 0 AND e.fee = 0
       END
};
is(query($entries_sql), '0',
	'no order is both credited and refunded (completed: hold -> card and fee; failed: the refund; processing: the hold only)'
);
is(query(qq{SELECT count(*) FROM topup.orders WHERE channel = 'prov' AND NOT EXISTS
              (SELECT 1 FROM topup.ledger l WHERE l.order_id = orders.order_id)}),
	'0', 'every order has its entries');

is(query('SELECT count(*) FROM topup.verify_ledger()'),
	'0', 'after the restart verify_ledger() finds nothing')
  or diag(query(q{SELECT problem || ': ' || detail FROM topup.verify_ledger() LIMIT 10}));

# ---------------------------------------------------------------- the timeouts
ok( $node->poll_query_until(
		'topup_crash',
		q{SELECT coalesce(max(lease_until) < now(), true) FROM topup.orders WHERE topup_status = 'provider_in_progress'}),
	'the leases of the orders in flight run out');

note(query(q{SELECT count(*) || ' orders in flight' FROM topup.orders WHERE topup_status = 'provider_in_progress'}) // '');
ok( defined query(
		q{CREATE TABLE public.before AS SELECT order_id, status::text, topup_status::text FROM topup.orders;
		  CREATE TABLE public.in_flight AS
		    SELECT order_id FROM topup.orders WHERE topup_status = 'provider_in_progress';
		  CALL topup.run_order_timeouts();}),
	'CALL topup.run_order_timeouts()');

is( query(
		q{SELECT count(*) FILTER (WHERE o.status = 'processing' AND o.topup_status = 'provider_verification'
		                            AND o.lease_until IS NULL AND o.next_attempt_at <= now())
		         || '/' || count(*) || '|' || (count(*) >= } . ($stuck) . q{)
		    FROM public.in_flight f JOIN topup.orders o USING (order_id)}),
	query(q{SELECT count(*) || '/' || count(*) || '|true' FROM public.in_flight}),
	"every order in flight (at least the $stuck never reported) went in doubt, claimable at once");

is( query(
		q{SELECT count(*) FROM public.before b JOIN topup.orders o USING (order_id)
		   WHERE (o.status::text <> b.status OR o.topup_status::text <> b.topup_status)
		     AND b.order_id NOT IN (SELECT order_id FROM public.in_flight)}),
	'0',
	'no other order changed');

is( query(
		q{SELECT (SELECT count(*) FROM topup.orders WHERE status = 'failed')
		         - (SELECT count(*) FROM public.before WHERE status = 'failed')
		         || '|' || (SELECT count(*) FROM topup.orders WHERE topup_status = 'provider_in_progress')}),
	'0|0',
	'the timeouts failed no order and left none in progress');

is(query('SELECT count(*) FROM topup.verify_ledger()'),
	'0', 'after the timeouts verify_ledger() finds nothing')
  or diag(query(q{SELECT problem || ': ' || detail FROM topup.verify_ledger() LIMIT 10}));

# ---------------------------------------------------------------- the workers again
$w = wait_workers(start_workers($node, 'topup_crash', 'again', $script, $workers));
is(join(' ', map { $_->{rc} } @$w), join(' ', (0) x $workers), "all $workers workers ran again and exited 0")
  or diag(substr(join('', map { $_->{err} } @$w), 0, 1000));

is( query(
		q{SELECT count(*) FILTER (WHERE o.status IN ('completed', 'failed')
		                            AND o.status = CASE WHEN o.order_id % 2 = 0 THEN 'completed' ELSE 'failed' END::topup.order_status
		                            AND (SELECT l.topup_status FROM public.claim_log l WHERE l.order_id = o.order_id
		                                  ORDER BY l.seq DESC LIMIT 1) = 'provider_verification')
		         || '/' || count(*)
		    FROM public.in_flight f JOIN topup.orders o USING (order_id)}),
	query(q{SELECT count(*) || '/' || count(*) FROM public.in_flight}),
	'each order that was in doubt was claimed for verification and verified');

my $acks2 = acks($w);
is( scalar(grep { exists $acks->{$_} } keys %$acks2) . '|'
	  . query(
		q{SELECT count(*) FROM topup.orders
		   WHERE channel = 'prov' AND topup_status NOT IN ('provider_in_progress_error', 'provider_verification',
		                                                     'completed', 'failed')}),
	'0|0',
	'no order acknowledged before the crash was reported again; every order is ended or waits for its retry');

is(query($entries_sql), '0', 'again, no order is both credited and refunded');

is(query('SELECT count(*) FROM topup.verify_ledger()'),
	'0', 'in the end verify_ledger() finds nothing')
  or diag(query(q{SELECT problem || ': ' || detail FROM topup.verify_ledger() LIMIT 10}));

$node->stop;
