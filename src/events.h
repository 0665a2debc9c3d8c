/*-------------------------------------------------------------------------
 *
 * events.h
 *	  The event outbox (events.c): what an order event says, written in the
 *	  same transaction as the order; the optional NOTIFY.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOPUP_EVENTS_H
#define TOPUP_EVENTS_H

#include "postgres.h"

/*
 * The payload of an order event, from an alias of topup.orders (or of a
 * CTE returning its columns); events.c builds the same object in C for the
 * plan-free redeem.
 */
#define TOPUP_ORDER_EVENT_PAYLOAD_SQL(o) \
	"pg_catalog.jsonb_build_object('order_type', " o ".order_type, 'status', " o ".status, " \
	"'topup_status', " o ".topup_status, 'amount', " o ".amount::pg_catalog.text, " \
	"'fee', " o ".fee::pg_catalog.text, 'currency', " o ".currency, " \
	"'error_slug', " o ".error_slug, 'reference', " o ".reference)"

/* The event kind of an order in its status: order.completed, .failed or .processing. */
#define TOPUP_ORDER_EVENT_KIND_SQL(o) \
	"'order.' OPERATOR(pg_catalog.||) " o ".status::pg_catalog.text"

/* INSERT ... SELECT of the events of the orders in a CTE or table alias. */
#define TOPUP_ORDER_EVENTS_SQL(from, o) \
	"INSERT INTO topup.events (client_id, kind, order_id, serial, account_id, payload) " \
	"SELECT " o ".client_id, " TOPUP_ORDER_EVENT_KIND_SQL(o) ", " o ".order_id, " o ".serial, " \
	o ".account_id, " TOPUP_ORDER_EVENT_PAYLOAD_SQL(o) " FROM " from

/* The CTE writing the events of the orders of CTE o, appended after the last CTE. */
#define TOPUP_ORDER_EVENTS_CTE \
	", e AS (" TOPUP_ORDER_EVENTS_SQL("o", "o") ") "

/* The payload of a completed redeem, as TOPUP_ORDER_EVENT_PAYLOAD_SQL makes it. */
extern Datum TopupRedeemEventPayload(Datum amount, Datum currency, const char *reference);

/* Events were written by this transaction: NOTIFY topup_events if asked to. */
extern void TopupEventsWritten(void);

/* A provider-backed order became claimable: NOTIFY topup_orders, channel. */
extern void TopupOrdersClaimable(const char *channel);

/* Write the voucher.expiring events that are due, up to max_rows; how many. */
extern int64 TopupNoticeExpiring(int32 max_rows);

#endif							/* TOPUP_EVENTS_H */
