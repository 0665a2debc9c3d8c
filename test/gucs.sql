--
-- The GUCs that guard money and PINs (topup.max_failed_redeems,
-- topup.redeem_lockout, topup.max_pin_density) are the superuser's: a plain
-- role can neither set them once the library is loaded, nor slip a value in
-- before it is loaded (PostgreSQL keeps such a value as a placeholder and
-- discards it when the library defines the setting).  The others are
-- anybody's.
--
-- Run with pg_prove in a database where topup is installed; each file runs
-- in a session of its own, so the library is not loaded when this starts.
--
BEGIN;
SELECT plan(12);

CREATE ROLE tu_guc NOLOGIN;

-- before the library is loaded: placeholders
SET LOCAL ROLE tu_guc;
SELECT lives_ok($$SET LOCAL topup.max_failed_redeems = 1000$$,
                'before the library is loaded a plain role may set a placeholder ...');
SELECT lives_ok($$SET LOCAL topup.redeem_lockout = '1s'$$, '... for the lockout window too');
SELECT lives_ok($$SET LOCAL topup.max_pin_density = 0.5$$, '... and for the PIN density');
RESET ROLE;
SELECT is(topup.make_serial('101', 1)::text, '101-00000016', 'the owner loads the library');
SELECT is(current_setting('topup.max_failed_redeems'), '5', '... which discards the plain role''s threshold');
SELECT is(current_setting('topup.redeem_lockout'), '15min', '... and its lockout window');
SELECT is(current_setting('topup.max_pin_density'), '0.001', '... and its PIN density');

-- once loaded: refused
SET LOCAL ROLE tu_guc;
SELECT throws_ok($$SET topup.max_failed_redeems = 1000$$, '42501',
                 'permission denied to set parameter "topup.max_failed_redeems"',
                 'a plain role cannot raise the lockout threshold');
SELECT throws_ok($$SET LOCAL topup.redeem_lockout = '1s'$$, '42501',
                 'permission denied to set parameter "topup.redeem_lockout"',
                 'a plain role cannot shorten the lockout window');
SELECT throws_ok($$SET topup.max_pin_density = 0.5$$, '42501',
                 'permission denied to set parameter "topup.max_pin_density"',
                 'a plain role cannot loosen the PIN density rule');
SELECT lives_ok($$SET LOCAL topup.max_batch = 10$$, 'topup.max_batch is anybody''s');
SELECT lives_ok($$SET LOCAL topup.expiry_max_rate = 10$$, 'topup.expiry_max_rate is anybody''s');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
