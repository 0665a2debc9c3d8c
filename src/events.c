/*-------------------------------------------------------------------------
 *
 * events.c
 *	  The event outbox (SPEC §9): events_since, purge_events,
 *	  set_low_balance, the voucher.expiring notices of the sweep, and the
 *	  optional NOTIFYs.
 *
 *	  Events are written in the same transaction as what they report, with
 *	  no event_id yet.  events_since first publishes: in one step serialized
 *	  by an advisory lock, it numbers (from topup.event_id_seq) the events
 *	  its snapshot sees without a number, i.e. those of committed
 *	  transactions; then it reads the client's events after the given id.
 *	  An event whose transaction commits later is numbered by a later
 *	  publication, above every id handed out before, so a reader that polls
 *	  with the last id it saw never skips one, whatever the order in which
 *	  writers commit.  Writers never wait for this: they only insert.
 *
 *	  LISTEN is a wake-up hint only.  NOTIFY serialises the commits of the
 *	  transactions that send it, so the hot paths (redeems, instant top-ups,
 *	  charges) send topup_events only while topup.notify_events is on; a
 *	  provider-backed order that becomes claimable sends topup_orders.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/async.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/tuplestore.h"

#include "access.h"
#include "events.h"
#include "guard.h"
#include "schema.h"
#include "topup.h"

/* Advisory lock class of the publication step. */
#define PUBLISH_LOCK_CLASS	0x74756576	/* "tuev" */
/* Events numbered per publication step at most (the rest by the next). */
#define PUBLISH_BATCH		10000

PG_FUNCTION_INFO_V1(topup_events_since);
PG_FUNCTION_INFO_V1(topup_purge_events);
PG_FUNCTION_INFO_V1(topup_set_low_balance);

Datum
TopupRedeemEventPayload(Datum amount, Datum currency, const char *reference)
{
	char	   *json = psprintf("{\"order_type\": \"voucher_redeem\", \"status\": \"completed\", "
								"\"topup_status\": null, \"amount\": \"%s\", \"fee\": null, "
								"\"currency\": \"%s\", \"error_slug\": null, \"reference\": \"%s\"}",
								DatumGetCString(DirectFunctionCall1(numeric_out, amount)),
								TextDatumGetCString(currency), reference);

	return DirectFunctionCall1(jsonb_in, CStringGetDatum(json));
}

void
TopupEventsWritten(void)
{
	if (topup_notify_events && TopupHasLifecycle())
		Async_Notify("topup_events", "");
}

void
TopupOrdersClaimable(const char *channel)
{
	Async_Notify("topup_orders", channel);
}

/*
 * Number the events of committed transactions that have none yet, unless
 * another publication is running (its numbers are as good; the reader
 * sees them on its next poll).  The caller is connected to SPI.
 */
static void
Publish(void)
{
	int			rc;
	bool		isnull;

	rc = SPI_execute_with_args("SELECT pg_catalog.pg_try_advisory_xact_lock($1, 0)",
							   1, (Oid[]) {INT4OID}, (Datum[]) {Int32GetDatum(PUBLISH_LOCK_CLASS)},
							   NULL, false, 1);
	TopupSPICheck(rc, SPI_OK_SELECT, "locking the publication");
	if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
		return;
	/*
	 * Under READ COMMITTED this statement takes a new snapshot, now that
	 * the lock is held, which sees the last publication.  Under REPEATABLE
	 * READ it runs on the transaction's snapshot: if another publication
	 * committed since, numbering a row it numbered fails with a
	 * serialization error, which the reader retries.
	 */
	rc = SPI_execute("UPDATE topup.events e SET event_id = pg_catalog.nextval('topup.event_id_seq') "
					 "  FROM (SELECT ctid FROM topup.events WHERE event_id IS NULL "
					 "         ORDER BY at, ctid LIMIT " CppAsString2(PUBLISH_BATCH) ") u "
					 " WHERE e.ctid = u.ctid AND e.event_id IS NULL",
					 false, 0);
	TopupSPICheck(rc, SPI_OK_UPDATE, "publishing events");
}

