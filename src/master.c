/*-------------------------------------------------------------------------
 *
 * master.c
 *	  Master balances, fee accounts and pricing: fund_master, set_pricing,
 *	  and the slow path of a master debit.
 *
 *	  A client's master balance (and fee account) in a currency is split
 *	  into TOPUP_SLOTS rows of topup.balance_slots, so that concurrent
 *	  top-ups of one client each lock a different row.  A top-up's fast
 *	  path (in cards.c) debits one slot that covers it, skipping slots other
 *	  transactions hold.  When no free slot covers it, TopupMasterSlowPath
 *	  locks every slot in slot order, and either refuses (the whole balance
 *	  cannot cover the order) or spreads what is left evenly over the slots,
 *	  putting the order's charge on the slot its fast path tries first.
 *	  Lock order everywhere: card row, then master slots in slot order (a
 *	  fast path holds only one, and gives back a slot it locked but could
 *	  not use before it waits for another), then a fee slot; so no cycle
 *	  can form between top-ups that each run in their own transaction.  A
 *	  transaction that makes several top-ups of one client keeps the slots
 *	  of the earlier ones and may deadlock with a slow path; PostgreSQL then
 *	  aborts one of them (40P01) and the client retries.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/numeric.h"

#include "guard.h"
#include "master.h"
#include "orders.h"
#include "schema.h"
#include "topup.h"

/* Advisory lock class of funding references. */
#define FUNDING_LOCK_CLASS	0x7475666e	/* "tufn" */

static Datum FundMaster(FunctionCallInfo fcinfo);
static Datum SetPricing(FunctionCallInfo fcinfo);

PG_FUNCTION_INFO_V1(topup_fund_master);
PG_FUNCTION_INFO_V1(topup_set_pricing);

/* Ensure the master, fee and hold slots of a client and currency exist. */
void
TopupEnsureSlots(Datum client_id, Datum currency)
{
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		args[2] = {client_id, currency};
	int			rc;

	/* the hold slots came with 0.5.0 */
	rc = SPI_execute_with_args(TopupHasLifecycle() ?
							   "INSERT INTO topup.balance_slots (client_id, currency, book, slot) "
							   "SELECT $1, $2, b, s FROM unnest(ARRAY['master', 'fee', 'hold']) AS b, "
							   "       generate_series(0, " CppAsString2(TOPUP_SLOTS) " - 1) AS s "
							   "ON CONFLICT DO NOTHING" :
							   "INSERT INTO topup.balance_slots (client_id, currency, book, slot) "
							   "SELECT $1, $2, b, s FROM unnest(ARRAY['master', 'fee']) AS b, "
							   "       generate_series(0, " CppAsString2(TOPUP_SLOTS) " - 1) AS s "
							   "ON CONFLICT DO NOTHING",
							   2, argtypes, args, NULL, false, 0);
	TopupSPICheck(rc, SPI_OK_INSERT, "creating balance slots");
}

/*
 * Slow path of a master debit of total (amount + fee): lock every slot,
 * and if their sum covers total, spread (sum - total) evenly over the
 * slots and put total on top of charge_slot, which the caller's fast path
 * tries first.  Returns false, with nothing
 * changed, when the whole balance cannot cover total.
 */
