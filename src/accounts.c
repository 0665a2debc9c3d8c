/*-------------------------------------------------------------------------
 *
 * accounts.c
 *	  Clients, resellers and accounts: create_client, create_reseller,
 *	  open_account, and the small argument checks (currencies, amounts,
 *	  clients) that the other files share.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/tuplestore.h"

#include "access.h"
#include "guard.h"
#include "schema.h"
#include "topup.h"

PG_FUNCTION_INFO_V1(topup_create_client);
PG_FUNCTION_INFO_V1(topup_create_reseller);
PG_FUNCTION_INFO_V1(topup_open_account);

/* A text argument as a C string, or NULL when the argument is NULL. */
char *
TopupTextArg(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		return NULL;
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

/* Reject a NULL or empty identifier argument with a clear message. */
static void
RequireIdentifier(const char *value, const char *what)
{
	if (value == NULL || value[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be null or empty", what)));
	if (strlen(value) > 255)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is longer than 255 characters", what)));
}

/*
 * Minor units of a currency, or -1 when the currency is unknown.
 * The caller must be connected to SPI.
 */
int
TopupCurrencyMinorUnits(const char *currency)
{
	static SPIPlanPtr plan = NULL;
	Datum		arg;
	bool		isnull;
	int			rc;

	if (currency == NULL)
		return -1;
	arg = CStringGetTextDatum(currency);
	rc = SPI_execute_plan(TopupPreparePlan(&plan,
										   "SELECT minor_units FROM topup.currencies WHERE code OPERATOR(pg_catalog.=) $1",
										   1, (Oid[]) {TEXTOID}),
						  &arg, NULL, false, 1);
	TopupSPICheck(rc, SPI_OK_SELECT, "currency look-up");
	if (SPI_processed == 0)
		return -1;
	return DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * Check an amount against a currency's minor units.  Returns the amount
 * with its scale set to the minor units (10 becomes 10.00 for USD: the same
 * value, never rounded), and sets *ok to false if the amount is NaN,
 * infinite, not positive, or has more decimals than the currency allows.
 */
Datum
TopupCheckAmount(Datum amount, int minor_units, bool *ok)
{
	Numeric		num = DatumGetNumeric(amount);
	Datum		rounded;

	*ok = false;
	if (numeric_is_nan(num))
		return amount;
#if PG_VERSION_NUM >= 140000
	if (numeric_is_inf(num))
		return amount;
#endif
	if (TopupNumericSign(amount) <= 0)
		return amount;
	rounded = DirectFunctionCall2(numeric_round, amount, Int32GetDatum(minor_units));
	if (!DatumGetBool(DirectFunctionCall2(numeric_eq, rounded, amount)))
		return amount;
	*ok = true;
	return rounded;
}

/* -1, 0 or 1 as a (finite) numeric is negative, zero or positive. */
int
TopupNumericSign(Datum value)
{
	return DatumGetInt32(DirectFunctionCall2(numeric_cmp, value,
											 DirectFunctionCall1(int4_numeric, Int32GetDatum(0))));
}

/* Does the client exist?  The caller must be connected to SPI. */
bool
TopupClientExists(const char *client_id)
{
	static SPIPlanPtr plan = NULL;
	Datum		arg;
	int			rc;

	arg = CStringGetTextDatum(client_id);
	rc = SPI_execute_plan(TopupPreparePlan(&plan,
										   "SELECT 1 FROM topup.clients WHERE client_id OPERATOR(pg_catalog.=) $1",
										   1, (Oid[]) {TEXTOID}),
						  &arg, NULL, false, 1);
	TopupSPICheck(rc, SPI_OK_SELECT, "client look-up");
	return SPI_processed > 0;
}

/*
 * A client_id argument naming an existing client that the calling role may
 * act for with the function being called (access.c), or an error: a
 * client the role is not bound to is reported exactly as one that does not
 * exist.  The caller must be connected to SPI.
 */
void
TopupRequireClient(FunctionCallInfo fcinfo, const char *client_id)
{
	RequireIdentifier(client_id, "client_id");
	TopupAuthorize(fcinfo, client_id, NULL);
	if (!TopupClientExists(client_id))
		TopupUnknownClient(client_id);
}

/*
 * The minor units of a currency argument, or an error when it is unknown.
 * The caller must be connected to SPI.
 */
int
TopupRequireCurrency(const char *currency)
{
	int			minor;

	if (currency == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("currency must not be null")));
	minor = TopupCurrencyMinorUnits(currency);
	if (minor < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown currency \"%s\"", currency),
				 errhint("Currencies are listed in topup.currencies.")));
	return minor;
}

/*
 * Run an INSERT ... ON CONFLICT DO NOTHING and report whether it inserted.
 */
static bool
InsertIfAbsent(const char *sql, int nargs, Oid *argtypes, Datum *values, const char *nulls)
{
	int			rc;

	rc = SPI_execute_with_args(sql, nargs, argtypes, values, nulls, false, 0);
	TopupSPICheck(rc, SPI_OK_INSERT, "insert");
	return SPI_processed == 1;
}

/* topup.create_client(client_id text, name text DEFAULT NULL) */
Datum
topup_create_client(PG_FUNCTION_ARGS)
{
	char	   *client_id = TopupTextArg(fcinfo, 0);
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	char		nulls[2] = {' ', ' '};

	TopupAuthorizeOwnerOnly(fcinfo);
	RequireIdentifier(client_id, "client_id");
	values[0] = CStringGetTextDatum(client_id);
	if (PG_ARGISNULL(1))
		nulls[1] = 'n';
	else
		values[1] = PG_GETARG_DATUM(1);

	SPI_connect();
	if (!InsertIfAbsent("INSERT INTO topup.clients (client_id, name) VALUES ($1, $2) "
						"ON CONFLICT DO NOTHING", 2, argtypes, values, nulls))
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("client \"%s\" already exists", client_id)));
	SPI_finish();
	PG_RETURN_VOID();
}

