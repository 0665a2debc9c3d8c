/*-------------------------------------------------------------------------
 *
 * cards.c
 *	  Prepaid card top-ups: topup_card, and order polling (check_order,
 *	  order_json) for every order type.
 *
 *	  A top-up is four statements on its fast path: the idempotency
 *	  look-up (orders.c), one read that locks the card and fetches its
 *	  pricing rule, one writable CTE that debits a master slot that covers
 *	  amount + fee (SKIP LOCKED) and credits the fee slot of the same
 *	  number, and one that credits the card and writes the ledger entries
 *	  and the completed order.  If no free slot covers the charge, the
 *	  debit writes nothing; it is tried once more waiting for a busy
 *	  covering slot, and if no slot covers it at all, the slow path in
 *	  master.c decides, with every slot locked, whether the whole balance
 *	  covers it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/resowner.h"

#include "crypto.h"
#include "events.h"
#include "guard.h"
#include "master.h"
#include "orders.h"
#include "schema.h"
#include "topup.h"

typedef struct TopupRequest
{
	char	   *client_id;
	char	   *account_id;
	Datum		amount;			/* as given, then normalised to the card's scale */
	char	   *key;
	char	   *currency;		/* as given, or NULL */
	bool		activate;
	Datum		customer_info;	/* jsonb, or 0 */
	char	   *entry_type;
	char	   *channel;
	uint8		request_hash[TOPUP_HASH_LEN];
} TopupRequest;

/* Columns of READ_SQL, 1-based. */
enum
{
	C_KIND = 1,
	C_STATUS,
	C_CURRENCY,
	C_MINOR,
	C_HAS_RULE,
	C_MIN,
	C_MAX,
	C_FEE_FIXED,
	C_FEE_PERCENT,
	C_PROVIDER,
	C_LOW
};

static Datum TopupCard(FunctionCallInfo fcinfo, TopupRequest *req);
static void TopupRequestHash(TopupRequest *req);
static Datum StoreTopupFailure(FunctionCallInfo fcinfo, TopupRequest *req, const char *slug,
							   const char *message, const char *currency);
static const char *PricingProblem(HeapTuple row, TupleDesc desc, int minor);
static int	NumericCmp(Datum a, Datum b);
static Datum CheckOrder(FunctionCallInfo fcinfo, const char *sql, int nargs, Oid *argtypes, Datum *args);

PG_FUNCTION_INFO_V1(topup_topup_card);
PG_FUNCTION_INFO_V1(topup_check_order_by_id);
PG_FUNCTION_INFO_V1(topup_check_order_by_key);
PG_FUNCTION_INFO_V1(topup_order_json);

/*
 * The card, its currency, pricing and (from 0.5.0) whether the channel is
 * a provider channel of the client.  provider is the select-list item and
 * channels the join, or "false" and "" for the SQL of older versions.
 */
#define READ_SQL(provider, low, channels) \
	"SELECT a.kind, a.status::text, a.currency, c.minor_units, p.client_id IS NOT NULL, " \
	"       p.min_amount, p.max_amount, p.fee_fixed, p.fee_percent, " provider ", " low " " \
	"  FROM topup.accounts a " \
	"  JOIN topup.currencies c ON c.code = a.currency " \
	"  LEFT JOIN topup.pricing p ON p.client_id = a.client_id AND p.currency = a.currency " \
	channels \
	" WHERE a.client_id = $1 AND a.account_id = $2 " \
	"   FOR NO KEY UPDATE OF a"
#define READ_LOW_SQL \
	"EXISTS (SELECT 1 FROM topup.low_balances lb " \
	"         WHERE lb.client_id = a.client_id AND lb.currency = a.currency)"
static const char *const read_sqls[3] = {
	/* before 0.5.0 */
	READ_SQL("false", "false", ""),
	/* no channel named: no join (most top-ups) */
	READ_SQL("false", READ_LOW_SQL, ""),
	/* a channel named */
	READ_SQL("COALESCE(ch.mode = 'provider', false)", READ_LOW_SQL,
			 "  LEFT JOIN topup.channels ch ON ch.client_id = a.client_id AND ch.channel = $3 ")
};