/* topup.events_since(after_event_id, max_events, client_id) -> SETOF topup.events */
Datum
topup_events_since(PG_FUNCTION_ARGS)
{
	char	   *client_id = TopupTextArg(fcinfo, 2);
	TupleDesc	tupdesc;
	Tuplestorestate *store;
	Portal		portal;
	int			saved;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("after_event_id must not be null"),
				 errhint("Start with 0.")));
	if (PG_ARGISNULL(1) || PG_GETARG_INT32(1) < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_events must be at least 1")));
	store = TopupMaterialize(fcinfo, &tupdesc, work_mem);
	saved = TopupEnterInternal();
	PG_TRY();
	{
		SPI_connect();
		TopupRequireClient(fcinfo, client_id);
		Publish();
		portal = SPI_cursor_open_with_args(NULL,
										   "SELECT event_id, at, client_id, kind, order_id, serial, "
										   "       account_id, payload "
										   "  FROM topup.events "
										   " WHERE client_id OPERATOR(pg_catalog.=) $1 "
										   "   AND event_id IS NOT NULL AND event_id OPERATOR(pg_catalog.>) $2 "
										   " ORDER BY event_id LIMIT $3",
										   3, (Oid[]) {TEXTOID, INT8OID, INT4OID},
										   (Datum[]) {CStringGetTextDatum(client_id), PG_GETARG_DATUM(0),
										   PG_GETARG_DATUM(1)},
										   NULL, false, 0);
		for (;;)
		{
			uint64		i;

			SPI_cursor_fetch(portal, true, 1000);
			if (SPI_processed == 0)
				break;
			for (i = 0; i < SPI_processed; i++)
			{
				Datum		values[8];
				bool		nulls[8];
				int			k;

				for (k = 0; k < 8; k++)
					values[k] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, k + 1, &nulls[k]);
				tuplestore_putvalues(store, tupdesc, values, nulls);
			}
			SPI_freetuptable(SPI_tuptable);
		}
		SPI_cursor_close(portal);
		SPI_finish();
	}
	PG_FINALLY();
	{
		TopupLeaveInternal(saved);
	}
	PG_END_TRY();
	return (Datum) 0;
}

/* topup.purge_events(older_than, client_id) -> bigint */
Datum
topup_purge_events(PG_FUNCTION_ARGS)
{
	char	   *client_id = TopupTextArg(fcinfo, 1);
	int64		n = 0;
	int			saved;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("older_than must not be null")));
	saved = TopupEnterInternal();
	PG_TRY();
	{
		int			rc;

		SPI_connect();
		TopupRequireClient(fcinfo, client_id);
		/*
		 * Unpublished events stay: a reader has not seen them yet.  (Every
		 * OPERATOR() has the same precedence: without the parentheses the
		 * comparison would bind first.)
		 */
		rc = SPI_execute_with_args("DELETE FROM topup.events "
								   " WHERE client_id OPERATOR(pg_catalog.=) $1 AND event_id IS NOT NULL "
								   "   AND at OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) $2)",
								   2, (Oid[]) {TEXTOID, INTERVALOID},
								   (Datum[]) {CStringGetTextDatum(client_id), PG_GETARG_DATUM(0)},
								   NULL, false, 0);
		TopupSPICheck(rc, SPI_OK_DELETE, "purging events");
		n = (int64) SPI_processed;
		SPI_finish();
	}
	PG_FINALLY();
	{
		TopupLeaveInternal(saved);
	}
	PG_END_TRY();
	PG_RETURN_INT64(n);
}

