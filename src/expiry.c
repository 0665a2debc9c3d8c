/*-------------------------------------------------------------------------
 *
 * expiry.c
 *	  Voucher expiry: expire_vouchers (one batch), the run_expiry procedure
 *	  (batches, committing in between) and schedule_expiry (its pg_cron job).
 *
 *	  A batch skips due vouchers another transaction is writing: a voucher a
 *	  redeem holds is left for the next run (the redeem itself judges
 *	  expiry by expires_at), and two sweeps running at once take disjoint
 *	  rows instead of queueing.  The batch runs without a plan
 *	  (TopupExpireDirect in direct.c) when the vouchers table is as the
 *	  extension made it, and as the SQL below (FOR UPDATE SKIP LOCKED)
 *	  otherwise.
 *
 *-------------------------------------------------------------------------
 */
#include "topup.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

PG_FUNCTION_INFO_V1(topup_expire_vouchers);
PG_FUNCTION_INFO_V1(topup_run_expiry);
PG_FUNCTION_INFO_V1(topup_schedule_expiry);

/*
 * OID of the expiry queue; positive answers are remembered per extension
 * epoch, a missing queue (a database not yet updated to 0.3.0) is looked up
 * again next time, so ALTER EXTENSION UPDATE takes effect at once.
 */
Oid
TopupExpiryQueueOid(void)
{
	static Oid	queue = InvalidOid;
	static uint64 queue_epoch = 0;
	uint64		epoch = TopupCacheEpoch();
	Oid			nsp;

	if (OidIsValid(queue) && queue_epoch == epoch)
		return queue;
	nsp = get_namespace_oid("topup", true);
	queue = OidIsValid(nsp) ? get_relname_relid("voucher_expiry", nsp) : InvalidOid;
	queue_epoch = epoch;
	return queue;
}

/*
 * One batch through SQL, for a vouchers table the plan-free batch does not
 * write (an administrator's trigger on it): claim due queue rows, expire
 * those vouchers that are live and due, drop the claimed rows.  $1 limits
 * the queue rows; the caller repeats while it claims that many.  Rows a
 * voucher update waits for are rechecked, as UPDATE does.
 */
#define EXPIRE_QUEUE_SQL \
	"WITH q AS (" \
	"  SELECT e.ctid AS qctid, e.client_id, e.serial FROM topup.voucher_expiry e " \
	"   WHERE e.expires_at <= pg_catalog.now() " \
	"   ORDER BY e.expires_at LIMIT $1 FOR UPDATE SKIP LOCKED), " \
	"v AS (" \
	"  UPDATE topup.vouchers v SET status = 'expired' FROM q " \
	"   WHERE v.client_id = q.client_id AND v.serial OPERATOR(topup.=) q.serial " \
	"     AND v.status IN ('new', 'blocked') AND v.expires_at <= pg_catalog.now() " \
	"  RETURNING 1), " \
	"d AS (" \
	"  DELETE FROM topup.voucher_expiry e USING q WHERE e.ctid = q.qctid RETURNING 1) " \
	"SELECT (SELECT pg_catalog.count(*) FROM v), (SELECT pg_catalog.count(*) FROM d)"

/* Before 0.3.0 (no queue): straight from the vouchers table. */
#define EXPIRE_SQL \
	"UPDATE topup.vouchers SET status = 'expired' " \
	" WHERE ctid = ANY (ARRAY(" \
	"         SELECT ctid FROM topup.vouchers " \
	"          WHERE status IN ('new', 'blocked') AND expires_at IS NOT NULL " \
	"            AND expires_at <= pg_catalog.now() " \
	"          ORDER BY expires_at LIMIT $1 " \
	"            FOR UPDATE SKIP LOCKED)) " \
	"   AND status IN ('new', 'blocked')"

