/*-------------------------------------------------------------------------
 *
 * direct.c
 *	  The redeem's success path without a query plan: keyed look-ups through
 *	  the indexes and row writes through the table access method, the way
 *	  PostgreSQL's logical replication applies rows (execReplication.c).
 *
 *	  Why: a redeem is four keyed reads and five row writes.  Run as one SQL
 *	  statement, a large part of its cost is the statement around them: the
 *	  plan cache's lock walk, executor start-up of a dozen plan nodes, every
 *	  CHECK constraint parsed from its catalog text again, the CTE
 *	  tuplestores.  Here the writes cost their heap and index work.
 *
 *	  The path makes exactly the writes the SQL path (redeem.c, WRITE_SQL)
 *	  would, and is taken only where that holds:
 *	  - the four tables are plain heap tables without row-level security
 *	    or stored generated columns;
 *	  - their triggers are the extension's own guards (which let the
 *	    extension's writes through anyway) and, on accounts, the foreign key
 *	    checks of client_id and currency, columns a redeem does not change;
 *	  - their CHECK constraints are the extension's own, which the values
 *	    written here satisfy by construction (a positive amount, a known
 *	    book and order type, a key of 1 to 255 characters);
 *	  - every column it does not write is nullable and has no default.
 *	  If an administrator adds a trigger, a constraint or a column with a
 *	  default, TopupRedeemDirect() returns false and the SQL path runs.
 *
 *	  Concurrency follows the executor: the voucher is updated only if it
 *	  is still the version that was read (otherwise nothing has been written
 *	  and the SQL path finds out what happened to it); the account, which
 *	  concurrent redeems credit all the time, is re-read at its newest
 *	  version and re-checked, as EvalPlanQual would, under READ COMMITTED,
 *	  and is a serialization failure under REPEATABLE READ or SERIALIZABLE.
 *
 *-------------------------------------------------------------------------
 */
#include "topup.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/nbtree.h"
#include "access/relscan.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_collation.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#if PG_VERSION_NUM >= 140000

/* What the extension created, by name; anything else sends redeems to SQL. */
static const char *const vouchers_triggers[] = {"vouchers_guard", "vouchers_truncate_guard", NULL};
static const char *const accounts_triggers[] = {"accounts_guard", "accounts_truncate_guard", NULL};
static const char *const ledger_triggers[] = {"ledger_guard", "ledger_truncate_guard", NULL};
static const char *const orders_triggers[] = {"orders_guard", "orders_truncate_guard", NULL};

static const char *const expiry_triggers[] = {"voucher_expiry_guard", "voucher_expiry_truncate_guard", NULL};

static const char *const vouchers_checks[] = {NULL};
static const char *const expiry_checks[] = {NULL};
static const char *const accounts_checks[] = {
	"accounts_account_id_check", "accounts_balance_check", "accounts_kind_check", NULL
};
static const char *const ledger_checks[] = {
	"ledger_amount_check", "ledger_book_check", "ledger_check", "ledger_one_source", NULL
};
static const char *const orders_checks[] = {
	"orders_entry_type_check", "orders_idempotency_key_check", "orders_order_type_check", NULL
};

/* The columns each write sets; the others must be nullable without default. */
static const char *const ledger_written[] = {
	"entry_id", "order_id", "client_id", "book", "account_id", "currency", "amount",
	"balance_after", "created_at", NULL
};
static const char *const orders_written[] = {
	"order_id", "order_type", "status", "client_id", "account_id", "serial", "amount",
	"currency", "account_balance_after", "idempotency_key", "request_hash", "reference",
	"source", "created_at", "completed_at", NULL
};

/* The columns each UPDATE changes. */
static const char *const voucher_updated[] = {"status", "activated_at", "activated_by", "order_id", NULL};
static const char *const account_updated[] = {"balance", NULL};
static const char *const expiry_updated[] = {"status", NULL};

/* Per-backend look-ups, redone when the extension is re-created. */
typedef struct DirectCache
{
	uint64		epoch;
	bool		valid;
	Oid			vouchers;
	Oid			accounts;
	Oid			ledger;
	Oid			orders;
	Oid			entry_seq;		/* ledger.entry_id's identity sequence */
	Oid			v_status_new;
	Oid			v_status_activated;
	Oid			v_status_expired;
	Oid			v_status_blocked;
	Oid			a_status_active;
	Oid			o_status_completed;
} DirectCache;

static DirectCache cache;

/* Index OIDs, by name, checked against the table's index list at each use. */
typedef struct IndexRef
{
	const char *name;
	Oid			oid;
} IndexRef;

static IndexRef idx_v_pin = {"vouchers_pin_hash_key", InvalidOid};
static IndexRef idx_v_pkey = {"vouchers_pkey", InvalidOid};
static IndexRef idx_a_pkey = {"accounts_pkey", InvalidOid};
static IndexRef idx_o_fail_acct = {"orders_failed_pin_account_idx", InvalidOid};
static IndexRef idx_o_fail_src = {"orders_failed_pin_source_idx", InvalidOid};
static IndexRef idx_q_due = {"voucher_expiry_due_idx", InvalidOid};

