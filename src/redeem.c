/*-------------------------------------------------------------------------
 *
 * redeem.c
 *	  Voucher redeem: redeem_voucher (by PIN, with the brute-force lockout)
 *	  and redeem_voucher_by_serial (the admin path).
 *
 *	  A redeem reads what its checks need through the indexes (recent failed
 *	  attempts, the account, the voucher) and, when every check passes,
 *	  writes its five rows through the table access method (rowops.c): the
 *	  voucher activated, the account credited, two ledger entries, the
 *	  completed order.  No query plan runs on that path.  When a check
 *	  fails, the same facts name the failure (RedeemRefusal, in the order
 *	  of the contract) and a failed order is stored, which an idempotent
 *	  retry replays: business failures never raise.
 *
 *	  Concurrency follows the executor: the voucher is updated only in the
 *	  version that was read; if a concurrent transaction changed it, its
 *	  newest version is locked and checked again (EvalPlanQual under READ
 *	  COMMITTED, a serialization failure under REPEATABLE READ), so of two
 *	  redeems of one PIN exactly one activates it and the other is told
 *	  voucher_already_redeemed.  The account, which concurrent redeems
 *	  credit all the time, is handled the same way.
 *
 *	  Only where an administrator altered one of the four tables (a
 *	  trigger, a CHECK constraint, a default, row-level security: see
 *	  RowTableAsMade) does the redeem run as SQL instead: one statement that
 *	  writes everything if every check passes, and, if it wrote nothing, one
 *	  that reads the same facts to name the failure.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/xact.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "access.h"
#include "crypto.h"
#include "events.h"
#include "guard.h"
#include "orders.h"
#include "rowops.h"
#include "schema.h"
#include "serial.h"
#include "topup.h"
#include "vouchers.h"

typedef enum RedeemBy
{
	REDEEM_BY_PIN,
	REDEEM_BY_SERIAL
} RedeemBy;

typedef struct RedeemRequest
{
	RedeemBy	by;
	char	   *client_id;
	char	   *account_id;		/* NULL when none was given */
	char	   *key;			/* idempotency key or NULL */
	char	   *source;			/* lockout source or NULL */
	bool		pin_ok;			/* the PIN is well formed */
	uint8		pin_hash[TOPUP_HASH_LEN];
	VoucherSerial serial;		/* REDEEM_BY_SERIAL */
	uint8		request_hash[TOPUP_HASH_LEN];
	/* set by Redeem() */
	int64		order_id;
	char		reference[TOPUP_REFERENCE_LEN + 1];
	TimestampTz lockout_since;	/* start of the lockout window */
	int			max_failed;		/* topup.max_failed_redeems; 0: no lockout */
} RedeemRequest;

/*
 * What the checks look at, gathered by either path.  Datums live in the
 * memory context of the redeem's caller.
 */
typedef struct RedeemFacts
{
	bool		client_exists;
	int			acct_failures;	/* recent invalid_pin failures, up to max_failed */
	int			src_failures;
	bool		account_found;
	bool		account_is_customer;
	AccountStatus account_status;
	char	   *account_currency;
	bool		voucher_found;
	VoucherStatus voucher_status;
	bool		expires_null;
	TimestampTz expires;
	Datum		serial;
	Datum		amount;
	Datum		currency;
} RedeemFacts;

/* A refusal: its slug and message, and whether the voucher goes into the order. */
typedef struct RedeemFailure
{
	const char *slug;
	const char *message;
	bool		with_voucher;
} RedeemFailure;

typedef enum RedeemOutcome
{
	REDEEM_DONE,				/* redeemed; the order_result is built */
	REDEEM_REFUSED,				/* a check failed; nothing written */
	REDEEM_USE_SQL				/* the tables were altered; nothing written */
} RedeemOutcome;

static Datum RedeemEntry(FunctionCallInfo fcinfo, RedeemRequest *req);
static Datum Redeem(FunctionCallInfo fcinfo, RedeemRequest *req);
static bool RedeemRefusal(const RedeemRequest *req, const RedeemFacts *f, RedeemFailure *failure);
static Datum StoreFailure(FunctionCallInfo fcinfo, const RedeemRequest *req, const RedeemFacts *f,
						  const RedeemFailure *failure);
static void RequestHash(RedeemRequest *req, const char *pin);
static Datum RedeemSQL(FunctionCallInfo fcinfo, RedeemRequest *req);

PG_FUNCTION_INFO_V1(topup_redeem_voucher);
PG_FUNCTION_INFO_V1(topup_redeem_voucher_by_serial);

/*
 * The failure the facts name, in the contract's order: an unknown client
 * raises; then the lockout, the account, the voucher's existence, its
 * status and expiry, its currency.  Returns false when nothing fails.
 */
