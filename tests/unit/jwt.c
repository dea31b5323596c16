/* jwt.c: tests of api/jwt.c: every attack of the reliability notes (A2) must be refused, and good tokens
 * accepted, so that each refusal test can actually fail. */
#include "api/jwt.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/base/crypto.h"
#include "core/base/util.h"
#include "tests/unit/check.h"

#define KEY "0123456789abcdef0123456789abcdef-key"
#define OLDKEY "the-previous-key-0123456789-abcdefgh"

static char errbuf[512];
static sq_arena_t *arena;
static int64_t now;

static sq_config_t *config(char **extra)
{
    char *env[16] = {"SOUQ_JWT_SECRET=" KEY, NULL};
    int n = 1;
    for (; extra != NULL && *extra != NULL; extra++)
        env[n++] = *extra;
    env[n] = NULL;
    return sq_config_load(NULL, env, errbuf, sizeof(errbuf));
}

static char *b64(const char *s)
{
    char *out = sq_arena_alloc(arena, strlen(s) * 2 + 8);
    sq_b64url_encode((const unsigned char *)s, strlen(s), out);
    return out;
}

/* header.payload.HMAC-SHA256(secret) */
static char *hs256(const char *header, const char *payload, const char *secret)
{
    char *data = sq_arena_printf(arena, "%s.%s", b64(header), b64(payload));
    unsigned char mac[32];
    sq_hmac_sha256(secret, strlen(secret), data, strlen(data), mac);
    char sig[48];
    sq_b64url_encode(mac, 32, sig);
    return sq_arena_printf(arena, "%s.%s", data, sig);
}

static char *claims(const char *overrides)
{
    /* a valid payload; overrides is appended as extra JSON members (later duplicates are refused) */
    return sq_arena_printf(arena,
                           "{\"iss\":\"souq\",\"sub\":\"cus_1\",\"aud\":\"souq:store\",\"sid\":\"ses_1\",\"token_use\":\"access\","
                           "\"iat\":%lld,\"nbf\":%lld,\"exp\":%lld%s%s}",
                           (long long)now, (long long)now, (long long)(now + 300), overrides[0] ? "," : "", overrides);
}

static int verify(sq_jwt_t *j, const char *tok)
{
    sq_claims_t cl;
    const char *why;
    return sq_jwt_verify(j, tok, strlen(tok), now, &cl, &why);
}

static const char *H = "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}";

static void test_mint_and_verify(sq_jwt_t *j)
{
    char *t = sq_jwt_mint(j, SQ_AUD_ADMIN, "usr_1", "ses_9", 900, now, arena);
    CHECK(t != NULL);
    sq_claims_t cl;
    const char *why = NULL;
    CHECK_INT(sq_jwt_verify(j, t, strlen(t), now, &cl, &why), 0);
    CHECK_STR(cl.sub, "usr_1");
    CHECK_STR(cl.sid, "ses_9");
    CHECK_STR(cl.aud, SQ_AUD_ADMIN);
    CHECK_INT(cl.exp, now + 900);
    CHECK_INT(sq_jwt_verify(j, t, strlen(t), now + 900 + 59, &cl, &why), 0); /* leeway */
    CHECK_INT(sq_jwt_verify(j, t, strlen(t), now + 900 + 60, &cl, &why), -1);
    CHECK_STR(why, "token expired");
    CHECK_INT(verify(j, hs256(H, claims(""), KEY)), 0); /* hand-made tokens are accepted when right */
}

static void test_algorithm_attacks(sq_jwt_t *j)
{
    char *p = claims("");
    CHECK_INT(verify(j, sq_arena_printf(arena, "%s.%s.", b64("{\"alg\":\"none\"}"), b64(p))), -1);
    CHECK_INT(verify(j, sq_arena_printf(arena, "%s.%s.", b64("{\"alg\":\"NoNe\",\"kid\":\"k1\"}"), b64(p))), -1);
    CHECK_INT(verify(j, sq_arena_printf(arena, "%s.%s", b64("{\"alg\":\"none\"}"), b64(p))), -1);
    CHECK_INT(verify(j, hs256("{\"alg\":\"hs256\",\"kid\":\"k1\"}", p, KEY)), -1);
    CHECK_INT(verify(j, hs256("{\"alg\":\"HS512\",\"kid\":\"k1\"}", p, KEY)), -1);
    CHECK_INT(verify(j, hs256("{\"alg\":\"RS256\",\"kid\":\"k1\"}", p, KEY)), -1);
    CHECK_INT(verify(j, hs256("{\"kid\":\"k1\"}", p, KEY)), -1);
    CHECK_INT(verify(j, hs256("{\"alg\":[\"HS256\"],\"kid\":\"k1\"}", p, KEY)), -1);
}

