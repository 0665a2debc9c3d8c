/*-------------------------------------------------------------------------
 *
 * vouchers.c
 *	  Voucher series: generate_vouchers (and its row source
 *	  _generate_batch), export_vouchers and the PIN mask of voucher_list.
 *
 *	  Generation streams rows from a C set-returning function into one
 *	  prepared INSERT ... SELECT per chunk, so there is no per-row SPI.
 *	  PINs must be unique across all vouchers: a chunk that hits the unique
 *	  index on pin_hash (an existing PIN, or a birthday collision inside the
 *	  batch) is rolled back to its subtransaction and drawn again with
 *	  fresh PINs, in halved chunks until it goes through.  Sequence numbers
 *	  stay consecutive because a chunk is retried for the same numbers.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "access.h"
#include "crypto.h"
#include "guard.h"
#include "schema.h"
#include "serial.h"
#include "topup.h"
#include "vouchers.h"

/* Chunk size of the generation INSERT; halved on a PIN collision. */
#define GENERATE_CHUNK		16384
/* Consecutive collisions after which the PIN space is declared exhausted. */
#define GENERATE_MAX_RETRIES	64

/* Advisory lock class serialising generations per PIN length. */
#define PIN_LENGTH_LOCK_CLASS	0x746f7075	/* "topu" */

typedef struct BatchState
{
	int64		series;
	int64		first;
	int			pin_length;
} BatchState;

static Datum GenerateVouchers(FunctionCallInfo fcinfo, Oid queue);
static Datum GenerateEntry(FunctionCallInfo fcinfo, Oid queue);
static char *NormalizeSeries(const char *series, int64 *code);
static void CheckPinDensity(int pin_length, int64 quantity);
static bool TryInsertChunk(SPIPlanPtr plan, Datum *values, const char *nulls);
static void InsertVouchers(Datum *values, const char *nulls, int64 first, int64 quantity);

PG_FUNCTION_INFO_V1(topup_generate_vouchers);
PG_FUNCTION_INFO_V1(topup_generate_vouchers_0_3_1);
PG_FUNCTION_INFO_V1(topup_generate_batch);
PG_FUNCTION_INFO_V1(topup_export_vouchers);
PG_FUNCTION_INFO_V1(topup_pin_masked);

/*
 * Validate a series code and return it upper-cased; *code gets its packed
 * form.
 */
static char *
NormalizeSeries(const char *series, int64 *code)
{
	char		buf[TOPUP_SERIES_MAXLEN + 1];

	if (series == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("series must not be null")));
	if (!SerialEncodeSeries(series, strlen(series), code))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid series code \"%s\"", series),
				 errdetail("A series code is 1 to 10 letters A-Z or digits.")));
	SerialDecodeSeries(*code, buf);
	return pstrdup(buf);
}

/*
 * The PIN-space density rule: after the generation, live (new or blocked)
 * vouchers with this PIN length must not exceed max_pin_density *
 * 10^pin_length.  The hint names the shortest PIN length that would do.
 * The caller holds the advisory lock of this PIN length.
 */
static void
CheckPinDensity(int pin_length, int64 quantity)
{
	int64		live[TOPUP_PIN_MAX + 1] = {0};
	int			rc;
	uint64		i;
	int			len;
	int			better = -1;
	bool		isnull;

	/*
	 * Live vouchers are at most all vouchers of the length, which an index
	 * counts without reading the table (status is in no index, see the
	 * 0.3.0 upgrade).  Only near the limit are the live ones counted.
	 */
	rc = SPI_execute_with_args("SELECT pg_catalog.count(*) FROM topup.vouchers "
							   "WHERE pin_length OPERATOR(pg_catalog.=) $1",
							   1, (Oid[]) {INT2OID}, (Datum[]) {Int16GetDatum((int16) pin_length)},
							   NULL, false, 0);
	TopupSPICheck(rc, SPI_OK_SELECT, "counting vouchers");
	if ((double) (DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) +
				  quantity) <= topup_max_pin_density * pow(10.0, pin_length))
		return;

	rc = SPI_execute("SELECT pin_length::integer, pg_catalog.count(*) FROM topup.vouchers v "
					 "WHERE " TOPUP_VOUCHER_LIVE_SQL("v") " GROUP BY pin_length", false, 0);
	TopupSPICheck(rc, SPI_OK_SELECT, "counting live vouchers");
	for (i = 0; i < SPI_processed; i++)
	{
		int			l = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));

		if (l >= 0 && l <= TOPUP_PIN_MAX)
			live[l] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
	}

	if ((double) (live[pin_length] + quantity) <= topup_max_pin_density * pow(10.0, pin_length))
		return;

	for (len = pin_length + 1; len <= TOPUP_PIN_MAX; len++)
		if ((double) (live[len] + quantity) <= topup_max_pin_density * pow(10.0, len))
		{
			better = len;
			break;
		}

	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg_plural("PIN space of length %d is too small for %lld more voucher",
						   "PIN space of length %d is too small for %lld more vouchers",
						   (unsigned long) quantity,
						   pin_length, (long long) quantity),
			 errdetail_plural("%lld live voucher already has a %d-digit PIN; at most %.0f may (topup.max_pin_density = %g).",
							  "%lld live vouchers already have %d-digit PINs; at most %.0f may (topup.max_pin_density = %g).",
							  (unsigned long) live[pin_length],
							  (long long) live[pin_length], pin_length,
							  floor(topup_max_pin_density * pow(10.0, pin_length)), topup_max_pin_density),
			 better > 0 ?
			 errhint("Use a PIN length of %d or more.", better) :
			 errhint("Generate fewer vouchers at once.")));
}