static bool
RedeemRefusal(const RedeemRequest *req, const RedeemFacts *f, RedeemFailure *failure)
{
	failure->with_voucher = false;
	if (!f->client_exists)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("client \"%s\" does not exist", req->client_id)));
	if (req->max_failed > 0 &&
		(f->acct_failures >= req->max_failed || f->src_failures >= req->max_failed))
	{
		failure->slug = "too_many_attempts";
		failure->message = f->acct_failures >= req->max_failed ?
			"too many failed attempts for this account; try again later" :
			"too many failed attempts from this source; try again later";
		return true;
	}
	if (!f->account_found)
	{
		failure->slug = "account_not_found";
		failure->message = req->account_id ? "no such account" : "no account was given";
		return true;
	}
	if (!f->account_is_customer)
	{
		failure->slug = "account_not_found";
		failure->message = "the account is a prepaid card, not a customer account";
		return true;
	}
	if (f->account_status != AS_ACTIVE)
	{
		failure->slug = "account_not_active";
		failure->message = psprintf("the account is %s", topup_account_status_names[f->account_status]);
		return true;
	}
	if (!f->voucher_found || !req->pin_ok)
	{
		failure->slug = req->by == REDEEM_BY_PIN ? "invalid_pin" : "voucher_not_found";
		failure->message = req->by == REDEEM_BY_PIN ? "no voucher has this PIN" : "no voucher has this serial";
		return true;
	}
	failure->with_voucher = true;
	failure->slug = TopupVoucherRefusal(f->voucher_status, f->expires_null, f->expires,
										GetCurrentTransactionStartTimestamp(), &failure->message);
	if (failure->slug != NULL)
		return true;
	if (strcmp(TextDatumGetCString(f->currency), f->account_currency) != 0)
	{
		failure->slug = "currency_mismatch";
		failure->message = psprintf("the voucher is in %s but the account is in %s",
									TextDatumGetCString(f->currency), f->account_currency);
		return true;
	}
	return false;
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

/* A failed redeem order, and from 0.5.0 its event (events: TOPUP_ORDER_EVENTS_CTE). */
#define FAIL_SQL(on_conflict, events) \
	"WITH o AS (" \
	"INSERT INTO topup.orders (order_id, order_type, status, client_id, account_id, serial, " \
	"       amount, currency, error_slug, error_message, idempotency_key, request_hash, " \
	"       reference, source, created_at, failed_at) " \
	"VALUES ($1, 'voucher_redeem', 'failed', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, " \
	"        pg_catalog.now(), pg_catalog.now()) " on_conflict \
	"RETURNING " TOPUP_ORDER_RESULT_COLUMNS ")" events " SELECT * FROM o"

#define ON_KEY_CONFLICT " ON CONFLICT (client_id, order_type, idempotency_key) DO NOTHING "

/*
 * Store the failed order and return it.  The voucher's serial, amount and
 * currency go into it when the failure is about the voucher; a redeem by
 * serial always names the serial asked for.
 */
static Datum
StoreFailure(FunctionCallInfo fcinfo, const RedeemRequest *req, const RedeemFacts *f,
			 const RedeemFailure *failure)
{
	static SPIPlanPtr plans[2][2] = {{NULL, NULL}, {NULL, NULL}};
	bool		keyed = req->key != NULL;
	bool		lifecycle = TopupHasLifecycle();
	SPIPlanPtr	plan;
	Datum		v[12];
	char		n[12];
	int			rc;

	Oid			argtypes[12] = {INT8OID, TEXTOID, TEXTOID, TopupSerialTypeOid(),
		NUMERICOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, BYTEAOID, TEXTOID, TEXTOID};

	if (lifecycle)
		plan = TopupPreparePlan(&plans[1][keyed],
								keyed ? FAIL_SQL(ON_KEY_CONFLICT, TOPUP_ORDER_EVENTS_CTE) :
								FAIL_SQL("", TOPUP_ORDER_EVENTS_CTE),
								12, argtypes);
	else
		plan = TopupPreparePlan(&plans[0][keyed],
								keyed ? FAIL_SQL(ON_KEY_CONFLICT, "") : FAIL_SQL("", ""),
								12, argtypes);

	memset(n, ' ', sizeof(n));
	v[0] = Int64GetDatum(req->order_id);
	v[1] = CStringGetTextDatum(req->client_id);
	v[2] = req->account_id ? CStringGetTextDatum(req->account_id) : (Datum) 0;
	n[2] = req->account_id ? ' ' : 'n';
	if (failure->with_voucher)
	{
		v[3] = f->serial;
		v[4] = f->amount;
		v[5] = f->currency;
	}
	else
	{
		if (req->by == REDEEM_BY_SERIAL)
			v[3] = VoucherSerialPGetDatum(&req->serial);
		else
			n[3] = 'n';
		n[4] = n[5] = 'n';
	}
	v[6] = CStringGetTextDatum(failure->slug);
	v[7] = CStringGetTextDatum(failure->message);
	v[8] = keyed ? CStringGetTextDatum(req->key) : (Datum) 0;
	n[8] = keyed ? ' ' : 'n';
	v[9] = PointerGetDatum(TopupByteaFrom(req->request_hash, TOPUP_HASH_LEN));
	v[10] = CStringGetTextDatum(req->reference);
	v[11] = req->source ? CStringGetTextDatum(req->source) : (Datum) 0;
	n[11] = req->source ? ' ' : 'n';

	rc = SPI_execute_plan(plan, v, n, false, 0);
	TopupSPICheck(rc, SPI_OK_SELECT, "storing a failed order");
	return TopupNewOrderResult(fcinfo);
}

#ifdef TOPUP_ROW_WRITES

/* ---------------------------------------------------------------------------
 * The plan-free path
 * ---------------------------------------------------------------------------
 */

