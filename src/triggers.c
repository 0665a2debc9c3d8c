/*-------------------------------------------------------------------------
 *
 * triggers.c
 *	  The C triggers that keep the extension's invariants in the database:
 *	  whatever an admin does with plain INSERT/UPDATE/DELETE, a voucher's
 *	  status follows its rules, balances and the ledger change only through
 *	  the extension's own functions, orders move forward only, and the
 *	  secret is never replaced except by a restore.
 *
 *	  Writes made by the extension's functions are recognised by the
 *	  internal-write flag (guard.c); rows loaded by COPY (pg_dump restore)
 *	  are let in as they come, and verify_ledger() audits them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "access.h"
#include "guard.h"
#include "schema.h"
#include "serial.h"
#include "topup.h"
#include "vouchers.h"

static TriggerData *TriggerStart(FunctionCallInfo fcinfo, const char *name);
static Datum GetAttr(TriggerData *trigdata, HeapTuple tuple, const char *name,
					 bool *isnull, int *attnum);
static bool ColumnChanged(TriggerData *trigdata, const char *name);
static void RejectColumnChanges(TriggerData *trigdata, const char *const *columns,
								const char *what, const char *objname);
static void RejectVoucherColumnChanges(TriggerData *trigdata, const char *const *columns);
static char *VoucherName(TriggerData *trigdata, HeapTuple tuple);
static HeapTuple ReplaceColumn(TriggerData *trigdata, HeapTuple tuple,
							   const char *name, Datum value, bool isnull);
static Datum ReturnRow(TriggerData *trigdata);
static void CheckVoucherReseller(TriggerData *trigdata, HeapTuple newtuple);
static void QueueExpiry(Oid queue, Datum expires_at, Datum client_id, Datum serial);
static Datum VouchersGuard(FunctionCallInfo fcinfo, Oid queue);

PG_FUNCTION_INFO_V1(topup_secret_guard);
PG_FUNCTION_INFO_V1(topup_vouchers_guard);
PG_FUNCTION_INFO_V1(topup_vouchers_guard_0_3_1);
PG_FUNCTION_INFO_V1(topup_vouchers_guard_0_4_0);
PG_FUNCTION_INFO_V1(topup_access_guard);
PG_FUNCTION_INFO_V1(topup_accounts_guard);
PG_FUNCTION_INFO_V1(topup_ledger_guard);
PG_FUNCTION_INFO_V1(topup_orders_guard);
PG_FUNCTION_INFO_V1(topup_slots_guard);
PG_FUNCTION_INFO_V1(topup_expiry_guard);
PG_FUNCTION_INFO_V1(topup_events_guard);

/*
 * Common entry checks (contrib/spi moddatetime.c does the same): called as
 * a BEFORE trigger; row level unless it is the TRUNCATE guard.
 */
static TriggerData *
TriggerStart(FunctionCallInfo fcinfo, const char *name)
{
	TriggerData *trigdata;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "%s: not called by trigger manager", name);
	trigdata = (TriggerData *) fcinfo->context;
	if (!TRIGGER_FIRED_BEFORE(trigdata->tg_event))
		elog(ERROR, "%s: must be fired before the event", name);
	if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) &&
		!TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
		elog(ERROR, "%s: must be fired for each row", name);
	return trigdata;
}

static Datum
GetAttr(TriggerData *trigdata, HeapTuple tuple, const char *name, bool *isnull, int *attnum)
{
	TupleDesc	tupdesc = RelationGetDescr(trigdata->tg_relation);
	int			n = TopupColumnNumber(trigdata->tg_relation, name);

	if (attnum)
		*attnum = n;
	return heap_getattr(tuple, n, tupdesc, isnull);
}

