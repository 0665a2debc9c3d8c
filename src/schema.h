/*-------------------------------------------------------------------------
 *
 * schema.h
 *	  The extension's own objects as the C code finds them: relations,
 *	  sequences, the serial type and enum labels by OID (schema.c), prepared
 *	  SPI plans (plans.c) and column numbers by name (columns.c), all kept
 *	  per backend and forgotten when the extension is created anew.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOPUP_SCHEMA_H
#define TOPUP_SCHEMA_H

#include "postgres.h"

/* The status enums, in their declaration order in the install script. */
typedef enum VoucherStatus
{
	VS_NEW,
	VS_ACTIVATED,
	VS_EXPIRED,
	VS_BLOCKED,
	VS_COUNT
} VoucherStatus;

typedef enum AccountStatus
{
	AS_INACTIVE,
	AS_ACTIVE,
	AS_BLOCKED,
	AS_CLOSED,
	AS_COUNT
} AccountStatus;

typedef enum OrderStatus
{
	OS_NEW,
	OS_ACTIVATING,
	OS_PROCESSING,
	OS_COMPLETED,
	OS_FAILED,
	OS_COUNT
} OrderStatus;

/* The sub-status of a top-up's processing (SPEC §9). */
typedef enum TopupStatus
{
	TS_NEW,
	TS_PROVIDER_IN_PROGRESS,
	TS_NEW_ERROR,
	TS_PROVIDER_IN_PROGRESS_ERROR,
	TS_PROVIDER_VERIFICATION,
	TS_PROVIDER_VERIFICATION_ERROR,
	TS_COMPLETED,
	TS_FAILED,
	TS_COUNT
} TopupStatus;

/* completed and failed orders are final */
#define OrderStatusIsFinal(s)	((s) == OS_COMPLETED || (s) == OS_FAILED)

extern const char *const topup_voucher_status_names[VS_COUNT];
extern const char *const topup_account_status_names[AS_COUNT];
extern const char *const topup_order_status_names[OS_COUNT];
extern const char *const topup_topup_status_names[TS_COUNT];

/* May topup_status move from one to the other?  (SPEC §9, schema.c) */
extern bool TopupStatusMoveAllowed(TopupStatus from, TopupStatus to);

/*
 * OIDs of the extension's objects.  expiry_queue is InvalidOid in a
 * database whose extension predates 0.3.0, role_bindings, duty_grants and
 * audit_log before 0.4.0 (the library serves every installed version; see
 * the versioned entry points in expiry.c and triggers.c).
 */
typedef struct TopupSchema
{
	Oid			extension;
	Oid			owner;			/* the extension's owner */
	Oid			clients;
	Oid			vouchers;
	Oid			accounts;
	Oid			ledger;
	Oid			orders;
	Oid			expiry_queue;
	Oid			role_bindings;	/* InvalidOid before 0.4.0, as expiry_queue */
	Oid			duty_grants;
	Oid			audit_log;
	Oid			events;			/* InvalidOid before 0.5.0, as expiry_queue */
	Oid			order_id_seq;
	Oid			ledger_entry_seq;
	Oid			serial_type;
	Oid			voucher_status[VS_COUNT];
	Oid			account_status[AS_COUNT];
	Oid			order_status[OS_COUNT];
	Oid			topup_status[TS_COUNT];
} TopupSchema;

/*
 * A number that changes whenever the extension is dropped and created
 * again: caches of OIDs compare it with the one they were filled under.
 */
extern uint64 TopupCacheEpoch(void);
extern const TopupSchema *TopupGetSchema(void);

/* The position of an enum value among labels (of nlabels), or an error. */
extern int	TopupEnumIndex(const Oid *labels, int nlabels, Datum value);

#define TopupVoucherStatusOf(d)	((VoucherStatus) TopupEnumIndex(TopupGetSchema()->voucher_status, VS_COUNT, (d)))
#define TopupAccountStatusOf(d)	((AccountStatus) TopupEnumIndex(TopupGetSchema()->account_status, AS_COUNT, (d)))
#define TopupOrderStatusOf(d)	((OrderStatus) TopupEnumIndex(TopupGetSchema()->order_status, OS_COUNT, (d)))
#define TopupTopupStatusOf(d)	((TopupStatus) TopupEnumIndex(TopupGetSchema()->topup_status, TS_COUNT, (d)))

/* OID of topup.voucher_serial (SECURITY DEFINER code runs without topup on its search path). */
extern Oid	TopupSerialTypeOid(void);

/*
 * Whether the extension's SQL has the order lifecycle of 0.5.0 (channels,
 * holds, events): the library also serves the SQL of older versions until
 * ALTER EXTENSION UPDATE, and then writes no events.
 */
#define TopupHasLifecycle()	OidIsValid(TopupGetSchema()->events)

/* ---------- prepared SPI plans (plans.c) ---------- */

struct _SPI_plan;
extern struct _SPI_plan *TopupPreparePlan(struct _SPI_plan **slot, const char *sql,
										  int nargs, Oid *argtypes);

/* Error out with an internal error when an SPI call fails. */
#define TopupSPICheck(rc, expected, what) \
	do { \
		if ((rc) != (expected)) \
			elog(ERROR, "topup: SPI %s failed: %s", (what), SPI_result_code_string(rc)); \
	} while (0)

/* ---------- column numbers by name (columns.c) ---------- */

struct RelationData;
extern int	TopupColumnNumber(struct RelationData *rel, const char *name);

#endif							/* TOPUP_SCHEMA_H */