/* What the extension created; anything else sends redeems to SQL. */
static const char *const vouchers_triggers[] = {
	"vouchers_guard", "vouchers_truncate_guard", "vouchers_changed", "vouchers_deleted", NULL
};
static const char *const accounts_triggers[] = {
	"accounts_guard", "accounts_truncate_guard", "accounts_changed", NULL
};
static const char *const admin_policies[] = {"bound_admins", NULL};
static const char *const ledger_triggers[] = {"ledger_guard", "ledger_truncate_guard", NULL};
static const char *const orders_triggers[] = {"orders_guard", "orders_truncate_guard", NULL};
static const char *const no_checks[] = {NULL};
static const char *const accounts_checks[] = {
	"accounts_account_id_check", "accounts_balance_check", "accounts_kind_check", NULL
};
static const char *const ledger_checks[] = {
	"ledger_amount_check", "ledger_book_check", "ledger_check", "ledger_one_source", NULL
};
static const char *const orders_checks[] = {
	"orders_entry_type_check", "orders_idempotency_key_check", "orders_order_type_check", NULL
};
static const char *const events_triggers[] = {"events_guard", "events_truncate_guard", NULL};
static const char *const events_checks[] = {"events_kind_check", NULL};

/* The columns the inserts write; the others must be nullable without default. */
static const char *const ledger_written[] = {
	"entry_id", "order_id", "client_id", "book", "account_id", "currency", "amount",
	"balance_after", "created_at", NULL
};
static const char *const orders_written[] = {
	"order_id", "order_type", "status", "client_id", "account_id", "serial", "amount",
	"currency", "account_balance_after", "idempotency_key", "request_hash", "reference",
	"source", "created_at", "completed_at", NULL
};
static const char *const events_written[] = {
	"at", "client_id", "kind", "order_id", "serial", "account_id", "payload", NULL
};

/*
 * The values written satisfy the CHECK constraints named here by
 * construction: a positive amount, a known book and order type, a key of 1
 * to 255 characters, an account only on the account book.  The redeem
 * changes no key column of accounts, so its foreign-key checks do not run.
 */
static const RowTableShape vouchers_shape = {vouchers_triggers, false, no_checks, NULL, admin_policies};
static const RowTableShape accounts_shape = {accounts_triggers, true, accounts_checks, NULL, admin_policies};
static const RowTableShape ledger_shape = {ledger_triggers, false, ledger_checks, ledger_written, NULL};
static const RowTableShape orders_shape = {orders_triggers, false, orders_checks, orders_written, NULL};
static const RowTableShape events_shape = {events_triggers, false, events_checks, events_written, NULL};

/* The columns each update changes. */
static const char *const voucher_updated[] = {"status", "activated_at", "activated_by", "order_id", NULL};
static const char *const account_updated[] = {"balance", NULL};

static IndexRef idx_v_pin = {"vouchers_pin_hash_key", InvalidOid};
static IndexRef idx_v_pkey = {"vouchers_pkey", InvalidOid};
static IndexRef idx_a_pkey = {"accounts_pkey", InvalidOid};
static IndexRef idx_c_pkey = {"clients_pkey", InvalidOid};
static IndexRef idx_o_key = {"orders_client_id_order_type_idempotency_key_key", InvalidOid};
static IndexRef idx_o_fail_acct = {"orders_failed_pin_account_idx", InvalidOid};
static IndexRef idx_o_fail_src = {"orders_failed_pin_source_idx", InvalidOid};

typedef struct RedeemTables
{
	RowWriter	w;
	RowTable	vouchers;
	RowTable	accounts;
	RowTable	ledger;
	RowTable	orders;
	RowTable	events;			/* not opened before 0.5.0 */
} RedeemTables;

#define COL(t, name)	((t)->slot->tts_values[RowColumn((t)->rel, (name))])
#define ISNULL(t, name)	((t)->slot->tts_isnull[RowColumn((t)->rel, (name))])

/* Recent invalid_pin failures of (client, second) since the window's start, up to the limit. */
static int
RecentFailures(RedeemTables *rt, IndexRef *ref, Datum client_id, Datum second,
			   TimestampTz since, int limit)
{
	Relation	index = index_open(RowIndexOid(rt->orders.rel, ref), AccessShareLock);
	ScanKeyData keys[3];

	RowIndexKey(&keys[0], index, 1, BTEqualStrategyNumber, client_id);
	RowIndexKey(&keys[1], index, 2, BTEqualStrategyNumber, second);
	RowIndexKey(&keys[2], index, 3, BTGreaterStrategyNumber, TimestampTzGetDatum(since));
	index_close(index, NoLock);
	return RowCount(&rt->w, &rt->orders, ref, keys, 3, limit);
}

/* The facts of the voucher in rt->vouchers.slot, copied into the caller's context. */
static void
VoucherFacts(RedeemTables *rt, RedeemFacts *f)
{
	RowTable   *v = &rt->vouchers;
	MemoryContext old = MemoryContextSwitchTo(rt->w.caller);

	f->voucher_found = true;
	f->voucher_status = TopupVoucherStatusOf(COL(v, "status"));
	f->expires_null = ISNULL(v, "expires_at");
	f->expires = f->expires_null ? 0 : DatumGetTimestampTz(COL(v, "expires_at"));
	f->serial = datumCopy(COL(v, "serial"), false, sizeof(VoucherSerial));
	f->amount = datumCopy(COL(v, "amount"), false, -1);
	f->currency = datumCopy(COL(v, "currency"), false, -1);
	MemoryContextSwitchTo(old);
}

/* The facts of the account in rt->accounts.slot. */
static void
AccountFacts(RedeemTables *rt, RedeemFacts *f)
{
	RowTable   *a = &rt->accounts;

	f->account_found = true;
	f->account_is_customer = strcmp(TextDatumGetCString(COL(a, "kind")), "customer") == 0;
	f->account_status = TopupAccountStatusOf(COL(a, "status"));
	f->account_currency = MemoryContextStrdup(rt->w.caller, TextDatumGetCString(COL(a, "currency")));
}