/* Did an UPDATE change this column (by binary comparison)? */
static bool
ColumnChanged(TriggerData *trigdata, const char *name)
{
	TupleDesc	tupdesc = RelationGetDescr(trigdata->tg_relation);
	bool		oldnull;
	bool		newnull;
	int			attnum;
	Datum		oldval = GetAttr(trigdata, trigdata->tg_trigtuple, name, &oldnull, &attnum);
	Datum		newval = GetAttr(trigdata, trigdata->tg_newtuple, name, &newnull, NULL);
	Form_pg_attribute att = TupleDescAttr(tupdesc, attnum - 1);

	if (oldnull || newnull)
		return oldnull != newnull;
	return !datumIsEqual(oldval, newval, att->attbyval, att->attlen);
}

static void
RejectColumnChanges(TriggerData *trigdata, const char *const *columns,
					const char *what, const char *objname)
{
	for (; *columns; columns++)
		if (ColumnChanged(trigdata, *columns))
			ereport(ERROR,
					(errcode(ERRCODE_CHECK_VIOLATION),
					 errmsg("column \"%s\" of %s %s cannot be changed", *columns, what, objname)));
}

/*
 * The same for a voucher, whose name (its serial) is only formatted when
 * a change is refused: a mass edit of a million rows should not pay for it.
 */
static void
RejectVoucherColumnChanges(TriggerData *trigdata, const char *const *columns)
{
	for (; *columns; columns++)
		if (ColumnChanged(trigdata, *columns))
			RejectColumnChanges(trigdata, columns, "voucher",
								VoucherName(trigdata, trigdata->tg_trigtuple));
}

static char *
VoucherName(TriggerData *trigdata, HeapTuple tuple)
{
	bool		isnull;
	Datum		serial = GetAttr(trigdata, tuple, "serial", &isnull, NULL);

	return isnull ? pstrdup("(null)") : SerialToCString(DatumGetVoucherSerialP(serial));
}

static HeapTuple
ReplaceColumn(TriggerData *trigdata, HeapTuple tuple, const char *name, Datum value, bool isnull)
{
	int			attnum = TopupColumnNumber(trigdata->tg_relation, name);

	return heap_modify_tuple_by_cols(tuple, RelationGetDescr(trigdata->tg_relation),
									 1, &attnum, &value, &isnull);
}

/* The row a BEFORE row trigger lets through unchanged. */
static Datum
ReturnRow(TriggerData *trigdata)
{
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		return PointerGetDatum(trigdata->tg_newtuple);
	if (TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
		return PointerGetDatum(NULL);
	return PointerGetDatum(trigdata->tg_trigtuple);
}

/*
 * A mass edit may move vouchers to another reseller, but only to one of the
 * voucher's client (the table has no foreign key: generate_vouchers checks
 * its argument itself and a restore loads rows as they come).  The last
 * reseller found is remembered for the rest of the statement, so an UPDATE
 * of a whole series looks it up once.
 */
static void
CheckVoucherReseller(TriggerData *trigdata, HeapTuple newtuple)
{
	static SPIPlanPtr plan = NULL;
	static char *cached_key = NULL;
	static TransactionId cached_xid = InvalidTransactionId;
	static CommandId cached_cid = InvalidCommandId;
	bool		isnull;
	Datum		reseller = GetAttr(trigdata, newtuple, "reseller", &isnull, NULL);
	Datum		client_id;
	Datum		args[2];
	char	   *key;
	TransactionId xid = GetTopTransactionIdIfAny();
	CommandId	cid = GetCurrentCommandId(false);
	int			rc;
	volatile bool found = false;
	TopupSavedUser saved;

	if (isnull)
		return;
	client_id = GetAttr(trigdata, newtuple, "client_id", &isnull, NULL);
	key = psprintf("%s/%s", TextDatumGetCString(client_id), TextDatumGetCString(reseller));
	if (cached_key != NULL && TransactionIdIsValid(xid) &&
		xid == cached_xid && cid == cached_cid && strcmp(key, cached_key) == 0)
		return;

	/*
	 * As the extension owner: a bound admin reads no table of resellers.
	 * The statement's snapshot sees the resellers of earlier statements
	 * (no command counter increment, so the cache above holds for the
	 * whole statement).
	 */
	TopupAsOwnerBegin(&saved);
	PG_TRY();
	{
		SPI_connect();
		args[0] = client_id;
		args[1] = reseller;
		rc = SPI_execute_plan(TopupPreparePlan(&plan,
											   "SELECT 1 FROM topup.resellers "
											   "WHERE client_id OPERATOR(pg_catalog.=) $1 "
											   "  AND reseller OPERATOR(pg_catalog.=) $2",
											   2, (Oid[]) {TEXTOID, TEXTOID}),
							  args, NULL, true, 1);
		TopupSPICheck(rc, SPI_OK_SELECT, "reseller look-up");
		found = SPI_processed > 0;
		SPI_finish();
	}
	PG_FINALLY();
	{
		TopupAsOwnerEnd(&saved);
	}
	PG_END_TRY();

	if (!found)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("voucher %s cannot be assigned to reseller \"%s\"",
						VoucherName(trigdata, newtuple), TextDatumGetCString(reseller)),
				 errdetail("Client \"%s\" has no reseller \"%s\".",
						   TextDatumGetCString(client_id), TextDatumGetCString(reseller)),
				 errhint("Create it with topup.create_reseller().")));

	if (cached_key != NULL)
		pfree(cached_key);
	cached_key = MemoryContextStrdup(TopMemoryContext, key);
	cached_xid = xid;
	cached_cid = cid;
}

