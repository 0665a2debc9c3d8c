# test/t/008_provider_workers.pl — 8 workers drain a provider channel.
#
# 20,000 provider-backed top-ups of 200 cards are held (amount + fee moved
# from the master balance into the hold) by a pgbench run, then 8 psql
# clients work the channel at once: each claims up to 100 orders
# (claim_orders, a lease of 10 minutes, so a lease never runs out here),
# logs the claim with its worker id in the claim's own transaction, then
# reports each order (report_order, logged in the report's transaction),
# until no order of the channel is left processing.  The outcome depends
# on the order (order_id % 20) and on what the claim says of it
# (topup_status, and the error slug an earlier report left):
#
#   0-12  completed at once                                  1 attempt
#   13-14 failed (card_declined)                             1 attempt
#   15-16 error (gateway_timeout), then completed            2 attempts
#   17    error every time: the 3rd report (max_attempts 3)
#         fails it, refunded (provider_unavailable)          3 attempts
#   18    unknown (in doubt), then verified completed        2 attempts
#   19    unknown, then two verification errors (never
#         failed by themselves, although past max_attempts),
#         then verified failed (not_applied)                 4 attempts
#
# The channel's attempt_timeout is 200 ms, so a retry waits 200 ms,
# 400 ms, 800 ms (the backoff attempt_timeout * 2^(attempts - 1)).
# 100 orders of another provider channel are there too and must not be
# touched.  Afterwards:
#
#   - every worker exited cleanly, all 8 claimed orders;
#   - no order was handed to two workers at once: in each order's log the
#     claims and reports alternate, each report by the worker of the claim
#     before it, and the number of claims is the order's attempts;
#   - every order ended exactly once: completed or failed (topup_status
#     the same), exactly one terminal report and one terminal event
#     (order.completed / order.failed, matching) in topup.events, no
#     report replayed; and each ended as its group says, with its
#     attempts;
#   - the hold is zero; each card holds the amounts of its completed
#     orders, the fee account their fees, the master balance the funding
#     less their amount + fee; verify_ledger() finds nothing.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use TopupTest qw(topup_node pgbench_ok start_workers wait_workers);
use Test::More tests => 26;

my $orders     = 20000;
my $cards      = 200;
my $creators   = 4;
my $workers    = 8;
my $batch      = 100;
my $iterations = 2000;    # claims per worker at most (the run needs far fewer)
my $funding    = '1000000.00';

my $node = topup_node('workers', qq{
max_connections = 40
log_statement = none
});

# The result of a query on topup_workers (TopupTest::query).
sub query { return TopupTest::query($node, 'topup_workers', @_); }

