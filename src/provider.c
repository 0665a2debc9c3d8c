/*-------------------------------------------------------------------------
 *
 * provider.c
 *	  Provider-backed top-ups (SPEC §9): set_channel, claim_orders,
 *	  report_order, and the timeouts (run_order_timeouts,
 *	  schedule_order_timeouts).
 *
 *	  topup_card holds amount + fee (master -> hold) and leaves the order
 *	  processing with topup_status new.  A worker claims due orders of its
 *	  channel, oldest first, under a lease (FOR UPDATE SKIP LOCKED: two
 *	  workers never get the same order), hands them to the card processor
 *	  and reports each outcome:
 *	    completed  hold -> card (amount) and fee account (fee);
 *	    failed     hold -> master (a refund), with the provider's slug;
 *	    error      a transient error before the processor took it: claimable
 *	               again after attempt_timeout * 2^(attempts - 1) (at most
 *	               an hour); the report that uses up max_attempts fails the
 *	               order at once as provider_unavailable, refunded;
 *	    unknown    nobody knows whether the processor applied it: in doubt
 *	               (provider_verification), claimable after the same backoff
 *	               to ask the processor; verification errors are retried the
 *	               same way and never fail the order by themselves.
 *	  A lease that runs out without a report puts the order in doubt
 *	  (run_order_timeouts), never fails it: money may have moved.  The moves
 *	  of topup_status are enforced by the orders trigger (schema.c).
 *
 *	  Reversals of provider-backed top-ups go through the same channel:
 *	  they are claimed and reported like top-ups, and move their money only
 *	  when reported completed (reverse.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "access.h"
#include "events.h"
#include "guard.h"
#include "master.h"
#include "orders.h"
#include "schema.h"
#include "topup.h"

PG_FUNCTION_INFO_V1(topup_set_channel);
PG_FUNCTION_INFO_V1(topup_claim_orders);
PG_FUNCTION_INFO_V1(topup_report_order);
PG_FUNCTION_INFO_V1(topup_order_timeouts);
PG_FUNCTION_INFO_V1(topup_run_order_timeouts);
PG_FUNCTION_INFO_V1(topup_schedule_order_timeouts);

/*
 * The attempt_timeout of an order's channel (the default if the channel
 * was removed since).  A subquery, not a join: the statements return the
 * order's unqualified columns, and channels has a client_id too.
 */
#define ATTEMPT_TIMEOUT_SQL(o) \
	"COALESCE((SELECT ch.attempt_timeout FROM topup.channels ch " \
	"           WHERE ch.client_id = " o ".client_id AND ch.channel = " o ".channel), " \
	"         '30 seconds'::interval)"

/*
 * The backoff of an order's next attempt: attempt_timeout * 2^(attempts - 1),
 * at most an hour.  Computed in seconds as float8 (an order in doubt is
 * retried without end, and the interval of 2^60 attempt timeouts would
 * overflow).
 */
#define BACKOFF_SQL(o) \
	"pg_catalog.make_interval(secs => LEAST(3600, " \
	"    pg_catalog.date_part('epoch', " ATTEMPT_TIMEOUT_SQL(o) ") " \
	"    * pg_catalog.power(2::float8, LEAST(GREATEST(" o ".attempts, 1) - 1, 62))))"

/*
 * A provider-backed top-up completed: hold -> card and fee, in two
 * statements, as a top-up debits its slots (cards.c).  COMPLETE_SQL credits
 * the card and writes the ledger entries, the completed order and its
 * event; COMPLETE_SLOTS_SQL then takes amount + fee off the hold slot and
 * credits the fee slot of the same number.  The hold and fee slots are hot
 * rows that every report of the client updates: in a statement of their
 * own, a concurrent update of one makes PostgreSQL recheck (EvalPlanQual)
 * two small UPDATEs instead of setting up every CTE of the report again,
 * and taken last they stay locked only from there to the commit.  It also
 * keeps the lock order of a top-up: card, then slots.  $1 order,
 * $2 client, $3 currency, $4 card, $5 amount + fee, $6 hold slot, $7 fee,
 * $8 amount, $9 provider reference.
 */
#define COMPLETE_SQL \
	"WITH a AS (" \
	"  UPDATE topup.accounts a SET balance = a.balance + $8 " \
	"   WHERE a.client_id = $2 AND a.account_id = $4 " \
	"  RETURNING a.balance), " \
	"l AS (" \
	"  INSERT INTO topup.ledger (order_id, client_id, book, account_id, currency, amount, balance_after) " \
	"  SELECT $1, $2, 'hold', NULL, $3, - $5, NULL FROM a " \
	"  UNION ALL SELECT $1, $2, 'account', $4, $3, $8, a.balance FROM a " \
	"  UNION ALL SELECT $1, $2, 'fee', NULL, $3, $7, NULL FROM a WHERE $7 > 0), " \
	"o AS (" \
	"  UPDATE topup.orders SET status = 'completed', topup_status = 'completed', " \
	"         completed_at = pg_catalog.now(), account_balance_after = a.balance, " \
	"         provider_reference = COALESCE($9, provider_reference), lease_until = NULL, " \
	"         next_attempt_at = NULL " \
	"    FROM a WHERE order_id = $1 " \
	"  RETURNING " TOPUP_ORDER_RESULT_COLUMNS "), " \
	"e AS (" TOPUP_ORDER_EVENTS_SQL("o", "o") ") " \
	"SELECT * FROM o"

