/*-------------------------------------------------------------------------
 *
 * reverse.c
 *	  Reversals (SPEC §9): reverse_order moves the money of a completed
 *	  order back, as an order of type reversal linked to it.
 *
 *	    card_topup      card -> master (amount), and the fee back from the
 *	                    fee account with refund_fee (whole reversals only);
 *	    voucher_redeem  account -> voucher float, the voucher new again (or
 *	                    expired, past its date): the one way out of
 *	                    activated; whole reversals only;
 *	    account_charge  revenue -> account.
 *
 *	  A reversal may be partial; several may follow until the whole amount
 *	  is back.  The original order is locked for the duration, so two
 *	  concurrent reversals of one order never take back more than it moved.
 *	  A reversal of a provider-backed top-up goes through the same channel:
 *	  it is processing until a worker claims it and reports it completed,
 *	  and only then moves money (TopupApplyReversal, from report_order).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/numeric.h"
#include "utils/snapmgr.h"

#include "access.h"
#include "crypto.h"
#include "events.h"
#include "guard.h"
#include "master.h"
#include "orders.h"
#include "schema.h"
#include "topup.h"

PG_FUNCTION_INFO_V1(topup_reverse_order);

/* The original order, locked.  Columns, 1-based. */
enum
{
	O_TYPE = 1,
	O_STATUS,
	O_AMOUNT,
	O_FEE,
	O_CURRENCY,
	O_ACCOUNT,
	O_SERIAL,
	O_PROVIDER_CHANNEL,
	O_MINOR
};

#define ORIGINAL_SQL \
	"SELECT o.order_type, o.status::text, o.amount, o.fee, o.currency, o.account_id, o.serial, " \
	"       CASE WHEN o.hold_slot IS NOT NULL THEN o.channel END, c.minor_units " \
	"  FROM topup.orders o LEFT JOIN topup.currencies c ON c.code = o.currency " \
	" WHERE o.order_id = $1 AND o.client_id = $2 " \
	"   FOR UPDATE OF o"

/*
 * How much of order $1 its reversals take back.  Not part of ORIGINAL_SQL:
 * a statement computes its columns with the snapshot it took before it
 * waited for the row lock, so it would miss the reversal of the
 * transaction it waited for (SELECT ... FOR UPDATE rechecks only the
 * locked row, and only if it was updated).
 */
#define REVERSED_SQL \
	"SELECT COALESCE(pg_catalog.sum(r.amount), 0) FROM topup.orders r " \
	" WHERE r.reverses_order_id = $1 AND r.status IN ('processing', 'completed')"

/*
 * The reversal order, before any money moves: processing, with the amount
 * to take back and the fee to refund (0 without refund_fee).
 */
#define INSERT_SQL \
	"WITH o AS (" \
	"  INSERT INTO topup.orders (order_id, order_type, status, topup_status, client_id, account_id, " \
	"         serial, amount, fee, currency, idempotency_key, request_hash, reference, channel, " \
	"         reverses_order_id, note, attempts, created_at) " \
	"  VALUES ($1, 'reversal', 'processing', $2::topup.topup_status, $3, $4, $5, $6, $7, $8, $9, $10, " \
	"          $11, $12, $13, $14, CASE WHEN $2 IS NOT NULL THEN 0 END, pg_catalog.now()) " \
	"  ON CONFLICT (client_id, order_type, idempotency_key) DO NOTHING " \
	"  RETURNING " TOPUP_ORDER_RESULT_COLUMNS "), " \
	"e AS (" TOPUP_ORDER_EVENTS_SQL("o", "o") " WHERE o.status = 'processing' AND $2 IS NOT NULL) " \
	"SELECT * FROM o"

/* A refused reversal: a failed order of type reversal. */
#define FAIL_SQL \
	"WITH o AS (" \
	"  INSERT INTO topup.orders (order_id, order_type, status, client_id, account_id, serial, amount, " \
	"         currency, error_slug, error_message, idempotency_key, request_hash, reference, " \
	"         reverses_order_id, note, created_at, failed_at) " \
	"  VALUES ($1, 'reversal', 'failed', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, " \
	"          pg_catalog.now(), pg_catalog.now()) " \
	"  ON CONFLICT (client_id, order_type, idempotency_key) DO NOTHING " \
	"  RETURNING " TOPUP_ORDER_RESULT_COLUMNS "), " \
	"e AS (" TOPUP_ORDER_EVENTS_SQL("o", "o") ") " \
	"SELECT * FROM o"