/* One table of the redeem, opened for the call. */
typedef struct DirectRel
{
	Relation	rel;
	ResultRelInfo *rri;
	TupleTableSlot *slot;		/* a row of this table, as read or to write */
} DirectRel;

typedef struct DirectState
{
	EState	   *estate;
	Snapshot	snapshot;
	CommandId	cid;
	DirectRel	vouchers;
	DirectRel	accounts;
	DirectRel	ledger;
	DirectRel	orders;
} DirectState;

static bool LoadCache(void);
static Oid	EnumLabel(Oid relid, const char *column, const char *label);
static bool InList(const char *name, const char *const *list);
static bool RelationEligible(Relation rel, const char *const *triggers, bool fk_triggers_ok,
							 const char *const *checks, const char *const *written);
static void OpenRel(DirectState *st, DirectRel *dr, Oid relid);
static void UpdateHints(DirectRel *dr, const char *const *updated);
static void CloseRel(DirectRel *dr);
static Oid	IndexOid(Relation heap, IndexRef *ref);
static void IndexKey(ScanKey key, Relation index, int column, StrategyNumber strategy,
					 Datum value);
static bool FetchOne(DirectState *st, DirectRel *dr, IndexRef *ref, int nkeys,
					 const Datum *values);
static int	CountRecent(DirectState *st, IndexRef *ref, Datum client_id, Datum second,
						TimestampTz since, int limit);
static bool AccountUsable(DirectRel *acc, Datum currency);
static HeapTuple ModifiedRow(Relation rel, TupleTableSlot *slot, const char *const *cols,
							 const Datum *values);
static void InsertRow(DirectState *st, DirectRel *dr, Datum *values, bool *nulls);
static void InsertIndexes(DirectState *st, DirectRel *dr, const char *const *updated);
static TM_Result UpdateRow(DirectState *st, DirectRel *dr, HeapTuple newtuple,
						   const char *const *updated);

/*
 * The relation, enum and sequence look-ups, once per backend and extension.
 * Returns false if something the path needs is missing (an older or
 * altered schema): the SQL path then runs, and fails properly if it must.
 */
static bool
LoadCache(void)
{
	uint64		epoch = TopupCacheEpoch();
	Oid			nsp;

	if (cache.epoch == epoch && cache.valid)
		return true;
	memset(&cache, 0, sizeof(cache));
	cache.epoch = epoch;
	idx_v_pin.oid = idx_v_pkey.oid = idx_a_pkey.oid = InvalidOid;
	idx_o_fail_acct.oid = idx_o_fail_src.oid = idx_q_due.oid = InvalidOid;

	nsp = get_namespace_oid("topup", true);
	if (!OidIsValid(nsp))
		return false;
	cache.vouchers = get_relname_relid("vouchers", nsp);
	cache.accounts = get_relname_relid("accounts", nsp);
	cache.ledger = get_relname_relid("ledger", nsp);
	cache.orders = get_relname_relid("orders", nsp);
	if (!OidIsValid(cache.vouchers) || !OidIsValid(cache.accounts) ||
		!OidIsValid(cache.ledger) || !OidIsValid(cache.orders))
		return false;

	cache.v_status_new = EnumLabel(cache.vouchers, "status", "new");
	cache.v_status_activated = EnumLabel(cache.vouchers, "status", "activated");
	cache.v_status_expired = EnumLabel(cache.vouchers, "status", "expired");
	cache.v_status_blocked = EnumLabel(cache.vouchers, "status", "blocked");
	cache.a_status_active = EnumLabel(cache.accounts, "status", "active");
	cache.o_status_completed = EnumLabel(cache.orders, "status", "completed");
	cache.entry_seq = getIdentitySequence(cache.ledger, get_attnum(cache.ledger, "entry_id"), true);
	if (!OidIsValid(cache.v_status_new) || !OidIsValid(cache.v_status_activated) ||
		!OidIsValid(cache.v_status_expired) || !OidIsValid(cache.v_status_blocked) ||
		!OidIsValid(cache.a_status_active) || !OidIsValid(cache.o_status_completed) ||
		!OidIsValid(cache.entry_seq))
		return false;
	cache.valid = true;
	return true;
}

/* The OID of an enum label of a table's column, or InvalidOid. */
static Oid
EnumLabel(Oid relid, const char *column, const char *label)
{
	AttrNumber	attnum = get_attnum(relid, column);
	Oid			typid;

	if (attnum == InvalidAttrNumber)
		return InvalidOid;
	typid = get_atttype(relid, attnum);
	if (!type_is_enum(typid))
		return InvalidOid;
	return DatumGetObjectId(DirectFunctionCall2(enum_in, CStringGetDatum(label),
												ObjectIdGetDatum(typid)));
}

/* The 0-based position of a column (the cache is shared with the triggers). */
static inline int
Att(Relation rel, const char *name)
{
	return TopupColumnNumber(rel, name) - 1;
}

static bool
InList(const char *name, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(name, *list) == 0)
			return true;
	return false;
}

/*
 * Can the path write this table as the SQL path would?  See the file
 * header.  "written" (insert tables only) lists the columns the path sets.
 */