/* The slots of a completion (above): the number of hold slots changed. */
#define COMPLETE_SLOTS_SQL \
	"WITH h AS (" \
	"  UPDATE topup.balance_slots SET balance = balance - $5 " \
	"   WHERE client_id = $2 AND currency = $3 AND book = 'hold' AND slot = $6 AND balance >= $5 " \
	"  RETURNING 1), " \
	"f AS (" \
	"  UPDATE topup.balance_slots s SET balance = s.balance + $7 FROM h " \
	"   WHERE s.client_id = $2 AND s.currency = $3 AND s.book = 'fee' AND s.slot = $6 AND $7 > 0 " \
	"  RETURNING 1) " \
	"SELECT (SELECT pg_catalog.count(*) FROM h), (SELECT pg_catalog.count(*) FROM f)"

/*
 * A provider-backed top-up failed: hold -> master (the refund).  $1 order,
 * $2 client, $3 currency, $5 amount + fee, $6 hold slot, $7 slug,
 * $8 message, $9 provider reference.  The master slot is locked before the
 * hold slot (ml), in the order a provider-backed top-up takes them, so a
 * refund and a top-up on the same slot number cannot wait for each other.
 */
#define REFUND_SQL \
	"WITH ml AS (" \
	"  SELECT 1 FROM topup.balance_slots " \
	"   WHERE client_id = $2 AND currency = $3 AND book = 'master' AND slot = $6 FOR UPDATE), " \
	"h AS (" \
	"  UPDATE topup.balance_slots SET balance = balance - $5 FROM ml " \
	"   WHERE client_id = $2 AND currency = $3 AND book = 'hold' AND slot = $6 AND balance >= $5 " \
	"  RETURNING 1), " \
	"m AS (" \
	"  UPDATE topup.balance_slots s SET balance = s.balance + $5 FROM h " \
	"   WHERE s.client_id = $2 AND s.currency = $3 AND s.book = 'master' AND s.slot = $6 " \
	"  RETURNING 1), " \
	"t AS (" \
	"  SELECT pg_catalog.sum(s.balance) + $5 AS after FROM topup.balance_slots s " \
	"   WHERE s.client_id = $2 AND s.currency = $3 AND s.book = 'master'), " \
	"l AS (" \
	"  INSERT INTO topup.ledger (order_id, client_id, book, account_id, currency, amount, balance_after) " \
	"  SELECT $1, $2, 'hold', NULL, $3, - $5, NULL FROM h " \
	"  UNION ALL SELECT $1, $2, 'master', NULL, $3, $5, t.after FROM m, t), " \
	"o AS (" \
	"  UPDATE topup.orders SET status = 'failed', topup_status = 'failed', failed_at = pg_catalog.now(), " \
	"         error_slug = $7, error_message = $8, " \
	"         provider_reference = COALESCE($9, provider_reference), lease_until = NULL, " \
	"         next_attempt_at = NULL " \
	"    FROM m WHERE order_id = $1 " \
	"  RETURNING " TOPUP_ORDER_RESULT_COLUMNS "), " \
	"e AS (" TOPUP_ORDER_EVENTS_SQL("o", "o") ") " \
	"SELECT * FROM o"

/* A reversal through a provider channel failed: nothing had moved. */
#define FAIL_REVERSAL_SQL \
	"WITH o AS (" \
	"  UPDATE topup.orders SET status = 'failed', topup_status = 'failed', failed_at = pg_catalog.now(), " \
	"         error_slug = $7, error_message = $8, " \
	"         provider_reference = COALESCE($9, provider_reference), lease_until = NULL, " \
	"         next_attempt_at = NULL " \
	"   WHERE order_id = $1 " \
	"  RETURNING " TOPUP_ORDER_RESULT_COLUMNS "), " \
	"e AS (" TOPUP_ORDER_EVENTS_SQL("o", "o") ") " \
	"SELECT * FROM o"

/* A retry later: the new topup_status ($2) claimable after the backoff. */
#define RETRY_SQL \
	"UPDATE topup.orders o SET topup_status = $2::topup.topup_status, lease_until = NULL, " \
	"       next_attempt_at = pg_catalog.now() + " BACKOFF_SQL("o") ", " \
	"       provider_reference = COALESCE($3, o.provider_reference), " \
	"       error_slug = COALESCE($4, o.error_slug), error_message = COALESCE($5, o.error_message) " \
	" WHERE o.order_id = $1 " \
	"RETURNING " TOPUP_ORDER_RESULT_COLUMNS

