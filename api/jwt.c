/* jwt.c: access-token minting and strict verification. */
#include "api/jwt.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/crypto.h"
#include "core/base/util.h"

static unsigned char *read_file(const char *path, int *len, char *errbuf, size_t errlen, const char *key)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(errbuf, errlen, "config %s: cannot read %s: %s", key, path, strerror(errno));
        return NULL;
    }
    unsigned char *buf = sq_xmalloc(65537);
    size_t n = fread(buf, 1, 65536, f);
    fclose(f);
    buf[n] = '\0';
    if (n == 0 || strstr((char *)buf, "-----BEGIN") == NULL) {
        snprintf(errbuf, errlen, "config %s: %s is empty or not a PEM key", key, path);
        free(buf);
        return NULL;
    }
    *len = (int)n;
    return buf;
}

static int load_key(sq_jwt_key_t *k, const sq_config_t *c, bool previous, char *errbuf, size_t errlen)
{
    snprintf(k->kid, sizeof(k->kid), "%s", previous ? c->jwt_previous_kid : c->jwt_kid);
    k->alg_name = c->jwt_alg;
    k->alg = jwt_str_alg(c->jwt_alg);
    if (k->alg == JWT_ALG_HS256) {
        const char *s = previous ? c->jwt_previous_secret : c->jwt_secret;
        if (strlen(s) < 32) { /* never an empty or weak HMAC key, whoever validated the config */
            snprintf(errbuf, errlen, "config %s: HS256 needs a secret of at least 32 bytes",
                     previous ? "jwt_previous_secret" : "jwt_secret");
            return -1;
        }
        k->verify_len = (int)strlen(s);
        k->verify_key = (unsigned char *)sq_xstrdup(s);
        k->hmac = sq_hmac_key_new(k->verify_key, (size_t)k->verify_len);
        if (!previous) {
            k->sign_len = k->verify_len;
            k->sign_key = (unsigned char *)sq_xstrdup(s);
        }
        return 0;
    }
    const char *pub = previous ? c->jwt_previous_public_key_file : c->jwt_public_key_file;
    k->verify_key =
        read_file(pub, &k->verify_len, errbuf, errlen, previous ? "jwt_previous_public_key_file" : "jwt_public_key_file");
    if (k->verify_key == NULL)
        return -1;
    if (!previous) {
        k->sign_key = read_file(c->jwt_private_key_file, &k->sign_len, errbuf, errlen, "jwt_private_key_file");
        if (k->sign_key == NULL)
            return -1;
    }
    return 0;
}

int sq_jwt_init(sq_jwt_t *j, const sq_config_t *c, char *errbuf, size_t errlen)
{
    memset(j, 0, sizeof(*j));
    snprintf(j->issuer, sizeof(j->issuer), "%s", c->jwt_issuer);
    if (load_key(&j->keys[0], c, false, errbuf, errlen) != 0)
        goto Error;
    j->nkeys = 1;
    if (c->jwt_previous_kid[0] != '\0') {
        if (load_key(&j->keys[1], c, true, errbuf, errlen) != 0)
            goto Error;
        j->nkeys = 2;
    }
    /* the signing key must actually sign, and its public half verify: catch mismatched key files at start */
    {
        sq_arena_t *a = sq_arena_new();
        sq_claims_t cl;
        const char *why = "cannot sign";
        char *t = sq_jwt_mint(j, SQ_AUD_STORE, "selftest", "selftest", 60, sq_now_us() / 1000000, a);
        int ok = t != NULL && sq_jwt_verify(j, t, strlen(t), sq_now_us() / 1000000, &cl, &why) == 0;
        sq_arena_unref(a);
        if (!ok) {
            snprintf(errbuf, errlen, "config jwt_private_key_file: the configured keys do not work together (%s)", why);
            goto Error;
        }
    }
    unsigned char ck[32];
    sq_hmac_sha256(j->keys[0].sign_key, (size_t)j->keys[0].sign_len, "souq-cursor-v1", 14, ck);
    j->cursor_key = sq_hmac_key_new(ck, sizeof(ck));
    return 0;
Error:
    sq_jwt_free(j);
    return -1;
}

