# test/t/005_dump_restore_access.pl — roles bound to clients (SPEC §8)
# survive pg_dump -Fc and pg_restore into another cluster where the roles
# exist before the restore (matched by name):
#
#   - the source has app, admin, reseller and auditor bindings of one
#     client, an admin of another client, an audit log with an admin's
#     mass edit (update and delete rows) and the bind rows, and the binding
#     of a role that was dropped (void, still in the table);
#   - the dump carries the live bindings by role name and not the dropped
#     role's; the restore reports no error, the bindings and the audit log
#     are the source's, every bound role can do (and not do) in the
#     restored database what it could in the source (privileges, current
#     client, views, a redeem with the default client, a mass edit that is
#     audited) and verify_ledger() finds nothing;
#   - a new role of the dropped role's name, created in the target before
#     the restore, inherits nothing: no binding, no privilege;
#   - a bound role that does NOT exist in the target when the restore runs
#     (outside what the SPEC promises): pg_restore reports an error for the
#     COPY of topup.role_bindings and for every GRANT statement naming it
#     and goes on; the COPY of the bindings is one statement, so the target
#     has no binding at all, and pg_restore sends the GRANTs of one object
#     as one statement batch, so the other roles lose the privileges they
#     shared an object with the missing role on (USAGE on the schema
#     among them).  The other data is restored.  Once the role exists,
#     loading the bindings again (pg_restore --data-only -t role_bindings)
#     and topup._grant_duties() give every role its privileges back.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More tests => 43;
use TopupTest;

use IPC::Run;

# Run a command; its exit status and its output (stdout and stderr
# together).  A failure is shown with diag unless $quiet.
sub run_cmd
{
	my ($quiet, @cmd) = @_;
	my $out = '';
	my $ok = IPC::Run::run(\@cmd, '>&', \$out);
	diag("'@cmd' failed:\n$out") unless $ok || $quiet;
	return ($ok, $out);
}

my $tmp = PostgreSQL::Test::Utils::tempdir;

my @live_roles = qw(da_app da_admin da_reseller da_auditor da_oadmin);

# ---------------------------------------------------------------- source
my $src = topup_node('source', undef, 0);
my $setup_ok = $src->psql('postgres', 'CREATE DATABASE src') == 0;
$setup_ok &&= defined query(
	$src, 'src', q{
SET client_min_messages = warning;
CREATE EXTENSION topup CASCADE;
CREATE ROLE da_app;
CREATE ROLE da_admin;
CREATE ROLE da_reseller;
CREATE ROLE da_auditor;
CREATE ROLE da_oadmin;
CREATE ROLE da_gone;
SELECT topup.create_client('accessco');
SELECT topup.create_client('otherco');
SELECT topup.create_reseller('shop', 'accessco');
SELECT topup.open_account('cust', 'USD', client_id => 'accessco');
SELECT topup.open_account('ocust', 'USD', client_id => 'otherco');
SELECT 1 FROM topup.generate_vouchers('AC', 10, 5, 'USD', reseller => 'shop', client_id => 'accessco');
SELECT 1 FROM topup.generate_vouchers('AD', 4, 5, 'USD', client_id => 'accessco');
SELECT 1 FROM topup.generate_vouchers('OC', 5, 5, 'USD', client_id => 'otherco');
SELECT topup.bind_role('da_app', 'app', 'accessco');
SELECT topup.bind_role('da_admin', 'admin', 'accessco');
SELECT topup.bind_role('da_reseller', 'reseller', 'accessco', 'shop');
SELECT topup.bind_role('da_auditor', 'auditor', 'accessco');
SELECT topup.bind_role('da_oadmin', 'admin', 'otherco');
SELECT topup.bind_role('da_gone', 'admin', 'accessco');
-- the admins' mass edits: updates and a delete, audited under their names
SET ROLE da_admin;
UPDATE topup.vouchers SET expires_at = now() + interval '1 year' WHERE series = 'AC';
UPDATE topup.vouchers SET status = 'blocked' WHERE series = 'AD' AND topup.serial_number(serial) = 1;
DELETE FROM topup.vouchers WHERE series = 'AD' AND topup.serial_number(serial) = 2;
-- another client's vouchers are invisible to it: this changes nothing
UPDATE topup.vouchers SET status = 'blocked' WHERE series = 'OC';
SET ROLE da_oadmin;
UPDATE topup.vouchers SET status = 'blocked' WHERE series = 'OC' AND topup.serial_number(serial) <= 2;
RESET ROLE;
-- da_gone goes away: its binding stays behind, void
DROP OWNED BY da_gone;
DROP ROLE da_gone;
});
ok($setup_ok,
	'set up the source (two clients, five bound roles, mass edits, a dropped bound role)');