/*
 * Under REPEATABLE READ a key stored by a concurrent call that committed
 * after this transaction's snapshot is invisible to it, yet the call held
 * the key's lock first: as INSERT ... ON CONFLICT would, that is a
 * serialization failure, never a second order.
 */
static void
CheckKeyNotTakenConcurrently(RedeemTables *rt, const RedeemRequest *req, Datum client_id)
{
	Relation	index;
	ScanKeyData keys[3];
	IndexScanDesc scan;
	bool		taken;
	Snapshot	latest = RegisterSnapshot(GetLatestSnapshot());

	index = index_open(RowIndexOid(rt->orders.rel, &idx_o_key), AccessShareLock);
	RowIndexKey(&keys[0], index, 1, BTEqualStrategyNumber, client_id);
	RowIndexKey(&keys[1], index, 2, BTEqualStrategyNumber, CStringGetTextDatum("voucher_redeem"));
	RowIndexKey(&keys[2], index, 3, BTEqualStrategyNumber, CStringGetTextDatum(req->key));
	scan = index_beginscan(rt->orders.rel, index, latest, 3, 0);
	index_rescan(scan, keys, 3, NULL, 0);
	taken = index_getnext_slot(scan, ForwardScanDirection, rt->orders.slot);
	index_endscan(scan);
	index_close(index, NoLock);
	ExecClearTuple(rt->orders.slot);
	UnregisterSnapshot(latest);
	if (taken)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access due to a concurrent request with the same idempotency key")));
}

static void
SerializationFailure(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("could not serialize access due to concurrent update")));
}

/*
 * Activate the voucher read into rt->vouchers.slot.  A concurrent change
 * of it is waited for; then its newest version is locked and checked again,
 * and the update retried while it is still redeemable.  Returns false with
 * *failure set when it no longer is (nothing written).
 */
static bool
ActivateVoucher(RedeemTables *rt, const RedeemRequest *req, RedeemFacts *f, Datum account_id,
				TimestampTz now, RedeemFailure *failure)
{
	const TopupSchema *s = TopupGetSchema();

	for (;;)
	{
		TM_Result	result;

		result = RowUpdate(&rt->w, &rt->vouchers,
						   RowModified(rt->vouchers.rel, rt->vouchers.slot, voucher_updated,
									   (Datum[]) {ObjectIdGetDatum(s->voucher_status[VS_ACTIVATED]),
										   TimestampTzGetDatum(now), account_id,
									   Int64GetDatum(req->order_id)}),
						   voucher_updated, true);
		if (result == TM_Ok)
			return true;
		if ((result != TM_Updated && result != TM_Deleted) || IsolationUsesXactSnapshot())
			SerializationFailure();
		if (result == TM_Updated)
			result = RowLockNewest(&rt->w, &rt->vouchers);
		if (result == TM_Ok)
			VoucherFacts(rt, f);
		else if (result == TM_Deleted)
			f->voucher_found = false;	/* deleted meanwhile: no such voucher now */
		else
			SerializationFailure();
		if (RedeemRefusal(req, f, failure))
			return false;
	}
}

/*
 * Credit the account at its newest version: a concurrent credit committed
 * since it was read is waited for, its version locked and checked again.
 * The voucher is already written, so a change that makes the account
 * unusable is a serialization failure (the retry names it).
 */
static Datum
CreditAccount(RedeemTables *rt, const RedeemRequest *req, Datum amount, Datum currency)
{
	RowTable   *a = &rt->accounts;

	for (;;)
	{
		Datum		balance = DirectFunctionCall2(numeric_add, COL(a, "balance"), amount);
		TM_Result	result;
		RedeemFacts f;

		result = RowUpdate(&rt->w, a, RowModified(a->rel, a->slot, account_updated, &balance),
						   account_updated, true);
		if (result == TM_Ok)
			return balance;
		if (result != TM_Updated || IsolationUsesXactSnapshot() ||
			RowLockNewest(&rt->w, a) != TM_Ok)
			SerializationFailure();
		memset(&f, 0, sizeof(f));
		AccountFacts(rt, &f);
		if (!f.account_is_customer || f.account_status != AS_ACTIVE ||
			!DatumGetBool(DirectFunctionCall2Coll(texteq, DEFAULT_COLLATION_OID, COL(a, "currency"), currency)))
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize access due to a concurrent change of account \"%s\"",
							req->account_id),
					 errhint("Retry the redeem.")));
	}
}

