/*-------------------------------------------------------------------------
 *
 * redeem.c
 *	  Voucher redeem: redeem_voucher (by PIN, with the brute-force lockout)
 *	  and redeem_voucher_by_serial (the admin path).
 *
 *	  A successful redeem is one statement: a writable CTE that activates
 *	  the voucher only if every check passes (lockout, account, voucher
 *	  status and expiry), credits the account, writes both ledger entries
 *	  and the completed order.  The UPDATE re-checks the voucher's status,
 *	  so of two concurrent redeems of one PIN exactly one activates it.
 *	  When the write changes nothing, one read gathers what the checks need
 *	  (recent failed attempts, the account, the voucher) to name the
 *	  failure in the contract's order, and a failed order is stored.
 *
 *	  Business failures do not raise: they store and return a failed
 *	  order, which an idempotent retry replays.
 *
 *-------------------------------------------------------------------------
 */
#include "topup.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

typedef enum RedeemBy
{
	REDEEM_BY_PIN,
	REDEEM_BY_SERIAL
} RedeemBy;

typedef struct RedeemRequest
{
	RedeemBy	by;
	char	   *client_id;
	char	   *account_id;
	char	   *key;			/* idempotency key or NULL */
	char	   *source;			/* lockout source or NULL */
	bool		pin_ok;			/* the PIN is well formed */
	uint8		pin_hash[TOPUP_HASH_LEN];
	VoucherSerial serial;		/* REDEEM_BY_SERIAL */
	uint8		request_hash[TOPUP_HASH_LEN];
} RedeemRequest;

/* What the read statement found; columns of READ_SQL, 1-based. */
enum
{
	R_ACCT_FAILURES = 1,
	R_SRC_FAILURES,
	R_ACCT_STATUS,
	R_ACCT_CURRENCY,
	R_ACCT_KIND,
	R_V_SERIAL,
	R_V_STATUS,
	R_V_AMOUNT,
	R_V_CURRENCY,
	R_V_EXPIRES,
	R_CLIENT_EXISTS,
	R_V_ORDER_ID
};

static Datum Redeem(FunctionCallInfo fcinfo, RedeemRequest *req);
static Datum RedeemEntry(FunctionCallInfo fcinfo, RedeemRequest *req);
static SPIPlanPtr ReadPlan(RedeemBy by);
static SPIPlanPtr WritePlan(RedeemBy by, bool keyed);
static const char *VoucherFailure(HeapTuple row, TupleDesc desc, const char *acct_currency,
								  const char **message);
static Datum StoreFailure(FunctionCallInfo fcinfo, RedeemRequest *req, int64 order_id,
						  const char *slug, const char *message, HeapTuple row, TupleDesc desc);
static void RequestHash(RedeemRequest *req, const char *pin);

PG_FUNCTION_INFO_V1(topup_redeem_voucher);
PG_FUNCTION_INFO_V1(topup_redeem_voucher_by_serial);

/*
 * Everything the checks need, in one statement.  The failed-attempt counts
 * stop at topup.max_failed_redeems ($6) so a flood costs nothing extra.
 */
#define READ_SQL_HEAD \
	"SELECT (SELECT pg_catalog.count(*) FROM (SELECT 1 FROM topup.orders o " \
	"          WHERE o.error_slug = 'invalid_pin' AND o.client_id = $1 " \
	"            AND o.account_id = $2 AND o.created_at > $5 LIMIT $6) f), " \
	"       (SELECT pg_catalog.count(*) FROM (SELECT 1 FROM topup.orders o " \
	"          WHERE o.error_slug = 'invalid_pin' AND o.source IS NOT NULL " \
	"            AND o.client_id = $1 AND o.source = $4 AND o.created_at > $5 LIMIT $6) f), " \
	"       a.status::text, a.currency, a.kind, " \
	"       v.serial, v.status::text, v.amount, v.currency, v.expires_at, " \
	"       EXISTS (SELECT 1 FROM topup.clients c WHERE c.client_id = $1), v.order_id " \
	"  FROM (SELECT 1) AS one " \
	"  LEFT JOIN topup.accounts a ON a.client_id = $1 AND a.account_id = $2 "