static bool
RelationEligible(Relation rel, const char *const *triggers, bool fk_triggers_ok,
				 const char *const *checks, const char *const *written)
{
	TupleDesc	desc = RelationGetDescr(rel);
	TupleConstr *constr = desc->constr;
	int			i;

	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rel->relam != HEAP_TABLE_AM_OID ||
		rel->rd_rel->relrowsecurity)
		return false;
	if (rel->trigdesc != NULL)
	{
		for (i = 0; i < rel->trigdesc->numtriggers; i++)
		{
			Trigger    *t = &rel->trigdesc->triggers[i];

			if (t->tgenabled == TRIGGER_DISABLED)
				continue;
			if (t->tgisinternal ? !fk_triggers_ok : !InList(t->tgname, triggers))
				return false;
		}
	}
	if (constr != NULL)
	{
		if (constr->has_generated_stored)
			return false;
		for (i = 0; i < constr->num_check; i++)
			if (!InList(constr->check[i].ccname, checks))
				return false;
	}
	if (written != NULL)
	{
		for (i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, i);

			if (att->attisdropped || InList(NameStr(att->attname), written))
				continue;
			if (att->attnotnull || att->atthasdef || att->attidentity || att->attgenerated)
				return false;
		}
	}
	return true;
}

/*
 * Open a table for the call.  Its ResultRelInfo has no range table entry
 * (range table index 0), like logical replication's; see UpdateHints().
 */
static void
OpenRel(DirectState *st, DirectRel *dr, Oid relid)
{
	dr->rel = table_open(relid, RowExclusiveLock);
	dr->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(dr->rri, dr->rel, 0, NULL, 0);
	dr->slot = table_slot_create(dr->rel, NULL);
}

static void
CloseRel(DirectRel *dr)
{
	if (dr->rel == NULL)
		return;
	if (dr->rri->ri_IndexRelationDescs != NULL)
		ExecCloseIndices(dr->rri);
	ExecDropSingleTupleTableSlot(dr->slot);
	/* the lock is kept until the end of the transaction, as the executor does */
	table_close(dr->rel, NoLock);
	dr->rel = NULL;
}

/*
 * The OID of one of the table's indexes by name, remembered and checked to
 * still be one of the table's indexes (REINDEX CONCURRENTLY replaces an
 * index by a new one of the same name).
 */
static Oid
IndexOid(Relation heap, IndexRef *ref)
{
	List	   *indexes = RelationGetIndexList(heap);
	bool		known = OidIsValid(ref->oid) && list_member_oid(indexes, ref->oid);

	list_free(indexes);
	if (!known)
	{
		ref->oid = get_relname_relid(ref->name, RelationGetNamespace(heap));
		if (!OidIsValid(ref->oid))
			elog(ERROR, "topup: index topup.%s is missing", ref->name);
	}
	return ref->oid;
}

/*
 * A scan key on a btree index column: the operator comes from the column's
 * operator family and the collation from the index, so the key orders
 * exactly as the index does.
 */
static void
IndexKey(ScanKey key, Relation index, int column, StrategyNumber strategy, Datum value)
{
	Oid			opfamily = index->rd_opfamily[column - 1];
	Oid			intype = index->rd_opcintype[column - 1];
	Oid			op = get_opfamily_member(opfamily, intype, intype, strategy);

	if (!OidIsValid(op))
		elog(ERROR, "topup: no operator for strategy %d in index %s",
			 strategy, RelationGetRelationName(index));
	ScanKeyEntryInitialize(key, 0, column, strategy, intype,
						   index->rd_indcollation[column - 1], get_opcode(op), value);
}

/*
 * A look-up of rows of dr's table by equality on the leading columns of
 * one of its indexes: opened once (index, operators, scan), then run for
 * as many key values as needed, as the expiry sweep does per queue entry.
 */
typedef struct KeyedScan
{
	DirectRel  *dr;
	Relation	index;
	IndexScanDesc scan;
	int			nkeys;
	ScanKeyData keys[INDEX_MAX_KEYS];
} KeyedScan;

static void
KeyedScanBegin(KeyedScan *ks, DirectState *st, DirectRel *dr, IndexRef *ref, int nkeys)
{
	int			i;

	ks->dr = dr;
	ks->nkeys = nkeys;
	ks->index = index_open(IndexOid(dr->rel, ref), AccessShareLock);
	for (i = 0; i < nkeys; i++)
		IndexKey(&ks->keys[i], ks->index, i + 1, BTEqualStrategyNumber, (Datum) 0);
	ks->scan = index_beginscan(dr->rel, ks->index, st->snapshot, nkeys, 0);
}

/* Read the row matching values into dr->slot; false if there is none. */
static bool
KeyedScanFetch(KeyedScan *ks, const Datum *values)
{
	bool		found;
	int			i;

	for (i = 0; i < ks->nkeys; i++)
		ks->keys[i].sk_argument = values[i];
	index_rescan(ks->scan, ks->keys, ks->nkeys, NULL, 0);
	found = index_getnext_slot(ks->scan, ForwardScanDirection, ks->dr->slot);
	if (found)
		slot_getallattrs(ks->dr->slot);
	return found;
}

