/*-------------------------------------------------------------------------
 *
 * schema.c
 *	  The extension's own objects by OID: its tables, sequences, the serial
 *	  type and the labels of its status enums, looked up by name once per
 *	  backend and extension and kept until the extension is created anew.
 *
 *	  Whether the extension was re-created is decided by its OID, looked up
 *	  again only after a relcache invalidation: pg_extension has no
 *	  syscache, so the look-up is a catalog scan, too dear for every call,
 *	  and DROP EXTENSION drops the extension's tables, which invalidates
 *	  their relcache entries in every backend.  (The schema outlives DROP
 *	  EXTENSION, so its OID would not do.)
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "schema.h"

const char *const topup_voucher_status_names[VS_COUNT] = {"new", "activated", "expired", "blocked"};
const char *const topup_account_status_names[AS_COUNT] = {"inactive", "active", "blocked", "closed"};
const char *const topup_order_status_names[OS_COUNT] = {"new", "activating", "processing", "completed", "failed"};
const char *const topup_topup_status_names[TS_COUNT] = {
	"new", "provider_in_progress", "new_error", "provider_in_progress_error",
	"provider_verification", "provider_verification_error", "completed", "failed"
};

static Oid	cached_extension = InvalidOid;
static uint64 cache_epoch = 0;
static bool check_extension = true;
static bool callback_registered = false;

static TopupSchema schema;
static uint64 schema_epoch = 0;

static void RelcacheCallback(Datum arg, Oid relid);
static Oid	ExtensionOwner(Oid extension);
static Oid	RelationOid(Oid nsp, const char *name);
static void EnumLabels(Oid relid, const char *column, const char *const *names, int n, Oid *labels);

static void
RelcacheCallback(Datum arg, Oid relid)
{
	check_extension = true;
}

/*
 * The current epoch; it moves on when the extension was re-created since
 * the last look-up.
 */
uint64
TopupCacheEpoch(void)
{
	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(RelcacheCallback, (Datum) 0);
		callback_registered = true;
	}
	if (check_extension)
	{
		Oid			ext;

		/* cleared first: an invalidation during the look-up sets it again */
		check_extension = false;
		ext = get_extension_oid("topup", false);
		if (ext != cached_extension)
		{
			cached_extension = ext;
			cache_epoch++;
		}
	}
	return cache_epoch;
}

static Oid
RelationOid(Oid nsp, const char *name)
{
	Oid			relid = get_relname_relid(name, nsp);

	if (!OidIsValid(relid))
		elog(ERROR, "topup: relation topup.%s is missing", name);
	return relid;
}

/* The label OIDs of the enum type of a table's column, in names' order. */
static void
EnumLabels(Oid relid, const char *column, const char *const *names, int n, Oid *labels)
{
	AttrNumber	attnum = get_attnum(relid, column);
	Oid			typid = attnum == InvalidAttrNumber ? InvalidOid : get_atttype(relid, attnum);
	int			i;

	if (!OidIsValid(typid) || !type_is_enum(typid))
		elog(ERROR, "topup: column %s of %s is not an enum", column, get_rel_name(relid));
	for (i = 0; i < n; i++)
		labels[i] = DatumGetObjectId(DirectFunctionCall2(enum_in, CStringGetDatum(names[i]),
														 ObjectIdGetDatum(typid)));
}

/*
 * The extension's objects.  A missing one is an internal error (the
 * installation is damaged), except the expiry queue, which databases on an
 * extension older than 0.3.0 do not have: it is looked up again while it is
 * missing, so that ALTER EXTENSION UPDATE takes effect at once.
 */