/*
 * The top-up write, in two statements.  DEBIT_SQL takes the charge off a
 * master slot and credits the fee to a fee slot; RECORD_SQL then credits
 * the card and writes the ledger entries and the completed order.  The hot
 * rows are in a statement of their own because a concurrent update of a
 * slot makes PostgreSQL recheck the row (EvalPlanQual), which sets up every
 * CTE of the statement again: in one statement with the ledger and order
 * inserts that set-up cost more than the whole top-up under contention.
 *
 * master_lock is how ms picks the master slot: SKIP LOCKED takes a free
 * slot that covers the charge; without a locking clause ms names the first
 * covering slot and m's UPDATE waits for that one slot (used when every
 * covering slot was busy), re-checking that it still covers the charge.
 * (FOR UPDATE would instead go on to wait for the next covering slot while
 * keeping the lock on one whose recheck failed: waits in no fixed order,
 * the stuff of deadlocks.)  The slots are picked in CTEs, not in subqueries
 * of the UPDATEs: when an UPDATE meets a row changed since its snapshot,
 * the recheck would run such a subquery again and could pick another slot,
 * skipping the update; a CTE's row is carried into the recheck as it was.
 * The fee goes to the fee slot with the number of the master slot: only a
 * transaction that holds master slot k takes fee slot k, so no top-up ever
 * waits for a fee slot or scans for a free one.
 * $1 client, $2 currency, $3 amount + fee, $4 fee, $5 first slot to try.
 * Returns the number of master and of fee slots changed.
 */
/*
 * $6 is the book the second slot belongs to: 'fee' (an instant top-up
 * credits the fee) or 'hold' (a provider-backed one holds amount + fee, $4,
 * until a worker reports).  The slot number is returned third.
 */
#define DEBIT_SQL(master_lock) \
	"WITH ms AS (" \
	"  SELECT slot FROM topup.balance_slots " \
	"   WHERE client_id = $1 AND currency = $2 AND book = 'master' AND balance >= $3 " \
	"   ORDER BY (slot + $5) % " CppAsString2(TOPUP_SLOTS) " LIMIT 1 " master_lock "), " \
	"m AS (" \
	"  UPDATE topup.balance_slots s SET balance = s.balance - $3 FROM ms " \
	"   WHERE s.client_id = $1 AND s.currency = $2 AND s.book = 'master' AND s.slot = ms.slot " \
	"     AND s.balance >= $3 " \
	"  RETURNING s.slot), " \
	"f AS (" \
	"  UPDATE topup.balance_slots s SET balance = s.balance + $4 FROM m " \
	"   WHERE s.client_id = $1 AND s.currency = $2 AND s.book = $6 AND s.slot = m.slot " \
	"     AND $4 > 0 " \
	"  RETURNING s.slot) " \
	"SELECT (SELECT pg_catalog.count(*) FROM m), (SELECT pg_catalog.count(*) FROM f), " \
	"       (SELECT slot FROM m)"

/*
 * The rest of a top-up, after DEBIT_SQL debited a slot: the master balance
 * after the order is the sum of the slots as this statement sees them
 * (this order's debit included).  $1 client, $2 currency, $3 card,
 * $4 amount, $5 fee, $6 amount + fee, $7 order id, $8 key,
 * $9 request hash, $10 reference, $11 entry type, $12 channel,
 * $13 customer_info, $14 activates the card.
 */
#define RECORD_SQL(events) \
	"WITH c AS (" \
	"  UPDATE topup.accounts a SET balance = a.balance + $4, status = 'active', " \
	"         customer_info = CASE WHEN $13::jsonb IS NULL THEN a.customer_info " \
	"                              ELSE COALESCE(a.customer_info, '{}'::jsonb) || $13::jsonb END " \
	"   WHERE a.client_id = $1 AND a.account_id = $3 " \
	"  RETURNING a.balance), " \
	"t AS (" \
	"  SELECT pg_catalog.sum(s.balance) AS after FROM topup.balance_slots s " \
	"   WHERE s.client_id = $1 AND s.currency = $2 AND s.book = 'master'), " \
	"l AS (" \
	"  INSERT INTO topup.ledger (order_id, client_id, book, account_id, currency, amount, balance_after) " \
	"  SELECT $7, $1, 'account', $3, $2, $4, c.balance FROM c " \
	"  UNION ALL SELECT $7, $1, 'master', NULL, $2, - $6, t.after FROM t " \
	"  UNION ALL SELECT $7, $1, 'fee', NULL, $2, $5, NULL WHERE $5 > 0), " \
	"o AS (" \
	"  INSERT INTO topup.orders (order_id, order_type, status, topup_status, client_id, account_id, " \
	"         amount, fee, currency, master_balance_before, master_balance_after, " \
	"         account_balance_after, idempotency_key, request_hash, reference, entry_type, channel, " \
	"         card_activated, created_at, completed_at) " \
	"  SELECT $7, 'card_topup', 'completed', 'completed', $1, $3, $4, $5, $2, t.after + $6, t.after, " \
	"         c.balance, $8, $9, $10, $11, $12, $14, pg_catalog.now(), pg_catalog.now() FROM t, c " \
	"  ON CONFLICT (client_id, order_type, idempotency_key) DO NOTHING " \
	"  RETURNING " TOPUP_ORDER_RESULT_COLUMNS ")" \
	events \
	" SELECT o.* FROM (SELECT 1) AS one LEFT JOIN o ON true"