/* The completion of a reversal $1 (its order row r) and the event of the original. */
#define COMPLETE_TAIL_SQL(balance, master) \
	"o AS (" \
	"  UPDATE topup.orders SET status = 'completed', " \
	"         topup_status = CASE WHEN topup_status IS NOT NULL THEN 'completed' END::topup.topup_status, " \
	"         completed_at = pg_catalog.now(), account_balance_after = " balance ", " master \
	"         provider_reference = COALESCE($2, provider_reference), lease_until = NULL, " \
	"         next_attempt_at = NULL " \
	"    FROM a WHERE order_id = $1 " \
	"  RETURNING " TOPUP_ORDER_RESULT_COLUMNS ", reverses_order_id), " \
	"e AS (" TOPUP_ORDER_EVENTS_SQL("o", "o") "), " \
	"x AS (" \
	"  INSERT INTO topup.events (client_id, kind, order_id, serial, account_id, payload) " \
	"  SELECT o.client_id, 'order.reversed', o.reverses_order_id, o.serial, o.account_id, " \
	"         pg_catalog.jsonb_build_object('reversal_order_id', o.order_id::pg_catalog.text, " \
	"             'amount', o.amount::pg_catalog.text, 'currency', o.currency) FROM o) " \
	"SELECT " TOPUP_ORDER_RESULT_COLUMNS " FROM o"

/* The reversal and its original, as the statements below need them. */
#define REVERSAL_FROM_SQL \
	"r AS (SELECT r.order_id, r.client_id, r.account_id, r.amount, r.fee, r.currency, " \
	"             g.serial, g.order_id AS original " \
	"        FROM topup.orders r JOIN topup.orders g ON g.order_id = r.reverses_order_id " \
	"       WHERE r.order_id = $1), "

/* card_topup: card -> master (+ the fee from the fee account). $3 master slot. */
#define APPLY_TOPUP_SQL \
	"WITH " REVERSAL_FROM_SQL \
	"a AS (" \
	"  UPDATE topup.accounts a SET balance = a.balance - r.amount FROM r " \
	"   WHERE a.client_id = r.client_id AND a.account_id = r.account_id AND a.balance >= r.amount " \
	"  RETURNING a.balance), " \
	"m AS (" \
	"  UPDATE topup.balance_slots s SET balance = s.balance + r.amount + r.fee FROM r, a " \
	"   WHERE s.client_id = r.client_id AND s.currency = r.currency AND s.book = 'master' AND s.slot = $3 " \
	"  RETURNING 1), " \
	"fs AS (" \
	"  SELECT s.slot, s.balance FROM topup.balance_slots s, r " \
	"   WHERE s.client_id = r.client_id AND s.currency = r.currency AND s.book = 'fee' AND r.fee > 0 " \
	"   ORDER BY s.slot FOR UPDATE OF s), " \
	"fc AS (" \
	"  SELECT fs.slot, LEAST(fs.balance, GREATEST(0, r.fee - (pg_catalog.sum(fs.balance) OVER (ORDER BY fs.slot) " \
	"                                                        - fs.balance))) AS take FROM fs, r), " \
	"fu AS (" \
	"  UPDATE topup.balance_slots s SET balance = s.balance - fc.take FROM fc, r, a " \
	"   WHERE s.client_id = r.client_id AND s.currency = r.currency AND s.book = 'fee' AND s.slot = fc.slot " \
	"     AND fc.take > 0 " \
	"  RETURNING 1), " \
	"t AS (" \
	"  SELECT pg_catalog.sum(s.balance) + r.amount + r.fee AS after FROM topup.balance_slots s, r " \
	"   WHERE s.client_id = r.client_id AND s.currency = r.currency AND s.book = 'master' " \
	"   GROUP BY r.amount, r.fee), " \
	"l AS (" \
	"  INSERT INTO topup.ledger (order_id, client_id, book, account_id, currency, amount, balance_after) " \
	"  SELECT r.order_id, r.client_id, 'account', r.account_id, r.currency, - r.amount, a.balance FROM r, a " \
	"  UNION ALL SELECT r.order_id, r.client_id, 'master', NULL, r.currency, r.amount + r.fee, t.after FROM r, a, t " \
	"  UNION ALL SELECT r.order_id, r.client_id, 'fee', NULL, r.currency, - r.fee, NULL FROM r, a WHERE r.fee > 0), " \
	COMPLETE_TAIL_SQL("a.balance", \
					  "master_balance_after = (SELECT after FROM t), " \
					  "master_balance_before = (SELECT after FROM t) - amount - fee, ")