/*
 * topup.secret: the install script makes the only row.  A restore (COPY)
 * brings the dumped secret, which must win over the one that CREATE
 * EXTENSION just made, or the restored PINs could not be redeemed: the
 * copied row replaces the existing one.  Nothing else may change it.
 */
Datum
topup_secret_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = TriggerStart(fcinfo, "topup_secret_guard");

	if (TopupIsInternal())
		return ReturnRow(trigdata);

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) && TopupIsCopyFrom(trigdata->tg_relation))
	{
		int			saved = TopupEnterInternal();

		PG_TRY();
		{
			SPI_connect();
			TopupSPICheck(SPI_execute("DELETE FROM topup.secret", false, 0),
						  SPI_OK_DELETE, "replacing the secret");
			SPI_finish();
		}
		PG_FINALLY();
		{
			TopupLeaveInternal(saved);
		}
		PG_END_TRY();
		/* every backend must drop its cached keys */
		CacheInvalidateRelcache(trigdata->tg_relation);
		return ReturnRow(trigdata);
	}

	ereport(ERROR,
			(errcode(ERRCODE_CHECK_VIOLATION),
			 errmsg("the topup secret cannot be changed"),
			 errdetail("Every stored PIN is hashed and encrypted with it."),
			 errhint("It is replaced only when a dump of this database is restored.")));
	PG_RETURN_NULL();			/* keep compiler quiet */
}

/*
 * topup.vouchers: admins may UPDATE expires_at, reseller and status and
 * DELETE rows that are not activated.  Status changes:
 *	new <-> blocked, new|blocked -> expired, expired -> new with a future
 *	expires_at; -> activated only by the redeem functions; activated is
 *	final and the row immutable.  An expires_at in the past on a new or
 *	blocked voucher makes it expired.
 */
/* From 0.4.0: the statement trigger queues due dates (audit.c). */
Datum
topup_vouchers_guard_0_4_0(PG_FUNCTION_ARGS)
{
	return VouchersGuard(fcinfo, InvalidOid);
}

/* 0.3.1: due dates are queued here, one per row. */
Datum
topup_vouchers_guard_0_3_1(PG_FUNCTION_ARGS)
{
	Oid			queue = TopupGetSchema()->expiry_queue;

	if (!OidIsValid(queue))
		elog(ERROR, "topup: relation topup.voucher_expiry is missing");
	return VouchersGuard(fcinfo, queue);
}

/*
 * The same for the SQL of 0.1.0 to 0.3.0: the expiry queue came with 0.3.0,
 * so due dates are queued only where it exists.
 */
Datum
topup_vouchers_guard(PG_FUNCTION_ARGS)
{
	return VouchersGuard(fcinfo, TopupGetSchema()->expiry_queue);
}

