/*-------------------------------------------------------------------------
 *
 * serial.c
 *	  The topup.voucher_serial base type: the public, non-secret number
 *	  printed on a voucher, written SERIES-DIGITS (e.g. 101-23423427).
 *
 * This file owns the type's text and binary I/O, the Luhn check digit,
 * the comparison and hash support functions behind its btree and hash
 * operator classes, and the small SQL accessors (serial_series,
 * serial_number, make_serial).  The value is a fixed 16-byte struct
 * (see VoucherSerial in topup.h) so that it can be passed and compared
 * without detoasting or parsing.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "common/hashfn.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"

#include "postgres.h"

#include "serial.h"

/* Base of the packed series code: padding plus 36 characters. */
#define SERIES_BASE		37

/* The sequence number is printed zero-padded to at least this many digits. */
#define SERIAL_MIN_NUMBER_DIGITS	7

/* Decimal digits of TOPUP_SERIAL_MAX_NUMBER. */
#define SERIAL_MAX_NUMBER_DIGITS	12

/*
 * Errors found while parsing text input.  From PostgreSQL 16 on, the input
 * function reports them softly so that pg_input_is_valid() and friends can
 * trap them; before that there is no soft error machinery and they are
 * thrown as usual.  Either way control does not continue past the macro.
 */
#if PG_VERSION_NUM >= 160000
#define SerialInputError(escontext, ...) \
	ereturn((escontext), false, __VA_ARGS__)
#else
#define SerialInputError(escontext, ...) \
	ereport(ERROR, __VA_ARGS__)
#endif

static int	SeriesCharValue(char c);
static bool SeriesCodeIsValid(int64 code);
static int	SerialCheckDigit(const VoucherSerial *serial);
static bool SerialParse(const char *str, VoucherSerial *result,
						Node *escontext);
static int	SerialCompare(const VoucherSerial *a, const VoucherSerial *b);

PG_FUNCTION_INFO_V1(topup_serial_in);
PG_FUNCTION_INFO_V1(topup_serial_out);
PG_FUNCTION_INFO_V1(topup_serial_recv);
PG_FUNCTION_INFO_V1(topup_serial_send);
PG_FUNCTION_INFO_V1(topup_serial_eq);
PG_FUNCTION_INFO_V1(topup_serial_ne);
PG_FUNCTION_INFO_V1(topup_serial_lt);
PG_FUNCTION_INFO_V1(topup_serial_le);
PG_FUNCTION_INFO_V1(topup_serial_gt);
PG_FUNCTION_INFO_V1(topup_serial_ge);
PG_FUNCTION_INFO_V1(topup_serial_cmp);
PG_FUNCTION_INFO_V1(topup_serial_hash);
PG_FUNCTION_INFO_V1(topup_serial_hash_extended);
PG_FUNCTION_INFO_V1(topup_serial_series);
PG_FUNCTION_INFO_V1(topup_serial_number);
PG_FUNCTION_INFO_V1(topup_make_serial);

/*
 * Value of one series character in the packed code: '0'..'9' = 1..10,
 * 'A'..'Z' = 11..36 (either case), or 0 if the character is not allowed.
 * Zero is kept for padding so that a shorter series sorts first.
 */
static int
SeriesCharValue(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0' + 1;
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 11;
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 11;
	return 0;
}

bool
SerialEncodeSeries(const char *series, int len, int64 *code)
{
	int64		result = 0;
	int			i;

	if (len < 1 || len > TOPUP_SERIES_MAXLEN)
		return false;

	for (i = 0; i < TOPUP_SERIES_MAXLEN; i++)
	{
		int			v = 0;

		if (i < len)
		{
			v = SeriesCharValue(series[i]);
			if (v == 0)
				return false;
		}
		result = result * SERIES_BASE + v;
	}

	*code = result;
	return true;
}