/*
 * voucher_redeem: account -> voucher float; the voucher back to new (the
 * vouchers trigger makes it expired past its date), its due date queued
 * unless the queue holds it still (a redeemed voucher's entry stays until
 * the sweep reaches its date): one entry per voucher and date.
 */
#define APPLY_REDEEM_SQL \
	"WITH " REVERSAL_FROM_SQL \
	"a AS (" \
	"  UPDATE topup.accounts a SET balance = a.balance - r.amount FROM r " \
	"   WHERE a.client_id = r.client_id AND a.account_id = r.account_id AND a.balance >= r.amount " \
	"  RETURNING a.balance), " \
	"v AS (" \
	"  UPDATE topup.vouchers v " \
	"     SET status = 'new', " \
	"         activated_at = NULL, activated_by = NULL, order_id = NULL " \
	"    FROM r, a " \
	"   WHERE v.client_id = r.client_id AND v.serial OPERATOR(topup.=) r.serial AND v.order_id = r.original " \
	"  RETURNING v.status, v.expires_at, v.client_id, v.serial), " \
	"q AS (" \
	"  INSERT INTO topup.voucher_expiry (expires_at, client_id, serial) " \
	"  SELECT v.expires_at, v.client_id, v.serial FROM v " \
	"   WHERE v.status = 'new' AND v.expires_at IS NOT NULL " \
	"     AND NOT EXISTS (SELECT 1 FROM topup.voucher_expiry e WHERE e.expires_at = v.expires_at " \
	"                        AND e.client_id = v.client_id AND e.serial OPERATOR(topup.=) v.serial)), " \
	"l AS (" \
	"  INSERT INTO topup.ledger (order_id, client_id, book, account_id, currency, amount, balance_after) " \
	"  SELECT r.order_id, r.client_id, 'account', r.account_id, r.currency, - r.amount, a.balance FROM r, a " \
	"  UNION ALL SELECT r.order_id, r.client_id, 'voucher_float', NULL, r.currency, r.amount, NULL FROM r, a), " \
	COMPLETE_TAIL_SQL("a.balance", "")

/* account_charge: revenue -> account. */
#define APPLY_CHARGE_SQL \
	"WITH " REVERSAL_FROM_SQL \
	"a AS (" \
	"  UPDATE topup.accounts a SET balance = a.balance + r.amount FROM r " \
	"   WHERE a.client_id = r.client_id AND a.account_id = r.account_id " \
	"  RETURNING a.balance), " \
	"l AS (" \
	"  INSERT INTO topup.ledger (order_id, client_id, book, account_id, currency, amount, balance_after) " \
	"  SELECT r.order_id, r.client_id, 'account', r.account_id, r.currency, r.amount, a.balance FROM r, a " \
	"  UNION ALL SELECT r.order_id, r.client_id, 'revenue', NULL, r.currency, - r.amount, NULL FROM r, a), " \
	COMPLETE_TAIL_SQL("a.balance", "")

