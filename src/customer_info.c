/*-------------------------------------------------------------------------
 *
 * customer_info.c
 *	  Validation of the customer_info jsonb document that open_account
 *	  stores with an account.
 *
 * This file owns the customer_info contract: which keys may appear, the
 * shape of each value (fixed choices, free text, ISO 3166-1 alpha-2 country
 * codes, phone numbers, e-mail addresses, YYYYMMDD dates) and the error
 * raised when a document breaks it (SQLSTATE TU012, invalid_customer_info).
 *
 * Only the top level of the document is examined: every accepted value is a
 * JSON string, so a nested object or array is itself an error.  Messages
 * name the offending key but never echo a value, since customer_info holds
 * personal data that must not end up in server logs.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/jsonb.h"

#include "postgres.h"

#include "orders.h"
#include "topup.h"

/* Longest free-text value, in characters. */
#define CI_TEXT_MAXCHARS	100

/* Longest e-mail address, in characters (the RFC 5321 path limit). */
#define CI_EMAIL_MAXCHARS	254

/* A phone number needs this many digits before any extension ... */
#define CI_PHONE_MIN_DIGITS	4
/* ... and may have at most this many, extension included. */
#define CI_PHONE_MAX_DIGITS	20

/* Key names longer than this many characters are cut short in messages. */
#define CI_KEY_MAXCHARS		64

/* How a key's value is checked. */
typedef enum CustomerInfoRule
{
	CI_RULE_CHOICE,				/* one of a few one-character codes */
	CI_RULE_TEXT,				/* free text, bounded and printable */
	CI_RULE_COUNTRY,			/* ISO 3166-1 alpha-2, upper case */
	CI_RULE_PHONE,				/* "+" digits [x extension] */
	CI_RULE_EMAIL,				/* local@domain.tld */
	CI_RULE_DATE				/* YYYYMMDD or empty */
} CustomerInfoRule;

typedef struct CustomerInfoKey
{
	const char *name;
	CustomerInfoRule rule;
	const char *choices;		/* CI_RULE_CHOICE: the accepted characters */
	bool		allow_empty;	/* CI_RULE_CHOICE: "" is accepted too */
	const char *detail;			/* CI_RULE_CHOICE: errdetail on a bad value */
} CustomerInfoKey;

/*
 * Every accepted key, in the order of the product spec (which is also the
 * order the hint lists them in).  Keys are case-sensitive.
 */
static const CustomerInfoKey customer_info_keys[] = {
	{"customerType", CI_RULE_CHOICE, "123", false,
	"The value must be \"1\", \"2\" or \"3\"."},
	{"firstName", CI_RULE_TEXT, NULL, false, NULL},
	{"middleName", CI_RULE_TEXT, NULL, false, NULL},
	{"lastName", CI_RULE_TEXT, NULL, false, NULL},
	{"address1", CI_RULE_TEXT, NULL, false, NULL},
	{"address2", CI_RULE_TEXT, NULL, false, NULL},
	{"city", CI_RULE_TEXT, NULL, false, NULL},
	{"state", CI_RULE_TEXT, NULL, false, NULL},
	{"postal", CI_RULE_TEXT, NULL, false, NULL},
	{"country", CI_RULE_COUNTRY, NULL, false, NULL},
	{"mailPref", CI_RULE_CHOICE, "OI", false,
	"The value must be \"O\" or \"I\"."},
	{"phone", CI_RULE_PHONE, NULL, false, NULL},
	{"isMobile", CI_RULE_CHOICE, "YN", false,
	"The value must be \"Y\" or \"N\"."},
	{"phonePref", CI_RULE_CHOICE, "OI", false,
	"The value must be \"O\" or \"I\"."},
	{"email", CI_RULE_EMAIL, NULL, false, NULL},
	{"emailPref", CI_RULE_CHOICE, "OI", false,
	"The value must be \"O\" or \"I\"."},
	{"birthday", CI_RULE_DATE, NULL, false, NULL},
	{"anniversary", CI_RULE_DATE, NULL, false, NULL},
	{"gender", CI_RULE_CHOICE, "MF", true,
	"The value must be \"M\", \"F\" or empty."},
};

/*
 * The officially assigned ISO 3166-1 alpha-2 codes (249 of them), sorted
 * for bsearch.  Reserved, transitional and user-assigned codes (EU, UK, XK,
 * AA, ZZ, ...) are deliberately absent.
 */
