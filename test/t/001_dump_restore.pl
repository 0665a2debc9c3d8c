# test/t/001_dump_restore.pl — a database using topup survives pg_dump and
# restore into another cluster, as plain SQL through psql and as -Fc
# through pg_restore:
#
#   - the dump holds no PIN in plain text, but does hold the rows of
#     topup.secret and topup.vouchers (so the search looked at real data);
#   - every dump and restore command succeeds and reports no error;
#   - the restored secret replaces the one CREATE EXTENSION made during the
#     restore, so restored PINs still redeem (and a redeemed one stays
#     redeemed), export_vouchers gives back the same PINs, idempotent
#     retries replay, numbering and order ids continue, verify_ledger()
#     finds nothing and seeded rows are not duplicated;
#   - loading the dumped secret with COPY (what a restore does) replaces a
#     fresh one, and nothing else may insert, change or delete it.
#
# Every dump or restore is written to a file, its exit status checked, and
# only then is the file searched.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More tests => 45;
use TopupTest;

use IPC::Run;

# Run a command; its exit status and its output (stdout and stderr
# together), which is shown with diag when the status is not 0.
sub run_cmd
{
	my (@cmd) = @_;
	my $out = '';
	my $ok = IPC::Run::run(\@cmd, '>&', \$out);
	diag("'@cmd' failed:\n$out") unless $ok;
	return ($ok, $out);
}

sub slurp_or_empty
{
	my ($file) = @_;
	return -f $file ? slurp_file($file) : '';
}

# The PINs of @pins that occur in $text.
sub pins_in
{
	my ($text, @pins) = @_;
	return grep { index($text, $_) >= 0 } @pins;
}

my $tmp = PostgreSQL::Test::Utils::tempdir;

# ---------------------------------------------------------------- source
my $src = topup_node('source', undef, 0);
my $setup_ok = $src->psql('postgres', 'CREATE DATABASE topup_src') == 0;
$setup_ok &&= defined query(
	$src, 'topup_src', q{
SET client_min_messages = warning;
CREATE EXTENSION topup CASCADE;
SELECT topup.create_client('dumpco', 'Dump test client');
SELECT topup.create_reseller('dumpshop', 'dumpco');
-- an admin-added currency: dumped, unlike the seeded ones
INSERT INTO topup.currencies (code, minor_units, name) VALUES ('XTS', 2, 'Test currency');
SELECT topup.open_account('cust1', 'USD', 'customer', true, NULL, 'dumpco');
SELECT 1 FROM topup.generate_vouchers('DUMP', 20, 5, 'USD', 12, now() + interval '1 year', 'dumpshop', 'dumpco');
SELECT 1 FROM topup.generate_vouchers('DUMPB', 5, 7, 'EUR', 16, NULL, NULL, 'dumpco');
});
ok($setup_ok,
	'set up the source database (client, reseller, account, 25 vouchers)');

# The serials and PINs of both series, one "serial<TAB>pin" line each.
sub export_pins
{
	my ($node, $db) = @_;
	return query(
		$node, $db, q{
COPY (SELECT serial, pin FROM topup.export_vouchers('DUMP', 'dumpco')
      UNION ALL
      SELECT serial, pin FROM topup.export_vouchers('DUMPB', 'dumpco')
      ORDER BY 1) TO STDOUT});
}

# A fingerprint of the secret (never the secret itself).
sub secret_fingerprint
{
	my ($node, $db) = @_;
	return query($node, $db,
		q{SELECT count(*) || ':' || string_agg(md5(hmac_key || enc_key), ',') FROM topup.secret}
	);
}

