/*-------------------------------------------------------------------------
 *
 * master.h
 *	  Master balances, fee accounts and pricing (master.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOPUP_MASTER_H
#define TOPUP_MASTER_H

#include "postgres.h"

/* Slots of each master balance and fee account (see master.c). */
#define TOPUP_SLOTS 16

/*
 * The CTEs, in a statement with CTEs t (after: the master balance after
 * the order) and o (the order written), that raise master.low once per
 * crossing: $1 client, $2 currency.  Appended after the last CTE.
 */
#define MASTER_LOW_SQL \
	", lb AS (UPDATE topup.low_balances b SET low = true FROM t, o " \
	"        WHERE b.client_id = $1 AND b.currency = $2 AND NOT b.low AND t.after < b.threshold " \
	"        RETURNING b.threshold, t.after), " \
	"le AS (INSERT INTO topup.events (client_id, kind, payload) " \
	"       SELECT $1, 'master.low', pg_catalog.jsonb_build_object('currency', $2::pg_catalog.text, " \
	"              'balance', lb.after::pg_catalog.text, 'threshold', lb.threshold::pg_catalog.text) " \
	"         FROM lb) "


extern void TopupEnsureSlots(Datum client_id, Datum currency);
extern void TopupMasterRaised(Datum client_id, Datum currency);
extern bool TopupMasterSlowPath(Datum client_id, Datum currency, Datum total, int minor_units,
								int charge_slot);

#endif							/* TOPUP_MASTER_H */
