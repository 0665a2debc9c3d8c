/*-------------------------------------------------------------------------
 *
 * rowops.c
 *	  Row reads and writes without a query plan: keyed look-ups through the
 *	  indexes and inserts, updates and deletes through the table access
 *	  method, as core's execReplication.c applies rows for logical
 *	  replication (ExecSimpleRelationInsert, ExecSimpleRelationUpdate,
 *	  ExecSimpleRelationDelete).  Where this file copies that code it
 *	  follows it, version by version: index entries after an update only
 *	  for a non-HOT update, or for summarizing indexes only (PostgreSQL 16+),
 *	  and the replica identity check of a published table.
 *
 *	  Unlike the executor, it fires no triggers, checks no constraints and
 *	  computes no defaults: a caller writes a table this way only while
 *	  RowTableAsMade() says that the table is as the extension made it, so
 *	  that the values written satisfy its constraints by construction and
 *	  its own guard triggers (which let the extension's writes through
 *	  anyway) are all it has.  Anything an administrator adds sends the
 *	  caller to its SQL path.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "rowops.h"

#ifdef TOPUP_ROW_WRITES

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/xact.h"
#include "catalog/pg_am.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "rewrite/rowsecurity.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "schema.h"

static bool InList(const char *name, const char *const *list);
static void InsertIndexes(RowWriter *w, RowTable *t, bool update, bool only_summarizing,
						  const char *const *updated);
static void UpdateHints(RowTable *t, const char *const *updated);

static bool
InList(const char *name, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(name, *list) == 0)
			return true;
	return false;
}

/*
 * Start a call: an executor state whose query context holds the call's
 * scratch memory (it is current until RowWriterEnd).
 */
void
RowWriterBegin(RowWriter *w)
{
	memset(w, 0, sizeof(*w));
	w->caller = CurrentMemoryContext;
	w->estate = CreateExecutorState();
	MemoryContextSwitchTo(w->estate->es_query_cxt);
}

/*
 * Take a snapshot of its own, as a statement would: it sees what earlier
 * commands of the transaction wrote, and the writes get a command id of
 * their own.
 */
void
RowWriterSnapshot(RowWriter *w)
{
	CommandCounterIncrement();
	PushCopiedSnapshot(GetTransactionSnapshot());
	UpdateActiveSnapshotCommandId();
	w->snapshot = GetActiveSnapshot();
	w->cid = GetCurrentCommandId(true);
	w->estate->es_snapshot = w->snapshot;
	w->estate->es_output_cid = w->cid;
}

/* End the call; later commands of the transaction see what it wrote. */
void
RowWriterEnd(RowWriter *w)
{
	if (w->snapshot != NULL)
		PopActiveSnapshot();
	w->snapshot = NULL;
	MemoryContextSwitchTo(w->caller);
	FreeExecutorState(w->estate);
	w->estate = NULL;
	if (w->wrote)
		CommandCounterIncrement();
}

/*
 * Open a table for the call.  Its ResultRelInfo has no range table entry
 * (range table index 0), like logical replication's; see UpdateHints().
 */
void
RowTableOpen(RowWriter *w, RowTable *t, Oid relid)
{
	t->rel = table_open(relid, RowExclusiveLock);
	t->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(t->rri, t->rel, 0, NULL, 0);
	t->slot = table_slot_create(t->rel, NULL);
}

void
RowTableClose(RowTable *t)
{
	if (t->rel == NULL)
		return;
	if (t->rri->ri_IndexRelationDescs != NULL)
		ExecCloseIndices(t->rri);
	ExecDropSingleTupleTableSlot(t->slot);
	/* the lock is kept until the end of the transaction, as the executor does */
	table_close(t->rel, NoLock);
	t->rel = NULL;
}