# "status|error_slug|replayed" of a redeem.
sub redeem
{
	my ($node, $db, $pin, $account, $key) = @_;
	$key = defined $key ? "'$key'" : 'NULL';
	return query($node, $db,
		"SELECT status, coalesce(error_slug, ''), replayed
		   FROM topup.redeem_voucher('$pin', '$account', $key, NULL, 'dumpco')");
}

my $src_export = export_pins($src, 'topup_src') // '';
my @pins = map { (split /\t/)[1] // '' } split /\n/, $src_export;
is(scalar(grep { /^[0-9]{12}([0-9]{4})?$/ } @pins),
	25, 'export_vouchers returns the 25 PINs');
my ($pin1, $pin2, $pin3) = @pins[ 0 .. 2 ];

is(redeem($src, 'topup_src', $pin1, 'cust1', 'dump-key-1'),
	'completed||f', 'redeem a voucher in the source database');

my $src_secret = secret_fingerprint($src, 'topup_src') // 'none';
my $src_currencies =
  query($src, 'topup_src', 'SELECT count(*) FROM topup.currencies') // 'none';
my $src_clients =
  query($src, 'topup_src', 'SELECT count(*) FROM topup.clients') // 'none';
my $src_max_order =
  query($src, 'topup_src', 'SELECT max(order_id) FROM topup.orders') // 0;
# what the first generation after a restore must return
my $next_generation = query($src, 'topup_src',
	q{SELECT topup.make_serial('DUMP', 1)::text || ' ' || topup.make_serial('DUMP', 21)::text || ' 21'}
) // 'none';

# A dump in SQL text ($what names it): the command succeeded, the text holds
# the data of topup.secret and topup.vouchers, and no PIN.
sub check_dump_text
{
	my ($what, $cmd_ok, $file) = @_;
	my $text = slurp_or_empty($file);
	my $has_data = $text =~ /^COPY topup\.secret /m
	  && $text =~ /^COPY topup\.vouchers /m;
	ok($cmd_ok && $has_data,
		"$what: the text holds the data of topup.secret and topup.vouchers");
	my @found = pins_in($text, @pins);
	ok($cmd_ok && $has_data && @pins == 25 && !@found,
		"$what: no exported PIN appears in the text");
	diag(scalar(@found) . " PIN(s) found in $file") if @found;
	return;
}

# ---------------------------------------------------------------- plain dump
my $plain = "$tmp/dump.sql";
my ($dump_ok) = run_cmd('pg_dump', '-d', $src->connstr('topup_src'), '-f', $plain);
ok($dump_ok, 'pg_dump (plain SQL) succeeds');
check_dump_text('plain dump', $dump_ok, $plain);

# ---------------------------------------------------------------- custom dump
my $custom = "$tmp/dump.custom";
my ($custom_ok) =
  run_cmd('pg_dump', '-Fc', '-d', $src->connstr('topup_src'), '-f', $custom);
ok($custom_ok, 'pg_dump -Fc succeeds');
my $custom_sql = "$tmp/dump.custom.sql";
my ($text_ok) = run_cmd('pg_restore', '-f', $custom_sql, $custom);
ok($custom_ok && $text_ok, 'pg_restore -f turns the -Fc dump into SQL text');
check_dump_text('-Fc dump', $custom_ok && $text_ok, $custom_sql);

# ---------------------------------------------------------------- restores
my $dst = topup_node('target', undef, 1);
for my $db (qw(plain custom fresh))
{
	$dst->psql('postgres', "CREATE DATABASE $db", on_error_die => 1);
}

my ($plain_ok, $plain_out) =
  run_cmd('psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d',
	$dst->connstr('plain'), '-f', $plain);
ok($dump_ok && $plain_ok && $plain_out !~ /(ERROR|FATAL|WARNING):/,
	'plain: restore with psql -v ON_ERROR_STOP=1 reports no error');
diag($plain_out) if $plain_ok && $plain_out =~ /(ERROR|FATAL|WARNING):/;

my ($restore_ok, $restore_out) =
  run_cmd('pg_restore', '--exit-on-error', '-d', $dst->connstr('custom'),
	$custom);
ok($custom_ok && $restore_ok && $restore_out !~ /(ERROR|FATAL|WARNING|error):/,
	'custom: pg_restore --exit-on-error reports no error');
diag($restore_out) if $restore_ok && $restore_out =~ /(ERROR|FATAL|WARNING|error):/;

# Every check on a restored database (13 assertions).
sub verify_restored
{
	my ($db) = @_;

	is(secret_fingerprint($dst, $db), $src_secret,
		"$db: the restored secret replaced the one CREATE EXTENSION made");
	is(redeem($dst, $db, $pin2, 'cust1'),
		'completed||f', "$db: redeem an unredeemed PIN");
	is(redeem($dst, $db, $pin1, 'cust1'),
		'failed|voucher_already_redeemed|f',
		"$db: the PIN redeemed before the dump stays redeemed");
	is(redeem($dst, $db, $pin1, 'cust1', 'dump-key-1'),
		'completed||t',
		"$db: a retry with the idempotency key of the source redeem replays it");
	is(export_pins($dst, $db), $src_export,
		"$db: export_vouchers returns the same serials and PINs");
	is(query($dst, $db, 'SELECT count(*) FROM topup.verify_ledger()'),
		'0', "$db: verify_ledger() finds nothing");
	is( query(
			$dst, $db,
			"SELECT balance FROM topup.accounts WHERE client_id = 'dumpco' AND account_id = 'cust1'"
		),
		'10.00',
		"$db: the account holds both redeems");
	is(query($dst, $db, 'SELECT count(*) FROM topup.currencies'),
		$src_currencies,
		"$db: topup.currencies has the source's rows (seeded ones not duplicated)");
	is(query($dst, $db, 'SELECT count(*) FROM topup.clients'),
		$src_clients, "$db: topup.clients has the source's rows");
	# the two new orders (one completed, one failed) got fresh ids
	is( query(
			$dst, $db,
			"SELECT count(*) FROM topup.orders WHERE order_id > $src_max_order"),
		'2',
		"$db: order ids continue after the source's");
	is( query(
			$dst, $db,
			q{SELECT first_serial::text || ' ' || last_serial::text || ' ' || quantity
			    FROM topup.generate_vouchers('DUMP', 1, 5, 'USD', 12, NULL, NULL, 'dumpco')}
		),
		$next_generation,
		"$db: a new generation continues the series");
	is( query(
			$dst, $db,
			q{SELECT count(DISTINCT pin) FROM topup.export_vouchers('DUMP', 'dumpco')}),
		'21',
		"$db: the new PIN is not one of the restored ones");
	is( query(
			$dst, $db,
			"SELECT count(*) FROM topup.export_vouchers('DUMP', 'dumpco')
			  WHERE pin = '$pin3' AND status = 'new'"),
		'1',
		"$db: an untouched restored voucher is still new");
	return;
}

verify_restored('plain');
verify_restored('custom');

# ---------------------------------------------------------------- the secret trigger
# A fresh CREATE EXTENSION makes its own secret; loading the dumped secret
# with COPY (what a restore does) replaces it, and nothing else may change it.
query($dst, 'fresh',
	'SET client_min_messages = warning; CREATE EXTENSION topup CASCADE');
my $fresh_secret = secret_fingerprint($dst, 'fresh') // '';
ok($fresh_secret =~ /^1:/ && $fresh_secret ne $src_secret,
	'fresh: CREATE EXTENSION makes a secret of its own');

my ($secret_copy) =
  slurp_or_empty($plain) =~ /^(COPY topup\.secret .*?^\\\.$)/ms;
my $copy_ok = defined $secret_copy
  && defined query($dst, 'fresh', "$secret_copy\n");
ok($copy_ok, 'fresh: COPY of the dumped secret is accepted');
is(secret_fingerprint($dst, 'fresh'), $src_secret,
	'fresh: the copied secret replaced the fresh one (one row, the source\'s keys)');

for my $stmt (
	'INSERT INTO topup.secret (id, hmac_key, enc_key) VALUES (true, topup._random_key(), topup._random_key())',
	'UPDATE topup.secret SET hmac_key = topup._random_key()',
	'DELETE FROM topup.secret')
{
	my ($rc, $out, $err) =
	  $dst->psql('fresh', $stmt, extra_params => [ '-v', 'VERBOSITY=sqlstate' ]);
	my ($verb) = $stmt =~ /^(\w+)/;
	ok($rc != 0 && $err =~ /ERROR:  23514$/,
		"fresh: $verb on topup.secret is rejected (23514)")
	  or diag("psql exited $rc: $err");
}
is(secret_fingerprint($dst, 'fresh'), $src_secret,
	'fresh: the secret is unchanged after the rejected writes');

$src->stop;
$dst->stop;