void sq_jwt_free(sq_jwt_t *j)
{
    for (int i = 0; i < 2; i++) {
        free(j->keys[i].sign_key);
        free(j->keys[i].verify_key);
        sq_hmac_key_free(j->keys[i].hmac);
    }
    sq_hmac_key_free(j->cursor_key);
    memset(j, 0, sizeof(*j));
}

char *sq_jwt_mint(const sq_jwt_t *j, const char *aud, const char *sub, const char *sid, int ttl, int64_t now, sq_arena_t *a)
{
    const sq_jwt_key_t *k = &j->keys[0];
    jwt_t *t = NULL;
    char *out = NULL, *enc = NULL;
    unsigned char rnd[12];
    char jti[24];
    sq_random_bytes(rnd, sizeof(rnd));
    sq_b64url_encode(rnd, sizeof(rnd), jti);
    if (jwt_new(&t) != 0)
        goto Exit;
    if (jwt_add_grant(t, "iss", j->issuer) || jwt_add_grant(t, "sub", sub) || jwt_add_grant(t, "aud", aud) ||
        jwt_add_grant(t, "sid", sid) || jwt_add_grant(t, "token_use", "access") || jwt_add_grant(t, "jti", jti) ||
        jwt_add_grant_int(t, "iat", (long)now) || jwt_add_grant_int(t, "nbf", (long)now) ||
        jwt_add_grant_int(t, "exp", (long)(now + ttl)) || jwt_add_header(t, "kid", k->kid) ||
        jwt_set_alg(t, k->alg, k->sign_key, k->sign_len))
        goto Exit;
    enc = jwt_encode_str(t);
    if (enc != NULL)
        out = sq_arena_strdup(a, enc);
Exit:
    free(enc);
    jwt_free(t);
    return out;
}