void
SerialDecodeSeries(int64 code, char *buf)
{
	int			digits[TOPUP_SERIES_MAXLEN];
	int			i;
	int			len = 0;

	/* Peel the base-37 digits off the right; the first character is last. */
	for (i = TOPUP_SERIES_MAXLEN - 1; i >= 0; i--)
	{
		digits[i] = (int) (code % SERIES_BASE);
		code /= SERIES_BASE;
	}

	for (i = 0; i < TOPUP_SERIES_MAXLEN && digits[i] != 0; i++)
	{
		int			v = digits[i];

		buf[len++] = (v <= 10) ? ('0' + v - 1) : ('A' + v - 11);
	}
	buf[len] = '\0';
}

/*
 * Whether a packed code is one SerialEncodeSeries could have produced:
 * in range, a non-empty run of characters and only padding after it.
 * Binary input must check this because it does not go through the encoder.
 */
static bool
SeriesCodeIsValid(int64 code)
{
	int64		limit = 1;
	bool		seen_padding = false;
	int			i;

	for (i = 0; i < TOPUP_SERIES_MAXLEN; i++)
		limit *= SERIES_BASE;
	if (code <= 0 || code >= limit)
		return false;

	/* Scan from the first character on; padding must not be followed. */
	for (i = TOPUP_SERIES_MAXLEN - 1; i >= 0; i--)
	{
		int64		div = 1;
		int			j;
		int			v;

		for (j = 0; j < i; j++)
			div *= SERIES_BASE;
		v = (int) ((code / div) % SERIES_BASE);

		if (v == 0)
			seen_padding = true;
		else if (seen_padding)
			return false;
	}

	/* code > 0 and no gaps, so the first character is not padding. */
	return true;
}

/*
 * Luhn (mod 10) check digit over the series characters as decimal values
 * ('0'..'9' as themselves, 'A' = 10 .. 'Z' = 35 as two digits) followed by
 * the sequence number zero-padded to seven digits.
 */
static int
SerialCheckDigit(const VoucherSerial *serial)
{
	char		series[TOPUP_SERIES_MAXLEN + 1];
	char		payload[TOPUP_SERIES_MAXLEN * 2 + SERIAL_MAX_NUMBER_DIGITS + 1];
	int			len = 0;
	int			sum = 0;
	bool		dbl = true;
	int			i;

	SerialDecodeSeries(serial->series, series);
	for (i = 0; series[i] != '\0'; i++)
	{
		int			v = SeriesCharValue(series[i]) - 1;

		if (v >= 10)
			payload[len++] = '0' + v / 10;
		payload[len++] = '0' + v % 10;
	}
	len += snprintf(payload + len, sizeof(payload) - len, "%0*lld",
					SERIAL_MIN_NUMBER_DIGITS, (long long) serial->number);

	/*
	 * The check digit will be appended on the right, so the rightmost
	 * payload digit is the first one doubled.
	 */
	for (i = len - 1; i >= 0; i--)
	{
		int			d = payload[i] - '0';

		if (dbl)
		{
			d *= 2;
			if (d > 9)
				d -= 9;
		}
		sum += d;
		dbl = !dbl;
	}

	return (10 - sum % 10) % 10;
}

char *
SerialToCString(const VoucherSerial *serial)
{
	char		series[TOPUP_SERIES_MAXLEN + 1];

	SerialDecodeSeries(serial->series, series);
	return psprintf("%s-%0*lld%d", series, SERIAL_MIN_NUMBER_DIGITS,
					(long long) serial->number, SerialCheckDigit(serial));
}

/*
 * Parse SERIES-DIGITS into *result.  Returns false only if a soft error was
 * saved into escontext.  Error messages quote the input as given, so the
 * user can find the value they typed.
 */
