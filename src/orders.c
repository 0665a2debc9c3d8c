/*-------------------------------------------------------------------------
 *
 * orders.c
 *	  What every order type shares: order ids, the order_result composite
 *	  built from a stored order row, and idempotency (§4 of the contract).
 *
 *	  Idempotency: a call with a key first takes a transaction-level
 *	  advisory lock on (client, order type, key), then looks for a stored
 *	  order with that key.  A concurrent call with the same key therefore
 *	  waits for the first to commit and then, in a fresh snapshot, finds
 *	  its order and replays it: one execution, never a second charge and
 *	  never a unique violation.  (Under REPEATABLE READ the stored order is
 *	  invisible to the waiter's snapshot; its INSERT ... ON CONFLICT then
 *	  fails with a serialization error, which such clients retry.)
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "crypto.h"
#include "events.h"
#include "orders.h"
#include "schema.h"

/* Advisory lock class of idempotency keys. */
#define IDEMPOTENCY_LOCK_CLASS	0x74756964	/* "tuid" */

int64
TopupNextOrderId(void)
{
	return nextval_internal(TopupGetSchema()->order_id_seq, false);
}

/*
 * Build the order_result composite for the function being called from
 * columns firstcol .. firstcol + 20 of an SPI row laid out as
 * TOPUP_ORDER_RESULT_COLUMNS; "replayed" is set from the argument.
 * The result is allocated in the caller's (upper) context.
 */
Datum
TopupOrderResult(FunctionCallInfo fcinfo, HeapTuple row, TupleDesc desc,
				 int firstcol, bool replayed)
{
	Datum		values[TOPUP_ORDER_RESULT_NATTS];
	bool		nulls[TOPUP_ORDER_RESULT_NATTS];
	int			i;

	for (i = 0; i < TOPUP_ORDER_RESULT_NATTS; i++)
		values[i] = SPI_getbinval(row, desc, firstcol + i, &nulls[i]);
	values[TOPUP_ORDER_RESULT_REPLAYED - 1] = BoolGetDatum(replayed);
	nulls[TOPUP_ORDER_RESULT_REPLAYED - 1] = false;
	return TopupOrderResultValues(fcinfo, values, nulls);
}

/*
 * The same from the 21 column values in order (TOPUP_ORDER_RESULT_COLUMNS).
 * Called while connected to SPI.
 */
Datum
TopupOrderResultValues(FunctionCallInfo fcinfo, Datum *values, bool *nulls)
{
	TupleDesc	tupdesc;
	HeapTuple	result;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "topup: return type must be a row type");
	if (tupdesc->natts != TOPUP_ORDER_RESULT_NATTS)
		elog(ERROR, "topup: order_result has %d columns, expected %d",
			 tupdesc->natts, TOPUP_ORDER_RESULT_NATTS);
	tupdesc = BlessTupleDesc(tupdesc);
	result = heap_form_tuple(tupdesc, values, nulls);
	/* SPI_returntuple copies into the context that was current at SPI_connect */
	return PointerGetDatum(SPI_returntuple(result, tupdesc));
}

/* An idempotency key is optional for redeems, but never empty or huge. */
void
TopupCheckIdempotencyKey(const char *key)
{
	if (key != NULL && (key[0] == '\0' || strlen(key) > 255))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("idempotency_key must have 1 to 255 characters")));
}

/*
 * Serialise calls with one key and look for its stored order.
 *
 * Returns true with *row and *desc set (TOPUP_ORDER_RESULT_COLUMNS) when the
 * key was used before with the same request_hash: the caller replays it.
 * Raises idempotency_key_reused when it was used with other parameters.
 * Returns false when the key is new; the lock is held until commit.
 */
bool
TopupFindIdempotent(const char *client_id, const char *order_type,
					const char *key, const uint8 *request_hash,
					HeapTuple *row, TupleDesc *desc)
{
	static SPIPlanPtr plan = NULL;
	StringInfoData buf;
	uint32		h;
	Datum		args[3];
	int			rc;
	bool		isnull;
	bytea	   *stored;

	initStringInfo(&buf);
	appendStringInfo(&buf, "%s%c%s%c%s", client_id, '\0', order_type, '\0', key);
	h = hash_bytes((const unsigned char *) buf.data, buf.len);
	(void) DirectFunctionCall2(pg_advisory_xact_lock_int4,
							   Int32GetDatum(IDEMPOTENCY_LOCK_CLASS),
							   Int32GetDatum((int32) h));

	args[0] = CStringGetTextDatum(client_id);
	args[1] = CStringGetTextDatum(order_type);
	args[2] = CStringGetTextDatum(key);
	/* not read-only: the snapshot must be taken after the lock was granted */
	rc = SPI_execute_plan(TopupPreparePlan(&plan,
										   "SELECT " TOPUP_ORDER_RESULT_COLUMNS ", request_hash "
										   "  FROM topup.orders "
										   " WHERE client_id OPERATOR(pg_catalog.=) $1 "
										   "   AND order_type OPERATOR(pg_catalog.=) $2 "
										   "   AND idempotency_key OPERATOR(pg_catalog.=) $3",
										   3, (Oid[]) {TEXTOID, TEXTOID, TEXTOID}),
						  args, NULL, false, 1);
	TopupSPICheck(rc, SPI_OK_SELECT, "idempotency look-up");
	if (SPI_processed == 0)
		return false;

	*row = SPI_tuptable->vals[0];
	*desc = SPI_tuptable->tupdesc;
	stored = DatumGetByteaPP(SPI_getbinval(*row, *desc, TOPUP_ORDER_RESULT_NATTS + 1, &isnull));
	if (isnull || VARSIZE_ANY_EXHDR(stored) != TOPUP_HASH_LEN ||
		memcmp(VARDATA_ANY(stored), request_hash, TOPUP_HASH_LEN) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_TOPUP_IDEMPOTENCY_KEY_REUSED),
				 errmsg("idempotency key \"%s\" was already used with other parameters", key),
				 errdetail("The key belongs to order %s.",
						   SPI_getvalue(*row, *desc, 1)),
				 errhint("Send a new idempotency key for a new request.")));
	return true;
}

void
TopupRequireNewOrder(void)
{
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access due to a concurrent request with the same idempotency key")));
}

Datum
TopupNewOrderResult(FunctionCallInfo fcinfo)
{
	TopupRequireNewOrder();
	TopupEventsWritten();
	return TopupOrderResult(fcinfo, SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, false);
}