/*
 * Run the generation INSERT for one chunk inside a subtransaction.
 * Returns false when a PIN collided with one already present (the chunk is
 * then rolled back); any other error propagates.
 */
static bool
TryInsertChunk(SPIPlanPtr plan, Datum *values, const char *nulls)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	volatile bool ok = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);

	PG_TRY();
	{
		int			rc = SPI_execute_plan(plan, values, nulls, false, 0);

		TopupSPICheck(rc, SPI_OK_INSERT, "inserting vouchers");
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;

		if (edata->sqlerrcode == ERRCODE_UNIQUE_VIOLATION &&
			edata->constraint_name != NULL &&
			strcmp(edata->constraint_name, "vouchers_pin_hash_key") == 0)
		{
			FreeErrorData(edata);
			ok = false;
		}
		else
			ReThrowError(edata);
	}
	PG_END_TRY();

	return ok;
}

/*
 * Insert quantity vouchers numbered from first.  values[0..6] hold the
 * constant columns; the plan's last two parameters are the chunk's first
 * number and size.
 */
static void
InsertVouchers(Datum *values, const char *nulls, int64 first, int64 quantity)
{
	static SPIPlanPtr plan = NULL;
	int64		next = first;
	int64		remaining = quantity;
	int			chunk = GENERATE_CHUNK;
	int			failures = 0;

	Oid			argtypes[9] = {TEXTOID, TEXTOID, NUMERICOID, TEXTOID, TEXTOID,
	TIMESTAMPTZOID, INT4OID, INT8OID, INT4OID};

	(void) TopupPreparePlan(&plan,
							"INSERT INTO topup.vouchers "
							"(serial, client_id, series, amount, currency, reseller, expires_at, "
							" pin_length, pin_hash, pin_cipher, created_at) "
							"SELECT g.serial, $1, $2, $3, $4, $5, $6, $7, g.pin_hash, g.pin_cipher, "
							"       pg_catalog.now() "
							"  FROM topup._generate_batch($2, $8, $9, $7) g",
							9, argtypes);

	while (remaining > 0)
	{
		int			n = (int) Min((int64) chunk, remaining);

		CHECK_FOR_INTERRUPTS();
		values[7] = Int64GetDatum(next);
		values[8] = Int32GetDatum(n);
		if (TryInsertChunk(plan, values, nulls))
		{
			next += n;
			remaining -= n;
			failures = 0;
			if (chunk < GENERATE_CHUNK)
				chunk *= 2;
		}
		else
		{
			if (++failures > GENERATE_MAX_RETRIES)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("could not draw unique PINs"),
						 errdetail("%d attempts in a row collided with existing PINs.", failures),
						 errhint("Use a longer PIN length.")));
			chunk = Max(1, chunk / 2);
		}
	}
}