/* The reversal could not take the money back: failed, insufficient_funds. */
#define APPLY_FAILED_SQL \
	"WITH o AS (" \
	"  UPDATE topup.orders SET status = 'failed', " \
	"         topup_status = CASE WHEN topup_status IS NOT NULL THEN 'failed' END::topup.topup_status, " \
	"         failed_at = pg_catalog.now(), error_slug = 'insufficient_funds', error_message = $3, " \
	"         provider_reference = COALESCE($2, provider_reference), lease_until = NULL, " \
	"         next_attempt_at = NULL " \
	"   WHERE order_id = $1 " \
	"  RETURNING " TOPUP_ORDER_RESULT_COLUMNS "), " \
	"e AS (" TOPUP_ORDER_EVENTS_SQL("o", "o") ") " \
	"SELECT * FROM o"

/*
 * Move the money of reversal order_id (processing) back: completed, or
 * failed insufficient_funds when the account (or the fee account) no
 * longer holds it.  The caller holds the reversal (and, for a new one, its
 * original) locked and is connected to SPI.
 */
Datum
TopupApplyReversal(FunctionCallInfo fcinfo, Datum order_id, const char *provider_reference)
{
	Datum		ref = provider_reference ? CStringGetTextDatum(provider_reference) : (Datum) 0;
	char		refnull = provider_reference ? ' ' : 'n';
	const char *sql;
	char	   *type;
	char	   *client_id;
	char	   *currency;
	bool		isnull;
	uint8		slot;
	int			rc;

	rc = SPI_execute_with_args("SELECT g.order_type, r.client_id, r.currency, "
							   "       (SELECT COALESCE(pg_catalog.sum(s.balance), 0) FROM topup.balance_slots s "
							   "         WHERE s.client_id = r.client_id AND s.currency = r.currency AND s.book = 'fee') "
							   "       >= r.fee "
							   "  FROM topup.orders r JOIN topup.orders g ON g.order_id = r.reverses_order_id "
							   " WHERE r.order_id = $1",
							   1, (Oid[]) {INT8OID}, &order_id, NULL, false, 1);
	TopupSPICheck(rc, SPI_OK_SELECT, "reversal look-up");
	if (SPI_processed != 1)
		elog(ERROR, "topup: reversal %lld has no original order", (long long) DatumGetInt64(order_id));
	type = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	client_id = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	currency = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
	if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull)))
	{
		sql = NULL;				/* the fee account cannot give the fee back */
	}
	else if (strcmp(type, "card_topup") == 0)
		sql = APPLY_TOPUP_SQL;
	else if (strcmp(type, "voucher_redeem") == 0)
		sql = APPLY_REDEEM_SQL;
	else
		sql = APPLY_CHARGE_SQL;

	if (sql != NULL)
	{
		TopupRandomBytes(&slot, 1);
		rc = SPI_execute_with_args(sql, 3, (Oid[]) {INT8OID, TEXTOID, INT4OID},
								   (Datum[]) {order_id, ref, Int32GetDatum(slot % TOPUP_SLOTS)},
								   (char[]) {' ', refnull, ' '}, false, 0);
		TopupSPICheck(rc, SPI_OK_SELECT, "reversing an order");
	}
	if (sql == NULL || SPI_processed == 0)
	{
		rc = SPI_execute_with_args(APPLY_FAILED_SQL, 3, (Oid[]) {INT8OID, TEXTOID, TEXTOID},
								   (Datum[]) {order_id, ref,
									   CStringGetTextDatum(sql == NULL ?
														   "the fee account does not hold the fee any more" :
								   "the account does not hold the amount any more")},
								   (char[]) {' ', refnull, ' '}, false, 0);
		TopupSPICheck(rc, SPI_OK_SELECT, "failing a reversal");
	}
	else if (strcmp(type, "card_topup") == 0)
	{
		/* the master balance rose: keep the result (SPI_tuptable) across */
		SPITupleTable *result = SPI_tuptable;

		TopupMasterRaised(CStringGetTextDatum(client_id), CStringGetTextDatum(currency));
		SPI_tuptable = result;
		SPI_processed = 1;
	}
	TopupEventsWritten();
	return TopupOrderResult(fcinfo, SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, false);
}