/* The two ledger entries: the account's credit, the voucher float's debit. */
static void
WriteLedger(RedeemTables *rt, const RedeemRequest *req, Datum client_id, Datum account_id,
			Datum amount, Datum currency, Datum balance, TimestampTz now)
{
	Relation	rel = rt->ledger.rel;
	int			natts = RelationGetDescr(rel)->natts;
	Datum	   *v = palloc0(natts * sizeof(Datum));
	bool	   *n = palloc(natts * sizeof(bool));
	Oid			seq = TopupGetSchema()->ledger_entry_seq;
	int			i;

	memset(n, true, natts * sizeof(bool));
	for (i = 0; ledger_written[i]; i++)
		n[RowColumn(rel, ledger_written[i])] = false;
	v[RowColumn(rel, "entry_id")] = Int64GetDatum(nextval_internal(seq, false));
	v[RowColumn(rel, "order_id")] = Int64GetDatum(req->order_id);
	v[RowColumn(rel, "client_id")] = client_id;
	v[RowColumn(rel, "book")] = CStringGetTextDatum("account");
	v[RowColumn(rel, "account_id")] = account_id;
	v[RowColumn(rel, "currency")] = currency;
	v[RowColumn(rel, "amount")] = amount;
	v[RowColumn(rel, "balance_after")] = balance;
	v[RowColumn(rel, "created_at")] = TimestampTzGetDatum(now);
	RowInsert(&rt->w, &rt->ledger, v, n);

	v[RowColumn(rel, "entry_id")] = Int64GetDatum(nextval_internal(seq, false));
	v[RowColumn(rel, "book")] = CStringGetTextDatum("voucher_float");
	n[RowColumn(rel, "account_id")] = true;
	v[RowColumn(rel, "amount")] = DirectFunctionCall1(numeric_uminus, amount);
	n[RowColumn(rel, "balance_after")] = true;
	RowInsert(&rt->w, &rt->ledger, v, n);
}

/* The completed order. */
static void
WriteOrder(RedeemTables *rt, const RedeemRequest *req, Datum client_id, Datum account_id,
		   Datum serial, Datum amount, Datum currency, Datum balance, TimestampTz now)
{
	Relation	rel = rt->orders.rel;
	int			natts = RelationGetDescr(rel)->natts;
	Datum	   *v = palloc0(natts * sizeof(Datum));
	bool	   *n = palloc(natts * sizeof(bool));
	int			i;

	memset(n, true, natts * sizeof(bool));
	for (i = 0; orders_written[i]; i++)
		n[RowColumn(rel, orders_written[i])] = false;
	v[RowColumn(rel, "order_id")] = Int64GetDatum(req->order_id);
	v[RowColumn(rel, "order_type")] = CStringGetTextDatum("voucher_redeem");
	v[RowColumn(rel, "status")] = ObjectIdGetDatum(TopupGetSchema()->order_status[OS_COMPLETED]);
	v[RowColumn(rel, "client_id")] = client_id;
	v[RowColumn(rel, "account_id")] = account_id;
	v[RowColumn(rel, "serial")] = serial;
	v[RowColumn(rel, "amount")] = amount;
	v[RowColumn(rel, "currency")] = currency;
	v[RowColumn(rel, "account_balance_after")] = balance;
	if (req->key != NULL)
		v[RowColumn(rel, "idempotency_key")] = CStringGetTextDatum(req->key);
	else
		n[RowColumn(rel, "idempotency_key")] = true;
	v[RowColumn(rel, "request_hash")] = PointerGetDatum(TopupByteaFrom(req->request_hash, TOPUP_HASH_LEN));
	v[RowColumn(rel, "reference")] = CStringGetTextDatum(req->reference);
	if (req->source != NULL)
		v[RowColumn(rel, "source")] = CStringGetTextDatum(req->source);
	else
		n[RowColumn(rel, "source")] = true;
	v[RowColumn(rel, "created_at")] = TimestampTzGetDatum(now);
	v[RowColumn(rel, "completed_at")] = TimestampTzGetDatum(now);
	RowInsert(&rt->w, &rt->orders, v, n);
}

/*
 * The order.completed event, as TOPUP_ORDER_EVENTS_SQL writes it: not yet
 * numbered (events_since publishes it once this transaction committed).
 */
static void
WriteEvent(RedeemTables *rt, const RedeemRequest *req, Datum client_id, Datum account_id,
		   Datum serial, Datum amount, Datum currency, TimestampTz now)
{
	Relation	rel = rt->events.rel;
	int			natts = RelationGetDescr(rel)->natts;
	Datum	   *v = palloc0(natts * sizeof(Datum));
	bool	   *n = palloc(natts * sizeof(bool));
	int			i;

	memset(n, true, natts * sizeof(bool));
	for (i = 0; events_written[i]; i++)
		n[RowColumn(rel, events_written[i])] = false;
	v[RowColumn(rel, "at")] = TimestampTzGetDatum(now);
	v[RowColumn(rel, "client_id")] = client_id;
	v[RowColumn(rel, "kind")] = CStringGetTextDatum("order.completed");
	v[RowColumn(rel, "order_id")] = Int64GetDatum(req->order_id);
	v[RowColumn(rel, "serial")] = serial;
	v[RowColumn(rel, "account_id")] = account_id;
	v[RowColumn(rel, "payload")] = TopupRedeemEventPayload(amount, currency, req->reference);
	RowInsert(&rt->w, &rt->events, v, n);
}

/* The order_result of the completed order, in the caller's context. */
static void
CompletedResult(const RedeemRequest *req, Datum serial, Datum amount, Datum currency,
				Datum balance, TimestampTz now, Datum *values, bool *nulls)
{
	memset(nulls, true, TOPUP_ORDER_RESULT_NATTS * sizeof(bool));
#define SET(i, d) (values[(i) - 1] = (d), nulls[(i) - 1] = false)
	SET(1, Int64GetDatum(req->order_id));
	SET(2, CStringGetTextDatum("voucher_redeem"));
	SET(3, ObjectIdGetDatum(TopupGetSchema()->order_status[OS_COMPLETED]));
	SET(5, CStringGetTextDatum(req->client_id));
	SET(6, CStringGetTextDatum(req->account_id));
	SET(7, datumCopy(serial, false, sizeof(VoucherSerial)));
	SET(8, datumCopy(amount, false, -1));
	SET(10, datumCopy(currency, false, -1));
	SET(13, datumCopy(balance, false, -1));
	if (req->key != NULL)
		SET(16, CStringGetTextDatum(req->key));
	SET(17, CStringGetTextDatum(req->reference));
	SET(TOPUP_ORDER_RESULT_REPLAYED, BoolGetDatum(false));
	SET(19, TimestampTzGetDatum(now));
	SET(20, TimestampTzGetDatum(now));
#undef SET
}