static void test_signature_attacks(sq_jwt_t *j)
{
    char *good = hs256(H, claims(""), KEY);
    CHECK_INT(verify(j, hs256(H, claims(""), "another-secret-0123456789-0123456789")), -1);
    /* tampered payload under the original signature */
    char *dot2 = strrchr(good, '.');
    char *forged = sq_arena_printf(arena, "%s.%s%s", b64(H), b64(claims("\"role\":\"admin\"")), dot2);
    CHECK_INT(verify(j, forged), -1);
    /* one flipped signature character */
    char *flip = sq_arena_strdup(arena, good);
    char *last = flip + strlen(flip) - 2;
    *last = *last == 'A' ? 'B' : 'A';
    CHECK_INT(verify(j, flip), -1);
    /* the signature with padding, standard base64 or truncated */
    CHECK_INT(verify(j, sq_arena_printf(arena, "%s=", good)), -1);
    char *trunc = sq_arena_strndup(arena, good, strlen(good) - 1);
    CHECK_INT(verify(j, trunc), -1);
    char *plus = sq_arena_strdup(arena, good);
    plus[strlen(plus) - 3] = '+';
    CHECK_INT(verify(j, plus), -1);
}

static void test_claims(sq_jwt_t *j)
{
    char *nexp =
        sq_arena_printf(arena,
                        "{\"iss\":\"souq\",\"sub\":\"cus_1\",\"aud\":\"souq:store\",\"sid\":\"ses_1\",\"token_use\":\"access\","
                        "\"iat\":%lld}",
                        (long long)now);
    CHECK_INT(verify(j, hs256(H, nexp, KEY)), -1); /* exp is required */
    char *p;
    p = sq_arena_printf(
        arena, "{\"iss\":\"souq\",\"sub\":\"cus_1\",\"aud\":\"souq:store\",\"sid\":\"s\",\"token_use\":\"access\",\"exp\":%lld}",
        (long long)(now - 61));
    CHECK_INT(verify(j, hs256(H, p, KEY)), -1); /* expired beyond the leeway */
    p = sq_arena_printf(
        arena, "{\"iss\":\"souq\",\"sub\":\"cus_1\",\"aud\":\"souq:store\",\"sid\":\"s\",\"token_use\":\"access\",\"exp\":%lld}",
        (long long)(now - 59));
    CHECK_INT(verify(j, hs256(H, p, KEY)), 0); /* within it */
    p = sq_arena_printf(
        arena,
        "{\"iss\":\"souq\",\"sub\":\"cus_1\",\"aud\":\"souq:store\",\"sid\":\"s\",\"token_use\":\"access\",\"exp\":\"%lld\"}",
        (long long)(now + 300));
    CHECK_INT(verify(j, hs256(H, p, KEY)), -1); /* exp as a string */
    p = sq_arena_printf(
        arena, "{\"iss\":\"souq\",\"sub\":\"cus_1\",\"aud\":\"souq:store\",\"sid\":\"s\",\"token_use\":\"access\",\"exp\":%lld.5}",
        (long long)(now + 300));
    CHECK_INT(verify(j, hs256(H, p, KEY)), -1); /* exp as a float */
    /* nbf and iat in the future, beyond the leeway */
    struct {
        const char *fmt;
        int want;
    } cases[] = {
        {"{\"iss\":\"souq\",\"sub\":\"c\",\"aud\":\"souq:store\",\"sid\":\"s\",\"token_use\":\"access\",\"exp\":%lld,\"nbf\":%lld}",
         -1},
        {"{\"iss\":\"souq\",\"sub\":\"c\",\"aud\":\"souq:store\",\"sid\":\"s\",\"token_use\":\"access\",\"exp\":%lld,\"iat\":%lld}",
         -1},
    };
    for (size_t i = 0; i < 2; i++) {
        p = sq_arena_printf(arena, cases[i].fmt, (long long)(now + 300), (long long)(now + 600));
        CHECK_INT(verify(j, hs256(H, p, KEY)), cases[i].want);
    }
    const char *wrong[] = {
        "{\"iss\":\"evil\",\"sub\":\"c\",\"aud\":\"souq:store\",\"sid\":\"s\",\"token_use\":\"access\",\"exp\":%lld}",
        "{\"sub\":\"c\",\"aud\":\"souq:store\",\"sid\":\"s\",\"token_use\":\"access\",\"exp\":%lld}",
        "{\"iss\":\"souq\",\"sub\":\"c\",\"aud\":\"other\",\"sid\":\"s\",\"token_use\":\"access\",\"exp\":%lld}",
        "{\"iss\":\"souq\",\"sub\":\"c\",\"aud\":[\"souq:store\",\"x\"],\"sid\":\"s\",\"token_use\":\"access\",\"exp\":%lld}",
        "{\"iss\":\"souq\",\"sub\":\"c\",\"sid\":\"s\",\"token_use\":\"access\",\"exp\":%lld}",
        "{\"iss\":\"souq\",\"aud\":\"souq:store\",\"sid\":\"s\",\"token_use\":\"access\",\"exp\":%lld}",
        "{\"iss\":\"souq\",\"sub\":\"\",\"aud\":\"souq:store\",\"sid\":\"s\",\"token_use\":\"access\",\"exp\":%lld}",
        "{\"iss\":\"souq\",\"sub\":\"c\",\"aud\":\"souq:store\",\"token_use\":\"access\",\"exp\":%lld}",
        "{\"iss\":\"souq\",\"sub\":\"c\",\"aud\":\"souq:store\",\"sid\":\"s\",\"token_use\":\"refresh\",\"exp\":%lld}",
        "{\"iss\":\"souq\",\"sub\":\"c\",\"aud\":\"souq:store\",\"sid\":\"s\",\"exp\":%lld}",
        "{\"iss\":\"souq\",\"sub\":\"c\",\"aud\":\"souq:store\",\"sid\":\"s\",\"token_use\":\"access\",\"exp\":%lld,\"exp\":1}",
        "[\"iss\",\"souq\",%lld]",
    };
    for (size_t i = 0; i < SQ_ARRAY_LEN(wrong); i++)
        CHECK_INT(verify(j, hs256(H, sq_arena_printf(arena, wrong[i], (long long)(now + 300)), KEY)), -1);
    p = sq_arena_printf(
        arena, "{\"iss\":\"souq\",\"sub\":\"c\",\"aud\":[\"souq:admin\"],\"sid\":\"s\",\"token_use\":\"access\",\"exp\":%lld}",
        (long long)(now + 300));
    CHECK_INT(verify(j, hs256(H, p, KEY)), 0); /* a one-element audience array is fine */
}