/*
 * From 0.5.0 a top-up writes its event, and may raise master.low when its
 * client has a threshold in the currency (the card look-up says so).
 */
#define RECORD_EVENTS_SQL	TOPUP_ORDER_EVENTS_CTE
#define RECORD_EVENTS_LOW_SQL	TOPUP_ORDER_EVENTS_CTE MASTER_LOW_SQL

/*
 * The same for a provider-backed top-up: amount + fee went from the master
 * slot to the hold slot of its number ($7 below is that slot); the card is
 * activated and its customer_info merged now, credited when a worker reports
 * the top-up completed.  The order is processing, topup_status new.
 */
#define RECORD_HOLD_SQL(events) \
	"WITH c AS (" \
	"  UPDATE topup.accounts a SET status = 'active', " \
	"         customer_info = CASE WHEN $13::jsonb IS NULL THEN a.customer_info " \
	"                              ELSE COALESCE(a.customer_info, '{}'::jsonb) || $13::jsonb END " \
	"   WHERE a.client_id = $1 AND a.account_id = $3 " \
	"  RETURNING a.balance), " \
	"t AS (" \
	"  SELECT pg_catalog.sum(s.balance) AS after FROM topup.balance_slots s " \
	"   WHERE s.client_id = $1 AND s.currency = $2 AND s.book = 'master'), " \
	"l AS (" \
	"  INSERT INTO topup.ledger (order_id, client_id, book, account_id, currency, amount, balance_after) " \
	"  SELECT $7, $1, 'master', NULL, $2, - $6, t.after FROM t " \
	"  UNION ALL SELECT $7, $1, 'hold', NULL, $2, $6, NULL), " \
	"o AS (" \
	"  INSERT INTO topup.orders (order_id, order_type, status, topup_status, client_id, account_id, " \
	"         amount, fee, currency, master_balance_before, master_balance_after, " \
	"         idempotency_key, request_hash, reference, entry_type, channel, " \
	"         card_activated, created_at, attempts, hold_slot) " \
	"  SELECT $7, 'card_topup', 'processing', 'new', $1, $3, $4, $5, $2, t.after + $6, t.after, " \
	"         $8, $9, $10, $11, $12, $14, pg_catalog.now(), 0, $15 FROM t, c " \
	"  ON CONFLICT (client_id, order_type, idempotency_key) DO NOTHING " \
	"  RETURNING " TOPUP_ORDER_RESULT_COLUMNS ")" \
	events \
	" SELECT o.* FROM (SELECT 1) AS one LEFT JOIN o ON true"

#define FAIL_SQL(events) \
	"WITH o AS (" \
	"INSERT INTO topup.orders (order_id, order_type, status, topup_status, client_id, account_id, " \
	"       amount, currency, error_slug, error_message, idempotency_key, request_hash, reference, " \
	"       entry_type, channel, card_activated, created_at, failed_at) " \
	"VALUES ($1, 'card_topup', 'failed', 'failed', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, " \
	"        false, pg_catalog.now(), pg_catalog.now()) " \
	"ON CONFLICT (client_id, order_type, idempotency_key) DO NOTHING " \
	"RETURNING " TOPUP_ORDER_RESULT_COLUMNS ")" \
	events \
	" SELECT * FROM o"


static int
NumericCmp(Datum a, Datum b)
{
	return DatumGetInt32(DirectFunctionCall2(numeric_cmp, a, b));
}

/* Append a field of the request fingerprint; NULL differs from "". */
static void
AppendField(StringInfo buf, const char *value)
{
	if (value == NULL)
		appendStringInfoChar(buf, '\x01');
	else
		appendStringInfoString(buf, value);
	appendStringInfoChar(buf, '\0');
}

/*
 * The fingerprint compared on an idempotent retry: every parameter, with
 * the amount normalised (10 and 10.00 are the same request) and
 * customer_info in jsonb's canonical text.
 */
static void
TopupRequestHash(TopupRequest *req)
{
	StringInfoData buf;

	initStringInfo(&buf);
	AppendField(&buf, "card_topup");
	AppendField(&buf, req->account_id);
	AppendField(&buf, numeric_normalize(DatumGetNumeric(req->amount)));
	AppendField(&buf, req->currency);
	AppendField(&buf, req->activate ? "t" : "f");
	AppendField(&buf, req->customer_info ?
				DatumGetCString(DirectFunctionCall1(jsonb_out, req->customer_info)) : NULL);
	AppendField(&buf, req->entry_type);
	AppendField(&buf, req->channel);
	TopupHmac(buf.data, buf.len, req->request_hash);
	pfree(buf.data);
}