static Datum
VouchersGuard(FunctionCallInfo fcinfo, Oid queue)
{
	static const char *const immutable[] = {
		"serial", "client_id", "series", "amount", "currency", "created_at",
		"pin_length", "pin_hash", "pin_cipher", NULL
	};
	static const char *const redeem_only[] = {
		"activated_at", "activated_by", "order_id", NULL
	};
	TriggerData *trigdata = TriggerStart(fcinfo, "topup_vouchers_guard");
	bool		isnull;
	int			attnum;
	Datum		d;
	VoucherStatus oldst;
	VoucherStatus newst;
	HeapTuple	newtuple;
	bool		internal = TopupIsInternal();

	if (TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("vouchers cannot be truncated"),
				 errhint("Delete the vouchers that are not activated with DELETE.")));

	d = GetAttr(trigdata, trigdata->tg_trigtuple, "status", &isnull, &attnum);
	oldst = TopupVoucherStatusOf(d);

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		if (!internal && !TopupIsCopyFrom(trigdata->tg_relation))
			ereport(ERROR,
					(errcode(ERRCODE_CHECK_VIOLATION),
					 errmsg("vouchers can only be created by topup.generate_vouchers()")));
		return ReturnRow(trigdata);
	}

	if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
	{
		if (oldst == VS_ACTIVATED)
			ereport(ERROR,
					(errcode(ERRCODE_CHECK_VIOLATION),
					 errmsg("activated voucher %s cannot be deleted",
							VoucherName(trigdata, trigdata->tg_trigtuple)),
					 errdetail("A redeemed voucher is part of the payment history.")));
		return ReturnRow(trigdata);
	}

	/* UPDATE */
	newtuple = trigdata->tg_newtuple;
	d = GetAttr(trigdata, newtuple, "status", &isnull, NULL);
	newst = TopupVoucherStatusOf(d);

	/*
	 * activated is final, except that a reversal of the redeem (reverse.c,
	 * internal) makes the voucher new again, or expired past its date.
	 */
	if (oldst == VS_ACTIVATED && newst != oldst && !(internal && newst == VS_NEW))
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("voucher %s cannot change status from activated to %s",
						VoucherName(trigdata, trigdata->tg_trigtuple), topup_voucher_status_names[newst]),
				 errdetail("An activated voucher is final.")));
	if (oldst == VS_ACTIVATED && newst == VS_ACTIVATED)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("activated voucher %s cannot be changed",
						VoucherName(trigdata, trigdata->tg_trigtuple)),
				 errdetail("An activated voucher is final.")));

	/* the extension's own statements never touch these; spare the hot path */
	if (!internal)
	{
		RejectVoucherColumnChanges(trigdata, immutable);
		RejectVoucherColumnChanges(trigdata, redeem_only);
	}
	if (!internal && ColumnChanged(trigdata, "reseller"))
		CheckVoucherReseller(trigdata, newtuple);

	/* an expiry date in the past expires a live voucher */
	{
		Datum		exp = GetAttr(trigdata, newtuple, "expires_at", &isnull, NULL);

		if (VoucherIsDue(newst, isnull, DatumGetTimestampTz(exp), GetCurrentTransactionStartTimestamp()))
		{
			if (oldst == VS_EXPIRED)
				ereport(ERROR,
						(errcode(ERRCODE_CHECK_VIOLATION),
						 errmsg("voucher %s cannot change status from expired to %s",
								VoucherName(trigdata, newtuple), topup_voucher_status_names[newst]),
						 errdetail("An expired voucher becomes new again only with an expires_at in the future.")));
			newst = VS_EXPIRED;
			newtuple = ReplaceColumn(trigdata, newtuple, "status",
									 ObjectIdGetDatum(TopupGetSchema()->voucher_status[VS_EXPIRED]), false);
		}
	}

	if (oldst != newst)
	{
		bool		allowed;

		switch (newst)
		{
			case VS_ACTIVATED:
				allowed = internal && oldst == VS_NEW;
				break;
			case VS_BLOCKED:
				allowed = oldst == VS_NEW;
				break;
			case VS_EXPIRED:
				allowed = oldst == VS_NEW || oldst == VS_BLOCKED || oldst == VS_ACTIVATED;
				break;
			case VS_NEW:
				if (oldst == VS_ACTIVATED)
					allowed = true;		/* a reversal, checked above */
				else if (oldst == VS_EXPIRED)
				{
					/* the past case was handled above */
					(void) GetAttr(trigdata, newtuple, "expires_at", &isnull, NULL);
					allowed = !isnull;
				}
				else
					allowed = oldst == VS_BLOCKED;
				break;
			default:
				allowed = false;
		}
		if (!allowed)
			ereport(ERROR,
					(errcode(ERRCODE_CHECK_VIOLATION),
					 errmsg("voucher %s cannot change status from %s to %s",
							VoucherName(trigdata, newtuple),
							topup_voucher_status_names[oldst], topup_voucher_status_names[newst]),
					 newst == VS_ACTIVATED ?
					 errdetail("Vouchers are activated only by topup.redeem_voucher() and topup.redeem_voucher_by_serial().") :
					 (newst == VS_NEW && oldst == VS_EXPIRED) ?
					 errdetail("An expired voucher becomes new again only with an expires_at in the future.") :
					 errdetail("Allowed changes: new to blocked, blocked to new, new or blocked to expired, expired to new with a future expires_at.")));
	}

	/*
	 * A live voucher whose due date is new to the expiry queue (its
	 * expires_at changed, or it came back to life) is queued, so that the
	 * sweep finds it.  The queue row of an older date stays; the sweep drops
	 * it when it sees the voucher is not due.
	 */
	if (OidIsValid(queue) && VoucherIsLive(newst))
	{
		bool		oldnull;
		bool		newnull;
		Datum		oldexp = GetAttr(trigdata, trigdata->tg_trigtuple, "expires_at", &oldnull, NULL);
		Datum		newexp = GetAttr(trigdata, newtuple, "expires_at", &newnull, NULL);

		if (!newnull &&
			(oldnull || oldst == VS_EXPIRED ||
			 DatumGetTimestampTz(oldexp) != DatumGetTimestampTz(newexp)))
			QueueExpiry(queue, newexp, GetAttr(trigdata, newtuple, "client_id", &isnull, NULL),
						GetAttr(trigdata, newtuple, "serial", &isnull, NULL));
	}

	return PointerGetDatum(newtuple);
}