static void test_headers_and_shapes(sq_jwt_t *j)
{
    char *p = claims("");
    const char *headers[] = {
        "{\"alg\":\"HS256\",\"kid\":\"../../etc/passwd\"}",
        "{\"alg\":\"HS256\",\"kid\":5}",
        "{\"alg\":\"HS256\",\"kid\":\"k1\",\"jku\":\"https://evil/jwks\"}",
        "{\"alg\":\"HS256\",\"kid\":\"k1\",\"x5u\":\"https://e\"}",
        "{\"alg\":\"HS256\",\"kid\":\"k1\",\"jwk\":{\"kty\":\"oct\"}}",
        "{\"alg\":\"HS256\",\"kid\":\"k1\",\"crit\":[\"exp\"]}",
        "{\"alg\":\"HS256\",\"kid\":\"k1\",\"typ\":\"refresh+jwt\"}",
        "{\"alg\":\"HS256\",\"alg\":\"none\"}",
        "[\"HS256\"]",
    };
    for (size_t i = 0; i < SQ_ARRAY_LEN(headers); i++)
        CHECK_INT(verify(j, hs256(headers[i], p, KEY)), -1);
    CHECK_INT(verify(j, hs256("{\"alg\":\"HS256\"}", p, KEY)), 0);                    /* no kid: the current key */
    CHECK_INT(verify(j, hs256("{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}", p, KEY)), 0); /* RFC 9068 typ */
    const char *shapes[] = {"", "a", "a.b", "a.b.c.d", "..", "...", "e30.e30.", "!!!.@@@.###", "e30.e30.AAAA"};
    for (size_t i = 0; i < SQ_ARRAY_LEN(shapes); i++)
        CHECK_INT(verify(j, shapes[i]), -1);
    /* over 8 KiB */
    char *pad = sq_arena_alloc(arena, 9001);
    memset(pad, 'x', 9000);
    pad[9000] = '\0';
    char *big = hs256(H, claims(sq_arena_printf(arena, "\"pad\":\"%s\"", pad)), KEY);
    sq_claims_t cl;
    const char *why;
    CHECK_INT(sq_jwt_verify(j, big, strlen(big), now, &cl, &why), -1);
    CHECK_STR(why, "token too large");
}

