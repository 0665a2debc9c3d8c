/*-------------------------------------------------------------------------
 *
 * charge.c
 *	  Charges (SPEC §9): charge_account spends from a customer balance or a
 *	  card (order type account_charge): account -> the client's revenue
 *	  book.  The account row is locked first, so concurrent charges of one
 *	  account queue there and never take it below zero; a charge it cannot
 *	  cover is a stored failure (insufficient_funds).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/numeric.h"

#include "access.h"
#include "crypto.h"
#include "events.h"
#include "guard.h"
#include "orders.h"
#include "schema.h"
#include "topup.h"

PG_FUNCTION_INFO_V1(topup_charge_account);

#define READ_SQL \
	"SELECT a.status::text, a.currency, c.minor_units, a.balance " \
	"  FROM topup.accounts a JOIN topup.currencies c ON c.code = a.currency " \
	" WHERE a.client_id = $1 AND a.account_id = $2 " \
	"   FOR NO KEY UPDATE OF a"

/* $1 order, $2 client, $3 account, $4 amount, $5 currency, $6 key, $7 hash, $8 reference, $9 description */
#define CHARGE_SQL \
	"WITH a AS (" \
	"  UPDATE topup.accounts SET balance = balance - $4 " \
	"   WHERE client_id = $2 AND account_id = $3 AND balance >= $4 " \
	"  RETURNING balance), " \
	"l AS (" \
	"  INSERT INTO topup.ledger (order_id, client_id, book, account_id, currency, amount, balance_after) " \
	"  SELECT $1, $2, 'account', $3, $5, - $4, a.balance FROM a " \
	"  UNION ALL SELECT $1, $2, 'revenue', NULL, $5, $4, NULL FROM a), " \
	"o AS (" \
	"  INSERT INTO topup.orders (order_id, order_type, status, client_id, account_id, amount, currency, " \
	"         account_balance_after, idempotency_key, request_hash, reference, note, created_at, completed_at) " \
	"  SELECT $1, 'account_charge', 'completed', $2, $3, $4, $5, a.balance, $6, $7, $8, $9, " \
	"         pg_catalog.now(), pg_catalog.now() FROM a " \
	"  ON CONFLICT (client_id, order_type, idempotency_key) DO NOTHING " \
	"  RETURNING " TOPUP_ORDER_RESULT_COLUMNS "), " \
	"e AS (" TOPUP_ORDER_EVENTS_SQL("o", "o") ") " \
	"SELECT * FROM o"

/* $1 order, $2 client, $3 account, $4 amount, $5 currency, $6 key, $7 hash, $8 reference, $9 description, $10 slug, $11 message */
#define FAIL_SQL \
	"WITH o AS (" \
	"  INSERT INTO topup.orders (order_id, order_type, status, client_id, account_id, amount, currency, " \
	"         idempotency_key, request_hash, reference, note, error_slug, error_message, created_at, failed_at) " \
	"  VALUES ($1, 'account_charge', 'failed', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, " \
	"          pg_catalog.now(), pg_catalog.now()) " \
	"  ON CONFLICT (client_id, order_type, idempotency_key) DO NOTHING " \
	"  RETURNING " TOPUP_ORDER_RESULT_COLUMNS "), " \
	"e AS (" TOPUP_ORDER_EVENTS_SQL("o", "o") ") " \
	"SELECT * FROM o"

static const Oid charge_types[11] = {INT8OID, TEXTOID, TEXTOID, NUMERICOID, TEXTOID, TEXTOID, BYTEAOID,
TEXTOID, TEXTOID, TEXTOID, TEXTOID};

static Datum
StoreFailure(FunctionCallInfo fcinfo, Datum *args, char *nulls, const char *slug, const char *message)
{
	int			rc;

	args[9] = CStringGetTextDatum(slug);
	args[10] = CStringGetTextDatum(message);
	nulls[9] = nulls[10] = ' ';
	rc = SPI_execute_with_args(FAIL_SQL, 11, (Oid *) charge_types, args, nulls, false, 0);
	TopupSPICheck(rc, SPI_OK_SELECT, "storing a failed charge");
	return TopupNewOrderResult(fcinfo);
}