/*
 * The redeem without a plan.  REDEEM_DONE: redeemed, the order_result in
 * values/nulls.  REDEEM_REFUSED: a check failed, *failure and *f say which
 * and nothing is written.  REDEEM_USE_SQL: the tables are not as the
 * extension made them; nothing is read or written.
 */
static RedeemOutcome
RedeemPlanFree(const RedeemRequest *req, RedeemFacts *f, RedeemFailure *failure,
			   Datum *values, bool *nulls)
{
	const TopupSchema *s = TopupGetSchema();
	RedeemTables rt;
	Datum		client_id;
	Datum		account_id = (Datum) 0;
	Datum		balance;
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	RedeemOutcome outcome = REDEEM_USE_SQL;

	memset(&rt, 0, sizeof(rt));
	RowWriterBegin(&rt.w);
	RowTableOpen(&rt.w, &rt.vouchers, s->vouchers);
	RowTableOpen(&rt.w, &rt.accounts, s->accounts);
	RowTableOpen(&rt.w, &rt.ledger, s->ledger);
	RowTableOpen(&rt.w, &rt.orders, s->orders);
	if (OidIsValid(s->events))
		RowTableOpen(&rt.w, &rt.events, s->events);
	if (!RowTableAsMade(rt.vouchers.rel, &vouchers_shape) ||
		!RowTableAsMade(rt.accounts.rel, &accounts_shape) ||
		!RowTableAsMade(rt.ledger.rel, &ledger_shape) ||
		!RowTableAsMade(rt.orders.rel, &orders_shape) ||
		(rt.events.rel != NULL && !RowTableAsMade(rt.events.rel, &events_shape)))
		goto out;

	RowWriterSnapshot(&rt.w);
	client_id = CStringGetTextDatum(req->client_id);
	if (req->key != NULL && IsolationUsesXactSnapshot())
		CheckKeyNotTakenConcurrently(&rt, req, client_id);

	/* the facts, in the order of the checks */
	if (req->max_failed > 0)
	{
		if (req->account_id != NULL)
			f->acct_failures = RecentFailures(&rt, &idx_o_fail_acct, client_id,
											  CStringGetTextDatum(req->account_id),
											  req->lockout_since, req->max_failed);
		if (req->source != NULL)
			f->src_failures = RecentFailures(&rt, &idx_o_fail_src, client_id,
											 CStringGetTextDatum(req->source),
											 req->lockout_since, req->max_failed);
	}
	if (req->account_id != NULL)
	{
		account_id = CStringGetTextDatum(req->account_id);
		if (RowFetch(&rt.w, &rt.accounts, &idx_a_pkey, 2, (Datum[]) {client_id, account_id}))
			AccountFacts(&rt, f);
	}
	/* an account of the client says the client exists (a foreign key) */
	if (f->account_found)
		f->client_exists = true;
	else
	{
		RowTable	clients;

		memset(&clients, 0, sizeof(clients));
		RowTableOpen(&rt.w, &clients, s->clients);
		f->client_exists = RowFetch(&rt.w, &clients, &idx_c_pkey, 1, &client_id);
		RowTableClose(&clients);
	}
	if (req->pin_ok)
	{
		if (req->by == REDEEM_BY_PIN)
		{
			Datum		hash = PointerGetDatum(TopupByteaFrom(req->pin_hash, TOPUP_HASH_LEN));

			/* another client's PIN looks exactly like an unknown one */
			if (RowFetch(&rt.w, &rt.vouchers, &idx_v_pin, 1, &hash) &&
				DatumGetBool(DirectFunctionCall2Coll(texteq, DEFAULT_COLLATION_OID, client_id,
													 COL(&rt.vouchers, "client_id"))))
				VoucherFacts(&rt, f);
		}
		else if (RowFetch(&rt.w, &rt.vouchers, &idx_v_pkey, 2,
						  (Datum[]) {VoucherSerialPGetDatum(&req->serial), client_id}))
			VoucherFacts(&rt, f);
	}

	outcome = REDEEM_REFUSED;
	if (RedeemRefusal(req, f, failure))
		goto out;

	/* Every check passed: the writes.  First the voucher, activated. */
	if (!ActivateVoucher(&rt, req, f, account_id, now, failure))
		goto out;
	balance = CreditAccount(&rt, req, f->amount, f->currency);
	WriteLedger(&rt, req, client_id, account_id, f->amount, f->currency, balance, now);
	WriteOrder(&rt, req, client_id, account_id, f->serial, f->amount, f->currency, balance, now);
	if (rt.events.rel != NULL)
		WriteEvent(&rt, req, client_id, account_id, f->serial, f->amount, f->currency, now);

	MemoryContextSwitchTo(rt.w.caller);
	CompletedResult(req, f->serial, f->amount, f->currency, balance, now, values, nulls);
	MemoryContextSwitchTo(rt.w.estate->es_query_cxt);
	outcome = REDEEM_DONE;

out:
	RowTableClose(&rt.vouchers);
	RowTableClose(&rt.accounts);
	RowTableClose(&rt.ledger);
	RowTableClose(&rt.orders);
	RowTableClose(&rt.events);
	RowWriterEnd(&rt.w);
	if (outcome == REDEEM_DONE)
		TopupEventsWritten();
	return outcome;
}