/* Store a failed top-up order and return it. */
static Datum
StoreTopupFailure(FunctionCallInfo fcinfo, TopupRequest *req, const char *slug,
				  const char *message, const char *currency)
{
	static SPIPlanPtr plans[2] = {NULL, NULL};
	Datum		v[12];
	char		n[12];
	char		reference[TOPUP_REFERENCE_LEN + 1];
	bool		lifecycle;
	int			rc;

	Oid			argtypes[12] = {INT8OID, TEXTOID, TEXTOID, NUMERICOID, TEXTOID, TEXTOID,
	TEXTOID, TEXTOID, BYTEAOID, TEXTOID, TEXTOID, TEXTOID};
	memset(n, ' ', sizeof(n));
	v[0] = Int64GetDatum(TopupNextOrderId());
	v[1] = CStringGetTextDatum(req->client_id);
	v[2] = CStringGetTextDatum(req->account_id);
	v[3] = req->amount;
	v[4] = currency ? CStringGetTextDatum(currency) : (Datum) 0;
	n[4] = currency ? ' ' : 'n';
	v[5] = CStringGetTextDatum(slug);
	v[6] = CStringGetTextDatum(message);
	v[7] = CStringGetTextDatum(req->key);
	v[8] = PointerGetDatum(TopupByteaFrom(req->request_hash, TOPUP_HASH_LEN));
	TopupNewReference(reference);
	v[9] = CStringGetTextDatum(reference);
	v[10] = CStringGetTextDatum(req->entry_type);
	v[11] = req->channel ? CStringGetTextDatum(req->channel) : (Datum) 0;
	n[11] = req->channel ? ' ' : 'n';

	lifecycle = TopupHasLifecycle();
	rc = SPI_execute_plan(TopupPreparePlan(&plans[lifecycle],
										   lifecycle ? FAIL_SQL(TOPUP_ORDER_EVENTS_CTE) : FAIL_SQL(""),
										   12, argtypes), v, n, false, 0);
	TopupSPICheck(rc, SPI_OK_SELECT, "storing a failed top-up");
	return TopupNewOrderResult(fcinfo);
}

/*
 * Why the pricing rule of the read row cannot price an order (a missing or
 * misconfigured rule), or NULL.  set_pricing never stores a bad rule, but
 * the table may be edited, or the currency's minor units changed, later.
 */
static const char *
PricingProblem(HeapTuple row, TupleDesc desc, int minor)
{
	bool		isnull;
	Datum		zero = DirectFunctionCall1(int4_numeric, Int32GetDatum(0));
	Datum		hundred = DirectFunctionCall1(int4_numeric, Int32GetDatum(100));
	Datum		min,
				max,
				fixed,
				percent;
	bool		ok;

	if (!DatumGetBool(SPI_getbinval(row, desc, C_HAS_RULE, &isnull)))
		return "no pricing rule for this client and currency";
	min = SPI_getbinval(row, desc, C_MIN, &isnull);
	max = SPI_getbinval(row, desc, C_MAX, &isnull);
	fixed = SPI_getbinval(row, desc, C_FEE_FIXED, &isnull);
	percent = SPI_getbinval(row, desc, C_FEE_PERCENT, &isnull);

	if (NumericCmp(min, zero) <= 0 || NumericCmp(min, max) > 0)
		return "the pricing rule's amount limits are inconsistent";
	if (NumericCmp(fixed, zero) < 0 || NumericCmp(percent, zero) < 0 || NumericCmp(percent, hundred) > 0)
		return "the pricing rule's fee is out of range";
	(void) TopupCheckAmount(min, minor, &ok);
	if (ok)
		(void) TopupCheckAmount(max, minor, &ok);
	if (ok && NumericCmp(fixed, zero) > 0)
		(void) TopupCheckAmount(fixed, minor, &ok);
	if (!ok)
		return "the pricing rule has more decimals than the currency allows";
	return NULL;
}

/*
 * Run a fast-path write (attempt 0 or 1) in a subtransaction; true when it
 * debited a slot (the subtransaction is kept, SPI_tuptable holds the row).
 * When it did not, the subtransaction is rolled back: a slot the write
 * locked but could not use (a FOR UPDATE or UPDATE recheck that failed on
 * a row changed since the snapshot keeps its lock) must not stay locked
 * while this transaction goes on to wait for other slots, or it could wait
 * in a cycle with the slow path of another top-up, which locks every slot
 * in slot order.
 */
static bool
TryWrite(SPIPlanPtr plan, Datum *args)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	bool		done = false;
	bool		isnull;
	int			rc;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);
	PG_TRY();
	{
		rc = SPI_execute_plan(plan, args, NULL, false, 0);
		TopupSPICheck(rc, SPI_OK_SELECT, "top-up");
		done = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) == 1;
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
		ReThrowError(edata);
	}
	PG_END_TRY();

	if (done)
		ReleaseCurrentSubTransaction();
	else
		RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(oldcontext);
	CurrentResourceOwner = oldowner;
	return done;
}