/*
 * The write: voucher, account, two ledger entries, the completed order, in
 * one statement that also carries every check of the success path (the
 * lockout, the account's kind, status and currency, the voucher's status
 * and expiry), so that a successful redeem costs a single statement.  When
 * it changes nothing, READ_SQL finds out why.  $9 is the start of the
 * lockout window and $10 topup.max_failed_redeems (0: no lockout).
 */
#define WRITE_SQL(voucher_match, on_conflict) \
	"WITH v AS (" \
	"  UPDATE topup.vouchers vv SET status = 'activated', activated_at = pg_catalog.now(), " \
	"         activated_by = $2, order_id = $4 " \
	"   WHERE " voucher_match " AND vv.client_id = $1 AND vv.status = 'new' " \
	"     AND (vv.expires_at IS NULL OR vv.expires_at > pg_catalog.now()) " \
	"     AND EXISTS (SELECT 1 FROM topup.accounts acc " \
	"                  WHERE acc.client_id = $1 AND acc.account_id = $2 AND acc.status = 'active' " \
	"                    AND acc.kind = 'customer' AND acc.currency = vv.currency) " \
	"     AND ($10 = 0 OR " \
	"          (NOT EXISTS (SELECT 1 FROM topup.orders o " \
	"              WHERE o.error_slug = 'invalid_pin' AND o.client_id = $1 " \
	"                AND o.account_id = $2 AND o.created_at > $9 OFFSET $10 - 1) " \
	"           AND NOT EXISTS (SELECT 1 FROM topup.orders o " \
	"              WHERE o.error_slug = 'invalid_pin' AND o.source IS NOT NULL " \
	"                AND o.client_id = $1 AND o.source = $8 AND o.created_at > $9 OFFSET $10 - 1))) " \
	"  RETURNING vv.serial, vv.amount, vv.currency), " \
	"a AS (" \
	"  UPDATE topup.accounts acc SET balance = acc.balance + v.amount FROM v " \
	"   WHERE acc.client_id = $1 AND acc.account_id = $2 AND acc.status = 'active' " \
	"     AND acc.kind = 'customer' AND acc.currency = v.currency " \
	"  RETURNING acc.balance, v.serial, v.amount, v.currency), " \
	"l AS (" \
	"  INSERT INTO topup.ledger (order_id, client_id, book, account_id, currency, amount, balance_after) " \
	"  SELECT $4, $1, 'account', $2, a.currency, a.amount, a.balance FROM a " \
	"  UNION ALL " \
	"  SELECT $4, $1, 'voucher_float', NULL, a.currency, - a.amount, NULL FROM a), " \
	"o AS (" \
	"  INSERT INTO topup.orders (order_id, order_type, status, client_id, account_id, serial, " \
	"         amount, currency, account_balance_after, idempotency_key, request_hash, reference, " \
	"         source, created_at, completed_at) " \
	"  SELECT $4, 'voucher_redeem', 'completed', $1, $2, a.serial, a.amount, a.currency, " \
	"         a.balance, $5, $6, $7, $8, pg_catalog.now(), pg_catalog.now() FROM a " \
	on_conflict \
	"  RETURNING " TOPUP_ORDER_RESULT_COLUMNS ") " \
	"SELECT * FROM o"

#define ON_KEY_CONFLICT " ON CONFLICT (client_id, order_type, idempotency_key) DO NOTHING "

/* A failed redeem order. */
#define FAIL_SQL(on_conflict) \
	"INSERT INTO topup.orders (order_id, order_type, status, client_id, account_id, serial, " \
	"       amount, currency, error_slug, error_message, idempotency_key, request_hash, " \
	"       reference, source, created_at, failed_at) " \
	"VALUES ($1, 'voucher_redeem', 'failed', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, " \
	"        pg_catalog.now(), pg_catalog.now()) " on_conflict \
	"RETURNING " TOPUP_ORDER_RESULT_COLUMNS


static SPIPlanPtr
ReadPlan(RedeemBy by)
{
	static SPIPlanPtr plans[2] = {NULL, NULL};
	Oid			argtypes[6] = {TEXTOID, TEXTOID, BYTEAOID, TEXTOID, TIMESTAMPTZOID, INT4OID};

	/* another client's PIN must look exactly like an unknown one */
	if (by == REDEEM_BY_PIN)
		return TopupPreparePlan(&plans[by], READ_SQL_HEAD
								"  LEFT JOIN topup.vouchers v ON v.pin_hash = $3 AND v.client_id = $1",
								6, argtypes);
	argtypes[2] = TopupSerialTypeOid();
	return TopupPreparePlan(&plans[by], READ_SQL_HEAD
							"  LEFT JOIN topup.vouchers v "
							"    ON v.serial OPERATOR(topup.=) $3 AND v.client_id = $1",
							6, argtypes);
}