is( query(
		$src, 'src',
		q{SELECT string_agg(CASE WHEN role = current_user THEN 'owner' ELSE role END || ':' || client_id || ':' || action || ':' || n, ' ' ORDER BY role, client_id, action)
		    FROM (SELECT role, client_id, action, count(*) AS n FROM topup.audit_log GROUP BY 1, 2, 3) a}
	),
	'da_admin:accessco:delete:1 da_admin:accessco:update:11 da_oadmin:otherco:update:2 '
	  . 'owner:accessco:bind:5 owner:otherco:bind:1',
	'source: the audit log holds the admins\' updates and delete and the six bind rows');

# the binding of the dropped role is still in the table at dump time
# (nothing has called bind_role, unbind_role or verify_ledger since)
is( query(
		$src, 'src',
		q{SELECT count(*) || ' ' || string_agg(role::text ~ '^[0-9]+$' || '', ',')
		    FROM topup.role_bindings b
		   WHERE NOT EXISTS (SELECT 1 FROM pg_roles r WHERE r.oid = b.role)}),
	'1 true',
	'source: the dropped role\'s binding is left in topup.role_bindings (shown by OID)');

# The PINs of series AC, in serial order.
my @pins = split /\n/,
  (query($src, 'src', q{SELECT pin FROM topup.export_vouchers('AC', 'accessco')}) // '');
is(scalar(grep { /^[0-9]{12}$/ } @pins), 10, 'source: export_vouchers gives the 10 PINs of AC');

# "status|client_id|error_slug" of a redeem by da_app with its default client
sub app_redeem
{
	my ($node, $db, $pin) = @_;
	return query($node, $db,
		"SET ROLE da_app;
		 SELECT status || '|' || client_id || '|' || coalesce(error_slug, '')
		   FROM topup.redeem_voucher('$pin', 'cust')");
}
is(app_redeem($src, 'src', $pins[0]), 'completed|accessco|',
	'source: the app role redeems a PIN with its default client');

# What the source holds and the restore must give back.
my $bindings_sql = q{
SELECT b.role::text, b.duty, b.client_id, coalesce(b.reseller, '-'), b.created_at
  FROM topup.role_bindings b
 WHERE EXISTS (SELECT 1 FROM pg_roles r WHERE r.oid = b.role)
 ORDER BY 1, 2, 3};
my $audit_sql = q{
SELECT audit_id, at, role, client_id, action, target, old, new
  FROM topup.audit_log ORDER BY audit_id};
my $src_bindings = query($src, 'src', $bindings_sql) // 'none';
my $src_audit = query($src, 'src', $audit_sql) // 'none';
is(scalar(split /\n/, $src_bindings), 5, 'source: five live bindings');

# ---------------------------------------------------------------- dump
my $custom = "$tmp/access.custom";
my ($dump_ok) = run_cmd(0, 'pg_dump', '-Fc', '-d', $src->connstr('src'), '-f', $custom);
ok($dump_ok, 'pg_dump -Fc succeeds');
my ($text_ok, $text) = run_cmd(0, 'pg_restore', '-f', '-', $custom);
my ($copy) = ($text // '') =~ /^(COPY topup\.role_bindings .*?^\\\.$)/ms;
my @dumped = map { (split /\t/)[0] } grep { !/^(COPY|\\\.)/ } split /\n/, ($copy // '');
is( join(',', sort @dumped),
	join(',', sort @live_roles),
	'the dump carries the live bindings by role name, and not the dropped role\'s');
ok($dump_ok && $text_ok && defined $copy && $text !~ /^(GRANT|REVOKE)[^\n]*\bda_gone\b/m,
	'the dump grants nothing to the dropped role');
like($text // '', qr/^\d+\t[^\t]+\t[^\t]+\taccessco\tbind\tda_gone\t/m,
	'the audit log in the dump keeps the history of the dropped role\'s binding');

# ---------------------------------------------------------------- what the roles can do
# Facts about the bound roles, read-only (one line each): the current
# client and what each sees through the views and audit log, and a table
# of privileges.
my $facts_sql = q{
SET ROLE da_app;
SELECT 'app: client ' || topup.current_client();
SET ROLE da_admin;
SELECT 'admin: client ' || topup.current_client();
SELECT 'admin: voucher_list ' || string_agg(DISTINCT client_id, ',') || ' ' || count(*)
       || ' blocked ' || count(*) FILTER (WHERE status = 'blocked') FROM topup.voucher_list;
SELECT 'admin: vouchers ' || count(*) FROM topup.vouchers;
SELECT 'admin: audit_log ' || count(*) FROM topup.audit_log;
SET ROLE da_oadmin;
SELECT 'oadmin: voucher_list ' || string_agg(DISTINCT client_id, ',') || ' ' || count(*) FROM topup.voucher_list;
SET ROLE da_reseller;
SELECT 'reseller: voucher_list ' || string_agg(DISTINCT series, ',') || ' ' || count(*) FROM topup.voucher_list;
SELECT 'reseller: export ' || count(*) FROM topup.export_vouchers('AC');
SET ROLE da_auditor;
SELECT 'auditor: audit_log ' || count(*) FROM topup.audit_log;
SELECT 'auditor: verify_ledger ' || count(*) FROM topup.verify_ledger();
RESET ROLE;
SELECT r || ' ' || string_agg(CASE WHEN ok THEN '+' ELSE '-' END || what, ' ' ORDER BY n)
  FROM (VALUES ('da_app'), ('da_admin'), ('da_reseller'), ('da_auditor'), ('da_oadmin')) AS roles(r),
       LATERAL (VALUES
         (1, 'schema', has_schema_privilege(r, 'topup', 'USAGE')),
         (2, 'redeem', has_function_privilege(r, 'topup.redeem_voucher(text,text,text,text,text)', 'EXECUTE')),
         (3, 'topup_card', has_function_privilege(r, 'topup.topup_card(text,numeric,text,text,boolean,jsonb,text,text,text)', 'EXECUTE')),
         (4, 'generate', has_function_privilege(r, 'topup.generate_vouchers(text,integer,numeric,text,integer,timestamptz,text,text)', 'EXECUTE')),
         (5, 'export', has_function_privilege(r, 'topup.export_vouchers(text,text)', 'EXECUTE')),
         (6, 'verify', has_function_privilege(r, 'topup.verify_ledger()', 'EXECUTE')),
         (7, 'bind', has_function_privilege(r, 'topup.bind_role(regrole,text,text,text)', 'EXECUTE')),
         (8, 'fund', has_function_privilege(r, 'topup.fund_master(numeric,text,text,text)', 'EXECUTE')),
         (9, 'voucher_list', has_table_privilege(r, 'topup.voucher_list', 'SELECT')),
         (10, 'audit_log', has_table_privilege(r, 'topup.audit_log', 'SELECT')),
         (11, 'edit', has_column_privilege(r, 'topup.vouchers', 'status', 'UPDATE')),
         (12, 'pin_hash', has_column_privilege(r, 'topup.vouchers', 'pin_hash', 'SELECT'))) AS p(n, what, ok)
 GROUP BY r ORDER BY r;
};
my $expected_facts = join("\n",
	'app: client accessco',
	'admin: client accessco',
	'admin: voucher_list accessco 13 blocked 1',
	'admin: vouchers 13',
	'admin: audit_log 17',
	'oadmin: voucher_list otherco 5',
	'reseller: voucher_list AC 10',
	'reseller: export 10',
	'auditor: audit_log 17',
	'auditor: verify_ledger 0',
	'da_admin +schema +redeem +topup_card +generate +export -verify -bind -fund +voucher_list +audit_log +edit -pin_hash',
	'da_app +schema +redeem +topup_card -generate -export -verify -bind -fund -voucher_list -audit_log -edit -pin_hash',
	'da_auditor +schema -redeem -topup_card -generate -export +verify -bind -fund +voucher_list +audit_log -edit -pin_hash',
	'da_oadmin +schema +redeem +topup_card +generate +export -verify -bind -fund +voucher_list +audit_log +edit -pin_hash',
	'da_reseller +schema -redeem -topup_card -generate +export -verify -bind -fund +voucher_list -audit_log -edit -pin_hash');

my $src_facts = query($src, 'src', $facts_sql) // 'none';
is($src_facts, $expected_facts,
	'source: each bound role has its duty\'s privileges and sees only its client\'s rows');


# ---------------------------------------------------------------- target
# The roles are created by name before the restore (other OIDs than in the
# source), and so is a new role named like the dropped one.  da_auditor is
# created only after the first restore, which shows what a missing role
# does.
my $dst = topup_node('target', undef, 1);
$dst->safe_psql('postgres', q{
CREATE ROLE da_gone;
CREATE ROLE da_oadmin;
CREATE ROLE da_reseller;
CREATE ROLE da_admin;
CREATE ROLE da_app;
CREATE DATABASE missing;
CREATE DATABASE restored;
});

# ---------------------------------------------------------------- a bound role missing
my ($missing_ok, $missing_out) =
  run_cmd(1, 'pg_restore', '-d', $dst->connstr('missing'), $custom);
my @errors = $missing_out =~ /^pg_restore: error: (.*)$/mg;
ok(!$missing_ok && $missing_out =~ /errors ignored on restore: \d+/,
	'missing role: pg_restore goes on past the errors and exits non-zero');
like(
	$missing_out,
	qr/COPY failed for table "role_bindings": ERROR:  role "da_auditor" does not exist/,
	'missing role: the COPY of topup.role_bindings fails on the missing role');
my @grant_errors =
  $missing_out =~ /ERROR:  role "da_auditor" does not exist\nCommand was: (GRANT [^\n]*)/g;
my @other_errors = grep { !/role "da_auditor" does not exist/ }
  split /^pg_restore: /m, $missing_out;
@other_errors = grep { /^error:/ } @other_errors;
ok(@grant_errors > 0 && !@other_errors,
	'missing role: every other error is a GRANT batch naming the missing role')
  or diag($missing_out);
is(query($dst, 'missing', 'SELECT count(*) FROM topup.role_bindings'),
	'0',
	'missing role: no binding at all is restored (the whole COPY failed)');
is( query(
		$dst, 'missing',
		q{SELECT has_schema_privilege('da_app', 'topup', 'USAGE')
		      || ' ' || has_function_privilege('da_app', 'topup.current_client()', 'EXECUTE')
		      || ' ' || has_function_privilege('da_app', 'topup.redeem_voucher(text,text,text,text,text)', 'EXECUTE')}
	),
	'false false true',
	'missing role: other roles lose the GRANTs batched with the missing role\'s (schema USAGE), keep the others');
is(query($dst, 'missing', $audit_sql), $src_audit,
	'missing role: the audit log is restored all the same');
is(query($dst, 'missing', 'SELECT count(*) FROM topup.verify_ledger()'),
	'0', 'missing role: verify_ledger() finds nothing');

# ---------------------------------------------------------------- the roles exist
$dst->safe_psql('postgres', 'CREATE ROLE da_auditor');
my ($restore_ok, $restore_out) =
  run_cmd(0, 'pg_restore', '--exit-on-error', '-d', $dst->connstr('restored'),
	$custom);
ok($dump_ok && $restore_ok && $restore_out !~ /(ERROR|FATAL|WARNING|error):/,
	'pg_restore --exit-on-error reports no error');
diag($restore_out) if $restore_ok && $restore_out =~ /(ERROR|FATAL|WARNING|error):/;

is(query($dst, 'restored', $bindings_sql), $src_bindings,
	'restored: the live bindings, matched by role name');
is(query($dst, 'restored', 'SELECT count(*) FROM topup.role_bindings'),
	'5', 'restored: no other binding (none for the dropped role)');
is(query($dst, 'restored', $audit_sql), $src_audit,
	'restored: the audit log rows are the source\'s');
is(query($dst, 'restored', $facts_sql), $src_facts,
	'restored: every bound role can do and see what it could in the source');
is(query($dst, 'restored', 'SELECT count(*) FROM topup.verify_ledger()'),
	'0', 'restored: verify_ledger() finds nothing');

# the new role named like the dropped one
my $acl_sql = q{
SELECT count(*) FROM (
    SELECT (aclexplode(nspacl)).grantee FROM pg_namespace WHERE nspname = 'topup'
    UNION ALL
    SELECT (aclexplode(proacl)).grantee FROM pg_proc WHERE pronamespace = 'topup'::regnamespace
    UNION ALL
    SELECT (aclexplode(relacl)).grantee FROM pg_class WHERE relnamespace = 'topup'::regnamespace
    UNION ALL
    SELECT (aclexplode(attacl)).grantee FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
     WHERE c.relnamespace = 'topup'::regnamespace
    UNION ALL
    SELECT (aclexplode(typacl)).grantee FROM pg_type WHERE typnamespace = 'topup'::regnamespace) g
 WHERE grantee = 'da_gone'::regrole};
is( query(
		$dst, 'restored',
		q{SELECT count(*) FROM topup.role_bindings WHERE role = 'da_gone'::regrole}),
	'0',
	'restored: the new role named like the dropped one has no binding');
is(query($dst, 'restored', $acl_sql),
	'0', 'restored: ... and no privilege on any object of topup');
my ($rc, $out, $err) = $dst->psql(
	'restored',
	"SET ROLE da_gone; SELECT status FROM topup.redeem_voucher('$pins[1]', 'cust', NULL, NULL, 'accessco')",
	extra_params => [ '-v', 'VERBOSITY=sqlstate' ]);
ok($rc != 0 && $err =~ /ERROR:  42501$/,
	'restored: ... and cannot redeem (42501)')
  or diag("psql exited $rc: $err");
is(query($dst, 'missing', $acl_sql),
	'0', 'missing role: the new role named like the dropped one has no privilege either');

# the roles at work in the restored database
is(app_redeem($dst, 'restored', $pins[1]), 'completed|accessco|',
	'restored: the app role redeems a PIN with its default client');
is(app_redeem($dst, 'restored', $pins[0]), 'failed|accessco|voucher_already_redeemed',
	'restored: the PIN redeemed in the source stays redeemed');
is( query(
		$dst, 'restored',
		q{SELECT balance FROM topup.accounts WHERE client_id = 'accessco' AND account_id = 'cust'}),
	'10.00',
	'restored: the account holds both redeems');
my $max_audit = query($dst, 'restored', 'SELECT max(audit_id) FROM topup.audit_log') // 0;
is( query(
		$dst, 'restored', q{
SET ROLE da_admin;
UPDATE topup.vouchers SET status = 'blocked' WHERE series = 'AD' AND topup.serial_number(serial) = 3;
UPDATE topup.vouchers SET status = 'blocked' WHERE series = 'OC';
RESET ROLE;
SELECT string_agg(audit_id - } . $max_audit . q{ || ' ' || role || ' ' || client_id || ' ' || action || ' ' || target
                  || ' ' || old::text || ' ' || new::text, '; ' ORDER BY audit_id)
  FROM topup.audit_log WHERE audit_id > } . $max_audit),
	'1 da_admin accessco update AD-00000037 {"status": "new"} {"status": "blocked"}',
	'restored: the admin\'s mass edit works on its client only and is audited with the next id');
is( query(
		$dst, 'restored',
		q{SELECT string_agg(status || ':' || n, ',' ORDER BY status)
		    FROM (SELECT status::text, count(*) AS n FROM topup.vouchers WHERE series = 'OC' GROUP BY 1) s}),
	'blocked:2,new:3',
	'restored: the other client\'s vouchers are untouched');
is(query($dst, 'restored', 'SELECT count(*) FROM topup.verify_ledger()'),
	'0', 'restored: verify_ledger() finds nothing after the roles\' work');
($rc, $out, $err) = $dst->psql(
	'restored',
	"SET ROLE da_auditor; SELECT status FROM topup.redeem_voucher('$pins[2]', 'cust')",
	extra_params => [ '-v', 'VERBOSITY=sqlstate' ]);
ok($rc != 0 && $err =~ /ERROR:  42501$/,
	'restored: the auditor still may not redeem (42501)')
  or diag("psql exited $rc: $err");
($rc, $out, $err) = $dst->psql(
	'restored',
	"SET ROLE da_app; SELECT status FROM topup.redeem_voucher('$pins[2]', 'ocust', NULL, NULL, 'otherco')",
	extra_params => [ '-v', 'VERBOSITY=sqlstate' ]);
ok($rc != 0 && $err =~ /ERROR:  22023$/,
	'restored: the app role may not act for another client (22023)')
  or diag("psql exited $rc: $err");

# ---------------------------------------------------------------- repairing the missing role
# Once the role exists, the bindings can be loaded again and every bound
# role given what its duties need.
my ($again_ok) = run_cmd(0, 'pg_restore', '--exit-on-error', '--data-only',
	'-t', 'role_bindings', '-d', $dst->connstr('missing'), $custom);
ok($again_ok, 'missing role: once the role exists, pg_restore --data-only -t role_bindings loads the bindings');
is(query($dst, 'missing', $bindings_sql), $src_bindings,
	'missing role: the bindings are the source\'s');
is(query($dst, 'missing', 'SELECT topup._grant_duties()'), '',
	'missing role: topup._grant_duties() regrants what the duties need');
is(query($dst, 'missing', $facts_sql), $src_facts,
	'missing role: every bound role can do and see what it could in the source');
is(app_redeem($dst, 'missing', $pins[1]), 'completed|accessco|',
	'missing role: the app role redeems with its default client');

# ---------------------------------------------------------------- the source still works
is(query($src, 'src', 'SELECT count(*) FROM topup.verify_ledger()'),
	'0', 'source: verify_ledger() finds nothing');
is( query(
		$src, 'src',
		q{SELECT count(*) FROM topup.role_bindings b
		   WHERE NOT EXISTS (SELECT 1 FROM pg_roles r WHERE r.oid = b.role)}),
	'0',
	'source: verify_ledger() removed the dropped role\'s binding');

$src->stop;
$dst->stop;