static const char country_codes[][3] = {
	"AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT",
	"AU", "AW", "AX", "AZ", "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI",
	"BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS", "BT", "BV", "BW", "BY",
	"BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
	"CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM",
	"DO", "DZ", "EC", "EE", "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK",
	"FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF", "GG", "GH", "GI", "GL",
	"GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
	"HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR",
	"IS", "IT", "JE", "JM", "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN",
	"KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC", "LI", "LK", "LR", "LS",
	"LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
	"ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW",
	"MX", "MY", "MZ", "NA", "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP",
	"NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM",
	"PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
	"SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM",
	"SN", "SO", "SR", "SS", "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF",
	"TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO", "TR", "TT", "TV", "TW",
	"TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
	"VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
};

static const CustomerInfoKey *LookupKey(const char *key, int len);
static char *KeyForMessage(const char *key, int len);
static char *AcceptedKeysList(void);
static const char *JsonbValueKindName(enum jbvType type);
static bool HasControlCharacter(const char *str, int len);
static int	CompareCountryCodes(const void *a, const void *b);
static const char *CheckChoice(const CustomerInfoKey *entry, const char *str, int len);
static const char *CheckText(const char *str, int len);
static const char *CheckCountry(const char *str, int len);
static const char *CheckPhone(const char *str, int len);
static const char *CheckEmail(const char *str, int len);
static const char *CheckDate(const char *str, int len);
static void CheckValue(const CustomerInfoKey *entry, const char *key, int keylen,
					   const JsonbValue *value);

/*
 * Validate a customer_info document (a jsonb Datum, not NULL).
 *
 * Returns the Datum unchanged when the document is acceptable; otherwise
 * raises invalid_customer_info naming the first offending key.  Keys are
 * visited in jsonb storage order (shorter keys first), so which error is
 * reported for a document with several faults is stable.
 */
Datum
TopupValidateCustomerInfo(Datum customer_info)
{
	Jsonb	   *jb = DatumGetJsonbP(customer_info);
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	v;
	const CustomerInfoKey *entry = NULL;
	const char *key = NULL;
	int			keylen = 0;

	/* A scalar document is stored as a one-element "raw scalar" array. */
	if (!JB_ROOT_IS_OBJECT(jb))
	{
		const char *kind = "array";
		JsonbValue	scalar;

		if (JB_ROOT_IS_SCALAR(jb) && JsonbExtractScalar(&jb->root, &scalar))
			kind = JsonbValueKindName(scalar.type);
		ereport(ERROR,
				(errcode(ERRCODE_TOPUP_INVALID_CUSTOMER_INFO),
				 errmsg("customer_info must be a JSON object"),
				 errdetail("The document is a JSON %s.", kind)));
	}

	it = JsonbIteratorInit(&jb->root);

	/* skipNested: a nested container comes back whole, as one value. */
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			key = v.val.string.val;
			keylen = v.val.string.len;
			entry = LookupKey(key, keylen);
			if (entry == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_TOPUP_INVALID_CUSTOMER_INFO),
						 errmsg("unknown customer_info key \"%s\"",
								KeyForMessage(key, keylen)),
						 errhint("Accepted keys are %s.", AcceptedKeysList())));
		}
		else if (tok == WJB_VALUE)
		{
			Assert(entry != NULL);
			CheckValue(entry, key, keylen, &v);
		}
	}

	if ((Pointer) jb != DatumGetPointer(customer_info))
		pfree(jb);

	return customer_info;
}

/* Check one value against its key's rule; raises on a bad value. */
static void
CheckValue(const CustomerInfoKey *entry, const char *key, int keylen,
		   const JsonbValue *value)
{
	const char *str;
	int			len;
	const char *detail = NULL;

	if (value->type != jbvString)
	{
		const char *kind;

		/* With skipNested a nested container is returned unexpanded. */
		if (value->type == jbvBinary)
			kind = JsonContainerIsObject(value->val.binary.data) ? "object" : "array";
		else
			kind = JsonbValueKindName(value->type);
		ereport(ERROR,
				(errcode(ERRCODE_TOPUP_INVALID_CUSTOMER_INFO),
				 errmsg("invalid customer_info key \"%s\"",
						KeyForMessage(key, keylen)),
				 errdetail("The value must be a JSON string, not a JSON %s.", kind)));
	}

	/* jsonb strings are not NUL-terminated: every check works on (str, len). */
	str = value->val.string.val;
	len = value->val.string.len;

	switch (entry->rule)
	{
		case CI_RULE_CHOICE:
			detail = CheckChoice(entry, str, len);
			break;
		case CI_RULE_TEXT:
			detail = CheckText(str, len);
			break;
		case CI_RULE_COUNTRY:
			detail = CheckCountry(str, len);
			break;
		case CI_RULE_PHONE:
			detail = CheckPhone(str, len);
			break;
		case CI_RULE_EMAIL:
			detail = CheckEmail(str, len);
			break;
		case CI_RULE_DATE:
			detail = CheckDate(str, len);
			break;
	}

	if (detail != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_TOPUP_INVALID_CUSTOMER_INFO),
				 errmsg("invalid customer_info key \"%s\"",
						KeyForMessage(key, keylen)),
				 errdetail("%s", detail)));
}

