/*-------------------------------------------------------------------------
 *
 * serial.h
 *	  The voucher_serial type (serial.c): its C form and helpers.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOPUP_SERIAL_H
#define TOPUP_SERIAL_H

#include "postgres.h"

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

#endif							/* TOPUP_SERIAL_H */