/*
 * Add a due date to topup.voucher_expiry, one row per voucher: the entry
 * point of 0.3.0 and 0.3.1 only (from 0.4.0 the statement trigger queues a
 * statement's due dates at once, see audit.c).  As the extension owner.
 */
static void
QueueExpiry(Oid queue, Datum expires_at, Datum client_id, Datum serial)
{
	static SPIPlanPtr plan = NULL;
	int			saved;
	TopupSavedUser user;

	saved = TopupEnterInternal();
	TopupAsOwnerBegin(&user);
	PG_TRY();
	{
		int			rc;

		SPI_connect();
		rc = SPI_execute_plan(TopupPreparePlan(&plan,
											   "INSERT INTO topup.voucher_expiry (expires_at, client_id, serial) "
											   "VALUES ($1, $2, $3)",
											   3, (Oid[]) {TIMESTAMPTZOID, TEXTOID, TopupSerialTypeOid()}),
							  (Datum[]) {expires_at, client_id, serial}, NULL, false, 0);
		TopupSPICheck(rc, SPI_OK_INSERT, "queueing a due date");
		SPI_finish();
	}
	PG_FINALLY();
	{
		TopupAsOwnerEnd(&user);
		TopupLeaveInternal(saved);
	}
	PG_END_TRY();
}

/*
 * topup.accounts: balances change only through the extension; admins may
 * change status (active <-> blocked, inactive -> active, any -> closed,
 * closed is final) and customer_info.
 */