#endif							/* TOPUP_ROW_WRITES */

/* ---------------------------------------------------------------------------
 * The SQL path, for tables an administrator altered
 * ---------------------------------------------------------------------------
 */

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
	"       a.status, a.currency, a.kind, " \
	"       v.serial, v.status, v.amount, v.currency, v.expires_at, " \
	"       EXISTS (SELECT 1 FROM topup.clients c WHERE c.client_id = $1), v.order_id " \
	"  FROM (SELECT 1) AS one " \
	"  LEFT JOIN topup.accounts a ON a.client_id = $1 AND a.account_id = $2 "

/*
 * The write: voucher, account, two ledger entries, the completed order, in
 * one statement that also carries every check of the success path (the
 * lockout, the account's kind, status and currency, the voucher's status
 * and expiry).  $9 is the start of the lockout window and $10
 * topup.max_failed_redeems (0: no lockout).
 */
#define WRITE_SQL(voucher_match, on_conflict, events) \
	"WITH v AS (" \
	"  UPDATE topup.vouchers vv SET status = 'activated', activated_at = pg_catalog.now(), " \
	"         activated_by = $2, order_id = $4 " \
	"   WHERE " voucher_match " AND vv.client_id = $1 AND " TOPUP_VOUCHER_REDEEMABLE_SQL("vv") \
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
	"  RETURNING " TOPUP_ORDER_RESULT_COLUMNS ")" \
	events \
	" SELECT * FROM o"

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

/* The write statements: by PIN or serial, keyed or not, with events (0.5.0) or not. */
#define BY_PIN		"vv.pin_hash = $3"
#define BY_SERIAL	"vv.serial OPERATOR(topup.=) $3"
static const char *const write_sqls[2][2][2] = {
	{
		{WRITE_SQL(BY_PIN, "", ""), WRITE_SQL(BY_PIN, "", TOPUP_ORDER_EVENTS_CTE)},
		{WRITE_SQL(BY_PIN, ON_KEY_CONFLICT, ""), WRITE_SQL(BY_PIN, ON_KEY_CONFLICT, TOPUP_ORDER_EVENTS_CTE)}
	},
	{
		{WRITE_SQL(BY_SERIAL, "", ""), WRITE_SQL(BY_SERIAL, "", TOPUP_ORDER_EVENTS_CTE)},
		{WRITE_SQL(BY_SERIAL, ON_KEY_CONFLICT, ""),
		WRITE_SQL(BY_SERIAL, ON_KEY_CONFLICT, TOPUP_ORDER_EVENTS_CTE)}
	}
};

static SPIPlanPtr
WritePlan(RedeemBy by, bool keyed)
{
	static SPIPlanPtr plans[2][2][2];
	Oid			argtypes[10] = {TEXTOID, TEXTOID, BYTEAOID, INT8OID, TEXTOID, BYTEAOID, TEXTOID, TEXTOID,
	TIMESTAMPTZOID, INT4OID};
	bool		lifecycle = TopupHasLifecycle();

	if (by == REDEEM_BY_SERIAL)
		argtypes[2] = TopupSerialTypeOid();
	return TopupPreparePlan(&plans[by][keyed][lifecycle], write_sqls[by][keyed][lifecycle], 10, argtypes);
}

/* The facts of a READ_SQL row. */
static void
ReadFacts(HeapTuple row, TupleDesc desc, RedeemFacts *f)
{
	bool		isnull;
	Datum		d;

	memset(f, 0, sizeof(*f));
	f->client_exists = DatumGetBool(SPI_getbinval(row, desc, R_CLIENT_EXISTS, &isnull));
	f->acct_failures = (int) DatumGetInt64(SPI_getbinval(row, desc, R_ACCT_FAILURES, &isnull));
	f->src_failures = (int) DatumGetInt64(SPI_getbinval(row, desc, R_SRC_FAILURES, &isnull));
	d = SPI_getbinval(row, desc, R_ACCT_STATUS, &isnull);
	if (!isnull)
	{
		f->account_found = true;
		f->account_status = TopupAccountStatusOf(d);
		f->account_is_customer = strcmp(SPI_getvalue(row, desc, R_ACCT_KIND), "customer") == 0;
		f->account_currency = SPI_getvalue(row, desc, R_ACCT_CURRENCY);
	}
	f->serial = SPI_getbinval(row, desc, R_V_SERIAL, &isnull);
	if (!isnull)
	{
		f->voucher_found = true;
		f->voucher_status = TopupVoucherStatusOf(SPI_getbinval(row, desc, R_V_STATUS, &isnull));
		f->amount = SPI_getbinval(row, desc, R_V_AMOUNT, &isnull);
		f->currency = SPI_getbinval(row, desc, R_V_CURRENCY, &isnull);
		d = SPI_getbinval(row, desc, R_V_EXPIRES, &f->expires_null);
		f->expires = f->expires_null ? 0 : DatumGetTimestampTz(d);
	}
}