static Datum
TopupCard(FunctionCallInfo fcinfo, TopupRequest *req)
{
	static SPIPlanPtr read_plans[3];
	int			read;
	static SPIPlanPtr debit_plans[2] = {NULL, NULL};
	static SPIPlanPtr record_plans[5];
	static const char *const record_sqls[5] = {
		RECORD_SQL(""),			/* before 0.5.0 */
		RECORD_SQL(RECORD_EVENTS_SQL),
		RECORD_SQL(RECORD_EVENTS_LOW_SQL),
		RECORD_HOLD_SQL(RECORD_EVENTS_SQL),
		RECORD_HOLD_SQL(RECORD_EVENTS_LOW_SQL)
	};
	int			record;
	bool		low;
	bool		lifecycle;
	static Oid	debit_types[6] = {TEXTOID, TEXTOID, NUMERICOID, NUMERICOID, INT4OID, TEXTOID};
	static Oid	record_types[15] = {TEXTOID, TEXTOID, TEXTOID, NUMERICOID, NUMERICOID, NUMERICOID,
		INT8OID, TEXTOID, BYTEAOID, TEXTOID, TEXTOID, TEXTOID, JSONBOID, BOOLOID, INT2OID};
	Datum		debit_args[6];
	bool		provider;
	HeapTuple	row;
	TupleDesc	desc;
	Datum		args[15];
	char		nulls[15];
	uint8		first_slot;
	bool		isnull;
	int			rc;
	char	   *card_currency;
	char	   *status;
	int			minor;
	bool		ok;
	Datum		fee;
	Datum		total;
	const char *problem;
	char		reference[TOPUP_REFERENCE_LEN + 1];
	int			attempt;
	bool		done;
	uint8		start;

	if (TopupFindIdempotent(req->client_id, "card_topup", req->key, req->request_hash, &row, &desc))
		return TopupOrderResult(fcinfo, row, desc, 1, true);

	/* the card, locked first (lock order: card, master slots, fee slot) */
	args[0] = CStringGetTextDatum(req->client_id);
	args[1] = CStringGetTextDatum(req->account_id);
	args[2] = req->channel ? CStringGetTextDatum(req->channel) : (Datum) 0;
	lifecycle = TopupHasLifecycle();
	read = !lifecycle ? 0 : req->channel ? 2 : 1;
	rc = SPI_execute_plan(TopupPreparePlan(&read_plans[read], read_sqls[read],
										   3, (Oid[]) {TEXTOID, TEXTOID, TEXTOID}),
						  args, req->channel ? NULL : "  n", false, 1);
	TopupSPICheck(rc, SPI_OK_SELECT, "card look-up");

	if (SPI_processed == 0 ||
		strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, C_KIND), "card") != 0)
	{
		/* decimals can only be judged against a currency that was given */
		if (req->currency != NULL)
		{
			int			m = TopupCurrencyMinorUnits(req->currency);

			if (m >= 0)
			{
				(void) TopupCheckAmount(req->amount, m, &ok);
				if (!ok)
					ereport(ERROR,
							(errcode(ERRCODE_TOPUP_INVALID_AMOUNT),
							 errmsg("invalid amount"),
							 errdetail("An amount has at most %d decimal places in %s.", m, req->currency)));
			}
		}
		return StoreTopupFailure(fcinfo, req, "card_not_found", "no such card", req->currency);
	}
	row = SPI_copytuple(SPI_tuptable->vals[0]);
	desc = SPI_tuptable->tupdesc;
	card_currency = SPI_getvalue(row, desc, C_CURRENCY);
	status = SPI_getvalue(row, desc, C_STATUS);
	/* a provider channel of the client makes the top-up provider-backed */
	provider = DatumGetBool(SPI_getbinval(row, desc, C_PROVIDER, &isnull));
	/* a threshold of the client in the card's currency: the write may raise master.low */
	low = DatumGetBool(SPI_getbinval(row, desc, C_LOW, &isnull));
	minor = DatumGetInt32(SPI_getbinval(row, desc, C_MINOR, &isnull));

	/* a raised error: the amount has more decimals than its currency allows */
	{
		const char *cur = card_currency;
		int			m = minor;

		if (req->currency != NULL && strcmp(req->currency, card_currency) != 0)
		{
			m = TopupCurrencyMinorUnits(req->currency);
			cur = req->currency;
		}
		if (m >= 0)
		{
			Datum		normalized = TopupCheckAmount(req->amount, m, &ok);

			if (!ok)
				ereport(ERROR,
						(errcode(ERRCODE_TOPUP_INVALID_AMOUNT),
						 errmsg("invalid amount"),
						 errdetail("An amount has at most %d decimal places in %s.", m, cur)));
			req->amount = normalized;
		}
	}

	/* stored failures, in the contract's order */
	if (req->currency != NULL && strcmp(req->currency, card_currency) != 0)
		return StoreTopupFailure(fcinfo, req, "currency_mismatch",
								 psprintf("the card is in %s, not %s", card_currency, req->currency),
								 req->currency);
	if (!(strcmp(status, "active") == 0 ||
		  (strcmp(status, "inactive") == 0 && req->activate)))
		return StoreTopupFailure(fcinfo, req, "card_not_active",
								 psprintf("the card is %s", status), card_currency);
	problem = PricingProblem(row, desc, minor);
	if (problem != NULL)
		return StoreTopupFailure(fcinfo, req, "invalid_pricing", problem, card_currency);
	if (NumericCmp(req->amount, SPI_getbinval(row, desc, C_MIN, &isnull)) < 0)
		return StoreTopupFailure(fcinfo, req, "amount_below_minimum",
								 psprintf("the minimum top-up is %s %s",
										  SPI_getvalue(row, desc, C_MIN), card_currency),
								 card_currency);
	if (NumericCmp(req->amount, SPI_getbinval(row, desc, C_MAX, &isnull)) > 0)
		return StoreTopupFailure(fcinfo, req, "amount_above_maximum",
								 psprintf("the maximum top-up is %s %s",
										  SPI_getvalue(row, desc, C_MAX), card_currency),
								 card_currency);

	/* fee = fee_fixed + fee_percent / 100 * amount, half up to minor units */
	fee = DirectFunctionCall2(numeric_div, SPI_getbinval(row, desc, C_FEE_PERCENT, &isnull),
							  DirectFunctionCall1(int4_numeric, Int32GetDatum(100)));
	fee = DirectFunctionCall2(numeric_mul, fee, req->amount);
	fee = DirectFunctionCall2(numeric_add, SPI_getbinval(row, desc, C_FEE_FIXED, &isnull), fee);
	fee = DirectFunctionCall2(numeric_round, fee, Int32GetDatum(minor));
	total = DirectFunctionCall2(numeric_add, req->amount, fee);

	/* write: fast path, then (if no free slot covers it) the slow path */
	(void) TopupPreparePlan(&debit_plans[0], DEBIT_SQL("FOR UPDATE SKIP LOCKED"), 6, debit_types);
	(void) TopupPreparePlan(&debit_plans[1], DEBIT_SQL(""), 6, debit_types);
	memset(nulls, ' ', sizeof(nulls));
	args[0] = CStringGetTextDatum(req->client_id);
	args[1] = CStringGetTextDatum(card_currency);
	args[2] = CStringGetTextDatum(req->account_id);
	args[3] = req->amount;
	args[4] = fee;
	args[5] = total;
	TopupRandomBytes(&start, 1);
	first_slot = start % TOPUP_SLOTS;
	args[6] = Int64GetDatum(TopupNextOrderId());
	args[7] = CStringGetTextDatum(req->key);
	args[8] = PointerGetDatum(TopupByteaFrom(req->request_hash, TOPUP_HASH_LEN));
	TopupNewReference(reference);
	args[9] = CStringGetTextDatum(reference);
	args[10] = CStringGetTextDatum(req->entry_type);
	args[11] = req->channel ? CStringGetTextDatum(req->channel) : (Datum) 0;
	nulls[11] = req->channel ? ' ' : 'n';
	args[12] = req->customer_info;
	nulls[12] = req->customer_info ? ' ' : 'n';
	args[13] = BoolGetDatum(strcmp(status, "inactive") == 0);
	debit_args[0] = args[0];
	debit_args[1] = args[1];
	debit_args[2] = total;
	/* an instant top-up credits the fee slot, a provider-backed one holds the total */
	debit_args[3] = provider ? total : fee;
	debit_args[4] = Int32GetDatum(first_slot);
	debit_args[5] = CStringGetTextDatum(provider ? "hold" : "fee");

	/*
	 * Attempt 0 takes a free slot that covers the charge; attempt 1 waits
	 * for a busy one that did; attempt 2 runs after the slow path has locked
	 * every slot and put the charge on the slot tried first.
	 */
	for (attempt = 0; attempt < 3; attempt++)
	{
		if (attempt == 2 &&
			!TopupMasterSlowPath(args[0], args[1], total, minor,
								 (TOPUP_SLOTS - start % TOPUP_SLOTS) % TOPUP_SLOTS))
			return StoreTopupFailure(fcinfo, req, "insufficient_funds",
									 "the master balance cannot cover amount and fee", card_currency);

		if (attempt < 2)
			done = TryWrite(debit_plans[attempt], debit_args);
		else
		{
			rc = SPI_execute_plan(debit_plans[0], debit_args, NULL, false, 0);
			TopupSPICheck(rc, SPI_OK_SELECT, "top-up");
			done = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) == 1;
		}
		if (done)
		{
			/* the fee and hold slots exist with the master slots: a positive credit always lands */
			if (DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)) !=
				(TopupNumericSign(debit_args[3]) > 0 ? 1 : 0))
				elog(ERROR, "topup: the %s was not credited", provider ? "hold" : "fee");
			args[14] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);
			/* instant before 0.5.0, instant, provider-backed */
			record = !lifecycle ? 0 : provider ? 3 + low : 1 + low;
			rc = SPI_execute_plan(TopupPreparePlan(&record_plans[record], record_sqls[record],
												   provider ? 15 : 14, record_types),
								  args, nulls, false, 0);
			TopupSPICheck(rc, SPI_OK_SELECT, "top-up");
			(void) SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
			if (isnull)
				elog(ERROR, "topup: top-up order was not written");
			TopupEventsWritten();
			if (provider)
				TopupOrdersClaimable(req->channel);
			return TopupOrderResult(fcinfo, SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, false);
		}
	}
	elog(ERROR, "topup: master debit failed after rebalancing");
	return (Datum) 0;			/* keep compiler quiet */
}