static Datum
GenerateVouchers(FunctionCallInfo fcinfo, Oid queue)
{
	char	   *series_arg = TopupTextArg(fcinfo, 0);
	char	   *currency = TopupTextArg(fcinfo, 3);
	char	   *reseller = TopupTextArg(fcinfo, 6);
	char	   *client_id = TopupTextArg(fcinfo, 7);
	char	   *series;
	int64		code;
	int32		quantity;
	int32		pin_length;
	int			minor;
	bool		ok;
	Datum		amount;
	Datum		values[9];
	char		nulls[9] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	Oid			argtypes[4] = {TEXTOID, TEXTOID, NUMERICOID, TEXTOID};
	int64		last_number;
	bool		isnull;
	int			rc;
	HeapTuple	tuple;
	TupleDesc	tupdesc;

	series = NormalizeSeries(series_arg, &code);

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("quantity must not be null")));
	quantity = PG_GETARG_INT32(1);
	if (quantity < 1 || quantity > topup_max_batch)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("quantity %d is out of range", quantity),
				 errdetail("The quantity must be between 1 and topup.max_batch (%d).", topup_max_batch)));

	if (PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pin_length must not be null")));
	pin_length = PG_GETARG_INT32(4);
	if (pin_length < TOPUP_PIN_MIN || pin_length > TOPUP_PIN_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pin_length %d is out of range", pin_length),
				 errdetail("A PIN has %d to %d digits.", TOPUP_PIN_MIN, TOPUP_PIN_MAX)));

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("amount must not be null")));

	if (!PG_ARGISNULL(5) &&
		PG_GETARG_TIMESTAMPTZ(5) <= GetCurrentTransactionStartTimestamp())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("expires_at must be in the future")));

	if (client_id == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("client_id must not be null")));
	if (currency == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("currency must not be null")));

	SPI_connect();

	TopupRequireClient(fcinfo, client_id);
	minor = TopupRequireCurrency(currency);
	amount = TopupCheckAmount(PG_GETARG_DATUM(2), minor, &ok);
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid amount %s for currency %s",
						DatumGetCString(DirectFunctionCall1(numeric_out, PG_GETARG_DATUM(2))), currency),
				 errdetail("An amount is positive and has at most %d decimal places in %s.", minor, currency)));

	if (reseller != NULL)
	{
		Oid			rtypes[2] = {TEXTOID, TEXTOID};
		Datum		rvalues[2] = {CStringGetTextDatum(client_id), CStringGetTextDatum(reseller)};

		rc = SPI_execute_with_args("SELECT 1 FROM topup.resellers "
								   "WHERE client_id OPERATOR(pg_catalog.=) $1 AND reseller OPERATOR(pg_catalog.=) $2",
								   2, rtypes, rvalues, NULL, false, 1);
		TopupSPICheck(rc, SPI_OK_SELECT, "reseller look-up");
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("reseller \"%s\" does not exist", reseller),
					 errhint("Create it with topup.create_reseller().")));
	}

	/* Create or lock the series row: concurrent generations of it queue here. */
	values[0] = CStringGetTextDatum(client_id);
	values[1] = CStringGetTextDatum(series);
	values[2] = amount;
	values[3] = CStringGetTextDatum(currency);
	rc = SPI_execute_with_args("INSERT INTO topup.series (client_id, series, amount, currency) "
							   "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
							   4, argtypes, values, NULL, false, 0);
	TopupSPICheck(rc, SPI_OK_INSERT, "creating the series");
	rc = SPI_execute_with_args("SELECT amount, currency, last_number FROM topup.series "
							   "WHERE client_id OPERATOR(pg_catalog.=) $1 AND series OPERATOR(pg_catalog.=) $2 "
							   "FOR UPDATE",
							   2, argtypes, values, NULL, false, 0);
	TopupSPICheck(rc, SPI_OK_SELECT, "locking the series");
	if (SPI_processed != 1)
		elog(ERROR, "topup: series row vanished");
	{
		HeapTuple	row = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		Datum		s_amount = SPI_getbinval(row, desc, 1, &isnull);
		char	   *s_currency = SPI_getvalue(row, desc, 2);

		last_number = DatumGetInt64(SPI_getbinval(row, desc, 3, &isnull));
		if (strcmp(s_currency, currency) != 0 ||
			!DatumGetBool(DirectFunctionCall2(numeric_eq, s_amount, amount)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("series %s holds vouchers of %s %s", series,
							DatumGetCString(DirectFunctionCall1(numeric_out, s_amount)), s_currency),
					 errdetail("A series keeps the amount and currency of its first generation.")));
	}
	if (last_number + quantity > TOPUP_SERIAL_MAX_NUMBER)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg_plural("series %s has no room for %d more voucher",
							   "series %s has no room for %d more vouchers",
							   quantity, series, quantity),
				 errdetail("Sequence numbers of a series end at %lld.",
						   (long long) TOPUP_SERIAL_MAX_NUMBER)));

	/* Serialise generations per PIN length so the density check holds. */
	rc = SPI_execute_with_args("SELECT pg_catalog.pg_advisory_xact_lock($1, $2)",
							   2, (Oid[]) {INT4OID, INT4OID},
							   (Datum[]) {Int32GetDatum(PIN_LENGTH_LOCK_CLASS), Int32GetDatum(pin_length)},
							   NULL, false, 0);
	TopupSPICheck(rc, SPI_OK_SELECT, "locking the PIN length");
	CheckPinDensity(pin_length, quantity);

	values[4] = reseller ? CStringGetTextDatum(reseller) : (Datum) 0;
	nulls[4] = reseller ? ' ' : 'n';
	values[5] = PG_ARGISNULL(5) ? (Datum) 0 : PG_GETARG_DATUM(5);
	nulls[5] = PG_ARGISNULL(5) ? 'n' : ' ';
	values[6] = Int32GetDatum(pin_length);
	InsertVouchers(values, nulls, last_number + 1, quantity);

	/* their due date goes to the expiry queue (where there is one: 0.3.0 on) */
	if (!PG_ARGISNULL(5) && OidIsValid(queue))
	{
		rc = SPI_execute_with_args("INSERT INTO topup.voucher_expiry (expires_at, client_id, serial) "
								   "SELECT $1, $2, topup.make_serial($3, g) "
								   "  FROM pg_catalog.generate_series($4, $5) AS g",
								   5, (Oid[]) {TIMESTAMPTZOID, TEXTOID, TEXTOID, INT8OID, INT8OID},
								   (Datum[]) {values[5], values[0], values[1],
									   Int64GetDatum(last_number + 1), Int64GetDatum(last_number + quantity)},
								   NULL, false, 0);
		TopupSPICheck(rc, SPI_OK_INSERT, "queueing the due dates");
	}

	rc = SPI_execute_with_args("UPDATE topup.series SET last_number = last_number OPERATOR(pg_catalog.+) $3, "
							   "last_generated_at = pg_catalog.now() "
							   "WHERE client_id OPERATOR(pg_catalog.=) $1 AND series OPERATOR(pg_catalog.=) $2",
							   3, (Oid[]) {TEXTOID, TEXTOID, INT8OID},
							   (Datum[]) {values[0], values[1], Int64GetDatum(quantity)},
							   NULL, false, 0);
	TopupSPICheck(rc, SPI_OK_UPDATE, "advancing the series");

	rc = SPI_execute_with_args("SELECT * FROM topup.series_list "
							   "WHERE client_id OPERATOR(pg_catalog.=) $1 AND series OPERATOR(pg_catalog.=) $2",
							   2, argtypes, values, NULL, false, 0);
	TopupSPICheck(rc, SPI_OK_SELECT, "reading the series");
	if (SPI_processed != 1)
		elog(ERROR, "topup: series row vanished");
	tuple = SPI_tuptable->vals[0];
	tupdesc = SPI_tuptable->tupdesc;
	/* copied into the caller's context, so it outlives SPI_finish */
	return PointerGetDatum(SPI_returntuple(tuple, tupdesc));
}