/* The accepted key spelled exactly (len bytes), or NULL. */
static const CustomerInfoKey *
LookupKey(const char *key, int len)
{
	for (int i = 0; i < lengthof(customer_info_keys); i++)
	{
		const char *name = customer_info_keys[i].name;

		if (strlen(name) == (size_t) len && memcmp(name, key, len) == 0)
			return &customer_info_keys[i];
	}
	return NULL;
}

/*
 * A key name fit for an error message: NUL-terminated, cut to
 * CI_KEY_MAXCHARS characters (so a huge key cannot flood the log), with
 * control characters replaced so the message stays on one line.
 */
static char *
KeyForMessage(const char *key, int len)
{
	int			cliplen = pg_mbcharcliplen(key, len, CI_KEY_MAXCHARS);
	char	   *result = palloc(cliplen + 4);

	memcpy(result, key, cliplen);
	for (int i = 0; i < cliplen; i++)
	{
		if ((unsigned char) result[i] < 0x20 || result[i] == 0x7f)
			result[i] = '?';
	}
	if (cliplen < len)
	{
		memcpy(result + cliplen, "...", 3);
		cliplen += 3;
	}
	result[cliplen] = '\0';
	return result;
}

/* "customerType, firstName, ... and gender", for the unknown-key hint. */
static char *
AcceptedKeysList(void)
{
	StringInfoData buf;
	int			nkeys = lengthof(customer_info_keys);

	initStringInfo(&buf);
	for (int i = 0; i < nkeys; i++)
	{
		if (i > 0)
			appendStringInfoString(&buf, i == nkeys - 1 ? " and " : ", ");
		appendStringInfoString(&buf, customer_info_keys[i].name);
	}
	return buf.data;
}

/* The JSON name of a scalar or container kind, for details. */
static const char *
JsonbValueKindName(enum jbvType type)
{
	switch (type)
	{
		case jbvNull:
			return "null";
		case jbvString:
			return "string";
		case jbvNumeric:
			return "number";
		case jbvBool:
			return "boolean";
		case jbvArray:
			return "array";
		case jbvObject:
			return "object";
		default:
			return "value";
	}
}

/*
 * True if the text holds a C0 control, DEL or (in UTF-8) a C1 control.
 * Every server encoding keeps bytes below 0x80 for ASCII only, so the
 * byte test cannot hit part of a multibyte character.
 */
static bool
HasControlCharacter(const char *str, int len)
{
	bool		utf8 = (GetDatabaseEncoding() == PG_UTF8);

	for (int i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) str[i];

		if (c < 0x20 || c == 0x7f)
			return true;
		/* U+0080 .. U+009F are encoded C2 80 .. C2 9F. */
		if (utf8 && c == 0xc2 && i + 1 < len &&
			(unsigned char) str[i + 1] >= 0x80 && (unsigned char) str[i + 1] <= 0x9f)
			return true;
	}
	return false;
}

static int
CompareCountryCodes(const void *a, const void *b)
{
	return memcmp(a, b, 2);
}

/*
 * The checks below return NULL for a good value, or the errdetail sentence
 * describing the rule it breaks.
 */

static const char *
CheckChoice(const CustomerInfoKey *entry, const char *str, int len)
{
	if (len == 0 && entry->allow_empty)
		return NULL;
	if (len == 1 && str[0] != '\0' && strchr(entry->choices, str[0]) != NULL)
		return NULL;
	return entry->detail;
}

static const char *
CheckText(const char *str, int len)
{
	/* Cheap byte bound first: a character is at least one byte. */
	if (len > CI_TEXT_MAXCHARS &&
		pg_mbstrlen_with_len(str, len) > CI_TEXT_MAXCHARS)
		return "The value must be at most 100 characters long.";
	if (HasControlCharacter(str, len))
		return "The value must not contain control characters.";
	return NULL;
}