/*
 * Is the table as the extension made it, so that writing it here makes
 * exactly the writes an SQL statement would?  A plain heap table, not a
 * partition, without rules or stored generated columns; row-level
 * security only the extension's own policies (the callers act for a client
 * they checked themselves, as the owner, whom the policies do not apply to),
 * never forced; enabled triggers only those named in the shape, or foreign-key
 * checks where the shape allows them (RI_FKey_check_*: the writes change no
 * key column, so the executor would not fire them either), never another
 * internal trigger (a deferrable unique or exclusion constraint has one);
 * CHECK constraints only those named; for inserts, every column not written
 * nullable without a default or identity.
 */
bool
RowTableAsMade(Relation rel, const RowTableShape *shape)
{
	TupleDesc	desc = RelationGetDescr(rel);
	TupleConstr *constr = desc->constr;
	int			i;

	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rel->relam != HEAP_TABLE_AM_OID ||
		rel->rd_rel->relispartition || rel->rd_rel->relforcerowsecurity || rel->rd_rules != NULL)
		return false;
	if (rel->rd_rel->relrowsecurity)
	{
		ListCell   *lc;

		if (shape->policies == NULL || rel->rd_rsdesc == NULL)
			return false;
		foreach(lc, rel->rd_rsdesc->policies)
			if (!InList(((RowSecurityPolicy *) lfirst(lc))->policy_name, shape->policies))
				return false;
	}
	if (rel->trigdesc != NULL)
	{
		for (i = 0; i < rel->trigdesc->numtriggers; i++)
		{
			Trigger    *t = &rel->trigdesc->triggers[i];

			if (t->tgenabled == TRIGGER_DISABLED)
				continue;
			if (t->tgisinternal)
			{
				if (!shape->fk_checks_ok || RI_FKey_trigger_type(t->tgfoid) != RI_TRIGGER_FK)
					return false;
			}
			else if (!InList(t->tgname, shape->triggers))
				return false;
		}
	}
	if (constr != NULL)
	{
		if (constr->has_generated_stored)
			return false;
		for (i = 0; i < constr->num_check; i++)
			if (!InList(constr->check[i].ccname, shape->checks))
				return false;
	}
	if (shape->written != NULL)
	{
		for (i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, i);

			if (att->attisdropped || InList(NameStr(att->attname), shape->written))
				continue;
			if (att->attnotnull || att->atthasdef || att->attidentity || att->attgenerated)
				return false;
		}
	}
	return true;
}

/* The 0-based position of a column (the cache is shared with the triggers). */
int
RowColumn(Relation rel, const char *name)
{
	return TopupColumnNumber(rel, name) - 1;
}

/*
 * The OID of one of the table's indexes by name, remembered and checked to
 * still be one of the table's indexes (REINDEX CONCURRENTLY replaces an
 * index by a new one of the same name).
 */
Oid
RowIndexOid(Relation heap, IndexRef *ref)
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
void
RowIndexKey(ScanKey key, Relation index, int column, StrategyNumber strategy, Datum value)
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
 * A look-up by equality on the leading nkeys columns of an index: opened
 * once (index, operators, scan), then run for as many key values as needed.
 */
void
KeyedScanBegin(KeyedScan *ks, RowWriter *w, RowTable *t, IndexRef *ref, int nkeys)
{
	int			i;

	ks->table = t;
	ks->nkeys = nkeys;
	ks->index = index_open(RowIndexOid(t->rel, ref), AccessShareLock);
	for (i = 0; i < nkeys; i++)
		RowIndexKey(&ks->keys[i], ks->index, i + 1, BTEqualStrategyNumber, (Datum) 0);
	ks->scan = index_beginscan(t->rel, ks->index, w->snapshot, nkeys, 0);
}

/* Read the row matching values into the table's slot; false if there is none. */
bool
KeyedScanFetch(KeyedScan *ks, const Datum *values)
{
	bool		found;
	int			i;

	for (i = 0; i < ks->nkeys; i++)
		ks->keys[i].sk_argument = values[i];
	index_rescan(ks->scan, ks->keys, ks->nkeys, NULL, 0);
	found = index_getnext_slot(ks->scan, ForwardScanDirection, ks->table->slot);
	if (found)
		slot_getallattrs(ks->table->slot);
	return found;
}

