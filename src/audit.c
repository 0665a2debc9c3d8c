/*-------------------------------------------------------------------------
 *
 * audit.c
 *	  What a statement changed in topup.vouchers or topup.accounts, handled
 *	  once per statement from its transition tables: the due dates it gave
 *	  live vouchers go to the expiry queue, and an admin's direct changes go
 *	  to topup.audit_log (SPEC §8), one row per changed voucher or account
 *	  with the changed public columns before and after (never PIN data).
 *
 *	  Set-based: a mass edit of a million vouchers costs two INSERT ...
 *	  SELECT statements here, not a statement per row.  The writes run with
 *	  the extension owner's rights, so that a bound admin's mass edit works
 *	  exactly as the owner's; the role recorded is the one that ran the
 *	  statement.  The extension's own statements (redeem, sweep, top-up)
 *	  are neither queued here nor audited: they are orders.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "access.h"
#include "guard.h"
#include "schema.h"
#include "vouchers.h"

PG_FUNCTION_INFO_V1(topup_vouchers_changed);
PG_FUNCTION_INFO_V1(topup_accounts_changed);

/* A live voucher whose due date is new to the queue: a later date, or back to life. */
#define QUEUE_SQL \
	"INSERT INTO topup.voucher_expiry (expires_at, client_id, serial) " \
	"SELECT n.expires_at, n.client_id, n.serial " \
	"  FROM new_vouchers n JOIN old_vouchers o " \
	"    ON o.client_id OPERATOR(pg_catalog.=) n.client_id AND o.serial OPERATOR(topup.=) n.serial " \
	" WHERE " TOPUP_VOUCHER_LIVE_SQL("n") " AND n.expires_at IS NOT NULL " \
	"   AND (o.expires_at IS DISTINCT FROM n.expires_at OR o.status OPERATOR(pg_catalog.=) 'expired')"

/* One changed column, as a jsonb object, or an empty one. */
#define CHANGED(col, side) \
	"CASE WHEN o." col " IS DISTINCT FROM n." col \
	" THEN pg_catalog.jsonb_build_object('" col "', " side "." col ") ELSE '{}'::pg_catalog.jsonb END"

#define AUDIT_VOUCHER_UPDATES_SQL \
	"INSERT INTO topup.audit_log (role, client_id, action, target, old, new) " \
	"SELECT $1::pg_catalog.name, n.client_id, 'update', n.serial::pg_catalog.text, " \
	"       " CHANGED("status", "o") " OPERATOR(pg_catalog.||) " CHANGED("expires_at", "o") \
	"         OPERATOR(pg_catalog.||) " CHANGED("reseller", "o") ", " \
	"       " CHANGED("status", "n") " OPERATOR(pg_catalog.||) " CHANGED("expires_at", "n") \
	"         OPERATOR(pg_catalog.||) " CHANGED("reseller", "n") \
	"  FROM new_vouchers n JOIN old_vouchers o " \
	"    ON o.client_id OPERATOR(pg_catalog.=) n.client_id AND o.serial OPERATOR(topup.=) n.serial " \
	" WHERE (o.status, o.expires_at, o.reseller) IS DISTINCT FROM (n.status, n.expires_at, n.reseller)"

#define AUDIT_VOUCHER_DELETES_SQL \
	"INSERT INTO topup.audit_log (role, client_id, action, target, old, new) " \
	"SELECT $1::pg_catalog.name, o.client_id, 'delete', o.serial::pg_catalog.text, " \
	"       pg_catalog.jsonb_build_object('series', o.series, 'amount', o.amount, " \
	"           'currency', o.currency, 'status', o.status, 'reseller', o.reseller, " \
	"           'expires_at', o.expires_at, 'created_at', o.created_at), NULL " \
	"  FROM old_vouchers o"

#define AUDIT_ACCOUNT_UPDATES_SQL \
	"INSERT INTO topup.audit_log (role, client_id, action, target, old, new) " \
	"SELECT $1::pg_catalog.name, n.client_id, 'update', n.account_id, " \
	"       " CHANGED("status", "o") " OPERATOR(pg_catalog.||) " CHANGED("customer_info", "o") \
	"         OPERATOR(pg_catalog.||) " CHANGED("activated_at", "o") ", " \
	"       " CHANGED("status", "n") " OPERATOR(pg_catalog.||) " CHANGED("customer_info", "n") \
	"         OPERATOR(pg_catalog.||) " CHANGED("activated_at", "n") \
	"  FROM new_accounts n JOIN old_accounts o " \
	"    ON o.client_id OPERATOR(pg_catalog.=) n.client_id " \
	"   AND o.account_id OPERATOR(pg_catalog.=) n.account_id " \
	" WHERE (o.status, o.customer_info, o.activated_at) IS DISTINCT FROM " \
	"       (n.status, n.customer_info, n.activated_at)"

static TriggerData *
StatementTriggerStart(FunctionCallInfo fcinfo, const char *name)
{
	TriggerData *trigdata;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "%s: not called by trigger manager", name);
	trigdata = (TriggerData *) fcinfo->context;
	if (!TRIGGER_FIRED_AFTER(trigdata->tg_event) || TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		elog(ERROR, "%s: must be fired after the statement", name);
	return trigdata;
}

/* Run the statements (NULL-terminated) over the transition tables as the owner. */
static void
RunOverTransitionTables(TriggerData *trigdata, const char *const *sqls)
{
	Datum		role = CStringGetTextDatum(GetUserNameFromId(GetUserId(), false));
	TopupSavedUser user;
	int			saved = TopupEnterInternal();

	TopupAsOwnerBegin(&user);
	PG_TRY();
	{
		SPI_connect();
		if (SPI_register_trigger_data(trigdata) != SPI_OK_TD_REGISTER)
			elog(ERROR, "topup: SPI_register_trigger_data failed");
		for (; *sqls; sqls++)
		{
			int			rc = SPI_execute_with_args(*sqls, 1, (Oid[]) {TEXTOID}, &role, NULL, false, 0);

			TopupSPICheck(rc, SPI_OK_INSERT, "writing what a statement changed");
		}
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
 * topup.vouchers, AFTER UPDATE (transition tables old_vouchers and
 * new_vouchers) and AFTER DELETE (old_vouchers), for each statement.
 */
Datum
topup_vouchers_changed(PG_FUNCTION_ARGS)
{
	static const char *const update_sqls[] = {QUEUE_SQL, AUDIT_VOUCHER_UPDATES_SQL, NULL};
	static const char *const delete_sqls[] = {AUDIT_VOUCHER_DELETES_SQL, NULL};
	TriggerData *trigdata = StatementTriggerStart(fcinfo, "topup_vouchers_changed");

	if (TopupIsInternal())
		return PointerGetDatum(NULL);
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		RunOverTransitionTables(trigdata, update_sqls);
	else if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		RunOverTransitionTables(trigdata, delete_sqls);
	return PointerGetDatum(NULL);
}

/* topup.accounts, AFTER UPDATE (old_accounts, new_accounts), for each statement. */
Datum
topup_accounts_changed(PG_FUNCTION_ARGS)
{
	static const char *const update_sqls[] = {AUDIT_ACCOUNT_UPDATES_SQL, NULL};
	TriggerData *trigdata = StatementTriggerStart(fcinfo, "topup_accounts_changed");

	if (TopupIsInternal())
		return PointerGetDatum(NULL);
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		RunOverTransitionTables(trigdata, update_sqls);
	return PointerGetDatum(NULL);
}