static SPIPlanPtr
WritePlan(RedeemBy by, bool keyed)
{
	static SPIPlanPtr plans[2][2] = {{NULL, NULL}, {NULL, NULL}};
	Oid			argtypes[10] = {TEXTOID, TEXTOID, BYTEAOID, INT8OID, TEXTOID, BYTEAOID, TEXTOID, TEXTOID,
	TIMESTAMPTZOID, INT4OID};
	const char *sql;

	if (by == REDEEM_BY_PIN)
		sql = keyed ? WRITE_SQL("vv.pin_hash = $3", ON_KEY_CONFLICT) : WRITE_SQL("vv.pin_hash = $3", "");
	else
	{
		argtypes[2] = TopupSerialTypeOid();
		sql = keyed ? WRITE_SQL("vv.serial OPERATOR(topup.=) $3", ON_KEY_CONFLICT) :
			WRITE_SQL("vv.serial OPERATOR(topup.=) $3", "");
	}
	return TopupPreparePlan(&plans[by][keyed], sql, 10, argtypes);
}

/*
 * The fingerprint compared on an idempotent retry: a keyed hash of the
 * order type, the account and the PIN (or serial), so no PIN is stored.
 */
static void
RequestHash(RedeemRequest *req, const char *pin)
{
	StringInfoData buf;

	initStringInfo(&buf);
	if (req->by == REDEEM_BY_PIN)
		appendStringInfo(&buf, "redeem_pin%c%s%c%s", '\0', req->account_id ? req->account_id : "",
						 '\0', pin ? pin : "");
	else
		appendStringInfo(&buf, "redeem_serial%c%s%c%s", '\0', req->account_id ? req->account_id : "",
						 '\0', SerialToCString(&req->serial));
	TopupHmac(buf.data, buf.len, req->request_hash);
	explicit_bzero(buf.data, buf.len);
	pfree(buf.data);
}

/*
 * Why a voucher found by the read (columns R_V_*) cannot be redeemed now,
 * or NULL if it can.  Expiry is judged by expires_at at this moment,
 * whatever the status column says.
 */
static const char *
VoucherFailure(HeapTuple row, TupleDesc desc, const char *acct_currency, const char **message)
{
	bool		isnull;
	char	   *status = SPI_getvalue(row, desc, R_V_STATUS);
	char	   *currency = SPI_getvalue(row, desc, R_V_CURRENCY);
	Datum		expires = SPI_getbinval(row, desc, R_V_EXPIRES, &isnull);

	if (strcmp(status, "activated") == 0)
	{
		*message = "the voucher has already been redeemed";
		return "voucher_already_redeemed";
	}
	if (strcmp(status, "expired") == 0 ||
		(!isnull && DatumGetTimestampTz(expires) <= GetCurrentTransactionStartTimestamp()))
	{
		*message = "the voucher has expired";
		return "voucher_expired";
	}
	if (strcmp(status, "blocked") == 0)
	{
		*message = "the voucher is blocked";
		return "voucher_blocked";
	}
	if (strcmp(currency, acct_currency) != 0)
	{
		*message = psprintf("the voucher is in %s but the account is in %s", currency, acct_currency);
		return "currency_mismatch";
	}
	return NULL;
}

/*
 * Store a failed order and return it.  row/desc, when given, is the read
 * row: the voucher's serial, amount and currency go into the order.
 */