/* a far-future exp is a valid claim: the expiry check must not overflow (UBSan aborts this test if it does) */
static void test_huge_exp(sq_jwt_t *j)
{
    char *p = sq_arena_printf(arena,
                              "{\"iss\":\"souq\",\"sub\":\"cus_1\",\"aud\":\"souq:store\",\"sid\":\"ses_1\","
                              "\"token_use\":\"access\",\"iat\":%lld,\"exp\":9223372036854775807}",
                              (long long)now);
    CHECK_INT(verify(j, hs256(H, p, KEY)), 0);
}

static void test_rotation(void)
{
    char *extra[] = {"SOUQ_JWT_KID=k2", "SOUQ_JWT_PREVIOUS_KID=k1", "SOUQ_JWT_PREVIOUS_SECRET=" OLDKEY, NULL};
    sq_config_t *c = config(extra);
    sq_jwt_t j;
    CHECK(c != NULL && sq_jwt_init(&j, c, errbuf, sizeof(errbuf)) == 0);
    if (c == NULL)
        return;
    char *p = claims("");
    CHECK_INT(verify(&j, hs256("{\"alg\":\"HS256\",\"kid\":\"k1\"}", p, OLDKEY)), 0);
    CHECK_INT(verify(&j, hs256("{\"alg\":\"HS256\",\"kid\":\"k2\"}", p, KEY)), 0);
    CHECK_INT(verify(&j, hs256("{\"alg\":\"HS256\",\"kid\":\"k2\"}", p, OLDKEY)), -1); /* a kid is bound to its key */
    CHECK_INT(verify(&j, hs256("{\"alg\":\"HS256\",\"kid\":\"k1\"}", p, KEY)), -1);
    CHECK_INT(verify(&j, hs256("{\"alg\":\"HS256\"}", p, OLDKEY)), -1); /* no kid: only the current key */
    char *t = sq_jwt_mint(&j, SQ_AUD_STORE, "c", "s", 60, now, arena);
    CHECK(t != NULL && verify(&j, t) == 0);
    if (t != NULL) {
        unsigned char head[256] = {0};
        CHECK(sq_b64url_decode(t, (size_t)(strchr(t, '.') - t), head) > 0);
        CHECK_CONTAINS((char *)head, "\"kid\":\"k2\""); /* new tokens carry the current kid */
    }
    sq_jwt_free(&j);
    sq_config_free(c);
    /* a previous key with an empty HMAC secret is refused by sq_jwt_init itself, whoever validated the config */
    char *pk[] = {"SOUQ_JWT_PREVIOUS_KID=k0", "SOUQ_JWT_PREVIOUS_SECRET=" OLDKEY, NULL};
    c = config(pk);
    CHECK(c != NULL);
    if (c != NULL) {
        c->jwt_previous_secret[0] = '\0';
        CHECK_INT(sq_jwt_init(&j, c, errbuf, sizeof(errbuf)), -1);
        CHECK_CONTAINS(errbuf, "jwt_previous_secret");
        sq_config_free(c);
    }
    char *only_new[] = {"SOUQ_JWT_KID=k2", NULL};
    c = config(only_new);
    CHECK(c != NULL && sq_jwt_init(&j, c, errbuf, sizeof(errbuf)) == 0);
    CHECK_INT(verify(&j, hs256("{\"alg\":\"HS256\",\"kid\":\"k1\"}", p, OLDKEY)), -1); /* retired */
    sq_jwt_free(&j);
    sq_config_free(c);
}

static const char *write_pem(EVP_PKEY *k, bool priv)
{
    char *path = sq_arena_strdup(arena, "/tmp/souq-jwt-test-XXXXXX");
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    if (priv)
        PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
    else
        PEM_write_PUBKEY(f, k);
    fclose(f);
    return path;
}

