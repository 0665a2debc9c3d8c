/*-------------------------------------------------------------------------
 *
 * expiry.c
 *	  Voucher expiry: expire_vouchers (one batch), the run_expiry procedure
 *	  (batches, committing in between) and schedule_expiry (its pg_cron job).
 *
 *	  A batch walks the expiry queue (topup.voucher_expiry) in expires_at
 *	  order; for each due entry it reads the voucher by its primary key and,
 *	  if it is still due (vouchers.h), sets its status, which is a HOT update
 *	  (status is in no index and vouchers keep room on their pages), then
 *	  drops the entry.  An entry whose voucher is gone, redeemed or no longer
 *	  due is dropped too (a new due date has an entry of its own).  This runs
 *	  without a query plan (rowops.c) while the two tables are as the
 *	  extension made them, and as SQL otherwise.
 *
 *	  A batch skips vouchers another transaction is writing, as SKIP LOCKED
 *	  would: a voucher a redeem holds is left for the next run (the redeem
 *	  itself judges expiry by expires_at), and two sweeps running at once
 *	  take disjoint rows instead of queueing.
 *
 *	  SQL versions bind to their own entry points (as pg_stat_statements
 *	  does): topup_expire_vouchers_0_3_1 from 0.3.1 on, where the queue is
 *	  part of the schema; topup_expire_vouchers for the scripts of 0.1.0 to
 *	  0.3.0, where it may or may not exist (it came with 0.3.0), so that
 *	  entry point alone looks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "access.h"
#include "events.h"
#include "guard.h"
#include "rowops.h"
#include "schema.h"
#include "topup.h"
#include "vouchers.h"

static int64 ExpireVouchers(int32 max_rows, Oid queue);
static int64 ExpirePlanFree(int32 max_rows, Oid queue);
static int64 ExpireSQL(int32 max_rows, Oid queue);

PG_FUNCTION_INFO_V1(topup_expire_vouchers);
PG_FUNCTION_INFO_V1(topup_expire_vouchers_0_3_1);
PG_FUNCTION_INFO_V1(topup_run_expiry);
PG_FUNCTION_INFO_V1(topup_schedule_expiry);

/*
 * One batch through SQL, for tables the plan-free batch does not write (an
 * administrator's trigger on them): claim due queue rows, expire those
 * vouchers that are still due, drop the claimed rows.  $1 limits the queue
 * rows; the caller repeats while it claims that many.  Rows a voucher
 * update waits for are rechecked, as UPDATE does.
 */
#define EXPIRE_QUEUE_SQL \
	"WITH q AS (" \
	"  SELECT e.ctid AS qctid, e.client_id, e.serial FROM topup.voucher_expiry e " \
	"   WHERE e.expires_at <= pg_catalog.now() " \
	"   ORDER BY e.expires_at LIMIT $1 FOR UPDATE SKIP LOCKED), " \
	"v AS (" \
	"  UPDATE topup.vouchers v SET status = 'expired' FROM q " \
	"   WHERE v.client_id = q.client_id AND v.serial OPERATOR(topup.=) q.serial " \
	"     AND " TOPUP_VOUCHER_DUE_SQL("v") \
	"  RETURNING 1), " \
	"d AS (" \
	"  DELETE FROM topup.voucher_expiry e USING q WHERE e.ctid = q.qctid RETURNING 1) " \
	"SELECT (SELECT pg_catalog.count(*) FROM v), (SELECT pg_catalog.count(*) FROM d)"

/* Before 0.3.0 (no queue): straight from the vouchers table. */
#define EXPIRE_SQL \
	"UPDATE topup.vouchers v SET status = 'expired' " \
	" WHERE ctid = ANY (ARRAY(" \
	"         SELECT ctid FROM topup.vouchers v " \
	"          WHERE " TOPUP_VOUCHER_DUE_SQL("v") \
	"          ORDER BY expires_at LIMIT $1 " \
	"            FOR UPDATE SKIP LOCKED)) " \
	"   AND " TOPUP_VOUCHER_LIVE_SQL("v")

/* topup.expire_vouchers(max_rows integer) -> bigint, 0.3.1 on */
Datum
topup_expire_vouchers_0_3_1(PG_FUNCTION_ARGS)
{
	Oid			queue = TopupGetSchema()->expiry_queue;

	TopupAuthorizeOwnerOnly(fcinfo);
	if (!OidIsValid(queue))
		elog(ERROR, "topup: relation topup.voucher_expiry is missing");
	PG_RETURN_INT64(ExpireVouchers(PG_GETARG_INT32(0), queue));
}