/* topup.create_reseller(reseller text, client_id text DEFAULT 'default') */
Datum
topup_create_reseller(PG_FUNCTION_ARGS)
{
	char	   *reseller = TopupTextArg(fcinfo, 0);
	char	   *client_id = TopupTextArg(fcinfo, 1);
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		values[2];

	RequireIdentifier(reseller, "reseller");
	SPI_connect();
	TopupRequireClient(fcinfo, client_id);
	values[0] = CStringGetTextDatum(client_id);
	values[1] = CStringGetTextDatum(reseller);
	if (!InsertIfAbsent("INSERT INTO topup.resellers (client_id, reseller) VALUES ($1, $2) "
						"ON CONFLICT DO NOTHING", 2, argtypes, values, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("reseller \"%s\" already exists for client \"%s\"", reseller, client_id)));
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * topup.open_account(account_id, currency, kind, active, customer_info, client_id)
 */
Datum
topup_open_account(PG_FUNCTION_ARGS)
{
	char	   *account_id = TopupTextArg(fcinfo, 0);
	char	   *currency = TopupTextArg(fcinfo, 1);
	char	   *kind = TopupTextArg(fcinfo, 2);
	char	   *client_id = TopupTextArg(fcinfo, 5);
	bool		active;
	Oid			argtypes[6] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, BOOLOID, JSONBOID};
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	int			saved;

	RequireIdentifier(account_id, "account_id");
	if (kind == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("kind must not be null")));
	if (strcmp(kind, "customer") != 0 && strcmp(kind, "card") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid account kind \"%s\"", kind),
				 errhint("The kind is \"customer\" or \"card\".")));
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("active must not be null")));
	active = PG_GETARG_BOOL(3);

	SPI_connect();
	TopupRequireClient(fcinfo, client_id);
	(void) TopupRequireCurrency(currency);
	if (!PG_ARGISNULL(4))
		values[5] = TopupValidateCustomerInfo(PG_GETARG_DATUM(4));
	else
		nulls[5] = 'n';

	values[0] = CStringGetTextDatum(client_id);
	values[1] = CStringGetTextDatum(account_id);
	values[2] = CStringGetTextDatum(kind);
	values[3] = CStringGetTextDatum(currency);
	values[4] = BoolGetDatum(active);

	saved = TopupEnterInternal();
	PG_TRY();
	{
		if (!InsertIfAbsent("INSERT INTO topup.accounts "
							"(client_id, account_id, kind, currency, status, activated_at, customer_info) "
							"VALUES ($1, $2, $3, $4, "
							" CASE WHEN $5 THEN 'active' ELSE 'inactive' END::topup.account_status, "
							" CASE WHEN $5 THEN pg_catalog.now() END, $6) "
							"ON CONFLICT DO NOTHING", 6, argtypes, values, nulls))
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errmsg("account \"%s\" already exists for client \"%s\"", account_id, client_id)));
	}
	PG_FINALLY();
	{
		TopupLeaveInternal(saved);
	}
	PG_END_TRY();
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * Set up a materialized set-returning call: the tuplestore lives in the
 * per-query context and the result descriptor comes from the function's
 * declared result type.  (InitMaterializedSRF does this from PG 15 on.)
 */
Tuplestorestate *
TopupMaterialize(FunctionCallInfo fcinfo, TupleDesc *tupdesc, int max_kbytes)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext oldcontext;
	Tuplestorestate *store;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	if (!(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("materialize mode required, but it is not allowed in this context")));

	oldcontext = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	if (get_call_result_type(fcinfo, NULL, tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "topup: return type must be a row type");
	*tupdesc = CreateTupleDescCopy(*tupdesc);
	store = tuplestore_begin_heap(true, false, max_kbytes);
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = store;
	rsinfo->setDesc = *tupdesc;
	MemoryContextSwitchTo(oldcontext);
	return store;
}
