/* crypto.h: hashing, HMAC, random tokens, base64url/hex and constant-time comparison (OpenSSL underneath). */
#ifndef SQ_CRYPTO_H
#define SQ_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/arena.h"

/** Fills buf with cryptographically secure random bytes (aborts if the CSPRNG fails). */
void sq_random_bytes(void *buf, size_t len);
/** MD5 of data into out[16] (ETags only; never for security). */
void sq_md5(const void *data, size_t len, unsigned char out[16]);
/** The ETag of a representation: the first 128 bits of its SHA-256, in hex (32 characters + NUL). SHA-256 runs
 * on the CPU's SHA extensions, 2-3 times faster than MD5 on large lists; the database computes the same value
 * with souq_etag(text) (migrations/0014_etag_sha256.sql) to check If-Match. */
void sq_etag(const void *data, size_t len, char out[33]);
/** SHA-256 of data into out[32]. */
void sq_sha256(const void *data, size_t len, unsigned char out[32]);
/** HMAC-SHA256 into out[32]. */
void sq_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len, unsigned char out[32]);
/** An HMAC-SHA256 key with its inner and outer hash states precomputed (RFC 2104), for keys used on every
 * request. Immutable after creation, so threads may share it. */
typedef struct sq_hmac_key sq_hmac_key_t;
sq_hmac_key_t *sq_hmac_key_new(const void *key, size_t keylen);
void sq_hmac_key_free(sq_hmac_key_t *k);
/** HMAC-SHA256 with a precomputed key into out[32]. */
void sq_hmac_sign(const sq_hmac_key_t *k, const void *data, size_t len, unsigned char out[32]);

/** Constant-time equality of two buffers of the same length; false if lengths differ. */
bool sq_ct_equal(const void *a, size_t alen, const void *b, size_t blen);
/** Lower-case hex of len bytes into out (2*len+1 bytes, NUL-terminated). */
void sq_hex(const unsigned char *in, size_t len, char *out);
/** base64url without padding into out (needs 4*ceil(len/3)+1 bytes); returns the length written. */
size_t sq_b64url_encode(const unsigned char *in, size_t len, char *out);
/** Decodes base64url (no padding, strict alphabet) into out (needs 3*len/4+3 bytes); -1 on bad input. */
long sq_b64url_decode(const char *in, size_t len, unsigned char *out);
/** A new random token "<prefix><43 base64url chars>" (32 random bytes), allocated in the arena. */
char *sq_token_new(sq_arena_t *a, const char *prefix);
/** A new id in souq_id()'s format (core/base/id.h, migrations/0042): "<prefix>_", 10 Crockford base32 characters of the
 * millisecond time, then 16 of 80 random bits, allocated in the arena. For ids made where SQL would pay a plpgsql call
 * per row (the first line of a coalesced cart creation). */
char *sq_id_new(sq_arena_t *a, const char *prefix);
/** sha256 hex of a token, as stored at rest (65 bytes in the arena). */
char *sq_token_hash(sq_arena_t *a, const char *token, size_t len);

#endif