static Datum
ChargeAccount(FunctionCallInfo fcinfo)
{
	static SPIPlanPtr read_plan = NULL;
	static SPIPlanPtr charge_plan = NULL;
	char	   *account_id = TopupTextArg(fcinfo, 0);
	Datum		amount = PG_GETARG_DATUM(1);
	char	   *key = TopupTextArg(fcinfo, 2);
	char	   *description = TopupTextArg(fcinfo, 3);
	char	   *client_id = TopupTextArg(fcinfo, 4);
	uint8		hash[TOPUP_HASH_LEN];
	char		reference[TOPUP_REFERENCE_LEN + 1];
	StringInfoData buf;
	HeapTuple	row;
	TupleDesc	desc;
	Datum		args[11];
	char		nulls[11];
	char	   *status;
	bool		isnull;
	bool		ok;
	int			rc;

	TopupRequireClient(fcinfo, client_id);

	initStringInfo(&buf);
	appendStringInfo(&buf, "account_charge%c%s%c%s%c%s", '\0', account_id, '\0',
					 numeric_normalize(DatumGetNumeric(amount)), '\0', description ? description : "\x01");
	TopupHmac(buf.data, buf.len, hash);
	if (TopupFindIdempotent(client_id, "account_charge", key, hash, &row, &desc))
		return TopupOrderResult(fcinfo, row, desc, 1, true);

	memset(nulls, ' ', sizeof(nulls));
	args[0] = Int64GetDatum(TopupNextOrderId());
	args[1] = CStringGetTextDatum(client_id);
	args[2] = CStringGetTextDatum(account_id);
	args[3] = amount;
	nulls[4] = 'n';
	args[5] = CStringGetTextDatum(key);
	args[6] = PointerGetDatum(TopupByteaFrom(hash, TOPUP_HASH_LEN));
	TopupNewReference(reference);
	args[7] = CStringGetTextDatum(reference);
	args[8] = description ? CStringGetTextDatum(description) : (Datum) 0;
	nulls[8] = description ? ' ' : 'n';

	/* the account, locked: concurrent charges of it queue here */
	rc = SPI_execute_plan(TopupPreparePlan(&read_plan, READ_SQL, 2, (Oid[]) {TEXTOID, TEXTOID}),
						  (Datum[]) {args[1], args[2]}, NULL, false, 1);
	TopupSPICheck(rc, SPI_OK_SELECT, "account look-up");
	if (SPI_processed == 0)
		return StoreFailure(fcinfo, args, nulls, "account_not_found", "no such account");
	row = SPI_copytuple(SPI_tuptable->vals[0]);
	desc = SPI_tuptable->tupdesc;
	status = SPI_getvalue(row, desc, 1);
	args[4] = CStringGetTextDatum(SPI_getvalue(row, desc, 2));
	nulls[4] = ' ';
	args[3] = TopupCheckAmount(amount, DatumGetInt32(SPI_getbinval(row, desc, 3, &isnull)), &ok);
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_TOPUP_INVALID_AMOUNT),
				 errmsg("invalid amount"),
				 errdetail("An amount has at most %s decimal places in %s.",
						   SPI_getvalue(row, desc, 3), SPI_getvalue(row, desc, 2))));
	if (strcmp(status, "active") != 0)
		return StoreFailure(fcinfo, args, nulls, "account_not_active", psprintf("the account is %s", status));
	if (DatumGetInt32(DirectFunctionCall2(numeric_cmp, SPI_getbinval(row, desc, 4, &isnull), args[3])) < 0)
		return StoreFailure(fcinfo, args, nulls, "insufficient_funds",
							psprintf("the account holds %s %s", SPI_getvalue(row, desc, 4),
									 SPI_getvalue(row, desc, 2)));

	rc = SPI_execute_plan(TopupPreparePlan(&charge_plan, CHARGE_SQL, 9, (Oid *) charge_types),
						  args, nulls, false, 0);
	TopupSPICheck(rc, SPI_OK_SELECT, "charging an account");
	return TopupNewOrderResult(fcinfo);
}

/*
 * topup.charge_account(account_id, amount, idempotency_key, description,
 *						client_id) -> order_result
 */
Datum
topup_charge_account(PG_FUNCTION_ARGS)
{
	char	   *account_id = TopupTextArg(fcinfo, 0);
	char	   *key = TopupTextArg(fcinfo, 2);

	if (key == NULL || key[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_TOPUP_IDEMPOTENCY_KEY_REQUIRED),
				 errmsg("an idempotency key is required"),
				 errhint("Send a unique key per charge.")));
	TopupCheckIdempotencyKey(key);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_TOPUP_INVALID_AMOUNT),
				 errmsg("invalid amount"),
				 errdetail("The amount is missing.")));
	{
		Numeric		num = DatumGetNumeric(PG_GETARG_DATUM(1));

		if (numeric_is_nan(num) ||
#if PG_VERSION_NUM >= 140000
			numeric_is_inf(num) ||
#endif
			TopupNumericSign(PG_GETARG_DATUM(1)) <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_TOPUP_INVALID_AMOUNT),
					 errmsg("invalid amount"),
					 errdetail("The amount must be a positive number.")));
	}
	if (account_id == NULL || account_id[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("account_id must not be null or empty")));
	if (PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("client_id must not be null")));

	PG_RETURN_DATUM(TopupRunInternal(fcinfo, ChargeAccount));
}