static void
KeyedScanEnd(KeyedScan *ks)
{
	index_endscan(ks->scan);
	index_close(ks->index, NoLock);
}

/* One look-up: the row of dr's table matching values, into dr->slot. */
static bool
FetchOne(DirectState *st, DirectRel *dr, IndexRef *ref, int nkeys, const Datum *values)
{
	KeyedScan	ks;
	bool		found;

	KeyedScanBegin(&ks, st, dr, ref, nkeys);
	found = KeyedScanFetch(&ks, values);
	KeyedScanEnd(&ks);
	return found;
}

/*
 * The lockout: how many invalid_pin failures (the partial index holds
 * nothing else) of (client_id, second) the snapshot sees since "since",
 * counting no further than limit.
 */
static int
CountRecent(DirectState *st, IndexRef *ref, Datum client_id, Datum second,
			TimestampTz since, int limit)
{
	Relation	index = index_open(IndexOid(st->orders.rel, ref), AccessShareLock);
	ScanKeyData keys[3];
	IndexScanDesc scan;
	int			n = 0;

	IndexKey(&keys[0], index, 1, BTEqualStrategyNumber, client_id);
	IndexKey(&keys[1], index, 2, BTEqualStrategyNumber, second);
	IndexKey(&keys[2], index, 3, BTGreaterStrategyNumber, TimestampTzGetDatum(since));
	scan = index_beginscan(st->orders.rel, index, st->snapshot, 3, 0);
	index_rescan(scan, keys, 3, NULL, 0);
	while (n < limit && index_getnext_slot(scan, ForwardScanDirection, st->orders.slot))
		n++;
	index_endscan(scan);
	index_close(index, NoLock);
	ExecClearTuple(st->orders.slot);
	return n;
}

/* The checks WRITE_SQL makes of the account in acc->slot. */
static bool
AccountUsable(DirectRel *acc, Datum currency)
{
	TupleTableSlot *s = acc->slot;
	Relation	rel = acc->rel;

	return DatumGetObjectId(s->tts_values[Att(rel, "status")]) == cache.a_status_active &&
		DatumGetBool(DirectFunctionCall2Coll(texteq, DEFAULT_COLLATION_OID, s->tts_values[Att(rel, "kind")],
										 CStringGetTextDatum("customer"))) &&
		DatumGetBool(DirectFunctionCall2Coll(texteq, DEFAULT_COLLATION_OID, s->tts_values[Att(rel, "currency")], currency));
}

/*
 * The row in slot with the columns named in cols (NULL-terminated) set to
 * values, in the current memory context.
 */
static HeapTuple
ModifiedRow(Relation rel, TupleTableSlot *slot, const char *const *cols, const Datum *values)
{
	int			attnums[8];
	bool		nulls[8];
	bool		should_free;
	int			n;

	for (n = 0; cols[n] != NULL; n++)
	{
		Assert(n < lengthof(attnums));
		attnums[n] = Att(rel, cols[n]) + 1;
		nulls[n] = false;
	}
	return heap_modify_tuple_by_cols(ExecFetchSlotHeapTuple(slot, false, &should_free),
									 RelationGetDescr(rel), n, attnums, (Datum *) values, nulls);
}

/* Insert a row and its index entries. */
static void
InsertRow(DirectState *st, DirectRel *dr, Datum *values, bool *nulls)
{
	TupleTableSlot *slot = dr->slot;

	ExecClearTuple(slot);
	ExecForceStoreHeapTuple(heap_form_tuple(RelationGetDescr(dr->rel), values, nulls), slot, true);
	table_tuple_insert(dr->rel, slot, st->cid, 0, NULL);
	InsertIndexes(st, dr, NULL);
}

/*
 * The executor tells btree, for each index, whether an UPDATE left the
 * index's key unchanged (bottom-up deletion of the old versions relies on
 * it).  It works that out from the range table entry's updated columns;
 * without a range table, it is said here from the columns the caller
 * names.  An expression or partial index is never hinted.
 */
static void
UpdateHints(DirectRel *dr, const char *const *updated)
{
	TupleDesc	desc = RelationGetDescr(dr->rel);
	int			i;
	int			k;

	for (i = 0; i < dr->rri->ri_NumIndices; i++)
	{
		IndexInfo  *ii = dr->rri->ri_IndexRelationInfo[i];
		bool		unchanged = ii->ii_Expressions == NIL && ii->ii_Predicate == NIL;

		for (k = 0; unchanged && k < ii->ii_NumIndexAttrs; k++)
		{
			AttrNumber	attno = ii->ii_IndexAttrNumbers[k];

			if (attno > 0 && InList(NameStr(TupleDescAttr(desc, attno - 1)->attname), updated))
				unchanged = false;
		}
		ii->ii_CheckedUnchanged = true;
		ii->ii_IndexUnchanged = unchanged;
	}
}