/* The order as report_order finds it, locked.  Columns, 1-based. */
enum
{
	R_TYPE = 1,
	R_STATUS,
	R_TOPUP_STATUS,
	R_CHANNEL,
	R_ATTEMPTS,
	R_MAX_ATTEMPTS,
	R_HOLD_SLOT,
	R_AMOUNT,
	R_FEE,
	R_CURRENCY,
	R_ACCOUNT
};

#define REPORT_READ_SQL \
	"SELECT o.order_type, o.status::text, o.topup_status::text, o.channel, o.attempts, " \
	"       ch.max_attempts, o.hold_slot, o.amount, o.fee, o.currency, o.account_id " \
	"  FROM topup.orders o " \
	"  LEFT JOIN topup.channels ch ON ch.client_id = o.client_id AND ch.channel = o.channel " \
	" WHERE o.order_id = $1 AND o.client_id = $2 " \
	"   FOR UPDATE OF o"

/* A worker's or an admin's outcome names. */
static bool
ValidOutcome(const char *outcome)
{
	return strcmp(outcome, "completed") == 0 || strcmp(outcome, "failed") == 0 ||
		strcmp(outcome, "error") == 0 || strcmp(outcome, "unknown") == 0;
}

/* A provider's slug: ^[a-z][a-z0-9_]{0,62}$ */
static bool
ValidSlug(const char *slug)
{
	int			i;
	int			n = strlen(slug);

	if (n < 1 || n > 63 || slug[0] < 'a' || slug[0] > 'z')
		return false;
	for (i = 1; i < n; i++)
		if (!((slug[i] >= 'a' && slug[i] <= 'z') || (slug[i] >= '0' && slug[i] <= '9') || slug[i] == '_'))
			return false;
	return true;
}

/* The order row of a report statement's result, as order_result. */
static Datum
ReportResult(FunctionCallInfo fcinfo, bool replayed)
{
	if (SPI_processed != 1)
		elog(ERROR, "topup: the reported order was not written");
	TopupEventsWritten();
	return TopupOrderResult(fcinfo, SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, replayed);
}

/* The report statements, prepared once per backend (RunReport). */
static SPIPlanPtr complete_plan = NULL;
static SPIPlanPtr complete_slots_plan = NULL;
static SPIPlanPtr refund_plan = NULL;
static SPIPlanPtr fail_reversal_plan = NULL;

/*
 * Run one of the report statements (its plan cached in *plan) with its
 * arguments: $7 and $8 are the fee and the amount (numeric) for
 * COMPLETE_SQL, a slug and a message for the others.
 */
static void
RunReport(SPIPlanPtr *plan, const char *sql, bool complete, Datum *args, char *nulls, const char *what)
{
	int			rc = SPI_execute_plan(TopupPreparePlan(plan, sql, 9,
													   (Oid[]) {INT8OID, TEXTOID, TEXTOID, TEXTOID, NUMERICOID, INT2OID,
															complete ? NUMERICOID : TEXTOID,
													   complete ? NUMERICOID : TEXTOID, TEXTOID}),
									  args, nulls, false, 0);

	TopupSPICheck(rc, SPI_OK_SELECT, what);
}

/* The stored order again, for a replay. */
static Datum
StoredOrder(FunctionCallInfo fcinfo, Datum order_id)
{
	int			rc = SPI_execute_with_args("SELECT " TOPUP_ORDER_RESULT_COLUMNS " FROM topup.orders "
										   " WHERE order_id = $1",
										   1, (Oid[]) {INT8OID}, &order_id, NULL, false, 1);

	TopupSPICheck(rc, SPI_OK_SELECT, "order look-up");
	return TopupOrderResult(fcinfo, SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, true);
}

/*
 * Refund a held top-up (failed, or provider_unavailable) and return it.
 * The caller is connected to SPI; args hold $1..$9 of REFUND_SQL.
 */
static Datum
Refund(FunctionCallInfo fcinfo, Datum *args, char *nulls)
{
	RunReport(&refund_plan, REFUND_SQL, false, args, nulls, "refunding a held top-up");
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the hold of order %lld is short", (long long) DatumGetInt64(args[0])),
				 errhint("Run topup.verify_ledger().")));
	{
		Datum		result = ReportResult(fcinfo, false);

		TopupMasterRaised(args[1], args[2]);
		return result;
	}
}