/* topup.set_low_balance(currency, threshold, client_id) */
Datum
topup_set_low_balance(PG_FUNCTION_ARGS)
{
	char	   *currency = TopupTextArg(fcinfo, 0);
	char	   *client_id = TopupTextArg(fcinfo, 2);
	int			saved;

	if (!PG_ARGISNULL(1) && TopupNumericSign(PG_GETARG_DATUM(1)) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("threshold must not be negative")));
	saved = TopupEnterInternal();
	PG_TRY();
	{
		int			rc;
		int			minor;
		bool		ok;
		Datum		threshold;

		SPI_connect();
		TopupRequireClient(fcinfo, client_id);
		minor = TopupRequireCurrency(currency);
		if (PG_ARGISNULL(1))
		{
			rc = SPI_execute_with_args("DELETE FROM topup.low_balances "
									   " WHERE client_id OPERATOR(pg_catalog.=) $1 AND currency OPERATOR(pg_catalog.=) $2",
									   2, (Oid[]) {TEXTOID, TEXTOID},
									   (Datum[]) {CStringGetTextDatum(client_id), CStringGetTextDatum(currency)},
									   NULL, false, 0);
			TopupSPICheck(rc, SPI_OK_DELETE, "removing a threshold");
		}
		else
		{
			if (TopupNumericSign(PG_GETARG_DATUM(1)) > 0)
			{
				(void) TopupCheckAmount(PG_GETARG_DATUM(1), minor, &ok);
				if (!ok)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("threshold has more decimals than %s allows", currency)));
			}

			/*
			 * Whether the balance is below the new threshold now: the next
			 * crossing downwards is the one that raises master.low.
			 */
			/* stored at the currency's scale (400 is 400.00), as balances are */
			threshold = DirectFunctionCall2(numeric_round, PG_GETARG_DATUM(1), Int32GetDatum(minor));
			rc = SPI_execute_with_args("INSERT INTO topup.low_balances (client_id, currency, threshold, low) "
									   "SELECT $1, $2, $3, COALESCE((SELECT pg_catalog.sum(balance) FROM topup.balance_slots "
									   "        WHERE client_id = $1 AND currency = $2 AND book = 'master'), 0) < $3 "
									   "ON CONFLICT (client_id, currency) DO UPDATE "
									   "   SET threshold = excluded.threshold, low = excluded.low",
									   3, (Oid[]) {TEXTOID, TEXTOID, NUMERICOID},
									   (Datum[]) {CStringGetTextDatum(client_id), CStringGetTextDatum(currency),
									   threshold},
									   NULL, false, 0);
			TopupSPICheck(rc, SPI_OK_INSERT, "setting a threshold");
		}
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
 * voucher.expiring, once per voucher: the live vouchers whose (queued) due
 * date lies within topup.expiry_notice from now and that have had no
 * notice.  Run by run_expiry before its batches.  The caller is connected
 * to SPI and inside the internal-write flag.
 */
int64
TopupNoticeExpiring(int32 max_rows)
{
	int			rc;

	rc = SPI_execute_with_args("WITH due AS ("
							   "  SELECT DISTINCT q.client_id, q.serial, v.expires_at, v.series, v.amount, v.currency "
							   "    FROM topup.voucher_expiry q "
							   "    JOIN topup.vouchers v ON v.client_id = q.client_id AND v.serial OPERATOR(topup.=) q.serial "
							   "   WHERE q.expires_at > pg_catalog.now() "
							   "     AND q.expires_at <= pg_catalog.now() + pg_catalog.make_interval(secs => $1) "
							   "     AND v.expires_at = q.expires_at AND v.status IN ('new', 'blocked') "
							   "     AND NOT EXISTS (SELECT 1 FROM topup.expiry_notices n "
							   "                      WHERE n.client_id = q.client_id AND n.serial OPERATOR(topup.=) q.serial) "
							   "   LIMIT $2), "
							   "n AS (INSERT INTO topup.expiry_notices (client_id, serial) "
							   "      SELECT client_id, serial FROM due ON CONFLICT DO NOTHING "
							   "      RETURNING client_id, serial) "
							   "INSERT INTO topup.events (client_id, kind, serial, payload) "
							   "SELECT n.client_id, 'voucher.expiring', n.serial, "
							   "       pg_catalog.jsonb_build_object('series', d.series, 'amount', d.amount::pg_catalog.text, "
							   "           'currency', d.currency, 'expires_at', d.expires_at) "
							   "  FROM n JOIN due d ON d.client_id = n.client_id AND d.serial OPERATOR(topup.=) n.serial",
							   2, (Oid[]) {INT4OID, INT4OID},
							   (Datum[]) {Int32GetDatum(topup_expiry_notice), Int32GetDatum(max_rows)},
							   NULL, false, 0);
	TopupSPICheck(rc, SPI_OK_INSERT, "writing voucher.expiring events");
	if (SPI_processed > 0)
		TopupEventsWritten();
	return (int64) SPI_processed;
}