bool
TopupMasterSlowPath(Datum client_id, Datum currency, Datum total, int minor_units, int charge_slot)
{
	Oid			argtypes[5] = {TEXTOID, TEXTOID, NUMERICOID, INT4OID, INT4OID};
	Datum		args[5] = {client_id, currency, total, Int32GetDatum(minor_units), Int32GetDatum(charge_slot)};
	bool		isnull;
	Datum		sum;
	int			rc;

	rc = SPI_execute_with_args("SELECT balance FROM topup.balance_slots "
							   " WHERE client_id = $1 AND currency = $2 AND book = 'master' "
							   " ORDER BY slot FOR UPDATE",
							   2, argtypes, args, NULL, false, 0);
	TopupSPICheck(rc, SPI_OK_SELECT, "locking the master balance");
	if (SPI_processed == 0)
		return false;

	rc = SPI_execute_with_args("SELECT COALESCE(pg_catalog.sum(balance), 0) >= $3 "
							   "  FROM topup.balance_slots "
							   " WHERE client_id = $1 AND currency = $2 AND book = 'master'",
							   3, argtypes, args, NULL, false, 1);
	TopupSPICheck(rc, SPI_OK_SELECT, "summing the master balance");
	sum = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull || !DatumGetBool(sum))
		return false;

	rc = SPI_execute_with_args("WITH t AS ("
							   "  SELECT pg_catalog.sum(balance) - $3 AS rest, pg_catalog.count(*) AS n, "
							   "         pg_catalog.power(10::numeric, - $4) AS unit "
							   "    FROM topup.balance_slots "
							   "   WHERE client_id = $1 AND currency = $2 AND book = 'master'), "
							   "sh AS (SELECT rest, n, unit, pg_catalog.trunc(rest / n, $4) AS share FROM t) "
							   "UPDATE topup.balance_slots s "
							   "   SET balance = pg_catalog.round(sh.share "
							   "       + CASE WHEN s.slot < (sh.rest - sh.share * sh.n) / sh.unit THEN sh.unit ELSE 0 END "
							   "       + CASE WHEN s.slot = $5 THEN $3 ELSE 0 END, $4) "
							   "  FROM sh "
							   " WHERE s.client_id = $1 AND s.currency = $2 AND s.book = 'master'",
							   5, argtypes, args, NULL, false, 0);
	TopupSPICheck(rc, SPI_OK_UPDATE, "rebalancing the master balance");
	return true;
}

/* A positive amount valid in the currency, or raise invalid_amount. */
static Datum
RequireAmount(FunctionCallInfo fcinfo, int argno, const char *currency, int minor)
{
	bool		ok = false;
	Datum		amount = (Datum) 0;

	if (!PG_ARGISNULL(argno))
		amount = TopupCheckAmount(PG_GETARG_DATUM(argno), minor, &ok);
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_TOPUP_INVALID_AMOUNT),
				 errmsg("invalid amount"),
				 errdetail("An amount is positive and has at most %d decimal places in %s.",
						   minor, currency)));
	return amount;
}

/* The master balance of a client and currency, as this snapshot sees it. */
static Datum
MasterTotal(Datum client_id, Datum currency)
{
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		args[2] = {client_id, currency};
	bool		isnull;
	int			rc;

	rc = SPI_execute_with_args("SELECT COALESCE(pg_catalog.sum(balance), 0) FROM topup.balance_slots "
							   " WHERE client_id = $1 AND currency = $2 AND book = 'master'",
							   2, argtypes, args, NULL, false, 1);
	TopupSPICheck(rc, SPI_OK_SELECT, "reading the master balance");
	return SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
}