static Datum
ReportOrder(FunctionCallInfo fcinfo)
{
	static SPIPlanPtr read_plan = NULL;
	Datum		order_id = PG_GETARG_DATUM(0);
	char	   *outcome = TopupTextArg(fcinfo, 1);
	char	   *reference = TopupTextArg(fcinfo, 2);
	char	   *slug = TopupTextArg(fcinfo, 3);
	char	   *message = TopupTextArg(fcinfo, 4);
	char	   *client_id = TopupTextArg(fcinfo, 5);
	HeapTuple	row;
	TupleDesc	desc;
	char	   *type;
	char	   *status;
	char	   *ts;
	bool		isnull;
	Datum		args[9];
	char		nulls[9];
	int			rc;
	int			attempts;
	int			max_attempts;

	TopupRequireClient(fcinfo, client_id);
	rc = SPI_execute_plan(TopupPreparePlan(&read_plan, REPORT_READ_SQL, 2, (Oid[]) {INT8OID, TEXTOID}),
						  (Datum[]) {order_id, CStringGetTextDatum(client_id)}, NULL, false, 1);
	TopupSPICheck(rc, SPI_OK_SELECT, "order look-up");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_TOPUP_ORDER_NOT_FOUND),
				 errmsg("order not found")));
	row = SPI_copytuple(SPI_tuptable->vals[0]);
	desc = SPI_tuptable->tupdesc;
	type = SPI_getvalue(row, desc, R_TYPE);
	status = SPI_getvalue(row, desc, R_STATUS);
	ts = SPI_getvalue(row, desc, R_TOPUP_STATUS);

	/* only provider-backed orders are reported (they count attempts from 0) */
	(void) SPI_getbinval(row, desc, R_ATTEMPTS, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("order %lld is not provider-backed", (long long) DatumGetInt64(order_id)),
				 errdetail("Only the orders of a provider channel are reported; this one was %s in its call.",
						   status)));

	/* a final order: the same outcome again is a replay, another one is refused */
	if (strcmp(status, "completed") == 0 || strcmp(status, "failed") == 0)
	{
		if (strcmp(status, outcome) == 0)
			return StoredOrder(fcinfo, order_id);
		ereport(ERROR,
				(errcode(ERRCODE_TOPUP_ORDER_ALREADY_FINAL),
				 errmsg("order %lld is already %s", (long long) DatumGetInt64(order_id), status),
				 errdetail("A report of \"%s\" contradicts it; nothing was changed.", outcome)));
	}
	if (ts == NULL || strcmp(status, "processing") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("order %lld is not a provider-backed order in progress",
						(long long) DatumGetInt64(order_id))));

	memset(nulls, ' ', sizeof(nulls));
	args[0] = order_id;
	args[1] = CStringGetTextDatum(client_id);
	args[2] = CStringGetTextDatum(SPI_getvalue(row, desc, R_CURRENCY));
	args[3] = CStringGetTextDatum(SPI_getvalue(row, desc, R_ACCOUNT));
	args[4] = DirectFunctionCall2(numeric_add, SPI_getbinval(row, desc, R_AMOUNT, &isnull),
								  SPI_getbinval(row, desc, R_FEE, &isnull));
	args[5] = SPI_getbinval(row, desc, R_HOLD_SLOT, &isnull);
	nulls[5] = isnull ? 'n' : ' ';
	args[8] = reference ? CStringGetTextDatum(reference) : (Datum) 0;
	nulls[8] = reference ? ' ' : 'n';
	attempts = DatumGetInt32(SPI_getbinval(row, desc, R_ATTEMPTS, &isnull));
	if (isnull)
		attempts = 0;
	max_attempts = DatumGetInt32(SPI_getbinval(row, desc, R_MAX_ATTEMPTS, &isnull));
	if (isnull)
		max_attempts = 1;		/* its channel was removed: no more attempts */

	if (strcmp(outcome, "completed") == 0)
	{
		if (strcmp(type, "reversal") == 0)
			return TopupApplyReversal(fcinfo, order_id, reference);
		args[6] = SPI_getbinval(row, desc, R_FEE, &isnull);
		args[7] = SPI_getbinval(row, desc, R_AMOUNT, &isnull);
		RunReport(&complete_plan, COMPLETE_SQL, true, args, nulls, "completing a held top-up");
		if (SPI_processed != 1)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("order %lld could not be completed", (long long) DatumGetInt64(order_id)),
					 errdetail("Its card %s is gone.", TextDatumGetCString(args[3])),
					 errhint("Run topup.verify_ledger().")));
		{
			Datum		result = ReportResult(fcinfo, false);

			RunReport(&complete_slots_plan, COMPLETE_SLOTS_SQL, true, args, nulls, "releasing a hold");
			if (DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) != 1)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("the hold of order %lld is short", (long long) DatumGetInt64(order_id)),
						 errhint("Run topup.verify_ledger().")));
			return result;
		}
	}

	/* a failure: the provider's slug, or provider_unavailable once the attempts are used up */
	if (strcmp(outcome, "failed") == 0 ||
		(strcmp(outcome, "error") == 0 && strcmp(ts, "provider_in_progress") == 0 &&
		 attempts >= max_attempts))
	{
		bool		unavailable = strcmp(outcome, "error") == 0;

		args[6] = CStringGetTextDatum(unavailable ? "provider_unavailable" : slug ? slug : "provider_declined");
		args[7] = CStringGetTextDatum(message ? message :
									  unavailable ? psprintf("the provider could not be reached in %d attempts", attempts) :
									  strcmp(type, "reversal") == 0 ? "the provider declined the reversal" :
									  "the provider declined the top-up");
		if (strcmp(type, "reversal") == 0)
		{
			RunReport(&fail_reversal_plan, FAIL_REVERSAL_SQL, false, args, nulls, "failing a reversal");
			return ReportResult(fcinfo, false);
		}
		return Refund(fcinfo, args, nulls);
	}

	/* error or unknown: retried later, or replayed when reported again */
	{
		const char *next;

		if (strcmp(outcome, "error") == 0)
			next = strcmp(ts, "provider_in_progress") == 0 || strcmp(ts, "provider_in_progress_error") == 0 ?
				"provider_in_progress_error" : "provider_verification_error";
		else
			next = strcmp(ts, "provider_in_progress") == 0 ? "provider_verification" : "provider_verification_error";
		if (strcmp(ts, next) == 0)
			return StoredOrder(fcinfo, order_id);
		rc = SPI_execute_with_args(RETRY_SQL, 5, (Oid[]) {INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID},
								   (Datum[]) {order_id, CStringGetTextDatum(next), args[8],
									   slug ? CStringGetTextDatum(slug) : (Datum) 0,
								   message ? CStringGetTextDatum(message) : (Datum) 0},
								   (char[]) {' ', ' ', nulls[8], slug ? ' ' : 'n', message ? ' ' : 'n'},
								   false, 0);
		TopupSPICheck(rc, SPI_OK_UPDATE_RETURNING, "scheduling a retry");
		if (SPI_processed != 1)
			elog(ERROR, "topup: order %lld was not updated", (long long) DatumGetInt64(order_id));
		return TopupOrderResult(fcinfo, SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, false);
	}
}