static Datum
StoreFailure(FunctionCallInfo fcinfo, RedeemRequest *req, int64 order_id,
			 const char *slug, const char *message, HeapTuple row, TupleDesc desc)
{
	static SPIPlanPtr plans[2] = {NULL, NULL};
	bool		keyed = req->key != NULL;
	Datum		v[12];
	char		n[12];
	char		reference[TOPUP_REFERENCE_LEN + 1];
	bool		isnull = true;
	int			rc;

	Oid			argtypes[12] = {INT8OID, TEXTOID, TEXTOID, TopupSerialTypeOid(),
		NUMERICOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, BYTEAOID, TEXTOID, TEXTOID};

	(void) TopupPreparePlan(&plans[keyed],
							keyed ? FAIL_SQL(ON_KEY_CONFLICT) : FAIL_SQL(""),
							12, argtypes);

	memset(n, ' ', sizeof(n));
	v[0] = Int64GetDatum(order_id);
	v[1] = CStringGetTextDatum(req->client_id);
	v[2] = req->account_id ? CStringGetTextDatum(req->account_id) : (Datum) 0;
	n[2] = req->account_id ? ' ' : 'n';

	/* the voucher, when one was found, goes into the order */
	if (row != NULL)
		v[3] = SPI_getbinval(row, desc, R_V_SERIAL, &isnull);
	if (!isnull)
	{
		v[4] = SPI_getbinval(row, desc, R_V_AMOUNT, &isnull);
		v[5] = CStringGetTextDatum(SPI_getvalue(row, desc, R_V_CURRENCY));
	}
	else
	{
		if (req->by == REDEEM_BY_SERIAL)
			v[3] = VoucherSerialPGetDatum(&req->serial);
		else
			n[3] = 'n';
		n[4] = n[5] = 'n';
	}
	v[6] = CStringGetTextDatum(slug);
	v[7] = CStringGetTextDatum(message);
	v[8] = keyed ? CStringGetTextDatum(req->key) : (Datum) 0;
	n[8] = keyed ? ' ' : 'n';
	v[9] = PointerGetDatum(TopupByteaFrom(req->request_hash, TOPUP_HASH_LEN));
	TopupNewReference(reference);
	v[10] = CStringGetTextDatum(reference);
	v[11] = req->source ? CStringGetTextDatum(req->source) : (Datum) 0;
	n[11] = req->source ? ' ' : 'n';

	rc = SPI_execute_plan(plans[keyed], v, n, false, 0);
	TopupSPICheck(rc, SPI_OK_INSERT_RETURNING, "storing a failed order");
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access due to a concurrent request with the same idempotency key")));
	return TopupOrderResult(fcinfo, SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, false);
}