Datum
topup_accounts_guard(PG_FUNCTION_ARGS)
{
	static const char *const immutable[] = {
		"client_id", "account_id", "kind", "currency", "created_at", NULL
	};
	TriggerData *trigdata = TriggerStart(fcinfo, "topup_accounts_guard");
	bool		internal = TopupIsInternal();
	bool		isnull;
	int			attnum;
	Datum		d;
	AccountStatus oldst;
	AccountStatus newst;
	HeapTuple	newtuple;
	char	   *name;

	if (TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("accounts cannot be truncated"),
				 errdetail("Balances change only through the extension's functions.")));

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		if (!internal && !TopupIsCopyFrom(trigdata->tg_relation))
			ereport(ERROR,
					(errcode(ERRCODE_CHECK_VIOLATION),
					 errmsg("accounts can only be opened by topup.open_account()")));
		return ReturnRow(trigdata);
	}

	d = GetAttr(trigdata, trigdata->tg_trigtuple, "account_id", &isnull, NULL);
	name = TextDatumGetCString(d);

	if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
	{
		if (!internal)
			ereport(ERROR,
					(errcode(ERRCODE_CHECK_VIOLATION),
					 errmsg("account %s cannot be deleted", name),
					 errhint("Close it: UPDATE topup.accounts SET status = 'closed'.")));
		return ReturnRow(trigdata);
	}

	/* UPDATE */
	if (!internal)
	{
		RejectColumnChanges(trigdata, immutable, "account", name);
		if (ColumnChanged(trigdata, "balance"))
			ereport(ERROR,
					(errcode(ERRCODE_CHECK_VIOLATION),
					 errmsg("balance of account %s can only be changed by the extension's functions", name),
					 errdetail("Every balance change is a ledger entry of an order.")));
		if (ColumnChanged(trigdata, "activated_at"))
			ereport(ERROR,
					(errcode(ERRCODE_CHECK_VIOLATION),
					 errmsg("column \"activated_at\" of account %s cannot be changed", name)));
	}

	d = GetAttr(trigdata, trigdata->tg_trigtuple, "status", &isnull, &attnum);
	oldst = TopupAccountStatusOf(d);
	newtuple = trigdata->tg_newtuple;
	d = GetAttr(trigdata, newtuple, "status", &isnull, NULL);
	newst = TopupAccountStatusOf(d);

	if (oldst == AS_CLOSED && newst == AS_CLOSED && ColumnChanged(trigdata, "customer_info"))
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("closed account %s cannot be changed", name),
				 errdetail("A closed account is final.")));
	if (oldst == AS_CLOSED && newst != AS_CLOSED)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("account %s cannot change status from closed to %s",
						name, topup_account_status_names[newst]),
				 errdetail("A closed account is final.")));

	if (oldst != newst)
	{
		bool		allowed;

		switch (newst)
		{
			case AS_ACTIVE:
				allowed = oldst == AS_INACTIVE || oldst == AS_BLOCKED;
				break;
			case AS_BLOCKED:
				allowed = oldst == AS_ACTIVE;
				break;
			case AS_CLOSED:
				allowed = true;
				break;
			default:
				allowed = false;
		}
		if (!allowed)
			ereport(ERROR,
					(errcode(ERRCODE_CHECK_VIOLATION),
					 errmsg("account %s cannot change status from %s to %s",
							name, topup_account_status_names[oldst], topup_account_status_names[newst]),
					 errdetail("Allowed changes: active to blocked, blocked to active, inactive to active, any to closed.")));

		/* the first activation is recorded */
		if (newst == AS_ACTIVE)
		{
			(void) GetAttr(trigdata, newtuple, "activated_at", &isnull, NULL);
			if (isnull)
				newtuple = ReplaceColumn(trigdata, newtuple, "activated_at",
										 TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()),
										 false);
		}
	}

	if (!internal && ColumnChanged(trigdata, "customer_info"))
	{
		d = GetAttr(trigdata, newtuple, "customer_info", &isnull, NULL);
		if (!isnull)
			(void) TopupValidateCustomerInfo(d);
	}

	return PointerGetDatum(newtuple);
}