/*
 * topup.report_order(order_id, outcome, provider_reference, error_slug,
 *					  error_message, client_id) -> order_result
 */
Datum
topup_report_order(PG_FUNCTION_ARGS)
{
	char	   *outcome = TopupTextArg(fcinfo, 1);
	char	   *slug = TopupTextArg(fcinfo, 3);

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_TOPUP_ORDER_NOT_FOUND),
				 errmsg("order not found")));
	if (outcome == NULL || !ValidOutcome(outcome))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid outcome \"%s\"", outcome ? outcome : ""),
				 errhint("The outcome is completed, failed, error or unknown.")));
	if (slug != NULL && !ValidSlug(slug))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid error slug \"%s\"", slug),
				 errdetail("A provider's slug is a lower-case letter followed by up to 62 lower-case letters, digits or underscores.")));
	if (PG_ARGISNULL(5))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("client_id must not be null")));

	PG_RETURN_DATUM(TopupRunInternal(fcinfo, ReportOrder));
}

/*
 * The due orders of the channel, oldest first, skipping (not waiting for)
 * those another worker is claiming; locked.  Those whose card cannot take
 * the top-up any more (blocked or closed since) are "dead": they are not
 * handed over but fail, refunded (new -> new_error -> failed).  $1 channel,
 * $2 clients (NULL: every client), $3 max, $4 the live orders this claim
 * already holds (left out).
 */
#define CANDIDATES_SQL \
	"SELECT o.order_id, o.topup_status = 'new' AND o.order_type = 'card_topup' " \
	"       AND COALESCE(a.status IN ('blocked', 'closed'), true) AS dead " \
	"  FROM topup.orders o " \
	"  LEFT JOIN topup.accounts a ON a.client_id = o.client_id AND a.account_id = o.account_id " \
	" WHERE o.status = 'processing' AND o.channel = $1 " \
	"   AND ($2::text[] IS NULL OR o.client_id = ANY ($2)) " \
	"   AND o.topup_status IN ('new', 'provider_in_progress_error', 'provider_verification', " \
	"                          'provider_verification_error') " \
	"   AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= pg_catalog.now()) " \
	"   AND (o.lease_until IS NULL OR o.lease_until <= pg_catalog.now()) " \
	"   AND NOT (o.order_id = ANY ($4)) " \
	" ORDER BY o.order_id LIMIT $3 " \
	"   FOR UPDATE OF o SKIP LOCKED"

