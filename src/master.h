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

extern void TopupEnsureSlots(Datum client_id, Datum currency);
extern bool TopupMasterSlowPath(Datum client_id, Datum currency, Datum total, int minor_units,
								int charge_slot);

#endif							/* TOPUP_MASTER_H */