/*
 * topup.generate_vouchers(series, quantity, amount, currency, pin_length,
 *						   expires_at, reseller, client_id) -> series_list
 *
 * Bound from 0.3.1 on, where the expiry queue is part of the schema.
 */
Datum
topup_generate_vouchers_0_3_1(PG_FUNCTION_ARGS)
{
	Oid			queue = TopupGetSchema()->expiry_queue;

	if (!OidIsValid(queue))
		elog(ERROR, "topup: relation topup.voucher_expiry is missing");
	return GenerateEntry(fcinfo, queue);
}

/* The same for the SQL of 0.1.0 to 0.3.0, with or without the queue (0.3.0). */
Datum
topup_generate_vouchers(PG_FUNCTION_ARGS)
{
	return GenerateEntry(fcinfo, TopupGetSchema()->expiry_queue);
}

static Datum
GenerateEntry(FunctionCallInfo fcinfo, Oid queue)
{
	Datum		result;
	int			saved = TopupEnterInternal();

	PG_TRY();
	{
		result = GenerateVouchers(fcinfo, queue);
		SPI_finish();
	}
	PG_FINALLY();
	{
		TopupLeaveInternal(saved);
	}
	PG_END_TRY();
	return result;
}

/*
 * topup._generate_batch(series, first_number, quantity, pin_length)
 *	-> (serial, pin_hash, pin_cipher)
 *
 * One row per sequence number with a fresh random PIN.  The PIN itself
 * never leaves this function: only its HMAC and its ciphertext do.
 */
