/*-------------------------------------------------------------------------
 *
 * columns.c
 *	  Column numbers by name, remembered per relation.
 *
 *	  The triggers and the plan-free writes (direct.c) name their columns
 *	  with string literals, so a cache entry is found by the literal's
 *	  address and the relation's OID.  The name at the remembered position
 *	  is compared again on every use, so a table re-created or altered since
 *	  (an upgrade script, an administrator's column) is looked up anew.  A
 *	  mass edit of a million rows thus looks each column up once, not a
 *	  million times.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/rel.h"

#include "schema.h"

#define COLUMN_CACHE_SIZE 128

typedef struct ColumnCacheEntry
{
	Oid			relid;
	const char *name;
	int			attnum;
} ColumnCacheEntry;

static ColumnCacheEntry column_cache[COLUMN_CACHE_SIZE];

/* The 1-based number of column "name" (a string literal) of rel. */
int
TopupColumnNumber(Relation rel, const char *name)
{
	TupleDesc	desc = RelationGetDescr(rel);
	Oid			relid = RelationGetRelid(rel);
	uint32		h = (uint32) (((uintptr_t) name) >> 3) ^ relid;
	ColumnCacheEntry *e = &column_cache[h % COLUMN_CACHE_SIZE];
	int			i;

	if (e->name == name && e->relid == relid && e->attnum <= desc->natts)
	{
		Form_pg_attribute att = TupleDescAttr(desc, e->attnum - 1);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return e->attnum;
	}

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			break;
	}
	if (i == desc->natts)
		elog(ERROR, "topup: column \"%s\" of %s is missing", name, RelationGetRelationName(rel));
	e->relid = relid;
	e->name = name;
	e->attnum = i + 1;
	return e->attnum;
}