void
KeyedScanEnd(KeyedScan *ks)
{
	index_endscan(ks->scan);
	index_close(ks->index, NoLock);
}

/* One look-up: the row of t matching values, into t->slot. */
bool
RowFetch(RowWriter *w, RowTable *t, IndexRef *ref, int nkeys, const Datum *values)
{
	KeyedScan	ks;
	bool		found;

	KeyedScanBegin(&ks, w, t, ref, nkeys);
	found = KeyedScanFetch(&ks, values);
	KeyedScanEnd(&ks);
	return found;
}

/* How many rows of t the snapshot sees through an index scan, up to limit. */
int
RowCount(RowWriter *w, RowTable *t, IndexRef *ref, ScanKey keys, int nkeys, int limit)
{
	Relation	index = index_open(RowIndexOid(t->rel, ref), AccessShareLock);
	IndexScanDesc scan;
	int			n = 0;

	scan = index_beginscan(t->rel, index, w->snapshot, nkeys, 0);
	index_rescan(scan, keys, nkeys, NULL, 0);
	while (n < limit && index_getnext_slot(scan, ForwardScanDirection, t->slot))
		n++;
	index_endscan(scan);
	index_close(index, NoLock);
	ExecClearTuple(t->slot);
	return n;
}

/*
 * The row in slot with the columns named in cols (NULL-terminated) set to
 * values, in the current memory context.
 */
HeapTuple
RowModified(Relation rel, TupleTableSlot *slot, const char *const *cols, const Datum *values)
{
	int			attnums[8];
	bool		nulls[8];
	bool		should_free;
	int			n;

	for (n = 0; cols[n] != NULL; n++)
	{
		Assert(n < lengthof(attnums));
		attnums[n] = TopupColumnNumber(rel, cols[n]);
		nulls[n] = false;
	}
	return heap_modify_tuple_by_cols(ExecFetchSlotHeapTuple(slot, false, &should_free),
									 RelationGetDescr(rel), n, attnums, (Datum *) values, nulls);
}

/*
 * The executor tells btree, for each index, whether an UPDATE left the
 * index's key unchanged (bottom-up deletion of the old versions relies on
 * it).  It works that out from the range table entry's updated columns;
 * without a range table, it is said here from the columns the caller
 * names.  An expression or partial index is never hinted.
 */