static Datum
Redeem(FunctionCallInfo fcinfo, RedeemRequest *req)
{
	HeapTuple	row;
	TupleDesc	desc;
	Datum		args[10];
	char		nulls[10];
	bool		isnull;
	int			rc;
	int64		acct_failures;
	int64		src_failures;
	const char *slug;
	const char *message;
	char	   *acct_currency;
	int64		order_id;
	char		reference[TOPUP_REFERENCE_LEN + 1];
	int			pass;
	bool		try_write = req->pin_ok && req->account_id != NULL;

	if (req->key != NULL &&
		TopupFindIdempotent(req->client_id, "voucher_redeem", req->key, req->request_hash, &row, &desc))
		return TopupOrderResult(fcinfo, row, desc, 1, true);

	order_id = TopupNextOrderId();
	TopupNewReference(reference);
	memset(nulls, ' ', sizeof(nulls));
	args[0] = CStringGetTextDatum(req->client_id);
	if (req->account_id)
		args[1] = CStringGetTextDatum(req->account_id);
	else
		nulls[1] = 'n';
	if (req->by == REDEEM_BY_PIN)
		args[2] = PointerGetDatum(TopupByteaFrom(req->pin_hash, TOPUP_HASH_LEN));
	else
		args[2] = VoucherSerialPGetDatum(&req->serial);
	args[3] = Int64GetDatum(order_id);
	if (req->key)
		args[4] = CStringGetTextDatum(req->key);
	else
		nulls[4] = 'n';
	args[5] = PointerGetDatum(TopupByteaFrom(req->request_hash, TOPUP_HASH_LEN));
	args[6] = CStringGetTextDatum(reference);
	if (req->source)
		args[7] = CStringGetTextDatum(req->source);
	else
		nulls[7] = 'n';
	args[8] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp() -
								  (TimestampTz) topup_redeem_lockout * USECS_PER_SEC);
	args[9] = Int32GetDatum(req->by == REDEEM_BY_PIN ? topup_max_failed_redeems : 0);

	/*
	 * The success path without a plan (direct.c).  Under REPEATABLE READ a
	 * keyed redeem takes the SQL path, whose ON CONFLICT turns a key stored
	 * by a concurrent call into a serialization failure.
	 */
	if (try_write && !(req->key != NULL && IsolationUsesXactSnapshot()))
	{
		TopupDirectRedeem d;
		Datum		values[TOPUP_ORDER_RESULT_NATTS];
		bool		rnulls[TOPUP_ORDER_RESULT_NATTS];

		d.client_id = req->client_id;
		d.account_id = req->account_id;
		d.key = req->key;
		d.source = req->source;
		d.pin_hash = req->by == REDEEM_BY_PIN ? req->pin_hash : NULL;
		d.serial = &req->serial;
		d.request_hash = req->request_hash;
		d.order_id = order_id;
		d.reference = reference;
		d.lockout_since = DatumGetTimestampTz(args[8]);
		d.max_failed = DatumGetInt32(args[9]);
		switch (TopupRedeemDirect(&d, values, rnulls))
		{
			case TOPUP_DIRECT_DONE:
				return TopupOrderResultValues(fcinfo, values, rnulls);
			case TOPUP_DIRECT_REFUSED:
				try_write = false;	/* the look-up below names the failure */
				break;
			case TOPUP_DIRECT_NOT_TAKEN:
				break;
		}
	}

	for (pass = 0; pass < 2; pass++)
	{
		/* the success path: one statement (a malformed PIN can match nothing) */
		if (try_write || (pass > 0 && req->pin_ok && req->account_id != NULL))
		{
			rc = SPI_execute_plan(WritePlan(req->by, req->key != NULL), args, nulls, false, 0);
			TopupSPICheck(rc, SPI_OK_SELECT, "redeem");
			if (SPI_processed == 1)
				return TopupOrderResult(fcinfo, SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, false);
		}

		/* Nothing was written: find out why, in the order of the checks. */
		rc = SPI_execute_plan(ReadPlan(req->by),
							  (Datum[]) {args[0], args[1], args[2], args[7], args[8], args[9]},
							  (char[]) {nulls[0], nulls[1], nulls[2], nulls[7], nulls[8], nulls[9]},
							  false, 1);
		TopupSPICheck(rc, SPI_OK_SELECT, "redeem look-up");
		row = SPI_tuptable->vals[0];
		desc = SPI_tuptable->tupdesc;

		if (!DatumGetBool(SPI_getbinval(row, desc, R_CLIENT_EXISTS, &isnull)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("client \"%s\" does not exist", req->client_id)));

		/*
		 * The write activated the voucher but wrote no order: the account
		 * changed between its check and its credit.  The voucher must not
		 * stay activated, so the whole transaction goes.
		 */
		if (DatumGetInt64(SPI_getbinval(row, desc, R_V_ORDER_ID, &isnull)) == order_id && !isnull)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize access due to a concurrent change of account \"%s\"",
							req->account_id),
					 errhint("Retry the redeem.")));

		acct_failures = DatumGetInt64(SPI_getbinval(row, desc, R_ACCT_FAILURES, &isnull));
		src_failures = DatumGetInt64(SPI_getbinval(row, desc, R_SRC_FAILURES, &isnull));
		if (req->by == REDEEM_BY_PIN &&
			(acct_failures >= topup_max_failed_redeems || src_failures >= topup_max_failed_redeems))
			return StoreFailure(fcinfo, req, order_id, "too_many_attempts",
								acct_failures >= topup_max_failed_redeems ?
								"too many failed attempts for this account; try again later" :
								"too many failed attempts from this source; try again later",
								NULL, NULL);

		(void) SPI_getbinval(row, desc, R_ACCT_STATUS, &isnull);
		if (isnull)
			return StoreFailure(fcinfo, req, order_id, "account_not_found",
								req->account_id ? "no such account" : "no account was given",
								NULL, NULL);
		if (strcmp(SPI_getvalue(row, desc, R_ACCT_KIND), "customer") != 0)
			return StoreFailure(fcinfo, req, order_id, "account_not_found",
								"the account is a prepaid card, not a customer account", NULL, NULL);
		if (strcmp(SPI_getvalue(row, desc, R_ACCT_STATUS), "active") != 0)
			return StoreFailure(fcinfo, req, order_id, "account_not_active",
								psprintf("the account is %s", SPI_getvalue(row, desc, R_ACCT_STATUS)),
								NULL, NULL);
		acct_currency = SPI_getvalue(row, desc, R_ACCT_CURRENCY);

		(void) SPI_getbinval(row, desc, R_V_SERIAL, &isnull);
		if (isnull || !req->pin_ok)
		{
			if (req->by == REDEEM_BY_PIN)
				return StoreFailure(fcinfo, req, order_id, "invalid_pin", "no voucher has this PIN",
									NULL, NULL);
			return StoreFailure(fcinfo, req, order_id, "voucher_not_found", "no voucher has this serial",
								NULL, NULL);
		}

		slug = VoucherFailure(row, desc, acct_currency, &message);
		if (slug != NULL)
			return StoreFailure(fcinfo, req, order_id, slug, message, row, desc);

		/*
		 * Redeemable as far as this newer snapshot knows: the write lost a
		 * race (the voucher or the account changed under it).  Try again.
		 */
	}
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("could not serialize access due to a concurrent change of the voucher"),
			 errhint("Retry the redeem.")));
	return (Datum) 0;			/* keep compiler quiet */
}