/* topup.ledger: append-only, written by the extension (or a restore). */
Datum
topup_ledger_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = TriggerStart(fcinfo, "topup_ledger_guard");

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) &&
		(TopupIsInternal() || TopupIsCopyFrom(trigdata->tg_relation)))
		return ReturnRow(trigdata);

	ereport(ERROR,
			(errcode(ERRCODE_CHECK_VIOLATION),
			 errmsg("ledger entries cannot be %s",
					TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) ? "inserted directly" :
					TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ? "updated" :
					TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event) ? "truncated" : "deleted"),
			 errdetail("The ledger is append-only and written by the extension's functions.")));
	PG_RETURN_NULL();			/* keep compiler quiet */
}

/*
 * topup.orders: written by the extension (or a restore); status moves
 * forward only (new -> activating -> processing -> completed | failed,
 * steps may be skipped) and a completed or failed order is final.
 */
Datum
topup_orders_guard(PG_FUNCTION_ARGS)
{
	static const char *const admin_mutable[] = {
		"status", "topup_status", "error_slug", "error_message", "completed_at", "failed_at", NULL
	};
	TriggerData *trigdata = TriggerStart(fcinfo, "topup_orders_guard");
	bool		internal = TopupIsInternal();
	bool		isnull;
	int			attnum;
	Datum		d;
	OrderStatus oldst;
	OrderStatus newst;
	int64		order_id;

	if (TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("orders cannot be truncated"),
				 errdetail("Orders are the history of every money movement.")));

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		if (!internal && !TopupIsCopyFrom(trigdata->tg_relation))
			ereport(ERROR,
					(errcode(ERRCODE_CHECK_VIOLATION),
					 errmsg("orders can only be created by the extension's functions")));
		return ReturnRow(trigdata);
	}

	order_id = DatumGetInt64(GetAttr(trigdata, trigdata->tg_trigtuple, "order_id", &isnull, NULL));

	if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
	{
		if (!internal)
			ereport(ERROR,
					(errcode(ERRCODE_CHECK_VIOLATION),
					 errmsg("order %lld cannot be deleted", (long long) order_id),
					 errdetail("Orders are the history of every money movement.")));
		return ReturnRow(trigdata);
	}

	/* UPDATE */
	d = GetAttr(trigdata, trigdata->tg_trigtuple, "status", &isnull, &attnum);
	oldst = TopupOrderStatusOf(d);
	d = GetAttr(trigdata, trigdata->tg_newtuple, "status", &isnull, NULL);
	newst = TopupOrderStatusOf(d);

	if (OrderStatusIsFinal(oldst))
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("order %lld is %s and cannot be changed",
						(long long) order_id, topup_order_status_names[oldst]),
				 errdetail("Completed and failed orders are final.")));
	if (newst < oldst)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("order %lld cannot change status from %s to %s",
						(long long) order_id, topup_order_status_names[oldst], topup_order_status_names[newst]),
				 errdetail("Order status moves forward only: new, activating, processing, then completed or failed.")));

	/* topup_status along its moves only, for the extension's writes too */
	{
		bool		oldnull;
		bool		newnull;
		Datum		oldts = GetAttr(trigdata, trigdata->tg_trigtuple, "topup_status", &oldnull, NULL);
		Datum		newts = GetAttr(trigdata, trigdata->tg_newtuple, "topup_status", &newnull, NULL);

		if (oldnull != newnull ||
			(!oldnull && DatumGetObjectId(oldts) != DatumGetObjectId(newts) &&
			 !TopupStatusMoveAllowed(TopupTopupStatusOf(oldts), TopupTopupStatusOf(newts))))
			ereport(ERROR,
					(errcode(ERRCODE_CHECK_VIOLATION),
					 errmsg("order %lld cannot change topup_status from %s to %s", (long long) order_id,
							oldnull ? "null" : topup_topup_status_names[TopupTopupStatusOf(oldts)],
							newnull ? "null" : topup_topup_status_names[TopupTopupStatusOf(newts)]),
					 errdetail("topup_status moves: new to provider_in_progress or new_error; "
							   "new_error to failed; provider_in_progress to completed, failed, "
							   "provider_in_progress_error or provider_verification; "
							   "provider_in_progress_error to provider_in_progress or failed; "
							   "provider_verification to completed, failed or provider_verification_error; "
							   "provider_verification_error to provider_verification, completed or failed.")));
	}

	if (!internal)
	{
		TupleDesc	tupdesc = RelationGetDescr(trigdata->tg_relation);
		int			i;

		for (i = 0; i < tupdesc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(tupdesc, i);
			const char *const *m;
			bool		ok = att->attisdropped;

			for (m = admin_mutable; !ok && *m; m++)
				ok = strcmp(NameStr(att->attname), *m) == 0;
			if (!ok && ColumnChanged(trigdata, NameStr(att->attname)))
				ereport(ERROR,
						(errcode(ERRCODE_CHECK_VIOLATION),
						 errmsg("column \"%s\" of order %lld cannot be changed",
								NameStr(att->attname), (long long) order_id)));
		}
	}

	return ReturnRow(trigdata);
}