/* A dead order: new_error, then refunded by REFUND_SQL.  $1 order. */
#define CANNOT_HAND_OVER_SQL \
	"UPDATE topup.orders o SET topup_status = 'new_error', " \
	"       error_message = 'the card is ' OPERATOR(pg_catalog.||) " \
	"           COALESCE((SELECT a.status::text FROM topup.accounts a " \
	"                      WHERE a.client_id = o.client_id AND a.account_id = o.account_id), 'gone') " \
	" WHERE o.order_id = $1 " \
	"RETURNING o.order_id, o.client_id, o.currency, o.amount + o.fee, o.hold_slot, o.error_message"

/*
 * Claim the live candidates ($1, order ids): each becomes
 * provider_in_progress (or stays in doubt, provider_verification, when it
 * was), its attempts counted, its lease set ($2, or the channel's
 * attempt_timeout).
 */
#define CLAIM_SQL \
	"WITH u AS (" \
	"  UPDATE topup.orders o " \
	"     SET topup_status = CASE WHEN o.topup_status IN ('new', 'provider_in_progress_error') " \
	"                             THEN 'provider_in_progress' " \
	"                             ELSE 'provider_verification' END::topup.topup_status, " \
	"         attempts = COALESCE(o.attempts, 0) + 1, " \
	"         lease_until = pg_catalog.now() + COALESCE($2, " ATTEMPT_TIMEOUT_SQL("o") "), " \
	"         next_attempt_at = NULL " \
	"   WHERE o.order_id = ANY ($1) " \
	"  RETURNING " TOPUP_ORDER_RESULT_COLUMNS ") " \
	"SELECT * FROM u ORDER BY order_id"

/*
 * A claimed order whose card cannot take the top-up any more: new_error,
 * then failed and refunded (card_not_active).  The caller is connected to
 * SPI and holds the order locked.
 */
static void
FailDead(Datum order_id)
{
	SPITupleTable *dead;
	Datum		args[9];
	char		nulls[9];
	bool		isnull;
	int			rc;

	rc = SPI_execute_with_args(CANNOT_HAND_OVER_SQL, 1, (Oid[]) {INT8OID}, &order_id, NULL, false, 0);
	TopupSPICheck(rc, SPI_OK_UPDATE_RETURNING, "failing an order that cannot be handed over");
	if (SPI_processed != 1)
		elog(ERROR, "topup: order %lld was not failed", (long long) DatumGetInt64(order_id));
	dead = SPI_tuptable;
	memset(nulls, ' ', sizeof(nulls));
	args[0] = order_id;
	args[1] = SPI_getbinval(dead->vals[0], dead->tupdesc, 2, &isnull);
	args[2] = SPI_getbinval(dead->vals[0], dead->tupdesc, 3, &isnull);
	args[3] = (Datum) 0;
	nulls[3] = 'n';
	args[4] = SPI_getbinval(dead->vals[0], dead->tupdesc, 4, &isnull);
	args[5] = SPI_getbinval(dead->vals[0], dead->tupdesc, 5, &isnull);
	args[6] = CStringGetTextDatum("card_not_active");
	args[7] = SPI_getbinval(dead->vals[0], dead->tupdesc, 6, &isnull);
	args[8] = (Datum) 0;
	nulls[8] = 'n';
	RunReport(&refund_plan, REFUND_SQL, false, args, nulls, "refunding an order that cannot be handed over");
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the hold of order %lld is short", (long long) DatumGetInt64(order_id)),
				 errhint("Run topup.verify_ledger().")));
	TopupEventsWritten();
	TopupMasterRaised(args[1], args[2]);
}

