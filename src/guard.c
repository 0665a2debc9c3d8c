/*-------------------------------------------------------------------------
 *
 * guard.c
 *	  The "internal write" flag that lets the extension's own functions
 *	  through the table triggers, and detection of a COPY FROM (how
 *	  pg_dump restores the extension's rows).
 *
 *	  The flag is a backend-local depth counter.  Every SQL-callable
 *	  function that writes raises it on entry and restores the saved value
 *	  in PG_FINALLY, so an error caught by a caller's exception block can
 *	  never leave it raised.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"


#include "catalog/namespace.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"
#include "tcop/pquery.h"
#include "utils/portal.h"
#include "utils/rel.h"

#include "access.h"
#include "guard.h"

static int	internal_depth = 0;

int
TopupEnterInternal(void)
{
	return internal_depth++;
}

void
TopupLeaveInternal(int saved)
{
	internal_depth = saved;
}

bool
TopupIsInternal(void)
{
	return internal_depth > 0;
}

/*
 * True while the top-level command is a COPY ... FROM into rel itself, run
 * by the extension owner or a superuser: how pg_dump and pg_restore load
 * the extension's configuration tables, which the guards must let through
 * (verify_ledger() audits the result).  A write nested in a COPY into
 * another table (a trigger of it) is not let through, nor a COPY by
 * anybody else.
 */
bool
TopupIsCopyFrom(Relation rel)
{
	PlannedStmt *stmt;
	CopyStmt   *copy;

	if (ActivePortal == NULL || ActivePortal->commandTag != CMDTAG_COPY ||
		list_length(ActivePortal->stmts) != 1)
		return false;

	/*
	 * Only COPY ... FROM: COPY (INSERT ... RETURNING) TO has the same
	 * command tag, and must not slip past the guards.
	 */
	stmt = linitial_node(PlannedStmt, ActivePortal->stmts);
	if (stmt->commandType != CMD_UTILITY || stmt->utilityStmt == NULL ||
		!IsA(stmt->utilityStmt, CopyStmt))
		return false;
	copy = castNode(CopyStmt, stmt->utilityStmt);
	if (!copy->is_from || copy->relation == NULL ||
		RangeVarGetRelid(copy->relation, NoLock, true) != RelationGetRelid(rel))
		return false;
	return TopupRolePrivileged(GetUserId());
}

Datum
TopupRunInternal(FunctionCallInfo fcinfo, TopupBody body)
{
	Datum		result;
	int			saved = TopupEnterInternal();

	PG_TRY();
	{
		SPI_connect();
		result = body(fcinfo);
		SPI_finish();
	}
	PG_FINALLY();
	{
		TopupLeaveInternal(saved);
	}
	PG_END_TRY();
	return result;
}