/* The index entries of the row in dr->slot; updated: the columns an UPDATE changed. */
static void
InsertIndexes(DirectState *st, DirectRel *dr, const char *const *updated)
{
	List	   *recheck;

	if (dr->rri->ri_IndexRelationDescs == NULL)
	{
		ExecOpenIndices(dr->rri, false);
		if (updated != NULL)
			UpdateHints(dr, updated);
	}
#if PG_VERSION_NUM >= 160000
	recheck = ExecInsertIndexTuples(dr->rri, dr->slot, st->estate, updated != NULL, false, NULL,
									NIL, false);
#else
	recheck = ExecInsertIndexTuples(dr->rri, dr->slot, st->estate, updated != NULL, false, NULL,
									NIL);
#endif
	list_free(recheck);
	ResetPerTupleExprContext(st->estate);
}

/*
 * Replace the row in dr->slot (as read, with its TID) by newtuple, waiting
 * for a concurrent writer of the row to finish.  On TM_Ok the new version is
 * in dr->slot and its index entries are made; otherwise nothing is written.
 */
static TM_Result
UpdateRow(DirectState *st, DirectRel *dr, HeapTuple newtuple, const char *const *updated)
{
	ItemPointerData otid = dr->slot->tts_tid;
	TM_FailureData tmfd;
	LockTupleMode lockmode;
	TM_Result	result;

#if PG_VERSION_NUM >= 160000
	TU_UpdateIndexes update_indexes;
#else
	bool		update_indexes;
#endif

	ExecForceStoreHeapTuple(newtuple, dr->slot, true);
	result = table_tuple_update(dr->rel, &otid, dr->slot, st->cid, st->snapshot,
								InvalidSnapshot, true, &tmfd, &lockmode, &update_indexes);
	if (result != TM_Ok)
		return result;
#if PG_VERSION_NUM >= 160000
	if (update_indexes != TU_None)
		InsertIndexes(st, dr, updated);
#else
	if (update_indexes)
		InsertIndexes(st, dr, updated);
#endif
	return TM_Ok;
}

/*
 * Redeem r->pin_hash (or r->serial) into r->account_id without a plan.
 * Returns TOPUP_DIRECT_DONE with the order_result columns in values/nulls
 * (allocated in the caller's memory context).  Otherwise nothing is
 * written: TOPUP_DIRECT_REFUSED when a check failed (the caller's look-up
 * names the failure), TOPUP_DIRECT_NOT_TAKEN when the voucher changed under
 * it or the schema is not the one this path knows (the SQL path redeems).
 */
