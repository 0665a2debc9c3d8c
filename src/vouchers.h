/*-------------------------------------------------------------------------
 *
 * vouchers.h
 *	  The rules of a voucher's life, each written once: which vouchers are
 *	  live, which are due for expiry, and why one cannot be redeemed now.
 *	  The C forms are used by the triggers, the redeem and the sweep; the
 *	  SQL forms (by table alias) by the statements of the SQL paths.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOPUP_VOUCHERS_H
#define TOPUP_VOUCHERS_H

#include "postgres.h"

#include "datatype/timestamp.h"

#include "schema.h"

/* Live: new or blocked, so it may still be redeemed, unblocked or expired. */
static inline bool
VoucherIsLive(VoucherStatus status)
{
	return status == VS_NEW || status == VS_BLOCKED;
}

/*
 * Due: live and its expires_at reached.  The sweep expires due vouchers,
 * and an expires_at moved into the past makes a voucher expired at once.
 * "now" is the transaction's start, as now() is in SQL.
 */
static inline bool
VoucherIsDue(VoucherStatus status, bool expires_null, TimestampTz expires, TimestampTz now)
{
	return VoucherIsLive(status) && !expires_null && expires <= now;
}

#define TOPUP_VOUCHER_LIVE_SQL(v) \
	v ".status IN ('new', 'blocked')"
#define TOPUP_VOUCHER_DUE_SQL(v) \
	"(" TOPUP_VOUCHER_LIVE_SQL(v) " AND " v ".expires_at <= pg_catalog.now())"
/* the negation of every voucher refusal of TopupVoucherRefusal() */
#define TOPUP_VOUCHER_REDEEMABLE_SQL(v) \
	"(" v ".status = 'new' AND (" v ".expires_at IS NULL OR " v ".expires_at > pg_catalog.now()))"

/*
 * Why a voucher cannot be redeemed now (its slug, and a message in
 * *message), or NULL when it can.  Expiry is judged by expires_at at this
 * moment, whatever the status column says.  (vouchers.c)
 */
extern const char *TopupVoucherRefusal(VoucherStatus status, bool expires_null, TimestampTz expires,
									   TimestampTz now, const char **message);

#endif							/* TOPUP_VOUCHERS_H */