static Datum
FundMaster(FunctionCallInfo fcinfo)
{
	char	   *currency = TopupTextArg(fcinfo, 1);
	char	   *reference = TopupTextArg(fcinfo, 2);
	char	   *client_id = TopupTextArg(fcinfo, 3);
	int			minor;
	Datum		amount;
	Datum		args[5];
	Oid			argtypes[5] = {TEXTOID, TEXTOID, NUMERICOID, INT4OID, TEXTOID};
	StringInfoData buf;
	bool		isnull;
	int			rc;
	Datum		total;

	if (reference == NULL || reference[0] == '\0' || strlen(reference) > 255)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("reference must have 1 to 255 characters")));
	TopupRequireClient(fcinfo, client_id);
	minor = TopupRequireCurrency(currency);
	amount = RequireAmount(fcinfo, 0, currency, minor);

	args[0] = CStringGetTextDatum(client_id);
	args[1] = CStringGetTextDatum(currency);
	args[2] = amount;
	args[3] = Int32GetDatum(minor);
	args[4] = CStringGetTextDatum(reference);

	/* one funding per reference: concurrent calls queue, then replay */
	initStringInfo(&buf);
	appendStringInfo(&buf, "%s%c%s", client_id, '\0', reference);
	(void) DirectFunctionCall2(pg_advisory_xact_lock_int4,
							   Int32GetDatum(FUNDING_LOCK_CLASS),
							   Int32GetDatum((int32) hash_bytes((unsigned char *) buf.data, buf.len)));
	rc = SPI_execute_with_args("SELECT currency, amount FROM topup.fundings "
							   " WHERE client_id = $1 AND reference = $5",
							   5, argtypes, args, NULL, false, 1);
	TopupSPICheck(rc, SPI_OK_SELECT, "funding look-up");
	if (SPI_processed > 0)
	{
		HeapTuple	row = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;

		if (strcmp(SPI_getvalue(row, desc, 1), currency) != 0 ||
			!DatumGetBool(DirectFunctionCall2(numeric_eq,
											  SPI_getbinval(row, desc, 2, &isnull), amount)))
			ereport(ERROR,
					(errcode(ERRCODE_TOPUP_IDEMPOTENCY_KEY_REUSED),
					 errmsg("funding reference \"%s\" was already used with other parameters", reference),
					 errdetail("It funded %s %s.", SPI_getvalue(row, desc, 2), SPI_getvalue(row, desc, 1))));
		return MasterTotal(args[0], args[1]);
	}

	TopupEnsureSlots(args[0], args[1]);

	/*
	 * Lock the slots in slot order first, as the slow path of a top-up
	 * does: the UPDATE below would lock them in the order it scans them,
	 * which after some updates is not slot order, and could deadlock
	 * with a slow path.
	 */
	rc = SPI_execute_with_args("SELECT 1 FROM topup.balance_slots "
							   " WHERE client_id = $1 AND currency = $2 AND book = 'master' "
							   " ORDER BY slot FOR UPDATE",
							   2, argtypes, args, NULL, false, 0);
	TopupSPICheck(rc, SPI_OK_SELECT, "locking the master balance");

	/* spread the amount evenly over the slots, in slot order */
	rc = SPI_execute_with_args("WITH sh AS ("
							   "  SELECT pg_catalog.trunc($3 / " CppAsString2(TOPUP_SLOTS) ", $4) AS share, "
							   "         pg_catalog.power(10::numeric, - $4) AS unit) "
							   "UPDATE topup.balance_slots s "
							   "   SET balance = pg_catalog.round(s.balance + sh.share "
							   "       + CASE WHEN s.slot < ($3 - sh.share * " CppAsString2(TOPUP_SLOTS) ") / sh.unit "
							   "              THEN sh.unit ELSE 0 END, $4) "
							   "  FROM sh "
							   " WHERE s.client_id = $1 AND s.currency = $2 AND s.book = 'master'",
							   4, argtypes, args, NULL, false, 0);
	TopupSPICheck(rc, SPI_OK_UPDATE, "crediting the master balance");

	total = MasterTotal(args[0], args[1]);
	rc = SPI_execute_with_args("WITH f AS ("
							   "  INSERT INTO topup.fundings (client_id, currency, amount, reference) "
							   "  VALUES ($1, $2, $3, $5) RETURNING funding_id) "
							   "INSERT INTO topup.ledger (funding_id, client_id, book, account_id, currency, amount, balance_after) "
							   "SELECT f.funding_id, $1, 'master', NULL, $2, $3, $4::numeric FROM f "
							   "UNION ALL "
							   "SELECT f.funding_id, $1, 'funding', NULL, $2, - $3, NULL FROM f",
							   5, (Oid[]) {TEXTOID, TEXTOID, NUMERICOID, NUMERICOID, TEXTOID},
							   (Datum[]) {args[0], args[1], amount, total, args[4]},
							   NULL, false, 0);
	TopupSPICheck(rc, SPI_OK_INSERT, "recording the funding");
	TopupMasterRaised(args[0], args[1]);
	return total;
}

/*
 * A master balance rose (a funding, a refund): if it is back at or above
 * its threshold, the next fall below raises master.low again.  The caller
 * is connected to SPI.
 */
void
TopupMasterRaised(Datum client_id, Datum currency)
{
	int			rc;

	if (!TopupHasLifecycle())
		return;					/* thresholds came with 0.5.0 */
	rc = SPI_execute_with_args("UPDATE topup.low_balances b SET low = false "
							   " WHERE b.client_id = $1 AND b.currency = $2 AND b.low "
							   "   AND b.threshold <= (SELECT COALESCE(pg_catalog.sum(s.balance), 0) "
							   "                         FROM topup.balance_slots s "
							   "                        WHERE s.client_id = $1 AND s.currency = $2 "
							   "                          AND s.book = 'master')",
							   2, (Oid[]) {TEXTOID, TEXTOID}, (Datum[]) {client_id, currency},
							   NULL, false, 0);
	TopupSPICheck(rc, SPI_OK_UPDATE, "resetting a low-balance threshold");
}

