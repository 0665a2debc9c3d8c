/*-------------------------------------------------------------------------
 *
 * crypto.c
 *	  The database secret and everything done with it: HMAC-SHA-256 of PINs
 *	  (the lookup key), AES-256-CBC of PINs (the export copy), and the
 *	  buffered strong random source behind PINs, keys and references.
 *
 *	  The keys live in topup.secret, readable only by the extension owner.
 *	  They are read once per backend and kept until a relcache invalidation
 *	  of that table says they changed (a restore replaces them).
 *
 *	  HMAC: the inner and outer SHA-256 states are absorbed once per key, so
 *	  each PIN costs two SHA-256 compressions and two context copies.
 *	  AES: one cipher context keeps the key schedule; each PIN only resets
 *	  the IV.  The ciphertext is exactly what pgcrypto's
 *	  encrypt_iv(pin, enc_key, iv, 'aes-cbc/pad:pkcs') produces, so a DBA
 *	  can read it with pgcrypto's decrypt_iv().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/evp.h>

#include "catalog/namespace.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"

#include "crypto.h"
#include "schema.h"

static void LoadKeys(void);
static void SecretInvalidate(Datum arg, Oid relid);

PG_FUNCTION_INFO_V1(topup_random_key);

/* cached keys */
static bool keys_valid = false;
static Oid	secret_relid = InvalidOid;
static uint8 hmac_key[TOPUP_KEY_LEN];
static uint8 enc_key[TOPUP_KEY_LEN];
static EVP_MD_CTX *hmac_inner = NULL;	/* SHA-256 state after key ^ ipad */
static EVP_MD_CTX *hmac_outer = NULL;	/* SHA-256 state after key ^ opad */
static EVP_MD_CTX *hmac_work = NULL;
static EVP_CIPHER_CTX *enc_ctx = NULL;
static EVP_CIPHER_CTX *dec_ctx = NULL;

/* random buffer: pg_strong_random is cheap per byte only in large draws */
#define RANDOM_BUF_SIZE 8192
static uint8 random_buf[RANDOM_BUF_SIZE];
static int	random_pos = RANDOM_BUF_SIZE;

void
TopupCryptoInit(void)
{
	CacheRegisterRelcacheCallback(SecretInvalidate, (Datum) 0);
}

/* Forget the keys when topup.secret changes (or on a full invalidation). */
static void
SecretInvalidate(Datum arg, Oid relid)
{
	if (!keys_valid)
		return;
	if (relid == InvalidOid || relid == secret_relid)
	{
		keys_valid = false;
		explicit_bzero(hmac_key, sizeof(hmac_key));
		explicit_bzero(enc_key, sizeof(enc_key));
	}
}

static void
OpenSSLCheck(int ok, const char *what)
{
	if (ok != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("OpenSSL failure in %s", what)));
}

/*
 * Read the keys from topup.secret and prepare the HMAC and cipher states.
 */
