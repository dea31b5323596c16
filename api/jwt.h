/* jwt.h: access tokens. Minted with libjwt; verified with the algorithm pinned per key, HS256 signatures
 * compared in constant time (libjwt 1.10 uses strcmp), and every claim checked here because
 * libjwt 1.10 checks none (see shared/reference/reliability.md A2). */
#ifndef SQ_JWT_H
#define SQ_JWT_H

#include <jwt.h>
#include <stdint.h>

#include "api/config.h"
#include "core/base/arena.h"
#include "core/base/crypto.h"

#define SQ_JWT_MAX_LEN 8192
#define SQ_JWT_LEEWAY 60
#define SQ_AUD_STORE "souq:store"
#define SQ_AUD_ADMIN "souq:admin"

typedef struct {
    char kid[64];
    jwt_alg_t alg;
    const char *alg_name;
    unsigned char *sign_key; /* NULL for a verify-only (previous) key */
    int sign_len;
    unsigned char *verify_key;
    int verify_len;
    sq_hmac_key_t *hmac; /* HS256: the verify key, precomputed */
} sq_jwt_key_t;

typedef struct sq_jwt {
    sq_jwt_key_t keys[2]; /* [0] signs new tokens; [1] is the previous key, accepted during rotation */
    int nkeys;
    char issuer[128];
    sq_hmac_key_t *cursor_key; /* derived key for signing pagination cursors */
} sq_jwt_t;

typedef struct {
    char sub[72];
    char sid[72];
    char aud[16];
    int64_t exp, iat;
} sq_claims_t;

/** Loads keys from the config (reading PEM files); -1 with a message naming the config key. */
int sq_jwt_init(sq_jwt_t *j, const sq_config_t *c, char *errbuf, size_t errlen);
void sq_jwt_free(sq_jwt_t *j);
/** A signed access token for sub in session sid, valid ttl seconds; in the arena. NULL only if signing fails. */
char *sq_jwt_mint(const sq_jwt_t *j, const char *aud, const char *sub, const char *sid, int ttl, int64_t now, sq_arena_t *a);
/** 0 if tok is a valid access token now; else -1 with a short client-safe reason in *why. */
int sq_jwt_verify(const sq_jwt_t *j, const char *tok, size_t len, int64_t now, sq_claims_t *out, const char **why);

#endif
