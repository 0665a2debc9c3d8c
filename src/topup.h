/*-------------------------------------------------------------------------
 *
 * topup.h
 *	  Declarations shared by the C files of the topup extension.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOPUP_H
#define TOPUP_H

#include "postgres.h"
#include "fmgr.h"
#include "access/htup.h"
#include "access/tupdesc.h"
#include "datatype/timestamp.h"

/* ---------- voucher_serial (serial.c) ---------- */

/*
 * On-disk and in-memory form of topup.voucher_serial: a fixed 16-byte value.
 *
 * "series" packs the 1..10 series characters as a base-37 number, left
 * aligned (each character is 1..36: '0'..'9' = 1..10, 'A'..'Z' = 11..36,
 * padding = 0).  Because the padding sorts below every character and the
 * character values follow ASCII order, comparing the integers compares the
 * series text in C-collation order, so the btree opclass is two integer
 * comparisons.
 */
typedef struct VoucherSerial
{
	int64		series;			/* packed series code */
	int64		number;			/* sequence number, 1 .. 999999999999 */
} VoucherSerial;

#define TOPUP_SERIES_MAXLEN		10
#define TOPUP_SERIAL_MAX_NUMBER	INT64CONST(999999999999)
#define TOPUP_SERIAL_MAXLEN		(TOPUP_SERIES_MAXLEN + 1 + 13 + 1)

#define DatumGetVoucherSerialP(X)	((VoucherSerial *) DatumGetPointer(X))
#define VoucherSerialPGetDatum(X)	PointerGetDatum(X)
#define PG_GETARG_VOUCHER_SERIAL_P(n)	DatumGetVoucherSerialP(PG_GETARG_DATUM(n))
#define PG_RETURN_VOUCHER_SERIAL_P(x)	return VoucherSerialPGetDatum(x)

/*
 * Encode series text (len bytes, no NUL needed) into its packed form.
 * Accepts lower case; returns false if the text is empty, longer than
 * TOPUP_SERIES_MAXLEN or holds a character outside [A-Za-z0-9].
 */
extern bool SerialEncodeSeries(const char *series, int len, int64 *code);

/* Decode a packed series into buf (at least TOPUP_SERIES_MAXLEN + 1 bytes). */
extern void SerialDecodeSeries(int64 code, char *buf);

/* Format a serial as SERIES-DIGITS (palloc'd). */
extern char *SerialToCString(const VoucherSerial *serial);

/* ---------- GUCs (topup.c) ---------- */

extern int	topup_max_batch;
extern double topup_max_pin_density;
extern int	topup_max_failed_redeems;
extern int	topup_redeem_lockout;	/* seconds */
extern int	topup_expiry_max_rate;	/* vouchers per second, 0: no limit */

/* ---------- internal-write guard (guard.c) ---------- */

/*
 * The table triggers let a write through only while one of the extension's
 * own functions runs it.  TopupEnterInternal() returns the previous depth,
 * which TopupLeaveInternal() restores (call it in PG_FINALLY so an error
 * caught by the caller cannot leave the guard open).
 */
extern int	TopupEnterInternal(void);
extern void TopupLeaveInternal(int saved);
extern bool TopupIsInternal(void);
extern bool TopupIsCopyFrom(void);

/* ---------- keys, hashing, encryption, randomness (crypto.c) ---------- */

#define TOPUP_KEY_LEN		32
#define TOPUP_HASH_LEN		32
#define TOPUP_PIN_MIN		5
#define TOPUP_PIN_MAX		20
#define TOPUP_CIPHER_MAX	32	/* AES-CBC of up to 20 digits with PKCS#7 padding */
#define TOPUP_REFERENCE_LEN	22	/* "TU" + 20 base32 characters */

extern void TopupCryptoInit(void);
extern void TopupHmac(const void *data, size_t len, uint8 *out);
extern int	TopupEncryptPin(const char *pin, int len, const uint8 *iv, uint8 *out);
extern int	TopupDecryptPin(const uint8 *cipher, int len, const uint8 *iv, char *out);
extern void TopupRandomBytes(void *dst, size_t len);
extern void TopupRandomDigits(char *dst, int len);
extern void TopupNewReference(char *dst);
extern bytea *TopupByteaFrom(const void *data, int len);

/* ---------- small shared helpers (accounts.c) ---------- */

extern int	TopupCurrencyMinorUnits(const char *currency);
extern Datum TopupCheckAmount(Datum amount, int minor_units, bool *ok);
extern int	TopupNumericSign(Datum value);
extern bool TopupClientExists(const char *client_id);
extern void TopupRequireClient(const char *client_id);
extern int	TopupRequireCurrency(const char *currency);
extern char *TopupTextArg(FunctionCallInfo fcinfo, int argno);
extern struct Tuplestorestate *TopupMaterialize(FunctionCallInfo fcinfo, TupleDesc *tupdesc);