/* RS256: tokens verify with the public key, and an HS256 token keyed with the public PEM is refused. */
static void test_rs256_and_confusion(void)
{
    EVP_PKEY *k = EVP_RSA_gen(2048), *k2 = EVP_RSA_gen(2048);
    CHECK(k != NULL && k2 != NULL);
    if (k == NULL || k2 == NULL)
        return;
    const char *priv = write_pem(k, true), *pub = write_pem(k, false), *pub2 = write_pem(k2, false);
    char e1[300], e2[300], e3[300];
    snprintf(e1, sizeof(e1), "SOUQ_JWT_ALG=RS256");
    snprintf(e2, sizeof(e2), "SOUQ_JWT_PRIVATE_KEY_FILE=%s", priv);
    snprintf(e3, sizeof(e3), "SOUQ_JWT_PUBLIC_KEY_FILE=%s", pub);
    char *extra[] = {e1, e2, e3, NULL};
    sq_config_t *c = config(extra);
    sq_jwt_t j;
    CHECK(c != NULL && sq_jwt_init(&j, c, errbuf, sizeof(errbuf)) == 0);
    if (c != NULL) {
        char *t = sq_jwt_mint(&j, SQ_AUD_STORE, "cus_1", "ses_1", 300, now, arena);
        CHECK(t != NULL && verify(&j, t) == 0);
        FILE *f = fopen(pub, "r");
        char pem[4096] = {0};
        size_t n = fread(pem, 1, sizeof(pem) - 1, f);
        fclose(f);
        CHECK(n > 100);
        CHECK_INT(verify(&j, hs256("{\"alg\":\"HS256\",\"kid\":\"k1\"}", claims(""), pem)), -1); /* algorithm confusion */
        CHECK_INT(verify(&j, sq_arena_printf(arena, "%s.%s.", b64("{\"alg\":\"none\"}"), b64(claims("")))), -1);
        /* a tampered RS256 payload */
        char *d1 = strchr(t, '.'), *d2 = strrchr(t, '.');
        char *tampered = sq_arena_printf(arena, "%.*s.%s%s", (int)(d1 - t), t, b64(claims("\"x\":1")), d2);
        CHECK_INT(verify(&j, tampered), -1);
        /* the signature must be spelled in canonical base64url: no padding, no '+' or '/' */
        CHECK_INT(verify(&j, sq_arena_printf(arena, "%s==", t)), -1);
        char *std = sq_arena_strdup(arena, t);
        int swapped = 0;
        for (char *q = strrchr(std, '.'); *q; q++)
            if (*q == '-' || *q == '_')
                *q = *q == '-' ? '+' : '/', swapped++;
        if (swapped > 0)
            CHECK_INT(verify(&j, std), -1);
        sq_jwt_free(&j);
        sq_config_free(c);
    }
    /* a public key that is not the private key's half is caught at start-up */
    snprintf(e3, sizeof(e3), "SOUQ_JWT_PUBLIC_KEY_FILE=%s", pub2);
    c = config(extra);
    CHECK(c != NULL);
    if (c != NULL) {
        CHECK_INT(sq_jwt_init(&j, c, errbuf, sizeof(errbuf)), -1);
        CHECK_CONTAINS(errbuf, "do not work together");
        sq_config_free(c);
    }
    snprintf(e3, sizeof(e3), "SOUQ_JWT_PUBLIC_KEY_FILE=/nonexistent.pem");
    c = config(extra);
    CHECK(c != NULL && sq_jwt_init(&j, c, errbuf, sizeof(errbuf)) == -1);
    CHECK_CONTAINS(errbuf, "jwt_public_key_file");
    sq_config_free(c);
    unlink(priv);
    unlink(pub);
    unlink(pub2);
    EVP_PKEY_free(k);
    EVP_PKEY_free(k2);
}

int main(void)
{
    arena = sq_arena_new();
    now = sq_now_us() / 1000000;
    sq_config_t *c = config(NULL);
    sq_jwt_t j;
    CHECK(c != NULL && sq_jwt_init(&j, c, errbuf, sizeof(errbuf)) == 0);
    if (c == NULL)
        return check_done("jwt");
    test_mint_and_verify(&j);
    test_algorithm_attacks(&j);
    test_signature_attacks(&j);
    test_claims(&j);
    test_headers_and_shapes(&j);
    test_huge_exp(&j);
    test_rotation();
    test_rs256_and_confusion();
    sq_jwt_free(&j);
    sq_config_free(c);
    sq_arena_unref(arena);
    return check_done("jwt");
}