/*
 * topup.topup_card(account_id, amount, idempotency_key, currency, activate,
 *					customer_info, entry_type, channel, client_id)
 */
Datum
topup_topup_card(PG_FUNCTION_ARGS)
{
	TopupRequest req;
	Datum		result;
	int			saved;
	Numeric		num;

	memset(&req, 0, sizeof(req));
	req.account_id = TopupTextArg(fcinfo, 0);
	req.key = TopupTextArg(fcinfo, 2);
	req.currency = TopupTextArg(fcinfo, 3);
	req.entry_type = TopupTextArg(fcinfo, 6);
	req.channel = TopupTextArg(fcinfo, 7);
	req.client_id = TopupTextArg(fcinfo, 8);

	/* raised errors: nothing is stored, the caller corrects and retries */
	if (req.key == NULL || req.key[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_TOPUP_IDEMPOTENCY_KEY_REQUIRED),
				 errmsg("an idempotency key is required"),
				 errhint("Send a unique key per top-up, e.g. your order number.")));
	if (strlen(req.key) > 255)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("idempotency_key must have 1 to 255 characters")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_TOPUP_INVALID_AMOUNT),
				 errmsg("invalid amount"),
				 errdetail("The amount is missing.")));
	req.amount = PG_GETARG_DATUM(1);
	num = DatumGetNumeric(req.amount);
	if (numeric_is_nan(num) ||
#if PG_VERSION_NUM >= 140000
		numeric_is_inf(num) ||
#endif
		TopupNumericSign(req.amount) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_TOPUP_INVALID_AMOUNT),
				 errmsg("invalid amount"),
				 errdetail("The amount must be a positive number.")));
	if (req.entry_type == NULL || strlen(req.entry_type) != 1 ||
		strchr("BKMP", req.entry_type[0]) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_TOPUP_INVALID_ENTRY_TYPE),
				 errmsg("invalid entry type"),
				 errdetail("The entry type is B (barcode), K (keyed), M (magnetic stripe) or P (proximity).")));
	if (!PG_ARGISNULL(5))
		req.customer_info = TopupValidateCustomerInfo(PG_GETARG_DATUM(5));
	if (PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("activate must not be null")));
	req.activate = PG_GETARG_BOOL(4);
	if (req.account_id == NULL || req.account_id[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("account_id must not be null or empty")));
	if (req.client_id == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("client_id must not be null")));
	TopupRequestHash(&req);

	saved = TopupEnterInternal();
	PG_TRY();
	{
		SPI_connect();
		TopupRequireClient(fcinfo, req.client_id);
		result = TopupCard(fcinfo, &req);
		SPI_finish();
	}
	PG_FINALLY();
	{
		TopupLeaveInternal(saved);
	}
	PG_END_TRY();
	PG_RETURN_DATUM(result);
}