TopupDirectResult
TopupRedeemDirect(const TopupDirectRedeem *r, Datum *values, bool *nulls)
{
	MemoryContext caller = CurrentMemoryContext;
	DirectState st;
	Datum		client_id;
	Datum		account_id;
	Datum		amount;
	Datum		currency;
	Datum		serial;
	Datum		balance = (Datum) 0;
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	bool		pushed = false;
	TopupDirectResult outcome = TOPUP_DIRECT_NOT_TAKEN;
	int			i;

	if (r->account_id == NULL || !LoadCache())
		return TOPUP_DIRECT_NOT_TAKEN;

	memset(&st, 0, sizeof(st));
	st.estate = CreateExecutorState();
	MemoryContextSwitchTo(st.estate->es_query_cxt);

	OpenRel(&st, &st.vouchers, cache.vouchers);
	OpenRel(&st, &st.accounts, cache.accounts);
	OpenRel(&st, &st.ledger, cache.ledger);
	OpenRel(&st, &st.orders, cache.orders);
	if (!RelationEligible(st.vouchers.rel, vouchers_triggers, false, vouchers_checks, NULL) ||
		!RelationEligible(st.accounts.rel, accounts_triggers, true, accounts_checks, NULL) ||
		!RelationEligible(st.ledger.rel, ledger_triggers, false, ledger_checks, ledger_written) ||
		!RelationEligible(st.orders.rel, orders_triggers, false, orders_checks, orders_written))
		goto out;

	/* a snapshot of its own, as a statement would take */
	CommandCounterIncrement();
	PushCopiedSnapshot(GetTransactionSnapshot());
	UpdateActiveSnapshotCommandId();
	pushed = true;
	st.snapshot = GetActiveSnapshot();
	st.cid = GetCurrentCommandId(true);
	st.estate->es_snapshot = st.snapshot;
	st.estate->es_output_cid = st.cid;

	client_id = CStringGetTextDatum(r->client_id);
	account_id = CStringGetTextDatum(r->account_id);
	outcome = TOPUP_DIRECT_REFUSED;

	/* the lockout, by account and by source */
	if (r->max_failed > 0)
	{
		if (CountRecent(&st, &idx_o_fail_acct, client_id, account_id, r->lockout_since,
						r->max_failed) >= r->max_failed)
			goto out;
		if (r->source != NULL &&
			CountRecent(&st, &idx_o_fail_src, client_id, CStringGetTextDatum(r->source),
						r->lockout_since, r->max_failed) >= r->max_failed)
			goto out;
	}

	/* the voucher: new, not due, this client's */
	if (r->pin_hash != NULL)
	{
		Datum		hash = PointerGetDatum(TopupByteaFrom(r->pin_hash, TOPUP_HASH_LEN));

		if (!FetchOne(&st, &st.vouchers, &idx_v_pin, 1, &hash))
			goto out;
		if (!DatumGetBool(DirectFunctionCall2Coll(texteq, DEFAULT_COLLATION_OID, client_id,
											  st.vouchers.slot->tts_values[Att(st.vouchers.rel, "client_id")])))
			goto out;
	}
	else if (!FetchOne(&st, &st.vouchers, &idx_v_pkey, 2,
					   (Datum[]) {VoucherSerialPGetDatum(r->serial), client_id}))
		goto out;
	{
		TupleTableSlot *v = st.vouchers.slot;
		Relation	rel = st.vouchers.rel;
		int			exp = Att(rel, "expires_at");

		if (DatumGetObjectId(v->tts_values[Att(rel, "status")]) != cache.v_status_new ||
			(!v->tts_isnull[exp] && DatumGetTimestampTz(v->tts_values[exp]) <= now))
			goto out;
		amount = v->tts_values[Att(rel, "amount")];
		currency = v->tts_values[Att(rel, "currency")];
		serial = v->tts_values[Att(rel, "serial")];
		if (TopupNumericSign(amount) <= 0)
			goto out;
	}

	/* the account: a customer account, active, in the voucher's currency */
	if (!FetchOne(&st, &st.accounts, &idx_a_pkey, 2, (Datum[]) {client_id, account_id}) ||
		!AccountUsable(&st.accounts, currency))
		goto out;

	/* Every check passed: the writes.  First the voucher, activated. */
	outcome = TOPUP_DIRECT_NOT_TAKEN;
	/* the values read stay valid: they are copied out of the buffer */
	amount = datumCopy(amount, false, -1);
	currency = datumCopy(currency, false, -1);
	serial = datumCopy(serial, false, sizeof(VoucherSerial));
	if (UpdateRow(&st, &st.vouchers,
				  ModifiedRow(st.vouchers.rel, st.vouchers.slot, voucher_updated,
							  (Datum[]) {ObjectIdGetDatum(cache.v_status_activated),
								  TimestampTzGetDatum(now), account_id,
							  Int64GetDatum(r->order_id)}),
				  voucher_updated) != TM_Ok)
		goto out;				/* changed under us; nothing is written yet */

	/* Then the account, credited at its newest version. */
	for (;;)
	{
		Relation	rel = st.accounts.rel;
		ItemPointerData tid = st.accounts.slot->tts_tid;
		TM_FailureData tmfd;
		TM_Result	result;

		balance = DirectFunctionCall2(numeric_add, st.accounts.slot->tts_values[Att(rel, "balance")],
									  amount);
		result = UpdateRow(&st, &st.accounts,
						   ModifiedRow(rel, st.accounts.slot, account_updated, &balance),
						   account_updated);
		if (result == TM_Ok)
			break;
		if (result != TM_Updated || IsolationUsesXactSnapshot())
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize access due to concurrent update")));
		/* a concurrent credit committed: lock its newest version, check it again */
		result = table_tuple_lock(rel, &tid, st.snapshot, st.accounts.slot, st.cid,
								  LockTupleNoKeyExclusive, LockWaitBlock,
								  TUPLE_LOCK_FLAG_FIND_LAST_VERSION, &tmfd);
		if (result != TM_Ok)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize access due to concurrent update")));
		slot_getallattrs(st.accounts.slot);
		if (!AccountUsable(&st.accounts, currency))
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize access due to a concurrent change of account \"%s\"",
							r->account_id),
					 errhint("Retry the redeem.")));
	}

	/* The two ledger entries: the account's credit, the voucher float's debit. */
	{
		Relation	rel = st.ledger.rel;
		int			natts = RelationGetDescr(rel)->natts;
		Datum	   *v = palloc0(natts * sizeof(Datum));
		bool	   *n = palloc(natts * sizeof(bool));

		memset(n, true, natts * sizeof(bool));
		v[Att(rel, "entry_id")] = Int64GetDatum(nextval_internal(cache.entry_seq, false));
		v[Att(rel, "order_id")] = Int64GetDatum(r->order_id);
		v[Att(rel, "client_id")] = client_id;
		v[Att(rel, "book")] = CStringGetTextDatum("account");
		v[Att(rel, "account_id")] = account_id;
		v[Att(rel, "currency")] = currency;
		v[Att(rel, "amount")] = amount;
		v[Att(rel, "balance_after")] = balance;
		v[Att(rel, "created_at")] = TimestampTzGetDatum(now);
		for (i = 0; ledger_written[i]; i++)
			n[Att(rel, ledger_written[i])] = false;
		InsertRow(&st, &st.ledger, v, n);

		v[Att(rel, "entry_id")] = Int64GetDatum(nextval_internal(cache.entry_seq, false));
		v[Att(rel, "book")] = CStringGetTextDatum("voucher_float");
		n[Att(rel, "account_id")] = true;
		v[Att(rel, "amount")] = DirectFunctionCall1(numeric_uminus, amount);
		n[Att(rel, "balance_after")] = true;
		InsertRow(&st, &st.ledger, v, n);
	}

	/* The completed order. */
	{
		Relation	rel = st.orders.rel;
		int			natts = RelationGetDescr(rel)->natts;
		Datum	   *v = palloc0(natts * sizeof(Datum));
		bool	   *n = palloc(natts * sizeof(bool));

		memset(n, true, natts * sizeof(bool));
		for (i = 0; orders_written[i]; i++)
			n[Att(rel, orders_written[i])] = false;
		v[Att(rel, "order_id")] = Int64GetDatum(r->order_id);
		v[Att(rel, "order_type")] = CStringGetTextDatum("voucher_redeem");
		v[Att(rel, "status")] = ObjectIdGetDatum(cache.o_status_completed);
		v[Att(rel, "client_id")] = client_id;
		v[Att(rel, "account_id")] = account_id;
		v[Att(rel, "serial")] = serial;
		v[Att(rel, "amount")] = amount;
		v[Att(rel, "currency")] = currency;
		v[Att(rel, "account_balance_after")] = balance;
		if (r->key != NULL)
			v[Att(rel, "idempotency_key")] = CStringGetTextDatum(r->key);
		else
			n[Att(rel, "idempotency_key")] = true;
		v[Att(rel, "request_hash")] = PointerGetDatum(TopupByteaFrom(r->request_hash, TOPUP_HASH_LEN));
		v[Att(rel, "reference")] = CStringGetTextDatum(r->reference);
		if (r->source != NULL)
			v[Att(rel, "source")] = CStringGetTextDatum(r->source);
		else
			n[Att(rel, "source")] = true;
		v[Att(rel, "created_at")] = TimestampTzGetDatum(now);
		v[Att(rel, "completed_at")] = TimestampTzGetDatum(now);
		InsertRow(&st, &st.orders, v, n);
	}

	/* The result, as RETURNING TOPUP_ORDER_RESULT_COLUMNS would give it. */
	MemoryContextSwitchTo(caller);
	memset(nulls, true, TOPUP_ORDER_RESULT_NATTS * sizeof(bool));
