/* secrets.c: plugin settings marked secret are sealed at rest with AES-256-GCM (OpenSSL EVP). A sealed value is the
 * string "sq1:<key id>:<base64url of 12-byte nonce | ciphertext | 16-byte tag>", where the key id is the first 8 hex
 * characters of SHA-256 of the key, and the additional data binds it to its place ("<plugin>\0<field>"), so a sealed
 * value copied to another plugin or field does not open. The key (plugin_secrets_key, 32 bytes as 64 hex characters)
 * seals new values; plugin_secrets_previous_key still opens values during a rotation. Without a key, values are
 * stored as they come (and sealed ones cannot be opened: the plugin stays unconfigured until the key is back). The
 * host keeps opened values in memory only (souq.config); the database, backups and replicas see ciphertext. */
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/base/crypto.h"
#include "core/base/log.h"
#include "core/base/util.h"
#include "plugins/host/internal.h"

#define PREFIX "sq1:"
#define NONCE 12
#define TAG 16
#define VALUE_MAX 4096

typedef struct {
    unsigned char key[32];
    char kid[9];
    bool set;
} skey_t;

static skey_t cur, prev;
static pthread_mutex_t keys_lock = PTHREAD_MUTEX_INITIALIZER;

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static bool parse_key(const char *hex, skey_t *k)
{
    memset(k, 0, sizeof(*k));
    if (hex == NULL || hex[0] == '\0')
        return true;
    if (strlen(hex) != 64)
        return false;
    for (int i = 0; i < 32; i++) {
        int h = hexval(hex[2 * i]), l = hexval(hex[2 * i + 1]);
        if (h < 0 || l < 0)
            return false;
        k->key[i] = (unsigned char)(h << 4 | l);
    }
    unsigned char md[32];
    sq_sha256(k->key, 32, md);
    sq_hex(md, 4, k->kid);
    k->set = true;
    return true;
}

bool sq_plugin_secrets_key_valid(const char *hex)
{
    skey_t k;
    return parse_key(hex, &k);
}

int sq_plugins_set_secret_keys(const char *current_hex, const char *previous_hex)
{
    skey_t c, p;
    if (!parse_key(current_hex, &c) || !parse_key(previous_hex, &p))
        return -1;
    pthread_mutex_lock(&keys_lock);
    cur = c;
    prev = p;
    pthread_mutex_unlock(&keys_lock);
    return 0;
}

static void keys(skey_t *c, skey_t *p)
{
    pthread_mutex_lock(&keys_lock);
    *c = cur;
    *p = prev;
    pthread_mutex_unlock(&keys_lock);
}

static void aad(char *buf, size_t len, size_t *n, const char *plugin, const char *field)
{
    int w = snprintf(buf, len, "%s%c%s", plugin, '\0', field);
    *n = w < 0 ? 0 : (size_t)w < len ? (size_t)w : len - 1;
}

/* A new string (malloc) sealing value with k, or NULL when OpenSSL fails. */
static char *seal(const skey_t *k, const char *plugin, const char *field, const char *value, size_t vlen)
{
    unsigned char nonce[NONCE], tag[TAG];
    unsigned char *buf = sq_xmalloc(NONCE + vlen + TAG);
    char ad[200];
    size_t adn;
    aad(ad, sizeof(ad), &adn, plugin, field);
    sq_random_bytes(nonce, NONCE);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int len = 0, fin = 0;
    bool ok = ctx != NULL && EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE, NULL) == 1 &&
              EVP_EncryptInit_ex(ctx, NULL, NULL, k->key, nonce) == 1 &&
              EVP_EncryptUpdate(ctx, NULL, &len, (const unsigned char *)ad, (int)adn) == 1 &&
              EVP_EncryptUpdate(ctx, buf + NONCE, &len, (const unsigned char *)value, (int)vlen) == 1 &&
              EVP_EncryptFinal_ex(ctx, buf + NONCE + len, &fin) == 1 &&
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG, tag) == 1;
    EVP_CIPHER_CTX_free(ctx);
    char *out = NULL;
    if (ok) {
        memcpy(buf, nonce, NONCE);
        memcpy(buf + NONCE + vlen, tag, TAG);
        size_t total = NONCE + vlen + TAG;
        out = sq_xmalloc(strlen(PREFIX) + 9 + 4 * ((total + 2) / 3) + 1);
        int p = sprintf(out, "%s%s:", PREFIX, k->kid);
        sq_b64url_encode(buf, total, out + p);
    }
    free(buf);
    return out;
}

bool sq_plugin_secret_sealed(const char *value)
{
    return value != NULL && strncmp(value, PREFIX, strlen(PREFIX)) == 0;
}