/* Run an order look-up; order_not_found when it finds nothing. */
static Datum
CheckOrder(FunctionCallInfo fcinfo, const char *sql, int nargs, Oid *argtypes, Datum *args)
{
	Datum		result;
	int			rc;

	SPI_connect();
	/* the client is the last argument */
	TopupRequireClient(fcinfo, TextDatumGetCString(args[nargs - 1]));
	rc = SPI_execute_with_args(sql, nargs, argtypes, args, NULL, false, 1);
	TopupSPICheck(rc, SPI_OK_SELECT, "order look-up");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_TOPUP_ORDER_NOT_FOUND),
				 errmsg("order not found")));
	result = TopupOrderResult(fcinfo, SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, false);
	SPI_finish();
	return result;
}

/* topup.check_order(order_id bigint, client_id text) */
Datum
topup_check_order_by_id(PG_FUNCTION_ARGS)
{
	Datum		args[2];

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_TOPUP_ORDER_NOT_FOUND),
				 errmsg("order not found")));
	args[0] = PG_GETARG_DATUM(0);
	args[1] = PG_GETARG_DATUM(1);
	PG_RETURN_DATUM(CheckOrder(fcinfo,
							   "SELECT " TOPUP_ORDER_RESULT_COLUMNS " FROM topup.orders "
							   " WHERE order_id = $1 AND client_id = $2",
							   2, (Oid[]) {INT8OID, TEXTOID}, args));
}