static Datum
RedeemSQL(FunctionCallInfo fcinfo, RedeemRequest *req)
{
	HeapTuple	row;
	TupleDesc	desc;
	Datum		args[10];
	char		nulls[10];
	bool		isnull;
	int			rc;
	int			pass;
	Datum		order_id;
	RedeemFacts f;
	RedeemFailure failure;

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
	args[3] = Int64GetDatum(req->order_id);
	if (req->key)
		args[4] = CStringGetTextDatum(req->key);
	else
		nulls[4] = 'n';
	args[5] = PointerGetDatum(TopupByteaFrom(req->request_hash, TOPUP_HASH_LEN));
	args[6] = CStringGetTextDatum(req->reference);
	if (req->source)
		args[7] = CStringGetTextDatum(req->source);
	else
		nulls[7] = 'n';
	args[8] = TimestampTzGetDatum(req->lockout_since);
	args[9] = Int32GetDatum(req->max_failed);

	for (pass = 0; pass < 2; pass++)
	{
		/* the success path: one statement (a malformed PIN can match nothing) */
		if (req->pin_ok && req->account_id != NULL)
		{
			rc = SPI_execute_plan(WritePlan(req->by, req->key != NULL), args, nulls, false, 0);
			TopupSPICheck(rc, SPI_OK_SELECT, "redeem");
			if (SPI_processed == 1)
			{
				TopupEventsWritten();
				return TopupOrderResult(fcinfo, SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, false);
			}
		}

		/* Nothing was written: find out why, in the order of the checks. */
		rc = SPI_execute_plan(ReadPlan(req->by),
							  (Datum[]) {args[0], args[1], args[2], args[7], args[8], args[9]},
							  (char[]) {nulls[0], nulls[1], nulls[2], nulls[7], nulls[8], nulls[9]},
							  false, 1);
		TopupSPICheck(rc, SPI_OK_SELECT, "redeem look-up");
		row = SPI_tuptable->vals[0];
		desc = SPI_tuptable->tupdesc;

		/*
		 * The write activated the voucher but wrote no order: the account
		 * changed between its check and its credit.  The voucher must not
		 * stay activated, so the whole transaction goes.
		 */
		order_id = SPI_getbinval(row, desc, R_V_ORDER_ID, &isnull);
		if (!isnull && DatumGetInt64(order_id) == req->order_id)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize access due to a concurrent change of account \"%s\"",
							req->account_id),
					 errhint("Retry the redeem.")));

		ReadFacts(row, desc, &f);
		if (RedeemRefusal(req, &f, &failure))
			return StoreFailure(fcinfo, req, &f, &failure);

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

/* ---------------------------------------------------------------------------
 * The entry points
 * ---------------------------------------------------------------------------
 */

static Datum
Redeem(FunctionCallInfo fcinfo, RedeemRequest *req)
{
	HeapTuple	row;
	TupleDesc	desc;

	if (req->key != NULL &&
		TopupFindIdempotent(req->client_id, "voucher_redeem", req->key, req->request_hash, &row, &desc))
		return TopupOrderResult(fcinfo, row, desc, 1, true);

	req->order_id = TopupNextOrderId();
	TopupNewReference(req->reference);
	req->lockout_since = GetCurrentTransactionStartTimestamp() -
		(TimestampTz) topup_redeem_lockout * USECS_PER_SEC;
	req->max_failed = req->by == REDEEM_BY_PIN ? topup_max_failed_redeems : 0;

#ifdef TOPUP_ROW_WRITES
	{
		RedeemFacts f;
		RedeemFailure failure;
		Datum		values[TOPUP_ORDER_RESULT_NATTS];
		bool		nulls[TOPUP_ORDER_RESULT_NATTS];

		memset(&f, 0, sizeof(f));
		switch (RedeemPlanFree(req, &f, &failure, values, nulls))
		{
			case REDEEM_DONE:
				return TopupOrderResultValues(fcinfo, values, nulls);
			case REDEEM_REFUSED:
				return StoreFailure(fcinfo, req, &f, &failure);
			case REDEEM_USE_SQL:
				break;
		}
	}
#endif
	return RedeemSQL(fcinfo, req);
}

/* Common wrapper: check the arguments, raise the internal-write flag, connect SPI, run. */
static Datum
RedeemEntry(FunctionCallInfo fcinfo, RedeemRequest *req)
{
	Datum		result;
	int			saved;

	if (req->client_id == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("client_id must not be null")));
	/* a client the caller is not bound to is reported as an unknown one */
	TopupAuthorize(fcinfo, req->client_id, NULL);
	TopupCheckIdempotencyKey(req->key);
	if (req->account_id != NULL && req->account_id[0] == '\0')
		req->account_id = NULL;

	saved = TopupEnterInternal();
	PG_TRY();
	{
		SPI_connect();
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
	ErrorContextCallback *caller_context = error_context_stack;
	RedeemRequest req;
	char	   *pin;
	char	   *p;
	int			len = 0;
	Datum		result;

	/*
	 * The caller's error context stays out of the errors raised in here: a
	 * PL/pgSQL caller's adds its statement, PIN literal included, to the
	 * report (the server log and the client).  On an error the caller's
	 * PG_TRY, or the top level, restores the stack.
	 */
	error_context_stack = NULL;

	pin = TopupTextArg(fcinfo, 0);
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
	/* malformed PINs match nothing; the look-up still runs for the lockout */
	if (!req.pin_ok)
		memset(req.pin_hash, 0, sizeof(req.pin_hash));
	RequestHash(&req, pin);
	if (pin != NULL)
		explicit_bzero(pin, len);

	result = RedeemEntry(fcinfo, &req);
	error_context_stack = caller_context;
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
