/*-------------------------------------------------------------------------
 *
 * rowops.h
 *	  Row reads and writes without a query plan (rowops.c): keyed index
 *	  scans, inserts, updates and deletes through the table access method,
 *	  shaped like core's execReplication.c (how logical replication applies
 *	  rows).  Redeem (redeem.c) and the expiry sweep (expiry.c) build their
 *	  hot paths from these.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOPUP_ROWOPS_H
#define TOPUP_ROWOPS_H

#include "postgres.h"

#include "access/skey.h"
#include "access/tableam.h"
#include "nodes/execnodes.h"
#include "utils/snapshot.h"

/* The executor's row APIs used here differ before PostgreSQL 14. */
#if PG_VERSION_NUM >= 140000
#define TOPUP_ROW_WRITES 1
#endif

/* The call's executor state and snapshot. */
typedef struct RowWriter
{
	MemoryContext caller;		/* current at RowWriterBegin */
	EState	   *estate;
	Snapshot	snapshot;		/* NULL until RowWriterSnapshot */
	CommandId	cid;
	bool		wrote;			/* a row was written: CCI at the end */
} RowWriter;

/* One table opened for the call. */
typedef struct RowTable
{
	Relation	rel;
	ResultRelInfo *rri;
	TupleTableSlot *slot;		/* a row of this table, as read or to write */
} RowTable;

/*
 * What a table must look like for the plan-free writes to make exactly the
 * writes an SQL statement would (see RowTableAsMade): its own triggers,
 * CHECK constraints and row-level security policies by name, whether foreign-key check triggers are fine
 * (only where the writes change no key column), and for inserts the columns
 * written (every other column must be nullable without a default).
 */
typedef struct RowTableShape
{
	const char *const *triggers;
	bool		fk_checks_ok;
	const char *const *checks;
	const char *const *written;	/* NULL: no inserts */
	const char *const *policies;	/* the extension's own row-level security */
} RowTableShape;

/* An index by name, its OID remembered and checked at each use. */
typedef struct IndexRef
{
	const char *name;
	Oid			oid;
} IndexRef;

/* Rows of a table by equality on the leading columns of one of its indexes. */
typedef struct KeyedScan
{
	RowTable   *table;
	Relation	index;
	struct IndexScanDescData *scan;
	int			nkeys;
	ScanKeyData keys[INDEX_MAX_KEYS];
} KeyedScan;

extern void RowWriterBegin(RowWriter *w);
extern void RowWriterSnapshot(RowWriter *w);
extern void RowWriterEnd(RowWriter *w);

extern void RowTableOpen(RowWriter *w, RowTable *t, Oid relid);
extern void RowTableClose(RowTable *t);
extern bool RowTableAsMade(Relation rel, const RowTableShape *shape);
extern int	RowColumn(Relation rel, const char *name);

extern Oid	RowIndexOid(Relation heap, IndexRef *ref);
extern void RowIndexKey(ScanKey key, Relation index, int column, StrategyNumber strategy, Datum value);

extern void KeyedScanBegin(KeyedScan *ks, RowWriter *w, RowTable *t, IndexRef *ref, int nkeys);
extern bool KeyedScanFetch(KeyedScan *ks, const Datum *values);
extern void KeyedScanEnd(KeyedScan *ks);
extern bool RowFetch(RowWriter *w, RowTable *t, IndexRef *ref, int nkeys, const Datum *values);
extern int	RowCount(RowWriter *w, RowTable *t, IndexRef *ref, ScanKey keys, int nkeys, int limit);

extern HeapTuple RowModified(Relation rel, TupleTableSlot *slot, const char *const *cols,
							 const Datum *values);
extern void RowInsert(RowWriter *w, RowTable *t, Datum *values, bool *nulls);
extern TM_Result RowUpdate(RowWriter *w, RowTable *t, HeapTuple newtuple,
						   const char *const *updated, bool wait);
extern TM_Result RowLockNewest(RowWriter *w, RowTable *t);
extern TM_Result RowDelete(RowWriter *w, RowTable *t, ItemPointer tid, bool wait);

#endif							/* TOPUP_ROWOPS_H */