#define SET(i, d) (values[(i) - 1] = (d), nulls[(i) - 1] = false)
	SET(1, Int64GetDatum(r->order_id));
	SET(2, CStringGetTextDatum("voucher_redeem"));
	SET(3, ObjectIdGetDatum(cache.o_status_completed));
	SET(5, CStringGetTextDatum(r->client_id));
	SET(6, CStringGetTextDatum(r->account_id));
	SET(7, datumCopy(serial, false, sizeof(VoucherSerial)));
	SET(8, datumCopy(amount, false, -1));
	SET(10, datumCopy(currency, false, -1));
	SET(13, datumCopy(balance, false, -1));
	if (r->key != NULL)
		SET(16, CStringGetTextDatum(r->key));
	SET(17, CStringGetTextDatum(r->reference));
	SET(TOPUP_ORDER_RESULT_REPLAYED, BoolGetDatum(false));
	SET(19, TimestampTzGetDatum(now));
	SET(20, TimestampTzGetDatum(now));
#undef SET
	MemoryContextSwitchTo(st.estate->es_query_cxt);
	outcome = TOPUP_DIRECT_DONE;

out:
	if (pushed)
		PopActiveSnapshot();
	CloseRel(&st.vouchers);
	CloseRel(&st.accounts);
	CloseRel(&st.ledger);
	CloseRel(&st.orders);
	MemoryContextSwitchTo(caller);
	FreeExecutorState(st.estate);
	/* later statements of the transaction see these rows */
	if (outcome == TOPUP_DIRECT_DONE)
		CommandCounterIncrement();
	return outcome;
}

/*
 * Mark up to max_rows due vouchers expired without a plan.  The sweep walks
 * the expiry queue (topup.voucher_expiry) in expires_at order; for each due
 * entry it reads the voucher by its primary key and, if it is still live
 * and due, sets its status, which is a HOT update (status is in no index
 * and vouchers keep room on their pages), then drops the entry.  An entry
 * whose voucher is gone, redeemed or no longer due is dropped too (a new
 * due date has an entry of its own).
 *
 * A voucher another transaction is writing (a redeem, an admin, another
 * sweep) is skipped without waiting, as SKIP LOCKED would, and its entry
 * kept for the next batch; so is an entry another sweep is dropping.  It
 * stops after max_rows vouchers or at the end of the due entries: fewer than
 * max_rows means nothing due is left but what others hold.
 *
 * Returns how many were marked, or -1 (nothing written) when the tables are
 * not as the extension made them, or there is no queue (a database not yet
 * updated to 0.3.0): the caller runs the SQL instead.
 */