/* The fingerprint compared on an idempotent retry. */
static void
RequestHash(uint8 *out, Datum order_id, const char *reason, bool refund_fee, Datum amount, bool amount_null)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "reversal%c%lld%c%s%c%c%c%s", '\0', (long long) DatumGetInt64(order_id), '\0',
					 reason ? reason : "\x01", '\0', refund_fee ? 't' : 'f', '\0',
					 amount_null ? "\x01" : numeric_normalize(DatumGetNumeric(amount)));
	TopupHmac(buf.data, buf.len, out);
	pfree(buf.data);
}

static Datum
StoreFailure(FunctionCallInfo fcinfo, Datum *args, char *nulls, const char *slug, const char *message)
{
	int			rc;

	args[6] = CStringGetTextDatum(slug);
	args[7] = CStringGetTextDatum(message);
	rc = SPI_execute_with_args(FAIL_SQL, 13,
							   (Oid[]) {INT8OID, TEXTOID, TEXTOID, TopupSerialTypeOid(), NUMERICOID, TEXTOID,
								   TEXTOID, TEXTOID, TEXTOID, BYTEAOID, TEXTOID, INT8OID, TEXTOID},
							   args, nulls, false, 0);
	TopupSPICheck(rc, SPI_OK_SELECT, "storing a failed reversal");
	return TopupNewOrderResult(fcinfo);
}

/*
 * What the reversals of order_id (locked by the caller) take back so far.
 * Under READ COMMITTED the statement takes its snapshot now, after the
 * lock was granted, and so sees the reversal of every transaction that
 * held the lock before.  Under REPEATABLE READ and SERIALIZABLE the
 * transaction's snapshot may predate such a reversal: if the latest
 * committed state differs, this reversal would be judged on stale figures,
 * and it fails with a serialization error instead (as core's foreign key
 * checks do with their cross-check snapshot).  The caller is connected to
 * SPI.
 */
static Datum
Reversed(Datum order_id)
{
	static SPIPlanPtr plan = NULL;
	SPIPlanPtr	p = TopupPreparePlan(&plan, REVERSED_SQL, 1, (Oid[]) {INT8OID});
	Datum		seen;
	bool		isnull;
	int			rc;

	rc = SPI_execute_plan(p, &order_id, NULL, false, 1);
	TopupSPICheck(rc, SPI_OK_SELECT, "reversals look-up");
	seen = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (IsolationUsesXactSnapshot())
	{
		rc = SPI_execute_snapshot(p, &order_id, NULL, GetLatestSnapshot(), InvalidSnapshot,
								  true, false, 1);
		TopupSPICheck(rc, SPI_OK_SELECT, "reversals look-up");
		if (!DatumGetBool(DirectFunctionCall2(numeric_eq, seen,
											  SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
															1, &isnull))))
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize access due to a concurrent reversal of order %lld",
							(long long) DatumGetInt64(order_id))));
	}
	return seen;
}

/* A reversal of less than the whole amount: not with refund_fee, not of a redeem. */
static void
WholeAmountRules(const char *type, bool refund_fee, Datum original_amount, Datum amount)
{
	if (refund_fee)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("refund_fee needs a reversal of the whole amount"),
				 errdetail("The order moved %s; this reversal takes back %s.",
						   DatumGetCString(DirectFunctionCall1(numeric_out, original_amount)),
						   DatumGetCString(DirectFunctionCall1(numeric_out, amount)))));
	if (strcmp(type, "voucher_redeem") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a redeem is reversed whole"),
				 errhint("Leave amount NULL.")));
}