# ---------------------------------------------------------------- setup
# decide(order, topup_status, error_slug): the outcome a worker reports
# for an order as its claim shows it, and the slug it reports with it.
ok( $node->psql('postgres', 'CREATE DATABASE topup_workers') == 0
	  && defined query(
		qq{
SET client_min_messages = warning;
CREATE EXTENSION topup CASCADE;
SELECT count(topup.open_account('card' || i, 'USD', 'card')) FROM generate_series(1, $cards) AS i;
SELECT topup.set_pricing('USD', 1, 1000, 0.10, 1.5);
SELECT topup.fund_master($funding, 'USD', 'workers-funding');
SELECT topup.set_channel('prov', 'provider', '200 milliseconds', 3);
SELECT topup.set_channel('other', 'provider', '200 milliseconds', 3);
SELECT count(*) FROM generate_series(1, 100) AS i,
       LATERAL topup.topup_card('card' || i, 5, 'other-' || i, channel => 'other');
CREATE SEQUENCE public.k;
CREATE TABLE public.work_log (
    seq bigserial PRIMARY KEY,
    worker int NOT NULL,
    order_id bigint NOT NULL,
    what text NOT NULL CHECK (what IN ('claim', 'report')),
    status text, topup_status text, error_slug text, outcome text, replayed boolean);
CREATE INDEX ON public.work_log (order_id, seq);
CREATE FUNCTION public.decide(o bigint, ts text, slug text, OUT outcome text, OUT slug_out text)
LANGUAGE sql IMMUTABLE AS \$\$
  SELECT split_part(d, '|', 1), nullif(split_part(d, '|', 2), '') FROM (SELECT CASE
    WHEN o % 20 <= 12 THEN 'completed|'
    WHEN o % 20 <= 14 THEN 'failed|card_declined'
    WHEN o % 20 <= 16 THEN CASE WHEN slug IS NULL THEN 'error|gateway_timeout' ELSE 'completed|' END
    WHEN o % 20 = 17 THEN 'error|gateway_down'
    WHEN o % 20 = 18 THEN CASE WHEN ts = 'provider_in_progress' THEN 'unknown|in_doubt' ELSE 'completed|' END
    ELSE CASE WHEN ts = 'provider_in_progress' THEN 'unknown|in_doubt'
              WHEN slug = 'in_doubt' THEN 'error|verify_timeout_1'
              WHEN slug = 'verify_timeout_1' THEN 'error|verify_timeout_2'
              ELSE 'failed|not_applied' END
  END AS d) AS s
\$\$;
}),
	"set up the database ($cards cards, pricing, funding, channels prov and other, the work log)");

# ---------------------------------------------------------------- the held top-ups
# 10 top-ups a transaction (one by one, each would wait for the commit
# of the one before: every provider-backed top-up notifies topup_orders)
pgbench_ok($node, 'topup_workers', "$creators clients hold $orders provider-backed top-ups",
	"-c $creators -j 2 -t " . ($orders / $creators / 10), $orders / 10, {
		'008_hold.sql' => qq{
SELECT count(r.status)
  FROM (SELECT nextval('public.k') AS k FROM generate_series(1, 10)) AS s,
       LATERAL topup.topup_card('card' || (s.k % $cards + 1), 1 + s.k % 50, 'prov-' || s.k, channel => 'prov') AS r;
}
	});

is( query(
		q{SELECT count(*) FILTER (WHERE status = 'processing' AND topup_status = 'new' AND attempts = 0)
		         || '|' || count(*) || '|'
		         || ((SELECT balance FROM topup.hold_balances WHERE client_id = 'default' AND currency = 'USD')
		             = (SELECT sum(amount + fee) FROM topup.orders WHERE status = 'processing'))
		    FROM topup.orders WHERE channel = 'prov'}),
	"$orders|$orders|true",
	"$orders orders held, processing (new); the hold is the amount + fee of the held orders");

# ---------------------------------------------------------------- claims skip, never wait
# A claim of 10 is held open in one session; a claim in another (with a
# lock_timeout, so that a claim that waits fails instead) gets the next
# 10 oldest orders at once.  Both roll back.
my $holder = $node->background_psql('topup_workers');
my $held = $holder->query_safe(
	q{BEGIN;
	  SELECT string_agg(order_id::text, ',' ORDER BY order_id) FROM topup.claim_orders('prov', 10, '10 minutes');});