static Datum
ClientsArray(List *clients)
{
	Datum	   *elems = palloc(Max(list_length(clients), 1) * sizeof(Datum));
	ListCell   *lc;
	int			n = 0;

	foreach(lc, clients)
		elems[n++] = CStringGetTextDatum((char *) lfirst(lc));
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/* topup.claim_orders(channel, max_orders, lease, client_id) -> SETOF order_result */
Datum
topup_claim_orders(PG_FUNCTION_ARGS)
{
	char	   *channel = TopupTextArg(fcinfo, 0);
	char	   *client_id = TopupTextArg(fcinfo, 3);
	Tuplestorestate *store;
	TupleDesc	tupdesc;
	int			saved;
	int32		max_orders;

	if (channel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("channel must not be null")));
	if (PG_ARGISNULL(1) || PG_GETARG_INT32(1) < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_orders must be at least 1")));
	max_orders = PG_GETARG_INT32(1);
	if (!PG_ARGISNULL(2) &&
		DatumGetInt32(DirectFunctionCall2(interval_cmp, PG_GETARG_DATUM(2),
										  DirectFunctionCall3(interval_in, CStringGetDatum("0"),
															  ObjectIdGetDatum(InvalidOid),
															  Int32GetDatum(-1)))) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lease must be positive")));

	store = TopupMaterialize(fcinfo, &tupdesc, work_mem);
	saved = TopupEnterInternal();
	PG_TRY();
	{
		Datum		clients = (Datum) 0;
		char		clients_null = 'n';
		bool		all;
		int			rc;
		uint64		i;
		SPITupleTable *candidates;
		uint64		ncandidates;
		Datum	   *live;
		int			nlive = 0;

		SPI_connect();
		if (client_id != NULL)
		{
			TopupRequireClient(fcinfo, client_id);
			clients = ClientsArray(list_make1(client_id));
			clients_null = ' ';
		}
		else
		{
			List	   *mine = TopupClientsFor(fcinfo, &all);

			if (!all)
			{
				clients = ClientsArray(mine);
				clients_null = ' ';
			}
		}

		rc = SPI_execute_with_args("SELECT 1 FROM topup.channels "
								   " WHERE channel = $1 AND mode = 'provider' "
								   "   AND ($2::text[] IS NULL OR client_id = ANY ($2)) LIMIT 1",
								   2, (Oid[]) {TEXTOID, TEXTARRAYOID},
								   (Datum[]) {CStringGetTextDatum(channel), clients},
								   (char[]) {' ', clients_null}, false, 1);
		TopupSPICheck(rc, SPI_OK_SELECT, "channel look-up");
		if (SPI_processed == 0)
		{
			/* an instant channel may still have provider-backed orders to finish */
			rc = SPI_execute_with_args("SELECT 1 FROM topup.channels "
									   " WHERE channel = $1 AND ($2::text[] IS NULL OR client_id = ANY ($2)) LIMIT 1",
									   2, (Oid[]) {TEXTOID, TEXTARRAYOID},
									   (Datum[]) {CStringGetTextDatum(channel), clients},
									   (char[]) {' ', clients_null}, false, 1);
			TopupSPICheck(rc, SPI_OK_SELECT, "channel look-up");
			if (SPI_processed == 0)
				ereport(ERROR,
						(errcode(ERRCODE_TOPUP_UNKNOWN_CHANNEL),
						 errmsg("unknown channel \"%s\"", channel),
						 errhint("Create it with topup.set_channel().")));
		}

		/*
		 * The candidates, locked; the dead ones fail, refunded.  Those failed
		 * leave room for as many more due orders: taken by the next round,
		 * until max_orders are live or none is left.
		 */
		live = palloc(sizeof(Datum));
		for (;;)
		{
			bool		any_dead = false;

			rc = SPI_execute_with_args(CANDIDATES_SQL, 4,
									   (Oid[]) {TEXTOID, TEXTARRAYOID, INT4OID, INT8ARRAYOID},
									   (Datum[]) {CStringGetTextDatum(channel), clients,
										   Int32GetDatum(max_orders - nlive),
										   PointerGetDatum(construct_array(live, nlive, INT8OID, 8,
																		   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE))},
									   (char[]) {' ', clients_null, ' ', ' '}, false, 0);
			TopupSPICheck(rc, SPI_OK_SELECT, "finding orders to claim");
			candidates = SPI_tuptable;
			ncandidates = SPI_processed;
			live = repalloc(live, (nlive + Max(ncandidates, 1)) * sizeof(Datum));
			for (i = 0; i < ncandidates; i++)
			{
				bool		isnull;
				Datum		id = SPI_getbinval(candidates->vals[i], candidates->tupdesc, 1, &isnull);

				if (DatumGetBool(SPI_getbinval(candidates->vals[i], candidates->tupdesc, 2, &isnull)))
				{
					FailDead(id);
					any_dead = true;
				}
				else
					live[nlive++] = id;
			}
			if (!any_dead || nlive >= max_orders)
				break;
		}

		rc = SPI_execute_with_args(CLAIM_SQL, 2, (Oid[]) {INT8ARRAYOID, INTERVALOID},
								   (Datum[]) {PointerGetDatum(construct_array(live, nlive, INT8OID, 8,
																			  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE)),
								   PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2)},
								   (char[]) {' ', PG_ARGISNULL(2) ? 'n' : ' '},
								   false, 0);
		TopupSPICheck(rc, SPI_OK_SELECT, "claiming orders");
		for (i = 0; i < SPI_processed; i++)
		{
			Datum		values[TOPUP_ORDER_RESULT_NATTS];
			bool		nulls[TOPUP_ORDER_RESULT_NATTS];
			int			k;

			for (k = 0; k < TOPUP_ORDER_RESULT_NATTS; k++)
				values[k] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, k + 1, &nulls[k]);
			values[TOPUP_ORDER_RESULT_REPLAYED - 1] = BoolGetDatum(false);
			nulls[TOPUP_ORDER_RESULT_REPLAYED - 1] = false;
			tuplestore_putvalues(store, tupdesc, values, nulls);
		}
		SPI_finish();
	}
	PG_FINALLY();
	{
		TopupLeaveInternal(saved);
	}
	PG_END_TRY();
	return (Datum) 0;
}