/* ---------- customer_info (customer_info.c) ---------- */

extern Datum TopupValidateCustomerInfo(Datum customer_info);

/* ---------- orders (orders.c) ---------- */

/* SQLSTATEs of the raised slugs, as listed in topup.error_codes */
#define ERRCODE_TOPUP_IDEMPOTENCY_KEY_REUSED	MAKE_SQLSTATE('T','U','0','0','9')
#define ERRCODE_TOPUP_ORDER_NOT_FOUND			MAKE_SQLSTATE('T','U','0','1','0')
#define ERRCODE_TOPUP_INVALID_CUSTOMER_INFO		MAKE_SQLSTATE('T','U','0','1','2')
#define ERRCODE_TOPUP_IDEMPOTENCY_KEY_REQUIRED	MAKE_SQLSTATE('T','U','0','1','3')
#define ERRCODE_TOPUP_INVALID_AMOUNT			MAKE_SQLSTATE('T','U','0','1','4')
#define ERRCODE_TOPUP_INVALID_ENTRY_TYPE		MAKE_SQLSTATE('T','U','0','1','5')

/* The order_result columns in order, for RETURNING and SELECT lists. */
#define TOPUP_ORDER_RESULT_COLUMNS \
	"order_id, order_type, status, topup_status, client_id, account_id, serial, " \
	"amount, fee, currency, master_balance_before, master_balance_after, " \
	"account_balance_after, error_slug, error_message, idempotency_key, reference, " \
	"false AS replayed, created_at, completed_at, failed_at"
#define TOPUP_ORDER_RESULT_NATTS	21
#define TOPUP_ORDER_RESULT_REPLAYED	18	/* 1-based position of "replayed" */

extern int64 TopupNextOrderId(void);
extern Oid	TopupSerialTypeOid(void);
extern Datum TopupOrderResult(FunctionCallInfo fcinfo, HeapTuple row, TupleDesc desc,
							  int firstcol, bool replayed);
extern Datum TopupOrderResultValues(FunctionCallInfo fcinfo, Datum *values, bool *nulls);
extern bool TopupFindIdempotent(const char *client_id, const char *order_type,
								const char *key, const uint8 *request_hash,
								HeapTuple *row, TupleDesc *desc);
extern void TopupCheckIdempotencyKey(const char *key);

/* ---------- master balances and pricing (master.c) ---------- */

/* Slots of each master balance and fee account (see master.c). */
#define TOPUP_SLOTS 16

extern void TopupEnsureSlots(Datum client_id, Datum currency);
extern bool TopupMasterSlowPath(Datum client_id, Datum currency, Datum total, int minor_units,
								int charge_slot);

/* ---------- column numbers by name (columns.c) ---------- */

struct RelationData;
extern int	TopupColumnNumber(struct RelationData *rel, const char *name);

/* ---------- the redeem without a plan (direct.c) ---------- */

typedef struct TopupDirectRedeem
{
	const char *client_id;
	const char *account_id;
	const char *key;			/* idempotency key or NULL */
	const char *source;			/* lockout source or NULL */
	const uint8 *pin_hash;		/* by PIN, or NULL ... */
	const VoucherSerial *serial;	/* ... by serial */
	const uint8 *request_hash;
	int64		order_id;
	const char *reference;
	TimestampTz lockout_since;	/* start of the lockout window */
	int			max_failed;		/* topup.max_failed_redeems; 0: no lockout */
} TopupDirectRedeem;

typedef enum TopupDirectResult
{
	TOPUP_DIRECT_DONE,			/* redeemed; values/nulls hold the order_result */
	TOPUP_DIRECT_REFUSED,		/* a check failed; nothing written */
	TOPUP_DIRECT_NOT_TAKEN		/* not this way (schema, race); nothing written */
} TopupDirectResult;

extern TopupDirectResult TopupRedeemDirect(const TopupDirectRedeem *r, Datum *values, bool *nulls);
extern int64 TopupExpireDirect(int32 max_rows);

/* OID of topup.voucher_expiry, or InvalidOid before version 0.3.0 (expiry.c). */
extern Oid	TopupExpiryQueueOid(void);

/* ---------- SPI helpers (plans.c) ---------- */

/*
 * A number that changes whenever the extension is dropped and created
 * again: caches of OIDs compare it with the one they were filled under.
 */
extern uint64 TopupCacheEpoch(void);

struct _SPI_plan;
extern struct _SPI_plan *TopupPreparePlan(struct _SPI_plan **slot, const char *sql,
										  int nargs, Oid *argtypes);

/* Error out with an internal error when an SPI call fails. */
#define TopupSPICheck(rc, expected, what) \
	do { \
		if ((rc) != (expected)) \
			elog(ERROR, "topup: SPI %s failed: %s", (what), SPI_result_code_string(rc)); \
	} while (0)

#endif							/* TOPUP_H */
