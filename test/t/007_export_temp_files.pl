# test/t/007_export_temp_files.pl — export_vouchers does not put plaintext
# PINs into temporary files.
#
# A function scan keeps a set-returning function's result in a tuplestore
# that spills to a temporary file past work_mem; export_vouchers hands the
# query a tuplestore of its own that stays in memory.  With work_mem =
# 64kB and log_temp_files = 0 (every temporary file is logged when it is
# removed), a 200,000-voucher series is exported:
#
#   - through a cursor, so that the function has run to its end and its
#     result is held while we look: the temporary file directory is empty
#     (nothing of the result is on disk), and closing the cursor logs no
#     temporary file;
#   - COPY (SELECT * FROM topup.export_vouchers(...)) TO STDOUT gives every
#     voucher and logs no temporary file;
#   - the same export with ORDER BY pin (a sort over the plaintext that
#     spills) shows that the checks can fail: while its cursor is open the
#     directory holds files with the PINs in them, and closing it logs the
#     temporary files;
#   - pg_stat_database.temp_files agrees: a plain export counts none, the
#     sorted one some.
#
# The table is analyzed (and autovacuum off, so plans stay put): the
# function then reads the series in serial order from the primary key.
# With the statistics of an empty table it sorts the stored hashes and
# ciphertexts (no plaintext) instead, and that sort spills inside the call
# at this work_mem; a file written and removed inside the call, before
# the first row, is shown with diag.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More tests => 12;
use TopupTest;

my $node = topup_node(
	'tempfiles', q{
log_statement = none
autovacuum = off
log_temp_files = 0
work_mem = 64kB
max_parallel_workers_per_gather = 0
});
my $logfile = $node->logfile;

is( query(
		$node, 'postgres',
		q{SELECT current_setting('work_mem') || ' ' || current_setting('log_temp_files')}),
	'64kB 0',
	'the server runs with work_mem = 64kB and log_temp_files = 0');

is( query(
		$node, 'postgres', q{
SET client_min_messages = warning;
CREATE EXTENSION topup CASCADE;
SELECT quantity FROM topup.generate_vouchers('BIG', 200000, 5, 'USD', 12);
ANALYZE topup.vouchers;
}),
	'200000',
	'generate a series of 200,000 vouchers (and analyze)');

# ---------------------------------------------------------------- COPY
my $offset = -s $logfile;
my $csv = query($node, 'postgres',
	q{COPY (SELECT * FROM topup.export_vouchers('BIG', 'default')) TO STDOUT}) // '';
my @pins = map { (split /\t/)[1] // '' } split /\n/, $csv;
is(scalar(grep { /^[0-9]{12}$/ } @pins),
	200000, 'COPY (SELECT * FROM export_vouchers(...)) TO STDOUT gives the 200,000 PINs');
my @copy_temp = slurp_file($logfile, $offset) =~ /(temporary file: .*)$/mg;
is(scalar(@copy_temp), 0, 'COPY (SELECT * FROM export_vouchers(...)) TO STDOUT logs no temporary file')
  or diag("logged during the COPY: @copy_temp");

# a few PINs to look for in the temporary files
my @sample = @pins[ 0, 99999, 199999 ];
my $sample_sql = join(', ', map { "('$_')" } @sample);

# Export through a cursor with $order: log a marker, fetch one row (the
# function has run to its end, its result is held), report the temporary
# files now on disk and how many of them hold a sample PIN, log a second
# marker, close the cursor and commit, log a third.  Returns (files on
# disk, files holding a PIN, temporary files logged before the first row,
# log written while the cursor was closed).
sub cursor_export
{
	my ($name, $order) = @_;
	my $out = query(
		$node, 'postgres', qq{
DO \$\$ BEGIN RAISE LOG 'topup-test: $name start'; END \$\$;
BEGIN;
DECLARE c NO SCROLL CURSOR FOR SELECT * FROM topup.export_vouchers('BIG', 'default') $order;
MOVE FORWARD 1 IN c;
SELECT count(*) FROM pg_ls_tmpdir();
SELECT count(DISTINCT t.name) FROM pg_ls_tmpdir() t, (VALUES $sample_sql) AS s(pin)
 WHERE position(convert_to(s.pin, 'UTF8') IN pg_read_binary_file('base/pgsql_tmp/' || t.name)) > 0;
DO \$\$ BEGIN RAISE LOG 'topup-test: $name open'; END \$\$;
MOVE FORWARD ALL IN c;
CLOSE c;
COMMIT;
DO \$\$ BEGIN RAISE LOG 'topup-test: $name closed'; END \$\$;
});
	my ($files, $with_pin) = split /\n/, ($out // '');
	my ($running, $closing) = slurp_file($logfile) =~
	  /LOG:  topup-test: \Q$name\E start(.*)LOG:  topup-test: \Q$name\E open(.*)LOG:  topup-test: \Q$name\E closed/s;
	my @own = ($running // '') =~ /(temporary file: .*)$/mg;
	return ($files, $with_pin, \@own, $closing);
}

# ---------------------------------------------------------------- plain export
my ($files, $with_pin, $own, $window) = cursor_export('plain', '');
is($files, '0',
	'export: while its whole result is held by an open cursor, no temporary file exists');
is($with_pin, '0', 'export: no temporary file holds a PIN');
ok(defined $window && $window !~ /temporary file/,
	'export: closing the cursor logs no temporary file')
  or diag("log between the markers:\n" . ($window // '(markers not found)'));

# ---------------------------------------------------------------- the checks can fail
diag(scalar(@$own) . " temporary file(s) written and removed inside the call, before the first row: @$own")
  if @$own;

($files, $with_pin, undef, $window) = cursor_export('sorted', 'ORDER BY pin');
ok(defined $files && $files > 0,
	'ORDER BY pin: while the cursor is open the sort\'s temporary files exist');
is($with_pin, $files, 'ORDER BY pin: every one of them holds a sample PIN (the content search works)');
ok(defined $window && $window =~ /temporary file: /,
	'ORDER BY pin: closing the cursor logs the temporary files (the log check works)')
  or diag("log between the markers:\n" . ($window // '(markers not found)'));

# the same through pg_stat_database
my $stats = query(
	$node, 'postgres', q{
SELECT pg_stat_force_next_flush();
SELECT temp_files FROM pg_stat_database WHERE datname = current_database();
SELECT count(*) FROM (SELECT * FROM topup.export_vouchers('BIG', 'default') ORDER BY pin) s;
SELECT pg_stat_force_next_flush();
SELECT temp_files FROM pg_stat_database WHERE datname = current_database();
SELECT count(*) FROM topup.export_vouchers('BIG', 'default');
SELECT pg_stat_force_next_flush();
SELECT temp_files FROM pg_stat_database WHERE datname = current_database();
}) // '';
my (undef, $t0, $n1, undef, $t1, $n2, undef, $t2) = split /\n/, $stats, -1;
ok(defined $t2 && $n1 eq '200000' && $t1 - $t0 > 0,
	'pg_stat_database: the sorted export counts temporary files')
  or diag("stats: $stats");
ok(defined $t2 && $n2 eq '200000' && $t2 - $t1 == 0,
	'pg_stat_database: the plain export counts none')
  or diag("stats: $stats");

$node->stop;
