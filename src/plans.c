/*-------------------------------------------------------------------------
 *
 * plans.c
 *	  The backend's cache of prepared SPI plans.
 *
 *	  Every statement the extension runs on a hot path is prepared once per
 *	  backend and kept (SPI_keepplan).  A kept plan holds the OIDs of the
 *	  extension's types and tables, so if the extension is dropped and
 *	  created again while a pooled connection lives on, the plans must go:
 *	  the cache remembers the epoch of the extension they were made for
 *	  (schema.c) and frees every plan when it moves on.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "nodes/parsenodes.h"

#include "schema.h"

#define MAX_CACHED_PLANS 64

static SPIPlanPtr *plan_slots[MAX_CACHED_PLANS];
static int	nplan_slots = 0;
static uint64 plans_epoch = 0;

/* Free every cached plan when the extension was created anew. */
static void
ForgetStalePlans(void)
{
	uint64		epoch = TopupCacheEpoch();
	int			i;

	if (epoch == plans_epoch)
		return;
	for (i = 0; i < nplan_slots; i++)
	{
		if (*plan_slots[i] != NULL)
			SPI_freeplan(*plan_slots[i]);
		*plan_slots[i] = NULL;
	}
	nplan_slots = 0;
	plans_epoch = epoch;
}

/*
 * The plan cached in *slot, prepared from sql on first use (or after the
 * extension was re-created).  The caller must be connected to SPI.
 */
SPIPlanPtr
TopupPreparePlan(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan;

	ForgetStalePlans();
	if (*slot != NULL)
		return *slot;
	if (nplan_slots >= MAX_CACHED_PLANS)
		elog(ERROR, "topup: too many cached plans");
	/*
	 * Every cached statement looks rows up by key, so one generic plan fits
	 * all parameter values; forcing it saves the custom-plan rounds the
	 * plan cache would otherwise try first.
	 */
	plan = SPI_prepare_cursor(sql, nargs, argtypes, CURSOR_OPT_GENERIC_PLAN);
	if (plan == NULL)
		elog(ERROR, "topup: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "topup: SPI_keepplan failed");
	*slot = plan;
	plan_slots[nplan_slots++] = slot;
	return plan;
}