/* The plaintext of a sealed value (malloc, NUL-terminated) or NULL: no key of its id, tampered, or moved. */
static char *open_value(const char *plugin, const char *field, const char *sealed)
{
    skey_t c, p;
    keys(&c, &p);
    const char *kid = sealed + strlen(PREFIX), *b64 = kid + 9;
    if (strlen(sealed) < strlen(PREFIX) + 9 || kid[8] != ':')
        return NULL;
    const skey_t *k = c.set && strncmp(kid, c.kid, 8) == 0 ? &c : p.set && strncmp(kid, p.kid, 8) == 0 ? &p : NULL;
    if (k == NULL)
        return NULL;
    size_t bl = strlen(b64);
    unsigned char *buf = sq_xmalloc(3 * bl / 4 + 3);
    long n = sq_b64url_decode(b64, bl, buf);
    char *out = NULL;
    if (n >= NONCE + TAG) {
        size_t clen = (size_t)n - NONCE - TAG;
        char ad[200];
        size_t adn;
        aad(ad, sizeof(ad), &adn, plugin, field);
        out = sq_xmalloc(clen + 1);
        EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
        int len = 0, fin = 0;
        bool ok = ctx != NULL && EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
                  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE, NULL) == 1 &&
                  EVP_DecryptInit_ex(ctx, NULL, NULL, k->key, buf) == 1 &&
                  EVP_DecryptUpdate(ctx, NULL, &len, (const unsigned char *)ad, (int)adn) == 1 &&
                  EVP_DecryptUpdate(ctx, (unsigned char *)out, &len, buf + NONCE, (int)clen) == 1 &&
                  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG, buf + NONCE + clen) == 1 &&
                  EVP_DecryptFinal_ex(ctx, (unsigned char *)out + len, &fin) == 1;
        EVP_CIPHER_CTX_free(ctx);
        if (ok && memchr(out, '\0', clen) == NULL) {
            out[clen] = '\0';
        } else {
            free(out);
            out = NULL;
        }
    }
    free(buf);
    return out;
}

static bool is_secret(const sq_pdef_t *d, const char *field)
{
    return json_is_true(json_object_get(json_object_get(d->schema, field), "secret"));
}

json_t *sq_psecrets_open(const sq_pdef_t *d, const json_t *stored)
{
    json_t *out = stored ? json_deep_copy(stored) : json_object();
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(out, tmp, k, v)
    {
        if (!is_secret(d, k) || !json_is_string(v) || !sq_plugin_secret_sealed(json_string_value(v)))
            continue;
        char *plain = open_value(d->name, k, json_string_value(v));
        if (plain == NULL) { /* never the value in the log */
            sq_log(SQ_LOG_WARN, "plugin",
                   "plugin %s: the stored secret setting %s cannot be opened (no plugin_secrets_key of its key id, or it was "
                   "tampered with); it counts as unset",
                   d->name, k);
            json_object_del(out, k);
            continue;
        }
        json_object_set_new(out, k, json_string(plain));
        OPENSSL_cleanse(plain, strlen(plain));
        free(plain);
    }
    return out;
}

int sq_plugins_seal_secrets(const char *plugin, json_t *set, sq_err_t *err)
{
    skey_t c, p;
    keys(&c, &p);
    sq_preg_t *r = sq_preg_acquire();
    const sq_pdef_t *d = NULL;
    for (int i = 0; r != NULL && i < r->n && d == NULL; i++)
        if (strcmp(r->defs[i]->name, plugin) == 0)
            d = r->defs[i];
    int rc = 0;
    const char *k;
    json_t *v;
    json_object_foreach(set, k, v)
    {
        if (d == NULL || !is_secret(d, k) || !json_is_string(v))
            continue;
        if (json_string_length(v) > VALUE_MAX || sq_plugin_secret_sealed(json_string_value(v))) {
            /* a value that looks sealed would be taken for ciphertext when read back */
            char ptr[80];
            snprintf(ptr, sizeof(ptr), "/config/%s", k);
            sq_err_set(err, SQ_E_VALIDATION, "Some settings are invalid.");
            sq_err_field(err, ptr, "invalid_value", "A secret setting cannot start with sq1: or be longer than %d bytes.",
                         VALUE_MAX);
            rc = -1;
            break;
        }
        if (!c.set)
            continue; /* no key: stored as it is (documented) */
        char *sealed = seal(&c, plugin, k, json_string_value(v), json_string_length(v));
        if (sealed == NULL) {
            sq_err_set(err, SQ_E_INTERNAL, "The secret settings could not be sealed.");
            rc = -1;
            break;
        }
        json_object_set_new(set, k, json_string(sealed));
        free(sealed);
    }
    sq_preg_unref(r);
    return rc;
}

json_t *sq_plugins_secrets_to_reseal(const char *plugin, json_t **expect)
{
    skey_t c, p;
    keys(&c, &p);
    json_t *set = json_object();
    *expect = json_object();
    if (!c.set)
        return set;
    sq_preg_t *r = sq_preg_acquire();
    for (int i = 0; r != NULL && i < r->n; i++) {
        const sq_pdef_t *d = r->defs[i];
        if (strcmp(d->name, plugin) != 0)
            continue;
        const char *k;
        json_t *v;
        json_object_foreach(d->stored, k, v)
        {
            const char *s = json_string_value(v);
            if (!is_secret(d, k) || s == NULL)
                continue;
            char *plain = NULL;
            if (!sq_plugin_secret_sealed(s))
                plain = sq_xstrdup(s); /* stored before a key was set */
            else if (strncmp(s + strlen(PREFIX), c.kid, 8) != 0)
                plain = open_value(d->name, k, s); /* sealed with the previous key */
            if (plain == NULL)
                continue;
            char *sealed = seal(&c, d->name, k, plain, strlen(plain));
            OPENSSL_cleanse(plain, strlen(plain));
            free(plain);
            if (sealed != NULL) {
                json_object_set_new(set, k, json_string(sealed));
                json_object_set(*expect, k, v);
                free(sealed);
            }
        }
    }
    sq_preg_unref(r);
    return set;
}