/* Common wrapper: raise the internal-write flag, connect SPI, run. */
static Datum
RedeemEntry(FunctionCallInfo fcinfo, RedeemRequest *req)
{
	Datum		result;
	int			saved;

	if (req->client_id == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("client_id must not be null")));
	TopupCheckIdempotencyKey(req->key);
	if (req->account_id != NULL && req->account_id[0] == '\0')
		req->account_id = NULL;

	saved = TopupEnterInternal();
	PG_TRY();
	{
		SPI_connect();
		/* an unknown client is reported by the first look-up in Redeem() */
		result = Redeem(fcinfo, req);
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
 * topup.redeem_voucher(pin, account_id, idempotency_key, source, client_id)
 */
Datum
topup_redeem_voucher(PG_FUNCTION_ARGS)
{
	RedeemRequest req;
	char	   *pin = TopupTextArg(fcinfo, 0);
	char	   *p;
	int			len = 0;
	Datum		result;

	memset(&req, 0, sizeof(req));
	req.by = REDEEM_BY_PIN;
	req.account_id = TopupTextArg(fcinfo, 1);
	req.key = TopupTextArg(fcinfo, 2);
	req.source = TopupTextArg(fcinfo, 3);
	req.client_id = TopupTextArg(fcinfo, 4);

	/* a PIN is 5-20 digits; surrounding spaces are forgiven */
	if (pin != NULL)
	{
		char	   *end;

		for (p = pin; *p == ' '; p++)
			;
		for (end = p + strlen(p); end > p && end[-1] == ' '; end--)
			;
		*end = '\0';
		len = end - p;
		req.pin_ok = len >= TOPUP_PIN_MIN && len <= TOPUP_PIN_MAX &&
			strspn(p, "0123456789") == (size_t) len;
		if (req.pin_ok)
			TopupHmac(p, len, req.pin_hash);
		pin = p;
	}
	/* malformed PINs match nothing; the lookup still runs for the lockout */
	if (!req.pin_ok)
		memset(req.pin_hash, 0, sizeof(req.pin_hash));
	RequestHash(&req, pin);
	if (pin != NULL)
		explicit_bzero(pin, len);

	result = RedeemEntry(fcinfo, &req);
	PG_RETURN_DATUM(result);
}

/*
 * topup.redeem_voucher_by_serial(serial, account_id, idempotency_key, client_id)
 */
Datum
topup_redeem_voucher_by_serial(PG_FUNCTION_ARGS)
{
	RedeemRequest req;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("serial must not be null")));
	memset(&req, 0, sizeof(req));
	req.by = REDEEM_BY_SERIAL;
	req.serial = *PG_GETARG_VOUCHER_SERIAL_P(0);
	req.pin_ok = true;
	req.account_id = TopupTextArg(fcinfo, 1);
	req.key = TopupTextArg(fcinfo, 2);
	req.client_id = TopupTextArg(fcinfo, 3);
	RequestHash(&req, NULL);

	PG_RETURN_DATUM(RedeemEntry(fcinfo, &req));
}