static bool
SerialParse(const char *str, VoucherSerial *result, Node *escontext)
{
	const char *start = str;
	const char *end = str + strlen(str);
	const char *dash;
	const char *digits;
	const char *p;
	int			ndigits;
	int			nsignificant = 0;
	int64		number = 0;
	int			check;

	/* Surrounding white space is tolerated. */
	while (start < end && isspace((unsigned char) *start))
		start++;
	while (end > start && isspace((unsigned char) end[-1]))
		end--;

	dash = memchr(start, '-', end - start);
	if (dash == NULL)
		SerialInputError(escontext,
						 (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						  errmsg("missing dash in voucher serial \"%s\"", str)));

	if (dash == start)
		SerialInputError(escontext,
						 (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						  errmsg("empty series in voucher serial \"%s\"", str)));
	if (dash - start > TOPUP_SERIES_MAXLEN)
		SerialInputError(escontext,
						 (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						  errmsg("series too long in voucher serial \"%s\"", str),
						  errdetail("A series has at most %d characters.",
									TOPUP_SERIES_MAXLEN)));
	if (!SerialEncodeSeries(start, dash - start, &result->series))
		SerialInputError(escontext,
						 (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						  errmsg("invalid character in series of voucher serial \"%s\"",
								 str),
						  errdetail("A series consists of the characters A-Z and 0-9.")));

	digits = dash + 1;
	for (p = digits; p < end; p++)
	{
		if (!isdigit((unsigned char) *p))
			SerialInputError(escontext,
							 (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
							  errmsg("invalid character in digits of voucher serial \"%s\"",
									 str),
							  errdetail("Only the digits 0-9 may follow the dash.")));
	}

	ndigits = end - digits;
	if (ndigits < SERIAL_MIN_NUMBER_DIGITS + 1)
		SerialInputError(escontext,
						 (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						  errmsg("too few digits in voucher serial \"%s\"", str),
						  errdetail("A sequence number of at least %d digits and a check digit must follow the dash.",
									SERIAL_MIN_NUMBER_DIGITS)));

	/*
	 * Everything but the last digit is the sequence number.  Leading zeros
	 * are skipped before counting digits, so any amount of zero padding is
	 * accepted and the accumulation below cannot overflow.
	 */
	for (p = digits; p < end - 1; p++)
	{
		if (nsignificant == 0 && *p == '0')
			continue;
		if (++nsignificant > SERIAL_MAX_NUMBER_DIGITS)
			break;
		number = number * 10 + (*p - '0');
	}
	if (nsignificant > SERIAL_MAX_NUMBER_DIGITS || number < 1 ||
		number > TOPUP_SERIAL_MAX_NUMBER)
		SerialInputError(escontext,
						 (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						  errmsg("sequence number out of range in voucher serial \"%s\"",
								 str),
						  errdetail("The sequence number must be between 1 and %lld.",
									(long long) TOPUP_SERIAL_MAX_NUMBER)));
	result->number = number;

	check = end[-1] - '0';
	if (check != SerialCheckDigit(result))
		SerialInputError(escontext,
						 (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						  errmsg("invalid check digit in voucher serial \"%s\"", str)));

	return true;
}

static int
SerialCompare(const VoucherSerial *a, const VoucherSerial *b)
{
	/* The packed series orders like the series text; see topup.h. */
	if (a->series != b->series)
		return (a->series < b->series) ? -1 : 1;
	if (a->number != b->number)
		return (a->number < b->number) ? -1 : 1;
	return 0;
}

Datum
topup_serial_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	VoucherSerial *result = palloc(sizeof(VoucherSerial));

	if (!SerialParse(str, result, fcinfo->context))
		PG_RETURN_NULL();

	PG_RETURN_VOUCHER_SERIAL_P(result);
}

Datum
topup_serial_out(PG_FUNCTION_ARGS)
{
	VoucherSerial *serial = PG_GETARG_VOUCHER_SERIAL_P(0);

	PG_RETURN_CSTRING(SerialToCString(serial));
}

/*
 * Binary input bypasses the text parser, so it must enforce the same
 * invariants itself: a well-formed series code and a number in range.
 * The check digit is not transmitted; it is derived on output.
 */
Datum
topup_serial_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	VoucherSerial *result = palloc(sizeof(VoucherSerial));

	result->series = pq_getmsgint64(buf);
	result->number = pq_getmsgint64(buf);

	if (!SeriesCodeIsValid(result->series))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid series code in external \"voucher_serial\" value")));
	if (result->number < 1 || result->number > TOPUP_SERIAL_MAX_NUMBER)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("sequence number out of range in external \"voucher_serial\" value")));

	PG_RETURN_VOUCHER_SERIAL_P(result);
}