/* topup.set_channel(channel, mode, attempt_timeout, max_attempts, client_id) */
Datum
topup_set_channel(PG_FUNCTION_ARGS)
{
	char	   *channel = TopupTextArg(fcinfo, 0);
	char	   *mode = TopupTextArg(fcinfo, 1);
	char	   *client_id = TopupTextArg(fcinfo, 4);
	int			saved;

	if (channel == NULL || channel[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("channel must not be null or empty")));
	if (mode == NULL || (strcmp(mode, "instant") != 0 && strcmp(mode, "provider") != 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid channel mode \"%s\"", mode ? mode : ""),
				 errhint("The mode is \"instant\" or \"provider\".")));
	if (PG_ARGISNULL(2) ||
		DatumGetInt32(DirectFunctionCall2(interval_cmp, PG_GETARG_DATUM(2),
										  DirectFunctionCall3(interval_in, CStringGetDatum("0"),
															  ObjectIdGetDatum(InvalidOid),
															  Int32GetDatum(-1)))) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("attempt_timeout must be positive")));
	if (PG_ARGISNULL(3) || PG_GETARG_INT32(3) < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_attempts must be at least 1")));

	saved = TopupEnterInternal();
	PG_TRY();
	{
		int			rc;

		SPI_connect();
		TopupRequireClient(fcinfo, client_id);
		rc = SPI_execute_with_args("INSERT INTO topup.channels (client_id, channel, mode, attempt_timeout, max_attempts) "
								   "VALUES ($1, $2, $3, $4, $5) "
								   "ON CONFLICT (client_id, channel) DO UPDATE "
								   "   SET mode = excluded.mode, attempt_timeout = excluded.attempt_timeout, "
								   "       max_attempts = excluded.max_attempts, updated_at = pg_catalog.now()",
								   5, (Oid[]) {TEXTOID, TEXTOID, TEXTOID, INTERVALOID, INT4OID},
								   (Datum[]) {CStringGetTextDatum(client_id), CStringGetTextDatum(channel),
									   CStringGetTextDatum(mode), PG_GETARG_DATUM(2), PG_GETARG_DATUM(3)},
								   NULL, false, 0);
		TopupSPICheck(rc, SPI_OK_INSERT, "setting a channel");
		SPI_finish();
	}
	PG_FINALLY();
	{
		TopupLeaveInternal(saved);
	}
	PG_END_TRY();
	PG_RETURN_VOID();
}

/*
 * topup._order_timeouts(): the orders whose lease ran out while they were
 * with the processor go in doubt, claimable at once to ask it; returns how
 * many.  A lease of a verification that ran out needs nothing: the order is
 * claimable again as it is.
 */
Datum
topup_order_timeouts(PG_FUNCTION_ARGS)
{
	int64		n = 0;
	int			saved;

	TopupAuthorizeOwnerOnly(fcinfo);
	saved = TopupEnterInternal();
	PG_TRY();
	{
		int			rc;
		uint64		i;

		SPI_connect();
		rc = SPI_execute("WITH t AS ("
						 "  UPDATE topup.orders SET topup_status = 'provider_verification', "
						 "         lease_until = NULL, next_attempt_at = pg_catalog.now() "
						 "   WHERE status = 'processing' AND topup_status = 'provider_in_progress' "
						 "     AND lease_until < pg_catalog.now() "
						 "  RETURNING channel) "
						 "SELECT channel, pg_catalog.count(*) FROM t GROUP BY channel",
						 false, 0);
		TopupSPICheck(rc, SPI_OK_SELECT, "putting timed-out orders in doubt");
		for (i = 0; i < SPI_processed; i++)
		{
			bool		isnull;

			TopupOrdersClaimable(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
			n += DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
		}
		SPI_finish();
	}
	PG_FINALLY();
	{
		TopupLeaveInternal(saved);
	}
	PG_END_TRY();
	PG_RETURN_INT64(n);
}

/* CALL topup.run_order_timeouts() */
Datum
topup_run_order_timeouts(PG_FUNCTION_ARGS)
{
	int			rc;

	TopupAuthorizeOwnerOnly(fcinfo);
	SPI_connect();
	rc = SPI_execute("SELECT topup._order_timeouts()", false, 1);
	TopupSPICheck(rc, SPI_OK_SELECT, "order timeouts");
	SPI_finish();
	PG_RETURN_VOID();
}

/* topup.schedule_order_timeouts(schedule text) -> bigint job id */
Datum
topup_schedule_order_timeouts(PG_FUNCTION_ARGS)
{
	TopupAuthorizeOwnerOnly(fcinfo);
	PG_RETURN_INT64(TopupSchedule("topup-order-timeouts", PG_GETARG_DATUM(0),
								  "CALL topup.run_order_timeouts()"));
}