Datum
topup_generate_batch(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;
	BatchState *state;

	if (SRF_IS_FIRSTCALL())
	{
		MemoryContext oldcontext;
		TupleDesc	tupdesc;
		char	   *series = text_to_cstring(PG_GETARG_TEXT_PP(0));
		int32		quantity = PG_GETARG_INT32(2);

		funcctx = SRF_FIRSTCALL_INIT();
		oldcontext = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		state = palloc(sizeof(BatchState));
		if (!SerialEncodeSeries(series, strlen(series), &state->series))
			elog(ERROR, "topup: invalid series \"%s\"", series);
		state->first = PG_GETARG_INT64(1);
		state->pin_length = PG_GETARG_INT32(3);
		if (state->pin_length < TOPUP_PIN_MIN || state->pin_length > TOPUP_PIN_MAX ||
			quantity < 0 || state->first < 1 ||
			state->first + quantity - 1 > TOPUP_SERIAL_MAX_NUMBER)
			elog(ERROR, "topup: invalid batch");
		if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "topup: return type must be a row type");
		funcctx->tuple_desc = BlessTupleDesc(tupdesc);
		funcctx->max_calls = quantity;
		funcctx->user_fctx = state;
		MemoryContextSwitchTo(oldcontext);
	}

	funcctx = SRF_PERCALL_SETUP();
	state = funcctx->user_fctx;

	if (funcctx->call_cntr < funcctx->max_calls)
	{
		VoucherSerial *serial = palloc(sizeof(VoucherSerial));
		char		pin[TOPUP_PIN_MAX];
		uint8		hash[TOPUP_HASH_LEN];
		uint8		cipher[TOPUP_CIPHER_MAX];
		int			clen;
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		serial->series = state->series;
		serial->number = state->first + (int64) funcctx->call_cntr;

		TopupRandomDigits(pin, state->pin_length);
		TopupHmac(pin, state->pin_length, hash);
		clen = TopupEncryptPin(pin, state->pin_length, hash, cipher);
		explicit_bzero(pin, sizeof(pin));

		values[0] = VoucherSerialPGetDatum(serial);
		values[1] = PointerGetDatum(TopupByteaFrom(hash, TOPUP_HASH_LEN));
		values[2] = PointerGetDatum(TopupByteaFrom(cipher, clen));
		SRF_RETURN_NEXT(funcctx, HeapTupleGetDatum(heap_form_tuple(funcctx->tuple_desc, values, nulls)));
	}
	SRF_RETURN_DONE(funcctx);
}

/*
 * Decrypt a stored PIN; the IV is the first 16 bytes of its HMAC.
 */
static int
DecryptStoredPin(bytea *cipher, bytea *hash, char *out)
{
	if (VARSIZE_ANY_EXHDR(hash) != TOPUP_HASH_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("malformed voucher PIN hash")));
	return TopupDecryptPin((uint8 *) VARDATA_ANY(cipher), VARSIZE_ANY_EXHDR(cipher),
						   (uint8 *) VARDATA_ANY(hash), out);
}

/*
 * topup.export_vouchers(series, client_id) -> TABLE(serial, pin, amount,
 *	currency, expires_at, reseller, status), in serial order.
 */