Datum
topup_serial_send(PG_FUNCTION_ARGS)
{
	VoucherSerial *serial = PG_GETARG_VOUCHER_SERIAL_P(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint64(&buf, serial->series);
	pq_sendint64(&buf, serial->number);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

Datum
topup_serial_eq(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(SerialCompare(PG_GETARG_VOUCHER_SERIAL_P(0),
								 PG_GETARG_VOUCHER_SERIAL_P(1)) == 0);
}

Datum
topup_serial_ne(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(SerialCompare(PG_GETARG_VOUCHER_SERIAL_P(0),
								 PG_GETARG_VOUCHER_SERIAL_P(1)) != 0);
}

Datum
topup_serial_lt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(SerialCompare(PG_GETARG_VOUCHER_SERIAL_P(0),
								 PG_GETARG_VOUCHER_SERIAL_P(1)) < 0);
}

Datum
topup_serial_le(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(SerialCompare(PG_GETARG_VOUCHER_SERIAL_P(0),
								 PG_GETARG_VOUCHER_SERIAL_P(1)) <= 0);
}

Datum
topup_serial_gt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(SerialCompare(PG_GETARG_VOUCHER_SERIAL_P(0),
								 PG_GETARG_VOUCHER_SERIAL_P(1)) > 0);
}

Datum
topup_serial_ge(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(SerialCompare(PG_GETARG_VOUCHER_SERIAL_P(0),
								 PG_GETARG_VOUCHER_SERIAL_P(1)) >= 0);
}

Datum
topup_serial_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(SerialCompare(PG_GETARG_VOUCHER_SERIAL_P(0),
								  PG_GETARG_VOUCHER_SERIAL_P(1)));
}

/*
 * The struct is two int64 fields with no padding and every value has one
 * representation, so equal values have equal bytes and hashing the bytes
 * agrees with the equality operator.
 */
Datum
topup_serial_hash(PG_FUNCTION_ARGS)
{
	VoucherSerial *serial = PG_GETARG_VOUCHER_SERIAL_P(0);

	return hash_any((unsigned char *) serial, sizeof(VoucherSerial));
}

Datum
topup_serial_hash_extended(PG_FUNCTION_ARGS)
{
	VoucherSerial *serial = PG_GETARG_VOUCHER_SERIAL_P(0);
	uint64		seed = PG_GETARG_INT64(1);

	return hash_any_extended((unsigned char *) serial, sizeof(VoucherSerial),
							 seed);
}

Datum
topup_serial_series(PG_FUNCTION_ARGS)
{
	VoucherSerial *serial = PG_GETARG_VOUCHER_SERIAL_P(0);
	char		series[TOPUP_SERIES_MAXLEN + 1];

	SerialDecodeSeries(serial->series, series);
	PG_RETURN_TEXT_P(cstring_to_text(series));
}

Datum
topup_serial_number(PG_FUNCTION_ARGS)
{
	VoucherSerial *serial = PG_GETARG_VOUCHER_SERIAL_P(0);

	PG_RETURN_INT64(serial->number);
}

/*
 * Build a serial from its parts; the check digit is implied.  Bad arguments
 * are a caller's mistake rather than bad text, hence invalid_parameter_value.
 */
Datum
topup_make_serial(PG_FUNCTION_ARGS)
{
	text	   *series = PG_GETARG_TEXT_PP(0);
	int64		number = PG_GETARG_INT64(1);
	VoucherSerial *result = palloc(sizeof(VoucherSerial));

	if (!SerialEncodeSeries(VARDATA_ANY(series), VARSIZE_ANY_EXHDR(series),
							&result->series))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid voucher serial series \"%s\"",
						text_to_cstring(series)),
				 errdetail("A series is 1 to %d characters from A-Z and 0-9.",
						   TOPUP_SERIES_MAXLEN)));
	if (number < 1 || number > TOPUP_SERIAL_MAX_NUMBER)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("voucher serial number %lld is out of range",
						(long long) number),
				 errdetail("The sequence number must be between 1 and %lld.",
						   (long long) TOPUP_SERIAL_MAX_NUMBER)));
	result->number = number;

	PG_RETURN_VOUCHER_SERIAL_P(result);
}
