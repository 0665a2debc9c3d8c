/*-------------------------------------------------------------------------
 *
 * orders.h
 *	  What every order type shares (orders.c): SQLSTATEs of the raised slugs,
 *	  the order_result columns, order ids and idempotency.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOPUP_ORDERS_H
#define TOPUP_ORDERS_H

#include "postgres.h"
#include "fmgr.h"
#include "access/htup.h"
#include "access/tupdesc.h"

/* SQLSTATEs of the raised slugs, as listed in topup.error_codes */
#define ERRCODE_TOPUP_IDEMPOTENCY_KEY_REUSED	MAKE_SQLSTATE('T','U','0','0','9')
#define ERRCODE_TOPUP_ORDER_NOT_FOUND			MAKE_SQLSTATE('T','U','0','1','0')
#define ERRCODE_TOPUP_INVALID_CUSTOMER_INFO		MAKE_SQLSTATE('T','U','0','1','2')
#define ERRCODE_TOPUP_IDEMPOTENCY_KEY_REQUIRED	MAKE_SQLSTATE('T','U','0','1','3')
#define ERRCODE_TOPUP_INVALID_AMOUNT			MAKE_SQLSTATE('T','U','0','1','4')
#define ERRCODE_TOPUP_INVALID_ENTRY_TYPE		MAKE_SQLSTATE('T','U','0','1','5')
#define ERRCODE_TOPUP_ORDER_ALREADY_FINAL		MAKE_SQLSTATE('T','U','0','2','2')
#define ERRCODE_TOPUP_UNKNOWN_CHANNEL			MAKE_SQLSTATE('T','U','0','2','3')

/* The order_result columns in order, for RETURNING and SELECT lists. */
#define TOPUP_ORDER_RESULT_COLUMNS \
	"order_id, order_type, status, topup_status, client_id, account_id, serial, " \
	"amount, fee, currency, master_balance_before, master_balance_after, " \
	"account_balance_after, error_slug, error_message, idempotency_key, reference, " \
	"false AS replayed, created_at, completed_at, failed_at"
/*
 * The same qualified by a table alias, for statements that join another
 * table with columns of the same names (topup.channels has client_id).
 */
#define TOPUP_ORDER_RESULT_COLUMNS_OF(o) \
	o ".order_id, " o ".order_type, " o ".status, " o ".topup_status, " o ".client_id, " \
	o ".account_id, " o ".serial, " o ".amount, " o ".fee, " o ".currency, " \
	o ".master_balance_before, " o ".master_balance_after, " o ".account_balance_after, " \
	o ".error_slug, " o ".error_message, " o ".idempotency_key, " o ".reference, " \
	"false AS replayed, " o ".created_at, " o ".completed_at, " o ".failed_at"
#define TOPUP_ORDER_RESULT_NATTS	21
#define TOPUP_ORDER_RESULT_REPLAYED	18	/* 1-based position of "replayed" */

extern int64 TopupNextOrderId(void);
extern Datum TopupOrderResult(FunctionCallInfo fcinfo, HeapTuple row, TupleDesc desc,
							  int firstcol, bool replayed);
extern Datum TopupOrderResultValues(FunctionCallInfo fcinfo, Datum *values, bool *nulls);
extern bool TopupFindIdempotent(const char *client_id, const char *order_type,
								const char *key, const uint8 *request_hash,
								HeapTuple *row, TupleDesc *desc);
extern void TopupCheckIdempotencyKey(const char *key);

/* Move the money of a reversal that a worker reported completed (reverse.c). */
extern Datum TopupApplyReversal(FunctionCallInfo fcinfo, Datum order_id, const char *provider_reference);

#endif							/* TOPUP_ORDERS_H */