static Datum
ReverseOrder(FunctionCallInfo fcinfo)
{
	static SPIPlanPtr original_plan = NULL;
	Datum		order_id = PG_GETARG_DATUM(0);
	char	   *reason = TopupTextArg(fcinfo, 1);
	char	   *key = TopupTextArg(fcinfo, 2);
	bool		refund_fee = PG_GETARG_BOOL(3);
	bool		amount_null = PG_ARGISNULL(4);
	Datum		amount = amount_null ? (Datum) 0 : PG_GETARG_DATUM(4);
	char	   *client_id = TopupTextArg(fcinfo, 5);
	uint8		hash[TOPUP_HASH_LEN];
	char		reference[TOPUP_REFERENCE_LEN + 1];
	HeapTuple	row;
	TupleDesc	desc;
	char	   *type;
	char	   *status;
	char	   *channel;
	Datum		original_amount;
	Datum		remaining;
	Datum		fee;
	bool		isnull;
	bool		ok;
	int			minor;
	int			rc;
	Datum		args[14];
	char		nulls[14];

	TopupRequireClient(fcinfo, client_id);
	RequestHash(hash, order_id, reason, refund_fee, amount, amount_null);
	if (TopupFindIdempotent(client_id, "reversal", key, hash, &row, &desc))
		return TopupOrderResult(fcinfo, row, desc, 1, true);

	/* the original, locked: concurrent reversals of it queue here */
	rc = SPI_execute_plan(TopupPreparePlan(&original_plan, ORIGINAL_SQL, 2, (Oid[]) {INT8OID, TEXTOID}),
						  (Datum[]) {order_id, CStringGetTextDatum(client_id)}, NULL, false, 1);
	TopupSPICheck(rc, SPI_OK_SELECT, "order look-up");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_TOPUP_ORDER_NOT_FOUND),
				 errmsg("order not found")));
	row = SPI_copytuple(SPI_tuptable->vals[0]);
	desc = SPI_tuptable->tupdesc;
	type = SPI_getvalue(row, desc, O_TYPE);
	status = SPI_getvalue(row, desc, O_STATUS);
	channel = SPI_getvalue(row, desc, O_PROVIDER_CHANNEL);
	original_amount = SPI_getbinval(row, desc, O_AMOUNT, &isnull);
	minor = DatumGetInt32(SPI_getbinval(row, desc, O_MINOR, &isnull));
	if (isnull)
		minor = 4;
	/* no fee refunded: 0 at the currency's scale (0.00), as a free top-up's fee */
	fee = DirectFunctionCall2(numeric_round, DirectFunctionCall1(int4_numeric, Int32GetDatum(0)),
							  Int32GetDatum(minor));

	/* raised: an amount the currency cannot hold; refund_fee of a partial reversal */
	if (!amount_null)
	{
		/* stored at the currency's scale, as every order's amount is */
		amount = TopupCheckAmount(amount, minor, &ok);
		if (!ok)
			ereport(ERROR,
					(errcode(ERRCODE_TOPUP_INVALID_AMOUNT),
					 errmsg("invalid amount"),
					 errdetail("An amount is positive and has at most %d decimal places here.", minor)));
	}

	memset(nulls, ' ', sizeof(nulls));
	args[0] = Int64GetDatum(TopupNextOrderId());
	args[1] = CStringGetTextDatum(client_id);
	args[2] = SPI_getbinval(row, desc, O_ACCOUNT, &isnull);
	nulls[2] = isnull ? 'n' : ' ';
	args[3] = SPI_getbinval(row, desc, O_SERIAL, &isnull);
	nulls[3] = isnull ? 'n' : ' ';
	args[4] = amount_null ? (Datum) 0 : amount;
	nulls[4] = amount_null ? 'n' : ' ';
	args[5] = SPI_getbinval(row, desc, O_CURRENCY, &isnull);
	nulls[5] = isnull ? 'n' : ' ';
	args[8] = CStringGetTextDatum(key);
	args[9] = PointerGetDatum(TopupByteaFrom(hash, TOPUP_HASH_LEN));
	TopupNewReference(reference);
	args[10] = CStringGetTextDatum(reference);
	args[11] = order_id;
	args[12] = reason ? CStringGetTextDatum(reason) : (Datum) 0;
	nulls[12] = reason ? ' ' : 'n';

	/*
	 * raised before anything is stored: a request no state of the order
	 * makes valid (an explicit partial amount with refund_fee or of a
	 * redeem, a fee refund of what has no fee)
	 */
	if (!amount_null && DatumGetInt32(DirectFunctionCall2(numeric_cmp, amount, original_amount)) != 0)
		WholeAmountRules(type, refund_fee, original_amount, amount);
	if (refund_fee && strcmp(type, "card_topup") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("only a card top-up has a fee to refund")));

	/* stored failures */
	if (strcmp(status, "completed") != 0 || strcmp(type, "reversal") == 0)
		return StoreFailure(fcinfo, args, nulls, "order_not_reversible",
							strcmp(type, "reversal") == 0 ? "a reversal cannot be reversed" :
							psprintf("the order is %s, not completed", status));
	remaining = DirectFunctionCall2(numeric_sub, original_amount, Reversed(order_id));
	if (TopupNumericSign(remaining) <= 0)
		return StoreFailure(fcinfo, args, nulls, "order_already_reversed", "nothing of the order is left to reverse");
	if (amount_null)
		amount = remaining;
	else if (DatumGetInt32(DirectFunctionCall2(numeric_cmp, amount, remaining)) > 0)
		return StoreFailure(fcinfo, args, nulls, "order_already_reversed",
							psprintf("only %s %s of the order is left to reverse",
									 DatumGetCString(DirectFunctionCall1(numeric_out, remaining)),
									 SPI_getvalue(row, desc, O_CURRENCY)));

	/* the rest (amount NULL) of an order reversed in part is partial too */
	if (DatumGetInt32(DirectFunctionCall2(numeric_cmp, amount, original_amount)) != 0)
		WholeAmountRules(type, refund_fee, original_amount, amount);
	if (refund_fee)
		fee = SPI_getbinval(row, desc, O_FEE, &isnull);

	/* the reversal, processing; then its money, or a worker's report */
	args[4] = amount;
	nulls[4] = ' ';
	rc = SPI_execute_with_args(INSERT_SQL, 14,
							   (Oid[]) {INT8OID, TEXTOID, TEXTOID, TEXTOID, TopupSerialTypeOid(), NUMERICOID,
								   NUMERICOID, TEXTOID, TEXTOID, BYTEAOID, TEXTOID, TEXTOID, INT8OID, TEXTOID},
							   (Datum[]) {args[0], channel ? CStringGetTextDatum("new") : (Datum) 0, args[1],
								   args[2], args[3], amount, fee, args[5], args[8], args[9], args[10],
							   channel ? CStringGetTextDatum(channel) : (Datum) 0, order_id, args[12]},
							   (char[]) {' ', channel ? ' ' : 'n', ' ', nulls[2], nulls[3], ' ', ' ', nulls[5],
								   ' ', ' ', ' ', channel ? ' ' : 'n', ' ', nulls[12]},
							   false, 0);
	TopupSPICheck(rc, SPI_OK_SELECT, "recording a reversal");
	TopupRequireNewOrder();
	if (channel != NULL)
	{
		TopupEventsWritten();
		TopupOrdersClaimable(channel);
		return TopupOrderResult(fcinfo, SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, false);
	}
	return TopupApplyReversal(fcinfo, args[0], NULL);
}