const TopupSchema *
TopupGetSchema(void)
{
	uint64		epoch = TopupCacheEpoch();
	Oid			nsp;

	if (schema_epoch == epoch)
	{
		if (!OidIsValid(schema.expiry_queue) || !OidIsValid(schema.role_bindings) ||
			!OidIsValid(schema.events))
		{
			nsp = get_namespace_oid("topup", false);
			schema.expiry_queue = get_relname_relid("voucher_expiry", nsp);
			schema.role_bindings = get_relname_relid("role_bindings", nsp);
			schema.duty_grants = get_relname_relid("duty_grants", nsp);
			schema.audit_log = get_relname_relid("audit_log", nsp);
			schema.events = get_relname_relid("events", nsp);
		}
		return &schema;
	}

	schema_epoch = 0;			/* until complete */
	nsp = get_namespace_oid("topup", false);
	schema.extension = cached_extension;
	schema.owner = ExtensionOwner(cached_extension);
	schema.clients = RelationOid(nsp, "clients");
	schema.vouchers = RelationOid(nsp, "vouchers");
	schema.accounts = RelationOid(nsp, "accounts");
	schema.ledger = RelationOid(nsp, "ledger");
	schema.orders = RelationOid(nsp, "orders");
	schema.expiry_queue = get_relname_relid("voucher_expiry", nsp);
	schema.role_bindings = get_relname_relid("role_bindings", nsp);
	schema.duty_grants = get_relname_relid("duty_grants", nsp);
	schema.audit_log = get_relname_relid("audit_log", nsp);
	schema.events = get_relname_relid("events", nsp);
	schema.order_id_seq = RelationOid(nsp, "order_id_seq");
#if PG_VERSION_NUM >= 170000
	{
		Relation	ledger = table_open(schema.ledger, AccessShareLock);

		schema.ledger_entry_seq = getIdentitySequence(ledger, get_attnum(schema.ledger, "entry_id"), false);
		table_close(ledger, AccessShareLock);
	}
#else
	schema.ledger_entry_seq = getIdentitySequence(schema.ledger, get_attnum(schema.ledger, "entry_id"), false);
#endif
	schema.serial_type = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
										 CStringGetDatum("voucher_serial"), ObjectIdGetDatum(nsp));
	if (!OidIsValid(schema.serial_type))
		elog(ERROR, "topup: type topup.voucher_serial is missing");
	EnumLabels(schema.vouchers, "status", topup_voucher_status_names, VS_COUNT, schema.voucher_status);
	EnumLabels(schema.accounts, "status", topup_account_status_names, AS_COUNT, schema.account_status);
	EnumLabels(schema.orders, "status", topup_order_status_names, OS_COUNT, schema.order_status);
	EnumLabels(schema.orders, "topup_status", topup_topup_status_names, TS_COUNT, schema.topup_status);
	schema_epoch = epoch;
	return &schema;
}

/* The owner of the extension (pg_extension has no syscache: a catalog scan). */
static Oid
ExtensionOwner(Oid extension)
{
	Relation	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			owner;

	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(extension));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "topup: extension %u is missing", extension);
	owner = ((Form_pg_extension) GETSTRUCT(tuple))->extowner;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return owner;
}

int
TopupEnumIndex(const Oid *labels, int nlabels, Datum value)
{
	Oid			v = DatumGetObjectId(value);
	int			i;

	for (i = 0; i < nlabels; i++)
		if (labels[i] == v)
			return i;
	elog(ERROR, "topup: unexpected enum value %u", v);
	return -1;					/* keep compiler quiet */
}

/*
 * The moves of topup_status (SPEC §9): a provider-backed order is handed to
 * the card processor (or cannot be: new_error, then failed and refunded);
 * a transient error before the processor took it may be retried; an
 * outcome nobody knows is verified with the processor, retried as often as
 * it takes, and never failed automatically.  completed and failed are final.
 */
bool
TopupStatusMoveAllowed(TopupStatus from, TopupStatus to)
{
	switch (from)
	{
		case TS_NEW:
			return to == TS_PROVIDER_IN_PROGRESS || to == TS_NEW_ERROR;
		case TS_NEW_ERROR:
			return to == TS_FAILED;
		case TS_PROVIDER_IN_PROGRESS:
			return to == TS_COMPLETED || to == TS_FAILED ||
				to == TS_PROVIDER_IN_PROGRESS_ERROR || to == TS_PROVIDER_VERIFICATION;
		case TS_PROVIDER_IN_PROGRESS_ERROR:
			return to == TS_PROVIDER_IN_PROGRESS || to == TS_FAILED;
		case TS_PROVIDER_VERIFICATION:
			return to == TS_COMPLETED || to == TS_FAILED || to == TS_PROVIDER_VERIFICATION_ERROR;
		case TS_PROVIDER_VERIFICATION_ERROR:
			return to == TS_PROVIDER_VERIFICATION || to == TS_COMPLETED || to == TS_FAILED;
		case TS_COMPLETED:
		case TS_FAILED:
		case TS_COUNT:
			return false;
	}
	return false;
}

Oid
TopupSerialTypeOid(void)
{
	return TopupGetSchema()->serial_type;
}
