/*-------------------------------------------------------------------------
 *
 * crypto.h
 *	  Keys, PIN hashing and encryption, strong randomness, references (crypto.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOPUP_CRYPTO_H
#define TOPUP_CRYPTO_H

#include "postgres.h"

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

#endif							/* TOPUP_CRYPTO_H */
