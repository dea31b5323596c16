/* crypto.c: thin, checked wrappers over OpenSSL's libcrypto. */
#include "core/base/crypto.h"

#include "core/base/util.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sq_random_bytes(void *buf, size_t len)
{
    if (RAND_bytes(buf, (int)len) != 1) {
        fputs("souq: CSPRNG failure\n", stderr);
        abort();
    }
}

/* OpenSSL 3 looks algorithms up (under a lock) on every EVP_sha256() use; fetch them once instead. */
static EVP_MD *md_sha256, *md_md5;
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static __thread EVP_MD_CTX *scratch;

static void fetch(void)
{
    md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    md_md5 = EVP_MD_fetch(NULL, "MD5", NULL);
    if (md_sha256 == NULL || md_md5 == NULL) {
        fputs("souq: OpenSSL has no SHA-256 or MD5\n", stderr);
        abort();
    }
}

static EVP_MD_CTX *ctx(void)
{
    pthread_once(&fetch_once, fetch);
    if (scratch == NULL && (scratch = EVP_MD_CTX_new()) == NULL)
        abort();
    return scratch;
}

static void digest(const EVP_MD *md, const void *data, size_t len, unsigned char *out)
{
    EVP_MD_CTX *c = ctx();
    unsigned int n;
    if (EVP_DigestInit_ex2(c, md, NULL) != 1 || EVP_DigestUpdate(c, data, len) != 1 || EVP_DigestFinal_ex(c, out, &n) != 1)
        abort();
}

void sq_md5(const void *data, size_t len, unsigned char out[16])
{
    pthread_once(&fetch_once, fetch);
    digest(md_md5, data, len, out);
}

void sq_etag(const void *data, size_t len, char out[33])
{
    unsigned char md[32];
    sq_sha256(data, len, md);
    sq_hex(md, 16, out);
}

void sq_sha256(const void *data, size_t len, unsigned char out[32])
{
    pthread_once(&fetch_once, fetch);
    digest(md_sha256, data, len, out);
}

struct sq_hmac_key {
    EVP_MD_CTX *inner, *outer; /* SHA-256 states after absorbing key^ipad and key^opad */
};

sq_hmac_key_t *sq_hmac_key_new(const void *key, size_t keylen)
{
    pthread_once(&fetch_once, fetch);
    unsigned char k[64] = {0}, pad[64];
    if (keylen > 64)
        sq_sha256(key, keylen, k);
    else
        memcpy(k, key, keylen);
    sq_hmac_key_t *h = sq_xmalloc(sizeof(*h));
    h->inner = EVP_MD_CTX_new();
    h->outer = EVP_MD_CTX_new();
    for (int i = 0; i < 64; i++)
        pad[i] = k[i] ^ 0x36;
    if (h->inner == NULL || h->outer == NULL || EVP_DigestInit_ex2(h->inner, md_sha256, NULL) != 1 ||
        EVP_DigestUpdate(h->inner, pad, 64) != 1)
        abort();
    for (int i = 0; i < 64; i++)
        pad[i] = k[i] ^ 0x5c;
    if (EVP_DigestInit_ex2(h->outer, md_sha256, NULL) != 1 || EVP_DigestUpdate(h->outer, pad, 64) != 1)
        abort();
    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(pad, sizeof(pad));
    return h;
}

void sq_hmac_key_free(sq_hmac_key_t *k)
{
    if (k == NULL)
        return;
    EVP_MD_CTX_free(k->inner);
    EVP_MD_CTX_free(k->outer);
    free(k);
}

void sq_hmac_sign(const sq_hmac_key_t *k, const void *data, size_t len, unsigned char out[32])
{
    EVP_MD_CTX *c = ctx();
    unsigned char ih[32];
    unsigned int n;
    if (EVP_MD_CTX_copy_ex(c, k->inner) != 1 || EVP_DigestUpdate(c, data, len) != 1 || EVP_DigestFinal_ex(c, ih, &n) != 1 ||
        EVP_MD_CTX_copy_ex(c, k->outer) != 1 || EVP_DigestUpdate(c, ih, 32) != 1 || EVP_DigestFinal_ex(c, out, &n) != 1)
        abort();
}

void sq_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len, unsigned char out[32])
{
    sq_hmac_key_t *k = sq_hmac_key_new(key, keylen);
    sq_hmac_sign(k, data, len, out);
    sq_hmac_key_free(k);
}

bool sq_ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    if (alen != blen)
        return false;
    return CRYPTO_memcmp(a, b, alen) == 0;
}

void sq_hex(const unsigned char *in, size_t len, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * len] = '\0';
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t sq_b64url_encode(const unsigned char *in, size_t len, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = b64[(v >> 6) & 63];
        out[o++] = b64[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = b64[(v >> 6) & 63];
    }
    out[o] = '\0';
    return o;
}

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

long sq_b64url_decode(const char *in, size_t len, unsigned char *out)
{
    if (len % 4 == 1)
        return -1;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64val((unsigned char)in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* leftover bits must be zero for a canonical encoding */
    if (acc != 0)
        return -1;
    return (long)o;
}

char *sq_token_new(sq_arena_t *a, const char *prefix)
{
    unsigned char raw[32];
    sq_random_bytes(raw, sizeof(raw));
    size_t plen = strlen(prefix);
    char *t = sq_arena_alloc(a, plen + 45);
    memcpy(t, prefix, plen);
    sq_b64url_encode(raw, sizeof(raw), t + plen);
    return t;
}

char *sq_id_new(sq_arena_t *a, const char *prefix)
{
    static const char b32[] = "0123456789abcdefghjkmnpqrstvwxyz";
    unsigned char r[10];
    sq_random_bytes(r, sizeof(r));
    uint64_t t = (uint64_t)(sq_now_us() / 1000);
    uint64_t r1 = 0, r2 = 0; /* 40 bits each */
    for (int i = 0; i < 5; i++) {
        r1 = r1 << 8 | r[i];
        r2 = r2 << 8 | r[5 + i];
    }
    size_t plen = strlen(prefix);
    char *id = sq_arena_alloc(a, plen + 28);
    memcpy(id, prefix, plen);
    char *p = id + plen;
    *p++ = '_';
    for (int s = 45; s >= 0; s -= 5)
        *p++ = b32[(t >> s) & 31];
    for (int s = 35; s >= 0; s -= 5)
        *p++ = b32[(r1 >> s) & 31];
    for (int s = 35; s >= 0; s -= 5)
        *p++ = b32[(r2 >> s) & 31];
    *p = '\0';
    return id;
}

char *sq_token_hash(sq_arena_t *a, const char *token, size_t len)
{
    unsigned char h[32];
    sq_sha256(token, len, h);
    char *hex = sq_arena_alloc(a, 65);
    sq_hex(h, 32, hex);
    return hex;
}