/* topup.check_order(idempotency_key text, order_type text, client_id text) */
Datum
topup_check_order_by_key(PG_FUNCTION_ARGS)
{
	Datum		args[3];
	char	   *order_type = TopupTextArg(fcinfo, 1);

	if (order_type == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("order_type must not be null")));
	if (strcmp(order_type, "card_topup") != 0 && strcmp(order_type, "voucher_redeem") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid order type \"%s\"", order_type),
				 errhint("The order type is \"card_topup\" or \"voucher_redeem\".")));
	if (PG_ARGISNULL(0) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_TOPUP_ORDER_NOT_FOUND),
				 errmsg("order not found")));
	args[0] = PG_GETARG_DATUM(0);
	args[1] = PG_GETARG_DATUM(1);
	args[2] = PG_GETARG_DATUM(2);
	PG_RETURN_DATUM(CheckOrder(fcinfo,
							   "SELECT " TOPUP_ORDER_RESULT_COLUMNS " FROM topup.orders "
							   " WHERE idempotency_key = $1 AND order_type = $2 AND client_id = $3",
							   3, (Oid[]) {TEXTOID, TEXTOID, TEXTOID}, args));
}

/*
 * The CardTopupOrder document; data gains the lifecycle's attempts,
 * provider_reference and reverses_order_id from 0.5.0 (lifecycle: those
 * members, each after a comma, or "").
 */
#define ORDER_JSON_SQL(lifecycle) \
	"WITH iso(f) AS (SELECT 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') " \
	"SELECT pg_catalog.jsonb_build_object(" \
	" 'order_id', o.order_id::text, " \
	" 'order_type', o.order_type, " \
	" 'status', o.status::text, " \
	" 'card_id', o.account_id, " \
	" 'balance_before', o.master_balance_before::text, " \
	" 'balance_after', o.master_balance_after::text, " \
	" 'last_error', o.error_message, " \
	" 'last_error_slug', o.error_slug, " \
	" 'data', pg_catalog.jsonb_build_object(" \
	"      'amount', o.amount::text, 'fee', o.fee::text, 'currency', o.currency, " \
	"      'entry_type', o.entry_type, 'channel', o.channel, 'reference', o.reference" lifecycle "), " \
	" 'created_at', pg_catalog.to_char(o.created_at AT TIME ZONE 'UTC', iso.f), " \
	" 'completed_at', pg_catalog.to_char(o.completed_at AT TIME ZONE 'UTC', iso.f), " \
	" 'failed_at', pg_catalog.to_char(o.failed_at AT TIME ZONE 'UTC', iso.f), " \
	" 'topup_status', o.topup_status::text) " \
	"  FROM topup.orders o, iso " \
	" WHERE o.order_id = $1 AND o.client_id = $2"
#define ORDER_JSON_LIFECYCLE \
	", 'attempts', o.attempts, 'provider_reference', o.provider_reference, " \
	"'reverses_order_id', o.reverses_order_id::text"

/*
 * topup.order_json(order_id, client_id): the CardTopupOrder document.
 * Amounts and balances are decimal strings, times ISO 8601 in UTC, and
 * absent values JSON null.
 */
Datum
topup_order_json(PG_FUNCTION_ARGS)
{
	Datum		args[2];
	Datum		result;
	bool		isnull;
	int			rc;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_TOPUP_ORDER_NOT_FOUND),
				 errmsg("order not found")));
	args[0] = PG_GETARG_DATUM(0);
	args[1] = PG_GETARG_DATUM(1);

	SPI_connect();
	TopupRequireClient(fcinfo, TextDatumGetCString(args[1]));
	rc = SPI_execute_with_args(TopupHasLifecycle() ? ORDER_JSON_SQL(ORDER_JSON_LIFECYCLE) : ORDER_JSON_SQL(""),
							   2, (Oid[]) {INT8OID, TEXTOID}, args, NULL, false, 1);
	TopupSPICheck(rc, SPI_OK_SELECT, "order look-up");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_TOPUP_ORDER_NOT_FOUND),
				 errmsg("order not found")));
	result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	result = SPI_datumTransfer(result, false, -1);
	SPI_finish();
	PG_RETURN_DATUM(result);
}
