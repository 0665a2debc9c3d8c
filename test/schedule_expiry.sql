--
-- topup.schedule_expiry() with the real pg_cron: one job named
-- topup-expiry that runs CALL topup.run_expiry(), replaced (same job id)
-- when scheduled again.  cron.schedule is transactional, so the ROLLBACK
-- at the end leaves cron.job as it was.
--
-- Run with pg_prove in the database named by cron.database_name, where
-- pg_cron and topup are installed.
--
BEGIN;
SELECT plan(16);

SELECT has_extension('pg_cron', 'pg_cron is installed in this database');

-- start from no topup-expiry job
DELETE FROM cron.job WHERE jobname = 'topup-expiry';

CREATE TEMP TABLE scheduled (call text, jobid bigint);
INSERT INTO scheduled SELECT 'first', topup.schedule_expiry();

SELECT isnt((SELECT jobid FROM scheduled WHERE call = 'first'), NULL, 'schedule_expiry() returns a job id');
SELECT is((SELECT count(*) FROM cron.job WHERE jobname = 'topup-expiry'), 1::bigint,
          'there is one job named topup-expiry');
SELECT results_eq(
    $$SELECT jobid, schedule, command, database, username, active
        FROM cron.job WHERE jobname = 'topup-expiry'$$,
    $$SELECT jobid, '*/5 * * * *'::text, 'CALL topup.run_expiry()'::text,
             current_database()::text COLLATE "default", current_user::text COLLATE "default", true
        FROM scheduled WHERE call = 'first'$$,
    'the job runs CALL topup.run_expiry() every five minutes in this database, as the caller');

-- scheduling again replaces the job
INSERT INTO scheduled SELECT 'again', topup.schedule_expiry('0 * * * *');
SELECT is((SELECT jobid FROM scheduled WHERE call = 'again'), (SELECT jobid FROM scheduled WHERE call = 'first'),
          'scheduling again returns the same job id');
SELECT is((SELECT count(*) FROM cron.job WHERE jobname = 'topup-expiry'), 1::bigint,
          'there is still one job named topup-expiry');
SELECT is((SELECT count(*) FROM cron.job WHERE command = 'CALL topup.run_expiry()'), 1::bigint,
          'no other job runs the expiry');
SELECT results_eq(
    $$SELECT jobid, schedule, command FROM cron.job WHERE jobname = 'topup-expiry'$$,
    $$SELECT jobid, '0 * * * *'::text, 'CALL topup.run_expiry()'::text FROM scheduled WHERE call = 'first'$$,
    'the job has the new schedule');

-- the same schedule once more changes nothing
SELECT is(topup.schedule_expiry('0 * * * *'), (SELECT jobid FROM scheduled WHERE call = 'first'),
          'scheduling the same again returns the same job id');
SELECT is((SELECT count(*) FROM cron.job WHERE jobname = 'topup-expiry'), 1::bigint,
          'still one job');

-- bad schedules are rejected by pg_cron and leave the job as it was
SELECT throws_ok($$SELECT topup.schedule_expiry('every five minutes')$$, '22023',
                 'invalid schedule: every five minutes', 'an invalid schedule is rejected');
SELECT throws_ok($$SELECT topup.schedule_expiry('*/5 * * *')$$, '22023', NULL,
                 'a schedule with four fields is rejected');
SELECT throws_ok($$SELECT topup.schedule_expiry('')$$, '22023', NULL,
                 'an empty schedule is rejected');
SELECT is(topup.schedule_expiry(NULL), NULL, 'a NULL schedule returns NULL (strict) and schedules nothing');
SELECT results_eq(
    $$SELECT jobid, schedule FROM cron.job WHERE jobname = 'topup-expiry'$$,
    $$SELECT jobid, '0 * * * *'::text FROM scheduled WHERE call = 'first'$$,
    'after the rejected calls the job is unchanged');

-- (that pg_cron runs the job and it expires due vouchers is
-- test/t/004_cron_expiry.pl)

-- pg_cron can unschedule the job by its name
SELECT ok(cron.unschedule('topup-expiry'), 'cron.unschedule removes the job by its name');

SELECT * FROM finish();
ROLLBACK;