/*
 * topup.reverse_order(order_id, reason, idempotency_key, refund_fee, amount,
 *					   client_id) -> order_result
 */
Datum
topup_reverse_order(PG_FUNCTION_ARGS)
{
	char	   *key = TopupTextArg(fcinfo, 2);

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_TOPUP_ORDER_NOT_FOUND),
				 errmsg("order not found")));
	if (key == NULL || key[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_TOPUP_IDEMPOTENCY_KEY_REQUIRED),
				 errmsg("an idempotency key is required"),
				 errhint("Send a unique key per reversal.")));
	TopupCheckIdempotencyKey(key);
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("refund_fee must not be null")));
	if (!PG_ARGISNULL(4))
	{
		Numeric		num = DatumGetNumeric(PG_GETARG_DATUM(4));

		if (numeric_is_nan(num) ||
#if PG_VERSION_NUM >= 140000
			numeric_is_inf(num) ||
#endif
			TopupNumericSign(PG_GETARG_DATUM(4)) <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_TOPUP_INVALID_AMOUNT),
					 errmsg("invalid amount"),
					 errdetail("The amount must be a positive number.")));
	}
	if (PG_ARGISNULL(5))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("client_id must not be null")));

	PG_RETURN_DATUM(TopupRunInternal(fcinfo, ReverseOrder));
}