is( (query(
			q{BEGIN;
			  SET LOCAL lock_timeout = '5s';
			  SELECT string_agg(order_id::text, ',' ORDER BY order_id) FROM topup.claim_orders('prov', 10, '10 minutes');
			  ROLLBACK;}
		  ) // 'error')
	  . ' / '
	  . $held,
	query(
		q{SELECT string_agg(order_id::text, ',' ORDER BY order_id) FILTER (WHERE n > 10)
		         || ' / ' || string_agg(order_id::text, ',' ORDER BY order_id) FILTER (WHERE n <= 10)
		    FROM (SELECT order_id, row_number() OVER (ORDER BY order_id) AS n FROM topup.orders
		           WHERE channel = 'prov' ORDER BY order_id LIMIT 20) AS o}),
	'a claim skips the orders another open claim holds (no wait) and takes the next oldest');
$holder->query_safe('ROLLBACK');
$holder->quit;

# ---------------------------------------------------------------- the workers
# Each worker waits until all are connected, then loops: claim, log the
# claim, report each claimed order (\gexec runs each report as a
# statement of its own), and stop when nothing of the channel is left
# processing or a worker is gone (one that failed: the others would wait
# for its orders forever).  With nothing claimable now it sleeps 50 ms.
my $iteration = qq{
WITH c AS (SELECT * FROM topup.claim_orders('prov', $batch, '10 minutes')),
     l AS (INSERT INTO public.work_log (worker, order_id, what, status, topup_status, error_slug)
           SELECT :w, order_id, 'claim', status, topup_status, error_slug FROM c)
SELECT format('WITH r AS (SELECT * FROM topup.report_order(%s, %L, %L, %L)) '
              'INSERT INTO public.work_log (worker, order_id, what, status, topup_status, error_slug, outcome, replayed) '
              'SELECT %s, order_id, ''report'', status, topup_status, error_slug, %L, replayed FROM r',
              c.order_id, d.outcome, 'PRV-' || c.order_id, d.slug_out, :w, d.outcome)
  FROM c CROSS JOIN LATERAL public.decide(c.order_id, c.topup_status::text, c.error_slug) AS d
 ORDER BY c.order_id \\gexec
SELECT NOT EXISTS (SELECT 1 FROM topup.orders WHERE status = 'processing' AND channel = 'prov')
       OR (SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'topup_worker_%') < $workers
       AS done,
       pg_sleep(CASE WHEN EXISTS (SELECT 1 FROM topup.orders
                                   WHERE status = 'processing' AND channel = 'prov'
                                     AND topup_status <> 'provider_in_progress'
                                     AND COALESCE(next_attempt_at, '-infinity') <= now()
                                     AND COALESCE(lease_until, '-infinity') <= now())
                     THEN 0 ELSE 0.05 END) AS slept \\gset
\\if :done
\\q
\\endif
};
my $script = qq{
DO \$\$
DECLARE
    deadline timestamptz := clock_timestamp() + interval '60 seconds';
BEGIN
    WHILE (SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'topup_worker_%') < $workers
          AND clock_timestamp() < deadline
    LOOP
        PERFORM pg_sleep(0.02);
        PERFORM pg_stat_clear_snapshot();
    END LOOP;
END
\$\$;
} . ($iteration x $iterations);

my $t0 = time;
my $w = wait_workers(start_workers($node, 'topup_workers', 'workers', $script, $workers));
note("the workers took " . (time - $t0) . " s");

is(join(' ', map { $_->{rc} } @$w), join(' ', (0) x $workers), "all $workers workers exited 0");
is(scalar(grep { $_->{err} ne '' } @$w), 0, 'no worker printed an error')
  or diag(substr(join('', map { $_->{err} } @$w), 0, 1000));

# ---------------------------------------------------------------- checks
is(query(q{SELECT count(DISTINCT worker) FROM public.work_log WHERE what = 'claim'}),
	$workers, "each of the $workers workers claimed orders");

is( query(
		q{SELECT count(*) FILTER (WHERE status IN ('completed', 'failed') AND topup_status::text = status::text)
		         || '|' || count(*)
		    FROM topup.orders WHERE channel = 'prov'}),
	"$orders|$orders",
	'every order of the channel ended completed or failed (topup_status the same), none processing');

is( query(
		q{SELECT count(*) || '|' || count(*) FILTER (WHERE status = 'processing' AND topup_status = 'new'
		                                              AND attempts = 0)
		    FROM topup.orders WHERE channel = 'other'}),
	'100|100',
	"no order of the other channel was claimed");

# In each order's log the claims and reports alternate, starting with a
# claim and ending with a report; each report is by the worker of the
# claim before it.  Two workers holding an order at once would show two
# claims in a row.
is( query(
		q{WITH x AS (
		    SELECT order_id, what, worker, lag(what) OVER w AS prev_what, lag(worker) OVER w AS prev_worker,
		           row_number() OVER w AS n, count(*) OVER (PARTITION BY order_id) AS total
		      FROM public.work_log WINDOW w AS (PARTITION BY order_id ORDER BY seq))
		  SELECT count(*) FILTER (WHERE n = 1 AND what <> 'claim')
		         || '|' || count(*) FILTER (WHERE what = 'claim' AND prev_what = 'claim')
		         || '|' || count(*) FILTER (WHERE what = 'report'
		                                      AND (prev_what IS DISTINCT FROM 'claim' OR prev_worker <> worker))
		         || '|' || count(*) FILTER (WHERE n = total AND what <> 'report')
		    FROM x}),
	'0|0|0|0',
	'no order was handed to two workers at once: claims and reports alternate, each report by the claiming worker'
);

is( query(
		q{SELECT count(*) FROM topup.orders o
		   WHERE o.channel = 'prov'
		     AND o.attempts <> (SELECT count(*) FROM public.work_log l
		                         WHERE l.order_id = o.order_id AND l.what = 'claim')}),
	'0',
	"each order's attempts equal the number of times it was claimed");

is( query(
		q{SELECT count(*) FROM public.work_log
		   WHERE what = 'claim' AND (status <> 'processing'
		         OR topup_status NOT IN ('provider_in_progress', 'provider_verification'))}),
	'0',
	'every claim handed over a processing order, provider_in_progress or provider_verification');

is( query(
		q{SELECT count(*) FROM topup.orders o
		   WHERE o.channel = 'prov'
		     AND (SELECT count(*) FROM public.work_log l
		           WHERE l.order_id = o.order_id AND l.what = 'report'
		             AND l.status IN ('completed', 'failed')) <> 1}),
	'0',
	'every order was ended by exactly one report');

is(query(q{SELECT count(*) FROM public.work_log WHERE what = 'report' AND replayed}),
	'0', 'no report was a replay');

# the events of each order, counted by kind
is( query(
		q{SELECT count(*) FROM topup.orders o
		    LEFT JOIN (SELECT order_id,
		                      count(*) FILTER (WHERE kind = 'order.processing') AS processing,
		                      count(*) FILTER (WHERE kind = 'order.completed') AS completed,
		                      count(*) FILTER (WHERE kind = 'order.failed') AS failed
		                 FROM topup.events GROUP BY order_id) AS e ON e.order_id = o.order_id
		   WHERE o.channel = 'prov' AND COALESCE(e.completed + e.failed, 0) <> 1}),
	'0',
	'every order has exactly one terminal event (order.completed or order.failed)');

is( query(
		q{SELECT count(*) FROM topup.orders o
		    LEFT JOIN (SELECT order_id,
		                      count(*) FILTER (WHERE kind = 'order.processing') AS processing,
		                      count(*) FILTER (WHERE kind = 'order.completed') AS completed,
		                      count(*) FILTER (WHERE kind = 'order.failed') AS failed
		                 FROM topup.events GROUP BY order_id) AS e ON e.order_id = o.order_id
		   WHERE o.channel = 'prov'
		     AND (e.processing IS DISTINCT FROM 1
		          OR CASE o.status WHEN 'completed' THEN e.completed ELSE e.failed END <> 1)}),
	'0',
	"each order's terminal event matches its status, after exactly one order.processing");

# each group as decide() leads it
is( query(
		q{SELECT string_agg(g || ':' || s || ':' || coalesce(slug, '-') || ':' || attempts || ':' || n,
		                    ' ' ORDER BY g, s, slug, attempts)
		    FROM (SELECT CASE WHEN order_id % 20 <= 12 THEN 'A' WHEN order_id % 20 <= 14 THEN 'F'
		                      WHEN order_id % 20 <= 16 THEN 'E' WHEN order_id % 20 = 17 THEN 'X'
		                      WHEN order_id % 20 = 18 THEN 'U' ELSE 'V' END AS g,
		                 status::text AS s,
		                 CASE WHEN status = 'failed' THEN error_slug END AS slug, attempts, count(*) AS n
		            FROM topup.orders WHERE channel = 'prov' GROUP BY 1, 2, 3, 4) AS t}),
	query(
		q{SELECT string_agg(g || ':' || s || ':' || slug || ':' || attempts || ':' || n, ' ' ORDER BY g, s, slug, attempts)
		    FROM (SELECT g, s, slug, attempts, count(*) AS n
		            FROM (SELECT order_id % 20 AS h FROM topup.orders WHERE channel = 'prov') AS o
		            JOIN (VALUES (0, 12, 'A', 'completed', '-', 1), (13, 14, 'F', 'failed', 'card_declined', 1),
		                         (15, 16, 'E', 'completed', '-', 2), (17, 17, 'X', 'failed', 'provider_unavailable', 3),
		                         (18, 18, 'U', 'completed', '-', 2), (19, 19, 'V', 'failed', 'not_applied', 4))
		                 AS x (lo, hi, g, s, slug, attempts) ON o.h BETWEEN x.lo AND x.hi
		           GROUP BY 1, 2, 3, 4) AS t}),
	'each order ended as its group leads it (completed at once, declined, retried after an error, '
	  . 'failed after max_attempts errors, verified after unknown, verification errors never failing it)');

is( query(
		q{SELECT count(*) FILTER (WHERE what = 'claim') - count(DISTINCT order_id) > 0
		         AND count(*) FILTER (WHERE outcome = 'error') > 0 AND count(*) FILTER (WHERE outcome = 'unknown') > 0
		    FROM public.work_log}),
	't',
	'the run went through retries, errors and orders in doubt');

# ---------------------------------------------------------------- money
is( query(
		q{SELECT balance || '|' || (balance = (SELECT sum(amount + fee) FROM topup.orders WHERE channel = 'other'))
		    FROM topup.hold_balances WHERE client_id = 'default' AND currency = 'USD'}),
	'518.00|true',
	"the channel's hold is zero: what is held is the other channel's 100 orders (5.00 + fee 0.18 each)");

is( query(
		q{SELECT count(*) FROM topup.accounts a
		   WHERE a.balance <> (SELECT coalesce(sum(o.amount), 0) FROM topup.orders o
		                        WHERE o.account_id = a.account_id AND o.status = 'completed')}),
	'0',
	'each card holds exactly the amounts of its completed orders');

is( query(
		q{SELECT (SELECT balance FROM topup.fee_balances WHERE client_id = 'default' AND currency = 'USD')
		         = (SELECT sum(fee) FROM topup.orders WHERE status = 'completed')}),
	't',
	'the fee account holds exactly the fees of the completed orders');

is( query(
		qq{SELECT (SELECT balance FROM topup.master_balances WHERE client_id = 'default' AND currency = 'USD')
		          = $funding - (SELECT sum(amount + fee) FROM topup.orders WHERE status = 'completed')
		                     - (SELECT sum(amount + fee) FROM topup.orders WHERE status = 'processing')}),
	't',
	'the master balance is the funding less the completed orders and the held ones (failed ones refunded)');

is(query('SELECT count(*) FROM topup.verify_ledger()'),
	'0', 'verify_ledger() finds nothing')
  or diag(query(q{SELECT problem || ': ' || detail FROM topup.verify_ledger() LIMIT 10}));

note(
	query(
		q{SELECT count(*) FILTER (WHERE status = 'completed') || ' completed, '
		         || count(*) FILTER (WHERE status = 'failed') || ' failed; '
		         || (SELECT count(*) FROM public.work_log WHERE what = 'claim') || ' claims, '
		         || (SELECT count(*) FROM public.work_log WHERE what = 'report') || ' reports'
		    FROM topup.orders WHERE channel = 'prov'}) // '');

$node->stop;
