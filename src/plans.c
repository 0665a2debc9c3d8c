/*-------------------------------------------------------------------------
 *
 * plans.c
 *	  The backend's cache of prepared SPI plans.
 *
 *	  Every statement the extension runs on a hot path is prepared once per
 *	  backend and kept (SPI_keepplan).  A kept plan holds the OIDs of the
 *	  extension's types and tables, so if the extension is dropped and
 *	  created again while a pooled connection lives on, the plans must go:
 *	  the cache remembers the OID of the extension they were made for and
 *	  frees every plan when it changes.  (The schema outlives DROP
 *	  EXTENSION, so its OID would not do.)
 *
 *-------------------------------------------------------------------------
 */
#include "topup.h"

#include "commands/extension.h"
#include "executor/spi.h"
#include "nodes/parsenodes.h"
#include "utils/inval.h"

#define MAX_CACHED_PLANS 64

static SPIPlanPtr *plan_slots[MAX_CACHED_PLANS];
static int	nplan_slots = 0;
static Oid	plans_extension = InvalidOid;
static uint64 cache_epoch = 0;

/*
 * Whether the extension must be looked up again.  Looking it up is a
 * catalog scan (pg_extension has no syscache), too dear for every call; a
 * DROP EXTENSION drops the extension's tables, which sends a relcache
 * invalidation to every backend, so any relcache invalidation sets this.
 */
static bool check_extension = true;
static bool callback_registered = false;

static void
RelcacheCallback(Datum arg, Oid relid)
{
	check_extension = true;
}

/*
 * The current epoch; when the extension was re-created since the last
 * look-up, every cached plan is freed and the epoch moves on.
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
		if (ext != plans_extension)
		{
			int			i;

			for (i = 0; i < nplan_slots; i++)
			{
				if (*plan_slots[i] != NULL)
					SPI_freeplan(*plan_slots[i]);
				*plan_slots[i] = NULL;
			}
			nplan_slots = 0;
			plans_extension = ext;
			cache_epoch++;
		}
	}
	return cache_epoch;
}

/*
 * The plan cached in *slot, prepared from sql on first use (or after the
 * extension was re-created).  The caller must be connected to SPI.
 */
SPIPlanPtr
TopupPreparePlan(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan;

	(void) TopupCacheEpoch();
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