int64
TopupExpireDirect(int32 max_rows)
{
	MemoryContext caller = CurrentMemoryContext;
	DirectState st;
	DirectRel	queue;
	Oid			queue_oid = TopupExpiryQueueOid();
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	Relation	index;
	IndexScanDesc scan;
	ScanKeyData key;
	KeyedScan	by_serial;
	TupleTableSlot *entry;
	int64		count = 0;
	int			att_status;
	int			att_expires;
	int			q_client;
	int			q_serial;

	if (!OidIsValid(queue_oid) || !LoadCache())
		return -1;

	memset(&st, 0, sizeof(st));
	memset(&queue, 0, sizeof(queue));
	st.estate = CreateExecutorState();
	MemoryContextSwitchTo(st.estate->es_query_cxt);
	OpenRel(&st, &st.vouchers, cache.vouchers);
	OpenRel(&st, &queue, queue_oid);
	if (!RelationEligible(st.vouchers.rel, vouchers_triggers, false, vouchers_checks, NULL) ||
		!RelationEligible(queue.rel, expiry_triggers, false, expiry_checks, NULL))
	{
		count = -1;
		goto out;
	}
	att_status = Att(st.vouchers.rel, "status");
	att_expires = Att(st.vouchers.rel, "expires_at");
	q_client = Att(queue.rel, "client_id");
	q_serial = Att(queue.rel, "serial");

	CommandCounterIncrement();
	PushCopiedSnapshot(GetTransactionSnapshot());
	UpdateActiveSnapshotCommandId();
	st.snapshot = GetActiveSnapshot();
	st.cid = GetCurrentCommandId(true);
	st.estate->es_snapshot = st.snapshot;
	st.estate->es_output_cid = st.cid;

	entry = table_slot_create(queue.rel, NULL);
	index = index_open(IndexOid(queue.rel, &idx_q_due), AccessShareLock);
	IndexKey(&key, index, 1, BTLessEqualStrategyNumber, TimestampTzGetDatum(now));
	scan = index_beginscan(queue.rel, index, st.snapshot, 1, 0);
	/* each entry's voucher, by primary key */
	KeyedScanBegin(&by_serial, &st, &st.vouchers, &idx_v_pkey, 2);
	index_rescan(scan, &key, 1, NULL, 0);
	while (count < max_rows && index_getnext_slot(scan, ForwardScanDirection, entry))
	{
		TM_FailureData tmfd;
		TM_Result	result;
		bool		drop = true;

		CHECK_FOR_INTERRUPTS();
		slot_getallattrs(entry);
		if (KeyedScanFetch(&by_serial, (Datum[]) {entry->tts_values[q_serial], entry->tts_values[q_client]}))
		{
			TupleTableSlot *v = st.vouchers.slot;
			Oid			status = DatumGetObjectId(v->tts_values[att_status]);

			if ((status == cache.v_status_new || status == cache.v_status_blocked) &&
				!v->tts_isnull[att_expires] && DatumGetTimestampTz(v->tts_values[att_expires]) <= now)
			{
				HeapTuple	newtuple;
				ItemPointerData otid = v->tts_tid;
				LockTupleMode lockmode;

#if PG_VERSION_NUM >= 160000
				TU_UpdateIndexes update_indexes;
#else
				bool		update_indexes;
#endif

				/* the row's scratch memory goes with the per-tuple context */
				MemoryContextSwitchTo(GetPerTupleMemoryContext(st.estate));
				newtuple = ModifiedRow(st.vouchers.rel, v, expiry_updated,
									   (Datum[]) {ObjectIdGetDatum(cache.v_status_expired)});
				MemoryContextSwitchTo(st.estate->es_query_cxt);
				/* the slot does not own the tuple: the per-tuple reset frees it */
				ExecForceStoreHeapTuple(newtuple, v, false);
				/* not waiting: a voucher another transaction writes is left, entry and all */
				result = table_tuple_update(st.vouchers.rel, &otid, v, st.cid, st.snapshot,
											InvalidSnapshot, false, &tmfd, &lockmode, &update_indexes);
				if (result == TM_Ok)
				{
#if PG_VERSION_NUM >= 160000
					if (update_indexes != TU_None)
						InsertIndexes(&st, &st.vouchers, expiry_updated);
#else
					if (update_indexes)
						InsertIndexes(&st, &st.vouchers, expiry_updated);
#endif
					count++;
				}
				else
					drop = false;
			}
			ExecClearTuple(v);
		}
		if (drop)
			(void) table_tuple_delete(queue.rel, &entry->tts_tid, st.cid, st.snapshot,
									  InvalidSnapshot, false, &tmfd, false);
		ResetPerTupleExprContext(st.estate);
	}
	KeyedScanEnd(&by_serial);
	index_endscan(scan);
	index_close(index, NoLock);
	ExecDropSingleTupleTableSlot(entry);
	PopActiveSnapshot();

out:
	CloseRel(&queue);
	CloseRel(&st.vouchers);
	MemoryContextSwitchTo(caller);
	FreeExecutorState(st.estate);
	/* later statements see the rows written (entries may be dropped with none marked) */
	if (count >= 0)
		CommandCounterIncrement();
	return count;
}

#else							/* PG_VERSION_NUM < 140000 */

/* The executor's row APIs differ before 14: always the SQL path there. */
TopupDirectResult
TopupRedeemDirect(const TopupDirectRedeem *r, Datum *values, bool *nulls)
{
	return TOPUP_DIRECT_NOT_TAKEN;
}

int64
TopupExpireDirect(int32 max_rows)
{
	return -1;
}

#endif							/* PG_VERSION_NUM >= 140000 */