static void
UpdateHints(RowTable *t, const char *const *updated)
{
	TupleDesc	desc = RelationGetDescr(t->rel);
	int			i;
	int			k;

	for (i = 0; i < t->rri->ri_NumIndices; i++)
	{
		IndexInfo  *ii = t->rri->ri_IndexRelationInfo[i];
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

/*
 * The index entries of the row in t->slot, as ExecSimpleRelationInsert and
 * ExecSimpleRelationUpdate make them.  The executor hands the list of
 * indexes whose uniqueness must be checked again at commit (deferrable
 * constraints) to the AFTER trigger queue; RowTableAsMade() lets no such
 * index through (its constraint has an internal trigger), so a list here is
 * an error, never dropped.
 */
static void
InsertIndexes(RowWriter *w, RowTable *t, bool update, bool only_summarizing,
			  const char *const *updated)
{
	List	   *recheck;

	if (t->rri->ri_IndexRelationDescs == NULL)
	{
		ExecOpenIndices(t->rri, false);
		if (update)
			UpdateHints(t, updated);
	}
	if (t->rri->ri_NumIndices == 0)
		return;
#if PG_VERSION_NUM >= 160000
	recheck = ExecInsertIndexTuples(t->rri, t->slot, w->estate, update, false, NULL, NIL,
									only_summarizing);
#else
	Assert(!only_summarizing);
	recheck = ExecInsertIndexTuples(t->rri, t->slot, w->estate, update, false, NULL, NIL);
#endif
	if (recheck != NIL)
		elog(ERROR, "topup: index of %s needs a deferred recheck", RelationGetRelationName(t->rel));
	ResetPerTupleExprContext(w->estate);
}

/* Insert a row and its index entries (ExecSimpleRelationInsert). */
void
RowInsert(RowWriter *w, RowTable *t, Datum *values, bool *nulls)
{
	TupleTableSlot *slot = t->slot;

	ExecClearTuple(slot);
	ExecForceStoreHeapTuple(heap_form_tuple(RelationGetDescr(t->rel), values, nulls), slot, true);
	table_tuple_insert(t->rel, slot, w->cid, 0, NULL);
	InsertIndexes(w, t, false, false, NULL);
	w->wrote = true;
}

/*
 * Replace the row in t->slot (as read, with its TID) by newtuple
 * (ExecSimpleRelationUpdate).  With wait, a concurrent writer of the row is
 * waited for; without, the row is left as it is (as SKIP LOCKED would).  On
 * TM_Ok the new version is in t->slot with its index entries: all of them
 * for a non-HOT update, the summarizing ones only for a HOT update that
 * changed a column they cover (16+), none otherwise.  On any other result
 * nothing is written.  updated names the columns the update changes.
 */
TM_Result
RowUpdate(RowWriter *w, RowTable *t, HeapTuple newtuple, const char *const *updated, bool wait)
{
	ItemPointerData otid = t->slot->tts_tid;
	TM_FailureData tmfd;
	LockTupleMode lockmode;
	TM_Result	result;

#if PG_VERSION_NUM >= 160000
	TU_UpdateIndexes update_indexes;
#else
	bool		update_indexes;
#endif

	CheckCmdReplicaIdentity(t->rel, CMD_UPDATE);
	ExecForceStoreHeapTuple(newtuple, t->slot, true);
	result = table_tuple_update(t->rel, &otid, t->slot, w->cid, w->snapshot,
								InvalidSnapshot, wait, &tmfd, &lockmode, &update_indexes);
	if (result != TM_Ok)
		return result;
	w->wrote = true;
#if PG_VERSION_NUM >= 160000
	if (update_indexes != TU_None)
		InsertIndexes(w, t, true, update_indexes == TU_Summarizing, updated);
#else
	if (update_indexes)
		InsertIndexes(w, t, true, false, updated);
#endif
	return TM_Ok;
}

/*
 * After RowUpdate found the row changed by a transaction that committed:
 * lock its newest version and read it into t->slot, as EvalPlanQual does
 * under READ COMMITTED.  The caller checks the row again.
 */
TM_Result
RowLockNewest(RowWriter *w, RowTable *t)
{
	ItemPointerData tid = t->slot->tts_tid;
	TM_FailureData tmfd;
	TM_Result	result;

	result = table_tuple_lock(t->rel, &tid, w->snapshot, t->slot, w->cid,
							  LockTupleNoKeyExclusive, LockWaitBlock,
							  TUPLE_LOCK_FLAG_FIND_LAST_VERSION, &tmfd);
	if (result == TM_Ok)
		slot_getallattrs(t->slot);
	return result;
}

/* Delete the row at tid (ExecSimpleRelationDelete); see RowUpdate for wait. */
TM_Result
RowDelete(RowWriter *w, RowTable *t, ItemPointer tid, bool wait)
{
	TM_FailureData tmfd;
	TM_Result	result;

	CheckCmdReplicaIdentity(t->rel, CMD_DELETE);
	result = table_tuple_delete(t->rel, tid, w->cid, w->snapshot, InvalidSnapshot, wait, &tmfd,
								false);
	if (result == TM_Ok)
		w->wrote = true;
	return result;
}

#endif							/* TOPUP_ROW_WRITES */