Datum
topup_export_vouchers(PG_FUNCTION_ARGS)
{
	char	   *client_id = text_to_cstring(PG_GETARG_TEXT_PP(1));
	int64		code;
	char	   *series = NormalizeSeries(text_to_cstring(PG_GETARG_TEXT_PP(0)), &code);
	Tuplestorestate *store;
	TupleDesc	tupdesc;
	Oid			argtypes[3] = {TEXTOID, TEXTOID, TEXTARRAYOID};
	Datum		args[3] = {0, 0, 0};
	char		nulls[3] = {' ', ' ', 'n'};
	TopupScope	scope;
	Portal		portal;
	int			rc;

	/*
	 * The plaintext PINs go into a tuplestore that never spills to a
	 * temporary file (a function scan hands this very tuplestore to the
	 * query): the series is held in memory instead.
	 */
	store = TopupMaterialize(fcinfo, &tupdesc, MAX_KILOBYTES);
	args[0] = CStringGetTextDatum(client_id);
	args[1] = CStringGetTextDatum(series);

	SPI_connect();
	/* a reseller exports only its own cards (access.c) */
	TopupAuthorize(fcinfo, client_id, &scope);
	if (!TopupClientExists(client_id))
		TopupUnknownClient(client_id);
	if (!scope.all)
	{
		ListCell   *lc;
		Datum	   *elems = palloc(list_length(scope.resellers) * sizeof(Datum));
		int			n = 0;

		foreach(lc, scope.resellers)
			elems[n++] = CStringGetTextDatum((char *) lfirst(lc));
		args[2] = PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
		nulls[2] = ' ';
	}
	rc = SPI_execute_with_args("SELECT 1 FROM topup.series s "
							   "WHERE s.client_id OPERATOR(pg_catalog.=) $1 AND s.series OPERATOR(pg_catalog.=) $2 "
							   "  AND ($3 IS NULL OR EXISTS (SELECT 1 FROM topup.vouchers v "
							   "         WHERE v.client_id OPERATOR(pg_catalog.=) $1 "
							   "           AND v.series OPERATOR(pg_catalog.=) $2 "
							   "           AND v.reseller OPERATOR(pg_catalog.=) ANY ($3)))",
							   3, argtypes, args, nulls, false, 1);
	TopupSPICheck(rc, SPI_OK_SELECT, "series look-up");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("voucher series \"%s\" does not exist", series)));

	/* a cursor keeps the read side flat for large series */
	portal = SPI_cursor_open_with_args(NULL,
									   "SELECT serial, pin_cipher, pin_hash, amount, currency, "
									   "       expires_at, reseller, status "
									   "  FROM topup.vouchers "
									   " WHERE client_id OPERATOR(pg_catalog.=) $1 "
									   "   AND series OPERATOR(pg_catalog.=) $2 "
									   "   AND ($3 IS NULL OR reseller OPERATOR(pg_catalog.=) ANY ($3)) "
									   " ORDER BY serial",
									   3, argtypes, args, nulls, false, 0);
	for (;;)
	{
		uint64		i;

		SPI_cursor_fetch(portal, true, 1000);
		if (SPI_processed == 0)
			break;
		for (i = 0; i < SPI_processed; i++)
		{
			HeapTuple	row = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			Datum		values[7];
			bool		nulls[7];
			bool		isnull;
			char		pin[TOPUP_CIPHER_MAX + 1];

			values[0] = SPI_getbinval(row, desc, 1, &nulls[0]);
			DecryptStoredPin(DatumGetByteaPP(SPI_getbinval(row, desc, 2, &isnull)),
							 DatumGetByteaPP(SPI_getbinval(row, desc, 3, &isnull)), pin);
			values[1] = CStringGetTextDatum(pin);
			explicit_bzero(pin, sizeof(pin));
			nulls[1] = false;
			values[2] = SPI_getbinval(row, desc, 4, &nulls[2]);
			values[3] = SPI_getbinval(row, desc, 5, &nulls[3]);
			values[4] = SPI_getbinval(row, desc, 6, &nulls[4]);
			values[5] = SPI_getbinval(row, desc, 7, &nulls[5]);
			values[6] = SPI_getbinval(row, desc, 8, &nulls[6]);
			tuplestore_putvalues(store, tupdesc, values, nulls);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	SPI_finish();
	return (Datum) 0;
}

/* topup._pin_masked(pin_cipher, pin_hash): "**********42" */
Datum
topup_pin_masked(PG_FUNCTION_ARGS)
{
	char		pin[TOPUP_CIPHER_MAX + 1];
	int			len = DecryptStoredPin(PG_GETARG_BYTEA_PP(0), PG_GETARG_BYTEA_PP(1), pin);
	int			i;
	text	   *result;

	for (i = 0; i < len - 2; i++)
		pin[i] = '*';
	result = cstring_to_text_with_len(pin, len);
	explicit_bzero(pin, sizeof(pin));
	PG_RETURN_TEXT_P(result);
}

/*
 * Why a voucher cannot be redeemed now, or NULL when it can (vouchers.h).
 * Already redeemed first, then expiry (by expires_at, whatever the status
 * says), then blocked.
 */
const char *
TopupVoucherRefusal(VoucherStatus status, bool expires_null, TimestampTz expires,
					TimestampTz now, const char **message)
{
	if (status == VS_ACTIVATED)
	{
		*message = "the voucher has already been redeemed";
		return "voucher_already_redeemed";
	}
	if (status == VS_EXPIRED || (!expires_null && expires <= now))
	{
		*message = "the voucher has expired";
		return "voucher_expired";
	}
	if (status == VS_BLOCKED)
	{
		*message = "the voucher is blocked";
		return "voucher_blocked";
	}
	return NULL;
}