/* topup.expire_vouchers(max_rows integer) -> bigint */
Datum
topup_expire_vouchers(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr plan = NULL;
	int32		max_rows = PG_GETARG_INT32(0);
	int64		count = 0;
	int			saved;

	if (max_rows < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_rows must be at least 1")));

	/* without a plan when the tables are as the extension made them (direct.c) */
	count = TopupExpireDirect(max_rows);
	if (count >= 0)
		PG_RETURN_INT64(count);
	count = 0;

	saved = TopupEnterInternal();
	PG_TRY();
	{
		Datum		arg = Int32GetDatum(max_rows);
		int			rc;

		SPI_connect();
		if (OidIsValid(TopupExpiryQueueOid()))
		{
			static SPIPlanPtr qplan = NULL;
			int64		claimed;

			/* until max_rows are expired or the due part of the queue is used up */
			do
			{
				bool		isnull;

				arg = Int32GetDatum(max_rows - (int32) count);
				rc = SPI_execute_plan(TopupPreparePlan(&qplan, EXPIRE_QUEUE_SQL, 1, (Oid[]) {INT4OID}),
									  &arg, NULL, false, 0);
				TopupSPICheck(rc, SPI_OK_SELECT, "expiring vouchers");
				count += DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
				claimed = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
				CHECK_FOR_INTERRUPTS();
			} while (count < max_rows && claimed == DatumGetInt32(arg));
		}
		else
		{
			rc = SPI_execute_plan(TopupPreparePlan(&plan, EXPIRE_SQL, 1, (Oid[]) {INT4OID}),
								  &arg, NULL, false, 0);
			TopupSPICheck(rc, SPI_OK_UPDATE, "expiring vouchers");
			count = (int64) SPI_processed;
		}
		SPI_finish();
	}
	PG_FINALLY();
	{
		TopupLeaveInternal(saved);
	}
	PG_END_TRY();

	PG_RETURN_INT64(count);
}

/*
 * Keep run_expiry at topup.expiry_max_rate: after "done" vouchers since
 * "start", sleep until the time they are due at that rate.  The sweep is
 * maintenance; redeems running alongside should keep the machine.  (A
 * batch runs at full speed; the pause comes between batches, after the
 * commit, so no lock is held while sleeping.)
 */
static void
Pace(TimestampTz start, int64 done)
{
	int64		due_us;
	int64		elapsed_us;

	if (topup_expiry_max_rate <= 0 || done <= 0)
		return;
	due_us = (int64) ((double) done * 1000000.0 / topup_expiry_max_rate);
	elapsed_us = GetCurrentTimestamp() - start;
	if (due_us - elapsed_us >= 1000)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 (long) ((due_us - elapsed_us) / 1000), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
	CHECK_FOR_INTERRUPTS();
}

/*
 * CALL topup.run_expiry(batch_size integer): expire in batches until none
 * is due, committing after each batch so locks stay short and a huge
 * backlog does not become one huge transaction.  Inside an explicit
 * transaction block (atomic context) it cannot commit and runs the batches
 * in that transaction.
 */
Datum
topup_run_expiry(PG_FUNCTION_ARGS)
{
	int32		batch = PG_ARGISNULL(0) ? 10000 : PG_GETARG_INT32(0);
	bool		nonatomic;
	int64		total = 0;
	int			rc;
	TimestampTz start;

	if (batch < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size must be at least 1")));

	nonatomic = fcinfo->context != NULL && IsA(fcinfo->context, CallContext) &&
		!castNode(CallContext, fcinfo->context)->atomic;

	start = GetCurrentTimestamp();
	SPI_connect_ext(nonatomic ? SPI_OPT_NONATOMIC : 0);
	for (;;)
	{
		Datum		arg = Int32GetDatum(batch);
		Oid			argtype = INT4OID;
		bool		isnull;
		int64		n;

		CHECK_FOR_INTERRUPTS();
		rc = SPI_execute_with_args("SELECT topup.expire_vouchers($1)", 1, &argtype, &arg, NULL, false, 1);
		TopupSPICheck(rc, SPI_OK_SELECT, "expire batch");
		n = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		total += n;
		if (nonatomic)
			SPI_commit();
		if (n < batch)
			break;
		Pace(start, total);
	}
	SPI_finish();

	ereport(DEBUG1,
			(errmsg_internal("topup: run_expiry expired %lld vouchers", (long long) total)));
	PG_RETURN_VOID();
}

/* topup.schedule_expiry(schedule text) -> bigint job id */
Datum
topup_schedule_expiry(PG_FUNCTION_ARGS)
{
	Datum		schedule = PG_GETARG_DATUM(0);
	Oid			argtype = TEXTOID;
	bool		isnull;
	int64		jobid;
	int			rc;

	SPI_connect();
	rc = SPI_execute("SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron'", true, 1);
	TopupSPICheck(rc, SPI_OK_SELECT, "pg_cron look-up");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_cron is not installed in this database"),
				 errhint("Add pg_cron to shared_preload_libraries, set cron.database_name to this database, "
						 "restart, and run CREATE EXTENSION pg_cron; or schedule CALL topup.run_expiry() "
						 "with another scheduler.")));

	/* cron.schedule with a job name replaces that job instead of adding one */
	rc = SPI_execute_with_args("SELECT cron.schedule('topup-expiry', $1, 'CALL topup.run_expiry()')",
							   1, &argtype, &schedule, NULL, false, 1);
	TopupSPICheck(rc, SPI_OK_SELECT, "cron.schedule");
	jobid = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	PG_RETURN_INT64(jobid);
}