/* Decodes a base64url JSON object segment (at most max bytes of JSON). */
static json_t *decode_segment(const char *s, size_t len, size_t max)
{
    if (len == 0 || len > (max * 4) / 3 + 4)
        return NULL;
    unsigned char *buf = sq_xmalloc(len);
    long n = sq_b64url_decode(s, len, buf);
    json_t *j = NULL;
    if (n > 0)
        j = json_loadb((const char *)buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
    free(buf);
    if (j != NULL && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

static bool int_claim(json_t *p, const char *name, bool required, int64_t *out)
{
    json_t *v = json_object_get(p, name);
    if (v == NULL)
        return !required;
    if (!json_is_integer(v))
        return false;
    *out = json_integer_value(v);
    return true;
}

static bool str_claim(json_t *p, const char *name, char *out, size_t cap)
{
    json_t *v = json_object_get(p, name);
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= cap)
        return false;
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return true;
}

static int check_claims(const sq_jwt_t *j, json_t *p, int64_t now, sq_claims_t *out, const char **why)
{
    int64_t nbf = 0, iat = 0;
    if (!int_claim(p, "exp", true, &out->exp))
        return *why = "exp claim missing or not an integer", -1;
    if (now - SQ_JWT_LEEWAY >= out->exp) /* not exp + leeway: a huge exp must not overflow */
        return *why = "token expired", -1;
    if (!int_claim(p, "nbf", false, &nbf) || (nbf != 0 && nbf > now + SQ_JWT_LEEWAY))
        return *why = "token not yet valid", -1;
    if (!int_claim(p, "iat", false, &iat) || iat > now + SQ_JWT_LEEWAY)
        return *why = "token issued in the future", -1;
    out->iat = iat;
    json_t *iss = json_object_get(p, "iss");
    if (!json_is_string(iss) || strcmp(json_string_value(iss), j->issuer) != 0)
        return *why = "wrong issuer", -1;
    json_t *aud = json_object_get(p, "aud");
    const char *a = NULL;
    if (json_is_string(aud))
        a = json_string_value(aud);
    else if (json_is_array(aud) && json_array_size(aud) == 1 && json_is_string(json_array_get(aud, 0)))
        a = json_string_value(json_array_get(aud, 0));
    if (a == NULL || (strcmp(a, SQ_AUD_STORE) != 0 && strcmp(a, SQ_AUD_ADMIN) != 0))
        return *why = "wrong audience", -1;
    snprintf(out->aud, sizeof(out->aud), "%s", a);
    json_t *use = json_object_get(p, "token_use");
    if (!json_is_string(use) || strcmp(json_string_value(use), "access") != 0)
        return *why = "not an access token", -1;
    if (!str_claim(p, "sub", out->sub, sizeof(out->sub)))
        return *why = "sub claim missing", -1;
    if (!str_claim(p, "sid", out->sid, sizeof(out->sid)))
        return *why = "sid claim missing", -1;
    return 0;
}

int sq_jwt_verify(const sq_jwt_t *j, const char *tok, size_t len, int64_t now, sq_claims_t *out, const char **why)
{
    json_t *head = NULL, *payload = NULL;
    int rc = -1;
    *why = "malformed token";
    if (len == 0)
        return -1;
    if (len > SQ_JWT_MAX_LEN)
        return *why = "token too large", -1;
    const char *d1 = memchr(tok, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok)) : NULL;
    if (d1 == NULL || d2 == NULL || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - tok)) != NULL || d2 + 1 == tok + len)
        return -1;
    if ((head = decode_segment(tok, (size_t)(d1 - tok), 1024)) == NULL)
        goto Exit;

    /* choose the key by kid (a plain lookup key, never a path), then pin the algorithm to that key */
    const sq_jwt_key_t *k = NULL;
    json_t *kid = json_object_get(head, "kid");
    if (kid == NULL) {
        k = &j->keys[0];
    } else if (json_is_string(kid)) {
        for (int i = 0; i < j->nkeys; i++)
            if (strcmp(j->keys[i].kid, json_string_value(kid)) == 0)
                k = &j->keys[i];
    }
    if (k == NULL) {
        *why = "unknown key id";
        goto Exit;
    }
    json_t *alg = json_object_get(head, "alg");
    if (!json_is_string(alg) || strcmp(json_string_value(alg), k->alg_name) != 0) {
        *why = "algorithm not allowed";
        goto Exit;
    }
    json_t *typ = json_object_get(head, "typ");
    if (typ != NULL &&
        (!json_is_string(typ) || (strcmp(json_string_value(typ), "JWT") != 0 && strcmp(json_string_value(typ), "at+jwt") != 0))) {
        *why = "wrong token type";
        goto Exit;
    }
    if (json_object_get(head, "crit") != NULL || json_object_get(head, "jku") != NULL || json_object_get(head, "x5u") != NULL ||
        json_object_get(head, "jwk") != NULL) {
        *why = "unsupported header";
        goto Exit;
    }

    *why = "bad signature";
    if (k->alg == JWT_ALG_HS256) {
        unsigned char mac[32], sig[48];
        size_t slen = len - (size_t)(d2 + 1 - tok);
        if (slen != 43 || sq_b64url_decode(d2 + 1, slen, sig) != 32)
            goto Exit;
        sq_hmac_sign(k->hmac, tok, (size_t)(d2 - tok), mac);
        if (!sq_ct_equal(mac, 32, sig, 32))
            goto Exit;
    } else {
        /* libjwt also decodes '+', '/' and '=': accept only the canonical base64url spelling of a signature, so an
         * accepted token is byte-identical to a minted one */
        size_t slen = len - (size_t)(d2 + 1 - tok);
        unsigned char *sig = sq_xmalloc(slen + 1);
        long n = sq_b64url_decode(d2 + 1, slen, sig);
        free(sig);
        if (n <= 0)
            goto Exit;
        char *copy = sq_xmalloc(len + 1);
        memcpy(copy, tok, len);
        copy[len] = '\0';
        jwt_t *t = NULL;
        int ok = jwt_decode(&t, copy, k->verify_key, k->verify_len) == 0 && jwt_get_alg(t) == k->alg;
        jwt_free(t);
        free(copy);
        if (!ok)
            goto Exit;
    }
    *why = "malformed token";
    if ((payload = decode_segment(d1 + 1, (size_t)(d2 - d1 - 1), SQ_JWT_MAX_LEN)) == NULL)
        goto Exit;
    rc = check_claims(j, payload, now, out, why);
Exit:
    json_decref(head);
    json_decref(payload);
    return rc;
}