static void
LoadKeys(void)
{
	int			rc;
	bool		isnull;
	bytea	   *hk;
	bytea	   *ek;
	uint8		pad[64];
	int			i;

	if (keys_valid)
		return;

	secret_relid = get_relname_relid("secret", get_namespace_oid("topup", false));

	if ((rc = SPI_connect()) != SPI_OK_CONNECT)
		elog(ERROR, "topup: SPI_connect failed: %s", SPI_result_code_string(rc));
	rc = SPI_execute("SELECT hmac_key, enc_key FROM topup.secret", false, 0);
	TopupSPICheck(rc, SPI_OK_SELECT, "reading the secret");
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the topup secret is missing"),
				 errhint("Restore topup.secret from a dump of this database.")));
	hk = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	ek = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (VARSIZE_ANY_EXHDR(hk) != TOPUP_KEY_LEN || VARSIZE_ANY_EXHDR(ek) != TOPUP_KEY_LEN)
		elog(ERROR, "topup: malformed secret");
	memcpy(hmac_key, VARDATA_ANY(hk), TOPUP_KEY_LEN);
	memcpy(enc_key, VARDATA_ANY(ek), TOPUP_KEY_LEN);
	SPI_finish();

	if (hmac_inner == NULL)
	{
		hmac_inner = EVP_MD_CTX_new();
		hmac_outer = EVP_MD_CTX_new();
		hmac_work = EVP_MD_CTX_new();
		enc_ctx = EVP_CIPHER_CTX_new();
		dec_ctx = EVP_CIPHER_CTX_new();
		if (!hmac_inner || !hmac_outer || !hmac_work || !enc_ctx || !dec_ctx)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory")));
	}

	/* HMAC (RFC 2104): key shorter than the block, so it is zero-padded */
	memset(pad, 0x36, sizeof(pad));
	for (i = 0; i < TOPUP_KEY_LEN; i++)
		pad[i] ^= hmac_key[i];
	OpenSSLCheck(EVP_DigestInit_ex(hmac_inner, EVP_sha256(), NULL), "digest init");
	OpenSSLCheck(EVP_DigestUpdate(hmac_inner, pad, sizeof(pad)), "digest update");
	memset(pad, 0x5c, sizeof(pad));
	for (i = 0; i < TOPUP_KEY_LEN; i++)
		pad[i] ^= hmac_key[i];
	OpenSSLCheck(EVP_DigestInit_ex(hmac_outer, EVP_sha256(), NULL), "digest init");
	OpenSSLCheck(EVP_DigestUpdate(hmac_outer, pad, sizeof(pad)), "digest update");
	explicit_bzero(pad, sizeof(pad));

	OpenSSLCheck(EVP_EncryptInit_ex(enc_ctx, EVP_aes_256_cbc(), NULL, enc_key, NULL), "cipher init");
	OpenSSLCheck(EVP_DecryptInit_ex(dec_ctx, EVP_aes_256_cbc(), NULL, enc_key, NULL), "cipher init");

	keys_valid = true;
}

/* HMAC-SHA-256 of data under the database's HMAC key; out gets 32 bytes. */
void
TopupHmac(const void *data, size_t len, uint8 *out)
{
	uint8		inner[TOPUP_HASH_LEN];
	unsigned int outlen;

	LoadKeys();
	OpenSSLCheck(EVP_MD_CTX_copy_ex(hmac_work, hmac_inner), "digest copy");
	OpenSSLCheck(EVP_DigestUpdate(hmac_work, data, len), "digest update");
	OpenSSLCheck(EVP_DigestFinal_ex(hmac_work, inner, &outlen), "digest final");
	OpenSSLCheck(EVP_MD_CTX_copy_ex(hmac_work, hmac_outer), "digest copy");
	OpenSSLCheck(EVP_DigestUpdate(hmac_work, inner, sizeof(inner)), "digest update");
	OpenSSLCheck(EVP_DigestFinal_ex(hmac_work, out, &outlen), "digest final");
}

/*
 * Encrypt a PIN (len digits) with AES-256-CBC and PKCS#7 padding under the
 * given 16-byte IV.  Returns the ciphertext length (16 or 32).
 */
int
TopupEncryptPin(const char *pin, int len, const uint8 *iv, uint8 *out)
{
	int			n1;
	int			n2;

	Assert(len <= TOPUP_PIN_MAX);
	LoadKeys();
	OpenSSLCheck(EVP_EncryptInit_ex(enc_ctx, NULL, NULL, NULL, iv), "cipher init");
	OpenSSLCheck(EVP_EncryptUpdate(enc_ctx, out, &n1, (const unsigned char *) pin, len), "encrypt");
	OpenSSLCheck(EVP_EncryptFinal_ex(enc_ctx, out + n1, &n2), "encrypt final");
	return n1 + n2;
}

/*
 * Decrypt a PIN; out must hold TOPUP_CIPHER_MAX + 1 bytes and is
 * NUL-terminated.  Returns the PIN length.  A ciphertext that does not
 * decrypt to 5-20 digits means the secret does not match the data.
 */