static const char *
CheckCountry(const char *str, int len)
{
	if (len == 2 &&
		str[0] >= 'A' && str[0] <= 'Z' && str[1] >= 'A' && str[1] <= 'Z' &&
		bsearch(str, country_codes, lengthof(country_codes),
				sizeof(country_codes[0]), CompareCountryCodes) != NULL)
		return NULL;
	return "The value must be an officially assigned ISO 3166-1 alpha-2 country code in upper case, such as \"US\".";
}

/*
 * "+", then digit groups separated by single spaces, then optionally "x"
 * and the extension digits (a single space may stand before and after the
 * "x"): "+8612154154", "+212 661 234 567 x12".  Forbidding runs of spaces
 * keeps the length bounded by the digit count.
 */
static const char *
CheckPhone(const char *str, int len)
{
	const char *shape = "The value must be \"+\" followed by digits and single spaces, with an optional \"x\" extension.";
	int			digits = 0;
	int			main_digits = 0;
	bool		in_extension = false;
	char		prev = '+';

	if (len < 2 || str[0] != '+')
		return shape;

	for (int i = 1; i < len; i++)
	{
		char		c = str[i];

		if (c >= '0' && c <= '9')
		{
			digits++;
			if (!in_extension)
				main_digits++;
		}
		else if (c == ' ')
		{
			if (prev == ' ' || prev == '+')
				return shape;
		}
		else if (c == 'x')
		{
			if (in_extension || prev == '+')
				return shape;
			in_extension = true;
		}
		else
			return shape;
		prev = c;
	}

	/* Ends with a digit: no trailing space, no "x" without an extension. */
	if (prev < '0' || prev > '9')
		return shape;
	if (main_digits < CI_PHONE_MIN_DIGITS || digits > CI_PHONE_MAX_DIGITS)
		return "The number must have at least 4 digits before any extension and at most 20 digits in all.";
	return NULL;
}

/*
 * A sane shape, not RFC 5322: exactly one "@", a non-empty local part, and
 * a domain of at least two non-empty dot-separated labels; no spaces or
 * control characters anywhere.  Whether the mailbox exists is not ours to
 * know.
 */
static const char *
CheckEmail(const char *str, int len)
{
	const char *detail = "The value must be an e-mail address of at most 254 characters: one \"@\" after a non-empty local part, then a domain containing a dot, without spaces.";
	int			at = -1;
	bool		dot = false;

	if (len == 0 || (len > CI_EMAIL_MAXCHARS &&
					 pg_mbstrlen_with_len(str, len) > CI_EMAIL_MAXCHARS))
		return detail;
	if (HasControlCharacter(str, len))
		return detail;

	for (int i = 0; i < len; i++)
	{
		if (str[i] == ' ')
			return detail;
		if (str[i] == '@')
		{
			if (at >= 0)
				return detail;
			at = i;
		}
	}
	if (at <= 0 || at == len - 1)
		return detail;

	/* Domain labels: no leading, trailing or doubled dot. */
	if (str[at + 1] == '.' || str[len - 1] == '.')
		return detail;
	for (int i = at + 1; i < len; i++)
	{
		if (str[i] == '.')
		{
			if (str[i - 1] == '.')
				return detail;
			dot = true;
		}
	}
	return dot ? NULL : detail;
}

/* YYYYMMDD naming a real proleptic Gregorian date (year 0001 on), or "". */
static const char *
CheckDate(const char *str, int len)
{
	static const int days_in_month[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	const char *detail = "The value must be a real date written YYYYMMDD, or empty.";
	int			year;
	int			month;
	int			day;
	int			mdays;

	if (len == 0)
		return NULL;
	if (len != 8)
		return detail;
	for (int i = 0; i < 8; i++)
	{
		if (str[i] < '0' || str[i] > '9')
			return detail;
	}

	year = (str[0] - '0') * 1000 + (str[1] - '0') * 100 + (str[2] - '0') * 10 + (str[3] - '0');
	month = (str[4] - '0') * 10 + (str[5] - '0');
	day = (str[6] - '0') * 10 + (str[7] - '0');

	if (year < 1 || month < 1 || month > 12 || day < 1)
		return detail;
	mdays = days_in_month[month - 1];
	if (month == 2 && ((year % 4 == 0 && year % 100 != 0) || year % 400 == 0))
		mdays = 29;
	if (day > mdays)
		return detail;
	return NULL;
}