/*
 * The guard of a table only the extension writes: its own writes and rows
 * loaded by COPY (a restore) pass, anything else is refused with the
 * table's detail and hint.
 */
static Datum
ExtensionOnlyRows(FunctionCallInfo fcinfo, const char *name, const char *detail, const char *hint)
{
	TriggerData *trigdata = TriggerStart(fcinfo, name);

	if (TopupIsInternal() ||
		(TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) && TopupIsCopyFrom(trigdata->tg_relation)))
		return ReturnRow(trigdata);

	ereport(ERROR,
			(errcode(ERRCODE_CHECK_VIOLATION),
			 errmsg("rows of topup.%s can only be changed by the extension's functions",
					RelationGetRelationName(trigdata->tg_relation)),
			 errdetail("%s", detail),
			 errhint("%s", hint)));
	return (Datum) 0;			/* keep compiler quiet */
}

/*
 * topup.balance_slots and topup.fundings: master balances, fee accounts
 * and fundings change only through the extension (or a restore).
 */
Datum
topup_slots_guard(PG_FUNCTION_ARGS)
{
	return ExtensionOnlyRows(fcinfo, "topup_slots_guard",
							 "Master balances and fee accounts move only with ledger entries of orders and fundings.",
							 "Use topup.fund_master() to add money.");
}

/*
 * topup.role_bindings and topup.audit_log: written by bind_role,
 * unbind_role and the audit triggers only (or loaded by a restore).
 */
Datum
topup_access_guard(PG_FUNCTION_ARGS)
{
	return ExtensionOnlyRows(fcinfo, "topup_access_guard",
							 "Bindings and the audit log are written by the extension only.",
							 "Use topup.bind_role() and topup.unbind_role().");
}

/*
 * topup.voucher_expiry: the expiry queue is written by generate_vouchers,
 * the vouchers trigger and the sweep only (or loaded by a restore).
 */
Datum
topup_expiry_guard(PG_FUNCTION_ARGS)
{
	return ExtensionOnlyRows(fcinfo, "topup_expiry_guard",
							 "The queue holds the due dates of live vouchers for the expiry sweep.",
							 "Change a voucher's expires_at with UPDATE topup.vouchers; the queue follows.");
}

/*
 * topup.events and topup.expiry_notices: the outbox is written in the
 * transaction of what it reports, by the extension only (or a restore);
 * purge_events removes what readers have had time to see.
 */
Datum
topup_events_guard(PG_FUNCTION_ARGS)
{
	return ExtensionOnlyRows(fcinfo, "topup_events_guard",
							 "Events are written with what they report and numbered when published.",
							 "Read them with topup.events_since(); remove old ones with topup.purge_events().");
}
