/* events.c: the rules of event deliveries: retry schedule, signatures, what an answer means, input rules. */
#include "core/events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/crypto.h"
#include "core/base/util.h"

static const int schedule[] = {1, 5, 30, 120, 360, 720, 1440, 1440};

int64_t sq_webhook_retry_delay_ms(int failed_attempts, int64_t base_ms, uint32_t rnd)
{
    int n = (int)(sizeof(schedule) / sizeof(schedule[0]));
    int i = failed_attempts < 1 ? 0 : failed_attempts > n ? n - 1 : failed_attempts - 1;
    int64_t d = schedule[i] * base_ms;
    /* jitter in [-10 %, +10 %] */
    int64_t span = d / 5;
    if (span > 0)
        d = d - d / 10 + (int64_t)(rnd % (uint64_t)(span + 1));
    return d < 1 ? 1 : d;
}

const char *sq_delivery_outcome_name(sq_delivery_outcome_t o)
{
    switch (o) {
    case SQ_DELIVERY_OK:
        return "ok";
    case SQ_DELIVERY_RETRY:
        return "retry";
    case SQ_DELIVERY_FAIL:
        return "fail";
    case SQ_DELIVERY_CANCEL:
        return "cancel";
    }
    return "fail";
}

sq_delivery_outcome_t sq_webhook_outcome(const sq_http_response_t *res)
{
    switch (res->error) {
    case SQ_HTTP_OK:
        break;
    case SQ_HTTP_E_INVALID_URL:
    case SQ_HTTP_E_SCHEME:
    case SQ_HTTP_E_SSRF_BLOCKED:
        return SQ_DELIVERY_FAIL;
    default:
        return SQ_DELIVERY_RETRY;
    }
    if (res->status >= 200 && res->status < 300)
        return SQ_DELIVERY_OK;
    if (res->status == 408 || res->status == 429 || res->status >= 500)
        return SQ_DELIVERY_RETRY;
    return SQ_DELIVERY_FAIL;
}

static void sign(int64_t t, const char *body, size_t len, const char *secret, char hex[65])
{
    char prefix[24];
    int n = snprintf(prefix, sizeof(prefix), "%lld.", (long long)t);
    sq_hmac_key_t *k = sq_hmac_key_new(secret, strlen(secret));
    /* HMAC over "<t>.<body>" without copying the body: the key's states are reused on a joined buffer */
    size_t total = (size_t)n + len;
    char *buf = sq_xmalloc(total + 1);
    memcpy(buf, prefix, (size_t)n);
    memcpy(buf + n, body, len);
    unsigned char mac[32];
    sq_hmac_sign(k, buf, total, mac);
    free(buf);
    sq_hmac_key_free(k);
    sq_hex(mac, sizeof(mac), hex);
}

char *sq_webhook_signature(sq_arena_t *a, int64_t unix_s, const char *body, size_t len, const char *secret, const char *previous)
{
    char v1[65], v0[65];
    sign(unix_s, body, len, secret, v1);
    if (previous == NULL || previous[0] == '\0')
        return sq_arena_printf(a, "t=%lld,v1=%s", (long long)unix_s, v1);
    sign(unix_s, body, len, previous, v0);
    return sq_arena_printf(a, "t=%lld,v1=%s,v1=%s", (long long)unix_s, v1, v0);
}

char *sq_webhook_secret_new(sq_arena_t *a)
{
    return sq_token_new(a, "whsec_");
}

/* ---- input rules ------------------------------------------------------------------------------------------------ */

#define F SQ_VFIELD

/* an event type or a pattern: lower-case words joined by dots, underscores and dashes (plugin names: the custom events
 * plugin.payment-stripe.*), '*' or a prefix ending in ".*" */
static const char *check_event_type(const json_t *v, const char **code)
{
    const char *s = json_string_value(v);
    size_t n = strlen(s);
    if (strcmp(s, "*") == 0)
        return NULL;
    if (n >= 2 && strcmp(s + n - 2, ".*") == 0)
        n -= 2;
    bool ok = n > 0 && s[0] >= 'a' && s[0] <= 'z' && s[n - 1] != '.';
    for (size_t i = 0; ok && i < n; i++)
        ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-' ||
             (s[i] == '.' && s[i - 1] != '.');
    if (ok)
        return NULL;
    *code = "invalid_format";
    return "must be an event type (order.placed), a prefix pattern (order.*) or *";
}

static const char *check_webhook_url(const json_t *v, const char **code)
{
    sq_arena_t *a = sq_arena_new();
    sq_url_t u;
    sq_http_error_t e = sq_url_parse(a, json_string_value(v), &u);
    sq_arena_unref(a);
    if (e == SQ_HTTP_OK)
        return NULL;
    *code = e == SQ_HTTP_E_SCHEME ? "not_allowed" : "invalid_format";
    return e == SQ_HTTP_E_SCHEME ? "only http and https URLs are allowed" : "must be an absolute http(s) URL without credentials";
}

#define WEBHOOK(req)                                                                                                               \
    F("url", SQ_FT_STR, (req), 1, 2048, NULL, check_webhook_url, NULL),                                                            \
        F("event_types", SQ_FT_STR_ARRAY, (req), 1, 100, NULL, check_event_type, NULL),                                            \
        F("description", SQ_FT_STR, SQ_F_NULLABLE | SQ_F_MULTILINE, 0, 500, NULL, NULL, NULL),                                     \
        F("enabled", SQ_FT_BOOL, 0, 0, 0, NULL, NULL, NULL),                                                                       \
        F("metadata", SQ_FT_JSON, SQ_F_NULLABLE, 0, 0, NULL, sq_check_metadata, NULL)

const sq_field_t sq_webhook_create_fields[] = {WEBHOOK(SQ_F_REQUIRED), {NULL}};
const sq_field_t sq_webhook_update_fields[] = {WEBHOOK(0), {NULL}};
const sq_field_t sq_replay_fields[] = {F("webhook_id", SQ_FT_STR, SQ_F_REQUIRED, 1, 40, NULL, sq_check_id, NULL), {NULL}};