int
TopupDecryptPin(const uint8 *cipher, int len, const uint8 *iv, char *out)
{
	int			n1;
	int			n2;
	int			i;

	LoadKeys();
	if (len <= 0 || len > TOPUP_CIPHER_MAX || len % 16 != 0)
		goto corrupt;
	OpenSSLCheck(EVP_DecryptInit_ex(dec_ctx, NULL, NULL, NULL, iv), "cipher init");
	OpenSSLCheck(EVP_DecryptUpdate(dec_ctx, (unsigned char *) out, &n1, cipher, len), "decrypt");
	if (EVP_DecryptFinal_ex(dec_ctx, (unsigned char *) out + n1, &n2) != 1)
		goto corrupt;
	out[n1 + n2] = '\0';
	if (n1 + n2 < TOPUP_PIN_MIN || n1 + n2 > TOPUP_PIN_MAX)
		goto corrupt;
	for (i = 0; i < n1 + n2; i++)
		if (out[i] < '0' || out[i] > '9')
			goto corrupt;
	return n1 + n2;

corrupt:
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("cannot decrypt a voucher PIN"),
			 errdetail("The PIN ciphertext does not match the database secret."),
			 errhint("Restore topup.secret together with topup.vouchers from the same dump.")));
	return 0;					/* keep compiler quiet */
}

/* Fill dst with strong random bytes, drawing from the 8 KiB buffer. */
void
TopupRandomBytes(void *dst, size_t len)
{
	uint8	   *d = dst;

	while (len > 0)
	{
		size_t		n;

		if (random_pos >= RANDOM_BUF_SIZE)
		{
			if (!pg_strong_random(random_buf, RANDOM_BUF_SIZE))
				ereport(ERROR,
						(errcode(ERRCODE_INTERNAL_ERROR),
						 errmsg("could not generate random bytes")));
			random_pos = 0;
		}
		n = Min(len, (size_t) (RANDOM_BUF_SIZE - random_pos));
		memcpy(d, random_buf + random_pos, n);
		/* used randomness must not linger in the buffer */
		explicit_bzero(random_buf + random_pos, n);
		random_pos += n;
		d += n;
		len -= n;
	}
}

/*
 * len uniformly random decimal digits.  Bytes of 250 and above are rejected
 * so that every digit is equally likely (250 = 25 * 10).
 */
void
TopupRandomDigits(char *dst, int len)
{
	uint8		b[32];
	int			filled = 0;

	while (filled < len)
	{
		int			i;

		TopupRandomBytes(b, sizeof(b));
		for (i = 0; i < (int) sizeof(b) && filled < len; i++)
			if (b[i] < 250)
				dst[filled++] = '0' + b[i] % 10;
	}
	explicit_bzero(b, sizeof(b));
}

/* A non-guessable order reference: "TU" and 20 base32 characters (100 bits). */
void
TopupNewReference(char *dst)
{
	static const char alphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
	uint8		b[20];
	int			i;

	TopupRandomBytes(b, sizeof(b));
	dst[0] = 'T';
	dst[1] = 'U';
	for (i = 0; i < 20; i++)
		dst[2 + i] = alphabet[b[i] & 31];
	dst[TOPUP_REFERENCE_LEN] = '\0';
}

bytea *
TopupByteaFrom(const void *data, int len)
{
	bytea	   *b = (bytea *) palloc(VARHDRSZ + len);

	SET_VARSIZE(b, VARHDRSZ + len);
	memcpy(VARDATA(b), data, len);
	return b;
}

/* topup._random_key(): 32 strong random bytes for the database secret */
Datum
topup_random_key(PG_FUNCTION_ARGS)
{
	uint8		key[TOPUP_KEY_LEN];
	bytea	   *result;

	if (!pg_strong_random(key, sizeof(key)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random bytes")));
	result = TopupByteaFrom(key, sizeof(key));
	explicit_bzero(key, sizeof(key));
	PG_RETURN_BYTEA_P(result);
}
