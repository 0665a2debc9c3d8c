/*-------------------------------------------------------------------------
 *
 * topup.h
 *	  What most of the extension's C files share: the GUCs (topup.c), the
 *	  argument helpers and checks of currencies, amounts and clients
 *	  (accounts.c), and customer_info validation (customer_info.c).
 *
 *	  The other headers are by concern: serial.h (the voucher_serial type),
 *	  crypto.h (keys, hashing, randomness), guard.h (the internal-write
 *	  flag), schema.h (the extension's own objects, plans and columns),
 *	  rowops.h (plan-free row reads and writes), vouchers.h (voucher status
 *	  rules), orders.h (order results, idempotency), master.h (master
 *	  balances).
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOPUP_H
#define TOPUP_H

#include "postgres.h"
#include "fmgr.h"
#include "access/tupdesc.h"

/* ---------- GUCs (topup.c) ---------- */

extern int	topup_max_batch;
extern double topup_max_pin_density;
extern int	topup_max_failed_redeems;
extern int	topup_redeem_lockout;	/* seconds */
extern int	topup_expiry_max_rate;	/* vouchers per second, 0: no limit */
extern bool topup_notify_events;
extern int	topup_expiry_notice;	/* seconds */

/* ---------- arguments, currencies, amounts, clients (accounts.c) ---------- */

extern char *TopupTextArg(FunctionCallInfo fcinfo, int argno);
extern int	TopupCurrencyMinorUnits(const char *currency);
extern Datum TopupCheckAmount(Datum amount, int minor_units, bool *ok);
extern int	TopupNumericSign(Datum value);
extern bool TopupClientExists(const char *client_id);
extern void TopupRequireClient(FunctionCallInfo fcinfo, const char *client_id);
extern int	TopupRequireCurrency(const char *currency);
extern struct Tuplestorestate *TopupMaterialize(FunctionCallInfo fcinfo, TupleDesc *tupdesc, int max_kbytes);

/* ---------- pg_cron (expiry.c) ---------- */

extern int64 TopupSchedule(const char *jobname, Datum schedule, const char *command);

/* ---------- customer_info (customer_info.c) ---------- */

extern Datum TopupValidateCustomerInfo(Datum customer_info);

#endif							/* TOPUP_H */