/* topup.fund_master(amount, currency, reference, client_id) -> numeric */
Datum
topup_fund_master(PG_FUNCTION_ARGS)
{
	Datum		result;
	int			saved = TopupEnterInternal();

	PG_TRY();
	{
		SPI_connect();
		result = FundMaster(fcinfo);
		result = SPI_datumTransfer(result, false, -1);
		SPI_finish();
	}
	PG_FINALLY();
	{
		TopupLeaveInternal(saved);
	}
	PG_END_TRY();
	PG_RETURN_DATUM(result);
}

/* Is this numeric argument present, not negative, and within minor units? */
static Datum
PricingValue(FunctionCallInfo fcinfo, int argno, const char *name, int minor, bool allow_zero)
{
	Datum		value;
	Datum		rounded;
	Numeric		num;
	int			sign;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be null", name)));
	value = PG_GETARG_DATUM(argno);
	num = DatumGetNumeric(value);
	if (numeric_is_nan(num)
#if PG_VERSION_NUM >= 140000
		|| numeric_is_inf(num)
#endif
		)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite number", name)));
	sign = TopupNumericSign(value);
	if (sign < 0 || (sign == 0 && !allow_zero))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be %s", name, allow_zero ? "zero or positive" : "positive")));
	if (minor < 0)
		return value;
	rounded = DirectFunctionCall2(numeric_round, value, Int32GetDatum(minor));
	if (!DatumGetBool(DirectFunctionCall2(numeric_eq, rounded, value)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s has more than %d decimal places", name, minor)));
	return rounded;
}

static Datum
SetPricing(FunctionCallInfo fcinfo)
{
	char	   *currency = TopupTextArg(fcinfo, 0);
	char	   *client_id = TopupTextArg(fcinfo, 5);
	int			minor;
	Datum		args[6];
	Oid			argtypes[6] = {TEXTOID, TEXTOID, NUMERICOID, NUMERICOID, NUMERICOID, NUMERICOID};
	int			rc;

	TopupRequireClient(fcinfo, client_id);
	minor = TopupRequireCurrency(currency);
	args[0] = CStringGetTextDatum(client_id);
	args[1] = CStringGetTextDatum(currency);
	args[2] = PricingValue(fcinfo, 1, "min_amount", minor, false);
	args[3] = PricingValue(fcinfo, 2, "max_amount", minor, false);
	args[4] = PricingValue(fcinfo, 3, "fee_fixed", minor, true);
	args[5] = PricingValue(fcinfo, 4, "fee_percent", -1, true);

	if (DatumGetInt32(DirectFunctionCall2(numeric_cmp, args[2], args[3])) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("min_amount must not exceed max_amount")));
	if (DatumGetInt32(DirectFunctionCall2(numeric_cmp, args[5],
										  DirectFunctionCall1(int4_numeric, Int32GetDatum(100)))) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("fee_percent must be between 0 and 100")));

	rc = SPI_execute_with_args("INSERT INTO topup.pricing AS p "
							   "       (client_id, currency, min_amount, max_amount, fee_fixed, fee_percent) "
							   "VALUES ($1, $2, $3, $4, $5, $6) "
							   "ON CONFLICT (client_id, currency) DO UPDATE "
							   "   SET min_amount = EXCLUDED.min_amount, max_amount = EXCLUDED.max_amount, "
							   "       fee_fixed = EXCLUDED.fee_fixed, fee_percent = EXCLUDED.fee_percent, "
							   "       updated_at = pg_catalog.now()",
							   6, argtypes, args, NULL, false, 0);
	TopupSPICheck(rc, SPI_OK_INSERT, "storing the pricing rule");
	return (Datum) 0;
}

/* topup.set_pricing(currency, min_amount, max_amount, fee_fixed, fee_percent, client_id) */
Datum
topup_set_pricing(PG_FUNCTION_ARGS)
{
	SPI_connect();
	SetPricing(fcinfo);
	SPI_finish();
	PG_RETURN_VOID();
}