/* The same for the SQL of 0.1.0 to 0.3.0, with or without the queue. */
Datum
topup_expire_vouchers(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(ExpireVouchers(PG_GETARG_INT32(0), TopupGetSchema()->expiry_queue));
}

static int64
ExpireVouchers(int32 max_rows, Oid queue)
{
	int64		count;

	if (max_rows < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_rows must be at least 1")));
	count = ExpirePlanFree(max_rows, queue);
	if (count < 0)
		count = ExpireSQL(max_rows, queue);
	return count;
}

static int64
ExpireSQL(int32 max_rows, Oid queue)
{
	int64		count = 0;
	int			saved = TopupEnterInternal();

	PG_TRY();
	{
		int			rc;

		SPI_connect();
		if (OidIsValid(queue))
		{
			static SPIPlanPtr qplan = NULL;
			int32		asked;
			int64		claimed;

			/* until max_rows are expired or the due part of the queue is used up */
			do
			{
				Datum		arg;
				bool		isnull;

				asked = max_rows - (int32) count;
				arg = Int32GetDatum(asked);
				rc = SPI_execute_plan(TopupPreparePlan(&qplan, EXPIRE_QUEUE_SQL, 1, (Oid[]) {INT4OID}),
									  &arg, NULL, false, 0);
				TopupSPICheck(rc, SPI_OK_SELECT, "expiring vouchers");
				count += DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
				claimed = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
				CHECK_FOR_INTERRUPTS();
			} while (count < max_rows && claimed == asked);
		}
		else
		{
			static SPIPlanPtr plan = NULL;
			Datum		arg = Int32GetDatum(max_rows);

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
	return count;
}

#ifdef TOPUP_ROW_WRITES

static const char *const vouchers_triggers[] = {
	"vouchers_guard", "vouchers_truncate_guard", "vouchers_changed", "vouchers_deleted", NULL
};
static const char *const admin_policies[] = {"bound_admins", NULL};
static const char *const expiry_triggers[] = {"voucher_expiry_guard", "voucher_expiry_truncate_guard", NULL};
static const char *const no_checks[] = {NULL};
static const RowTableShape vouchers_shape = {vouchers_triggers, false, no_checks, NULL, admin_policies};
static const RowTableShape queue_shape = {expiry_triggers, false, no_checks, NULL, NULL};
static const char *const expiry_updated[] = {"status", NULL};

static IndexRef idx_v_pkey = {"vouchers_pkey", InvalidOid};
static IndexRef idx_q_due = {"voucher_expiry_due_idx", InvalidOid};

/*
 * Mark up to max_rows due vouchers expired without a plan; see the file
 * header.  It stops after max_rows vouchers or at the end of the due
 * entries: fewer than max_rows means nothing due is left but what others
 * hold.  Returns -1 (nothing read or written) when there is no queue or
 * the tables are not as the extension made them: the caller runs SQL.
 */
static int64
ExpirePlanFree(int32 max_rows, Oid queue_oid)
{
	const TopupSchema *s = TopupGetSchema();
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	RowWriter	w;
	RowTable	vouchers;
	RowTable	queue;
	Relation	index;
	IndexScanDesc scan;
	ScanKeyData key;
	KeyedScan	by_serial;
	TupleTableSlot *entry;
	int64		count = -1;
	int			att_status;
	int			att_expires;
	int			q_client;
	int			q_serial;

	if (!OidIsValid(queue_oid))
		return -1;
	memset(&vouchers, 0, sizeof(vouchers));
	memset(&queue, 0, sizeof(queue));
	RowWriterBegin(&w);
	RowTableOpen(&w, &vouchers, s->vouchers);
	RowTableOpen(&w, &queue, queue_oid);
	if (!RowTableAsMade(vouchers.rel, &vouchers_shape) || !RowTableAsMade(queue.rel, &queue_shape))
		goto out;
	att_status = RowColumn(vouchers.rel, "status");
	att_expires = RowColumn(vouchers.rel, "expires_at");
	q_client = RowColumn(queue.rel, "client_id");
	q_serial = RowColumn(queue.rel, "serial");

	RowWriterSnapshot(&w);
	count = 0;
	entry = table_slot_create(queue.rel, NULL);
	index = index_open(RowIndexOid(queue.rel, &idx_q_due), AccessShareLock);
	RowIndexKey(&key, index, 1, BTLessEqualStrategyNumber, TimestampTzGetDatum(now));
	scan = index_beginscan(queue.rel, index, w.snapshot, 1, 0);
	/* each entry's voucher, by primary key */
	KeyedScanBegin(&by_serial, &w, &vouchers, &idx_v_pkey, 2);
	index_rescan(scan, &key, 1, NULL, 0);
	while (count < max_rows && index_getnext_slot(scan, ForwardScanDirection, entry))
	{
		bool		drop = true;

		CHECK_FOR_INTERRUPTS();
		slot_getallattrs(entry);
		if (KeyedScanFetch(&by_serial, (Datum[]) {entry->tts_values[q_serial], entry->tts_values[q_client]}))
		{
			TupleTableSlot *v = vouchers.slot;

			if (VoucherIsDue(TopupVoucherStatusOf(v->tts_values[att_status]), v->tts_isnull[att_expires],
							 DatumGetTimestampTz(v->tts_values[att_expires]), now))
			{
				HeapTuple	newtuple;

				/* the row's scratch memory goes with the per-tuple context */
				MemoryContextSwitchTo(GetPerTupleMemoryContext(w.estate));
				newtuple = RowModified(vouchers.rel, v, expiry_updated,
									   (Datum[]) {ObjectIdGetDatum(s->voucher_status[VS_EXPIRED])});
				MemoryContextSwitchTo(w.estate->es_query_cxt);
				/* not waiting: a voucher another transaction writes is left, entry and all */
				if (RowUpdate(&w, &vouchers, newtuple, expiry_updated, false) == TM_Ok)
					count++;
				else
					drop = false;
			}
			ExecClearTuple(v);
		}
		if (drop)
			(void) RowDelete(&w, &queue, &entry->tts_tid, false);
		ResetPerTupleExprContext(w.estate);
	}
	KeyedScanEnd(&by_serial);
	index_endscan(scan);
	index_close(index, NoLock);
	ExecDropSingleTupleTableSlot(entry);

out:
	RowTableClose(&queue);
	RowTableClose(&vouchers);
	RowWriterEnd(&w);
	return count;
}

#else							/* !TOPUP_ROW_WRITES */

static int64
ExpirePlanFree(int32 max_rows, Oid queue_oid)
{
	return -1;
}

#endif							/* TOPUP_ROW_WRITES */

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

	TopupAuthorizeOwnerOnly(fcinfo);
	if (batch < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size must be at least 1")));

	nonatomic = fcinfo->context != NULL && IsA(fcinfo->context, CallContext) &&
		!castNode(CallContext, fcinfo->context)->atomic;

	start = GetCurrentTimestamp();
	SPI_connect_ext(nonatomic ? SPI_OPT_NONATOMIC : 0);

	/* first the voucher.expiring events that are due (from 0.5.0), in batches too */
	while (TopupHasLifecycle())
	{
		volatile int64 n = 0;
		int			saved = TopupEnterInternal();

		PG_TRY();
		{
			n = TopupNoticeExpiring(batch);
		}
		PG_FINALLY();
		{
			TopupLeaveInternal(saved);
		}
		PG_END_TRY();
		if (nonatomic)
			SPI_commit();
		if (n < batch)
			break;
		CHECK_FOR_INTERRUPTS();
	}

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

/*
 * Register command with pg_cron as job jobname (cron.schedule with a job
 * name replaces that job instead of adding one); the job id.  A clear error
 * with a hint when pg_cron is not installed in this database.
 */
int64
TopupSchedule(const char *jobname, Datum schedule, const char *command)
{
	bool		isnull;
	int64		jobid;
	int			rc;

	SPI_connect();
	rc = SPI_execute("SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron'", false, 1);
	TopupSPICheck(rc, SPI_OK_SELECT, "pg_cron look-up");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_cron is not installed in this database"),
				 errhint("Add pg_cron to shared_preload_libraries, set cron.database_name to this database, "
						 "restart, and run CREATE EXTENSION pg_cron; or schedule %s "
						 "with another scheduler.", command)));
	rc = SPI_execute_with_args("SELECT cron.schedule($1, $2, $3)",
							   3, (Oid[]) {TEXTOID, TEXTOID, TEXTOID},
							   (Datum[]) {CStringGetTextDatum(jobname), schedule, CStringGetTextDatum(command)},
							   NULL, false, 1);
	TopupSPICheck(rc, SPI_OK_SELECT, "cron.schedule");
	jobid = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	return jobid;
}

/* topup.schedule_expiry(schedule text) -> bigint job id */
Datum
topup_schedule_expiry(PG_FUNCTION_ARGS)
{
	TopupAuthorizeOwnerOnly(fcinfo);
	PG_RETURN_INT64(TopupSchedule("topup-expiry", PG_GETARG_DATUM(0), "CALL topup.run_expiry()"));
}
