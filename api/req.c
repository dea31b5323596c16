/* req.c: the request pipeline (limits -> route -> negotiate -> authenticate -> handler) and responses. */
#include "api/req.h"
#include "api/http_client.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <jansson.h>
#include <time.h>

#include "api/authn.h"
#include "core/base/buf.h"
#include "core/base/crypto.h"
#include "core/base/log.h"
#include "core/base/util.h"
#include "core/storefront.h"

#define MAX_URL 8192
#define MAX_HEADERS 16384

static h2o_generator_t generator = {NULL, NULL};

/* ---- lifecycle ---------------------------------------------------------------------------------------- */

/* The path for the access log. Cart ids are capabilities (whoever has one holds the cart), so a path segment
 * "cart_..." keeps its prefix and 4 characters: enough to tell carts apart, useless to reach one. */
static size_t log_path(char *line, size_t n, size_t cap, h2o_iovec_t path)
{
    size_t i = 0;
    while (i < path.len) {
        size_t seg = i;
        while (i < path.len && path.base[i] != '/')
            i++;
        size_t len = i - seg;
        if (len > 9 && memcmp(path.base + seg, "cart_", 5) == 0) {
            n = sq_json_escape(line, n, cap, path.base + seg, 9);
            n = sq_json_escape(line, n, cap, "...", 3);
        } else {
            n = sq_json_escape(line, n, cap, path.base + seg, len);
        }
        if (i < path.len) {
            n = sq_json_escape(line, n, cap, "/", 1);
            i++;
        }
    }
    return n;
}

static void finish_metrics(sq_req_t *req, int status)
{
    int64_t dur = sq_mono_us() - req->start_us;
    int slot = req->route != NULL ? req->match.index + 1 : 0;
    sq_metrics_record(&req->thr->metrics, slot, status, dur);
    if (!req->rt->cfg->access_log)
        return;
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = (size_t)snprintf(line, sizeof(line),
                                "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"info\",\"component\":\"access\","
                                "\"request_id\":\"%s\",\"method\":\"",
                                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                                ts.tv_nsec / 1000000, req->request_id);
    if (req->h2o != NULL) {
        n = sq_json_escape(line, n, 200, req->h2o->method.base, req->h2o->method.len);
        memcpy(line + n, "\",\"path\":\"", 10);
        n += 10;
        n = log_path(line, n, 600, req->h2o->path_normalized);
    } else {
        n += (size_t)snprintf(line + n, sizeof(line) - n, "\",\"path\":\"");
    }
    n +=
        (size_t)snprintf(line + n, sizeof(line) - n,
                         "\",\"route\":\"%s\",\"status\":%d,\"duration_ms\":%.3f,\"bytes\":%zu,\"ip\":\"%s\",\"principal\":\"%s\"}",
                         req->route ? req->route->path : "", status, (double)dur / 1000.0, req->bytes, req->ip,
                         req->principal.id ? req->principal.id : "");
    sq_log_raw(line, n < sizeof(line) ? n : sizeof(line) - 1);
}

static void on_h2o_dispose(void *p)
{
    sq_req_t *req = *(sq_req_t **)p;
    if (!req->responded) {
        req->responded = true;
        finish_metrics(req, 499); /* the client went away first */
    }
    req->h2o = NULL;
    if (h2o_timeout_is_linked(&req->deadline))
        h2o_timeout_unlink(&req->deadline);
    req->thr->inflight--;
    sq_rt_unref(req->rt);
    sq_arena_unref(req->arena);
}

static void on_deadline(h2o_timeout_entry_t *entry)
{
    sq_req_t *req = H2O_STRUCT_FROM_MEMBER(sq_req_t, deadline, entry);
    sq_err_t e;
    sq_err_clear(&e);
    sq_err_set(&e, SQ_E_TIMEOUT, "The request took longer than the server allows; retry shortly.");
    e.retry_after = 1;
    /* the work may still commit: an Idempotency-Key stays claimed until the handler answers (and its answer is
     * stored), so the retry the 503 asks for gets 409 meanwhile and then the replay, never a second run */
    bool claimed = req->idem.claimed;
    req->idem.claimed = false;
    sq_req_fail_with(req, &e);
    req->idem.claimed = claimed;
}

/* ---- small helpers ------------------------------------------------------------------------------------ */

const char *sq_req_header(sq_req_t *req, const char *name)
{
    if (req->h2o == NULL)
        return NULL;
    ssize_t i = h2o_find_header_by_str(&req->h2o->headers, name, strlen(name), -1);
    if (i < 0)
        return NULL;
    h2o_iovec_t v = req->h2o->headers.entries[i].value;
    return sq_arena_strndup(req->arena, v.base, v.len);
}

const char *sq_req_param(sq_req_t *req, const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; i < req->match.nparams; i++)
        if (req->match.params[i].name_len == n && memcmp(req->match.params[i].name, name, n) == 0)
            return sq_arena_strndup(req->arena, req->match.params[i].value, req->match.params[i].len);
    return "";
}

const char *sq_req_query(sq_req_t *req, const char *name)
{
    for (int i = 0; i < req->nquery; i++)
        if (strcmp(req->query[i].name, name) == 0)
            return req->query[i].value;
    return NULL;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decodes [s, s+len) into the arena; NULL on a bad escape or a NUL byte. */
static char *url_decode(sq_arena_t *a, const char *s, size_t len)
{
    char *out = sq_arena_alloc(a, len + 1), *o = out;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%') {
            if (i + 2 >= len)
                return NULL;
            int h = hexval((unsigned char)s[i + 1]), l = hexval((unsigned char)s[i + 2]);
            if (h < 0 || l < 0 || (h == 0 && l == 0))
                return NULL;
            *o++ = (char)(h * 16 + l);
            i += 2;
        } else {
            *o++ = s[i] == '+' ? ' ' : s[i];
        }
    }
    *o = '\0';
    return out;
}

static int parse_query(sq_req_t *req)
{
    h2o_req_t *h = req->h2o;
    if (h->query_at == SIZE_MAX)
        return 0;
    const char *q = h->path.base + h->query_at + 1, *end = h->path.base + h->path.len;
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        if (amp == NULL)
            amp = end;
        if (amp > q) {
            const char *eq = memchr(q, '=', (size_t)(amp - q));
            const char *vstart = eq ? eq + 1 : amp;
            char *name = url_decode(req->arena, q, (size_t)((eq ? eq : amp) - q));
            char *value = url_decode(req->arena, vstart, (size_t)(amp - vstart));
            if (name == NULL || value == NULL) {
                sq_err_set(&req->err, SQ_E_INVALID_PARAMETER, "The query string has a malformed percent-escape.");
                return -1;
            }
            bool allowed = false;
            for (const char *const *a = req->route->query; a != NULL && *a != NULL; a++)
                allowed |= strcmp(*a, name) == 0;
            if (!allowed) {
                sq_err_set(&req->err, SQ_E_INVALID_PARAMETER, "Unknown query parameter.");
                req->err.param_errors = true;
                sq_err_field(&req->err, name, "unknown_parameter", "%.60s is not a parameter of this endpoint", name);
                return -1;
            }
            if (sq_req_query(req, name) != NULL || req->nquery == SQ_MAX_QUERY) {
                sq_err_set(&req->err, SQ_E_INVALID_PARAMETER, "A query parameter is repeated.");
                req->err.param_errors = true;
                sq_err_field(&req->err, name, "repeated", "%.60s is given more than once", name);
                return -1;
            }
            req->query[req->nquery].name = name;
            req->query[req->nquery].value = value;
            req->nquery++;
        }
        q = amp + 1;
    }
    return 0;
}

static int param_error(sq_req_t *req, const char *name, const char *code, const char *detail)
{
    sq_err_set(&req->err, SQ_E_INVALID_PARAMETER, "A query parameter is invalid.");
    req->err.param_errors = true;
    sq_err_field(&req->err, name, code, "%s %s", name, detail);
    return -1;
}

/* Cursors are "<base64url key>.<base64url HMAC-SHA256(key)[:12]>": opaque to clients, unforgeable. */
/* The MAC covers the route and the sort order with the key: a cursor replayed on another list, or with another
 * sort, would hand SQL a key of the wrong shape. The sort is the one used (req->list_sort, set by handlers whose
 * default sort depends on other parameters), not merely the one asked for. */
static void cursor_mac(sq_req_t *req, const char *key, size_t n, unsigned char mac[32])
{
    const char *route = req->route != NULL ? req->route->path : "";
    const char *sort = req->list_sort != NULL ? req->list_sort : sq_req_query(req, "sort");
    sq_buf_t b;
    sq_buf_init(&b, req->arena, n + 160);
    sq_buf_printf(&b, "%s\n%s\n", route, sort != NULL ? sort : "");
    sq_buf_add(&b, key, n);
    sq_hmac_sign(req->rt->jwt.cursor_key, b.p, b.len, mac);
}

static char *cursor_encode(sq_req_t *req, const char *key)
{
    unsigned char mac[32];
    size_t n = strlen(key);
    cursor_mac(req, key, n, mac);
    char *out = sq_arena_alloc(req->arena, n * 2 + 32);
    size_t o = sq_b64url_encode((const unsigned char *)key, n, out);
    out[o++] = '.';
    sq_b64url_encode(mac, 12, out + o);
    return out;
}

static const char *cursor_decode(sq_req_t *req, const char *cur)
{
    const char *dot = strchr(cur, '.');
    size_t klen = dot ? (size_t)(dot - cur) : 0;
    if (dot == NULL || klen == 0 || klen > 200 || strlen(dot + 1) != 16)
        return NULL;
    unsigned char *key = sq_arena_alloc(req->arena, klen);
    long n = sq_b64url_decode(cur, klen, key);
    unsigned char mac[32], got[16];
    if (n <= 0 || sq_b64url_decode(dot + 1, 16, got) != 12)
        return NULL;
    cursor_mac(req, (const char *)key, (size_t)n, mac);
    if (!sq_ct_equal(mac, 12, got, 12))
        return NULL;
    return sq_arena_strndup(req->arena, (const char *)key, (size_t)n);
}

int sq_req_page(sq_req_t *req, sq_page_t *page)
{
    page->limit = 20;
    page->after = NULL;
    const char *limit = sq_req_query(req, "limit"), *cursor = sq_req_query(req, "cursor");
    if (limit != NULL) {
        char *end;
        long v = strtol(limit, &end, 10);
        if (*limit == '\0' || *end != '\0' || v < 1 || v > 100)
            return param_error(req, "limit", "out_of_range", "must be an integer from 1 to 100");
        page->limit = (int)v;
    }
    if (cursor != NULL && (page->after = cursor_decode(req, cursor)) == NULL)
        return param_error(req, "cursor", "invalid_cursor", "is not a cursor this server issued");
    return 0;
}

json_t *sq_req_body(sq_req_t *req)
{
    h2o_iovec_t body = req->h2o->entity;
    return sq_json_parse(req->arena, body.base, body.base ? body.len : 0, &req->err);
}

int sq_req_json(sq_req_t *req, const sq_field_t *fields, void *out, uint64_t *present)
{
    json_t *j = sq_req_body(req);
    if (j == NULL)
        return -1;
    return sq_json_decode(req->arena, j, fields, out, present, &req->err);
}

int sq_req_if_match(sq_req_t *req, const char **etag)
{
    const char *v = sq_req_header(req, "if-match");
    *etag = NULL;
    if (v == NULL)
        return 0;
    size_t n = strlen(v);
    if (n < 3 || v[0] != '"' || v[n - 1] != '"' || n > 80) {
        sq_err_set(&req->err, SQ_E_PRECONDITION_FAILED, "If-Match must be a strong ETag this server returned.");
        return -1;
    }
    *etag = sq_arena_strndup(req->arena, v + 1, n - 2);
    return 0;
}

/* ---- responses ------------------------------------------------------------------------------------- */

static void add_header(sq_req_t *req, const h2o_token_t *token, const char *value, size_t len)
{
    h2o_add_header(&req->h2o->pool, &req->h2o->res.headers, token, NULL, value, len);
}

static void add_header_strn(sq_req_t *req, const char *name, const char *value, size_t len)
{
    h2o_add_header_by_str(&req->h2o->pool, &req->h2o->res.headers, name, strlen(name), 0, NULL, value, len);
}

static void add_header_str(sq_req_t *req, const char *name, const char *value)
{
    add_header_strn(req, name, value, strlen(value));
}

static void add_cors(sq_req_t *req)
{
    ssize_t i = h2o_find_header_by_str(&req->h2o->headers, H2O_STRLIT("origin"), -1);
    if (i < 0)
        return;
    h2o_iovec_t o = req->h2o->headers.entries[i].value;
    if (!sq_config_cors_allowed(req->rt->cfg, o.base, o.len))
        return;
    add_header(req, H2O_TOKEN_ACCESS_CONTROL_ALLOW_ORIGIN, sq_arena_strndup(req->arena, o.base, o.len), o.len);
    add_header(req, H2O_TOKEN_VARY, H2O_STRLIT("Origin"));
    add_header_strn(req, "access-control-expose-headers", H2O_STRLIT("X-Request-Id, ETag, Retry-After, Location"));
}

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 409:
        return "Conflict";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Payload Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    case 428:
        return "Precondition Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 503:
        return "Service Unavailable";
    default:
        return status >= 500 ? "Internal Server Error" : "OK";
    }
}

static void start(sq_req_t *req, int status, const char *ctype, size_t len)
{
    h2o_req_t *h = req->h2o;
    req->responded = true;
    req->status = status;
    req->bytes = len;
    if (h2o_timeout_is_linked(&req->deadline))
        h2o_timeout_unlink(&req->deadline);
    h->res.status = status;
    h->res.reason = reason(status);
    h->res.content_length = len;
    if (ctype != NULL)
        add_header(req, H2O_TOKEN_CONTENT_TYPE, ctype, strlen(ctype));
    add_header_str(req, "x-request-id", req->request_id);
    add_header_strn(req, "x-content-type-options", H2O_STRLIT("nosniff"));
    if (req->route != NULL && (req->route->flags & SQ_RT_NO_STORE))
        add_header(req, H2O_TOKEN_CACHE_CONTROL, H2O_STRLIT("no-store"));
    else if (req->route != NULL && req->route->auth != SQ_AUTH_NONE)
        add_header(req, H2O_TOKEN_CACHE_CONTROL, H2O_STRLIT("private, no-cache"));
    add_cors(req);
    /* a staff write that succeeded has committed: storefront reads cached before it are stale on every thread */
    if (status < 400 && req->route != NULL && strncmp(req->route->path, "/v1/admin/", 10) == 0 &&
        strcmp(req->route->method, "GET") != 0)
        sq_store_invalidate();
    finish_metrics(req, status);
}

static void send_body(sq_req_t *req, const char *body, size_t len)
{
    h2o_start_response(req->h2o, &generator);
    h2o_iovec_t buf = h2o_iovec_init(body, len);
    h2o_send(req->h2o, &buf, len ? 1 : 0, H2O_SEND_STATE_FINAL);
}

static bool etag_listed(const char *header, const char *etag)
{
    /* If-None-Match uses weak comparison: W/ prefixes are ignored */
    size_t n = strlen(etag);
    for (const char *p = header; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == '*')
            return true;
        if (p[0] == 'W' && p[1] == '/')
            p += 2;
        if (*p == '"' && strncmp(p + 1, etag, n) == 0 && p[n + 1] == '"')
            return true;
        while (*p && *p != ',')
            p++;
    }
    return false;
}

/* ---- Idempotency-Key -------------------------------------------------------------------------------------- */

typedef struct {
    sq_req_t *req;
    int status;
    const char *ctype, *body;
    size_t len;
} answer_t;

static void on_recorded(const char *json, const sq_err_t *err, void *data)
{
    (void)json;
    answer_t *a = data;
    sq_req_t *req = a->req;
    if (err != NULL) /* the key stays claimed until its lock expires; retries get 409, then run again */
        sq_log(SQ_LOG_WARN, "api", "request_id=%s idempotency record failed: %s", req->request_id, err->detail);
    if (req->h2o == NULL || req->responded)
        return;
    start(req, a->status, a->ctype, a->len);
    send_body(req, a->body, a->len);
}

static const char *response_header(sq_req_t *req, const h2o_token_t *token)
{
    if (req->h2o == NULL)
        return NULL;
    ssize_t i = h2o_find_header(&req->h2o->res.headers, token, -1);
    return i < 0 ? NULL
                 : sq_arena_strndup(req->arena, req->h2o->res.headers.entries[i].value.base,
                                    req->h2o->res.headers.entries[i].value.len);
}

/* Every answer goes out here. A request that holds an Idempotency-Key first stores its answer (2xx) or
 * releases the key (anything else: the request wrote nothing), then answers. */
static void respond(sq_req_t *req, int status, const char *ctype, const char *body, size_t len)
{
    if (!req->idem.claimed) {
        start(req, status, ctype, len);
        send_body(req, body, len);
        return;
    }
    req->idem.claimed = false;
    answer_t *a = SQ_NEW(req->arena, answer_t);
    *a = (answer_t){req, status, ctype, body, len};
    if (status >= 200 && status < 300)
        sq_idem_finish(&req->cx, &req->idem.scope, status, ctype, response_header(req, H2O_TOKEN_LOCATION),
                       body != NULL ? sq_arena_strndup(req->arena, body, len) : "", on_recorded, a);
    else
        sq_idem_release(&req->cx, &req->idem.scope, on_recorded, a);
}

/* True when the request cannot be answered (answered already, or the client is gone). A request that still
 * holds its Idempotency-Key then stores its answer or releases the key all the same: the client's retry must
 * find the work done, not do it again. */
static bool gone(sq_req_t *req, int status, const char *ctype, const char *body, size_t len)
{
    if (req->h2o != NULL && !req->responded)
        return false;
    if (req->idem.claimed)
        respond(req, status, ctype, body, len); /* records; nothing is sent */
    return true;
}

static void send_json(sq_req_t *req, int status, const char *json, size_t len, bool tag_always)
{
    if (gone(req, status, "application/json", json, len))
        return;
    bool get = h2o_memis(req->h2o->method.base, req->h2o->method.len, H2O_STRLIT("GET"));
    if ((status == 200 && get) || tag_always) {
        char hex[33], *quoted = sq_arena_alloc(req->arena, 36);
        sq_etag(json, len, hex);
        snprintf(quoted, 36, "\"%s\"", hex);
        const char *inm = sq_req_header(req, "if-none-match");
        add_header(req, H2O_TOKEN_ETAG, quoted, 34);
        if (get && inm != NULL && etag_listed(inm, hex)) {
            respond(req, 304, NULL, NULL, 0);
            return;
        }
    }
    respond(req, status, "application/json", json, len);
}

void sq_req_send_json(sq_req_t *req, int status, const char *json, size_t len)
{
    send_json(req, status, json, len, false);
}

void sq_req_send_tagged(sq_req_t *req, int status, const char *json, size_t len)
{
    send_json(req, status, json, len, true);
}

void sq_req_send_text(sq_req_t *req, int status, const char *ctype, const char *body, size_t len)
{
    if (gone(req, status, ctype, body, len))
        return;
    respond(req, status, ctype, body, len);
}

void sq_req_send_jansson(sq_req_t *req, int status, json_t *body)
{
    size_t len;
    char *s = sq_json_dump(req->arena, body, &len);
    json_decref(body);
    sq_req_send_json(req, status, s, len);
}

void sq_req_send_list(sq_req_t *req, const sq_list_t *list)
{
    size_t total = 96;
    for (int i = 0; i < list->n; i++)
        total += strlen(list->items[i]) + 1;
    const char *cursor = list->has_more && list->next_key ? cursor_encode(req, list->next_key) : NULL;
    if (cursor != NULL)
        total += strlen(cursor);
    char *buf = sq_arena_alloc(req->arena, total), *p = buf;
    p += sprintf(p, "{\"object\":\"list\",\"data\":[");
    for (int i = 0; i < list->n; i++) {
        if (i)
            *p++ = ',';
        size_t n = strlen(list->items[i]);
        memcpy(p, list->items[i], n);
        p += n;
    }
    p += sprintf(p, "],\"has_more\":%s,\"next_cursor\":", list->has_more ? "true" : "false");
    p += cursor ? sprintf(p, "\"%s\"}", cursor) : sprintf(p, "null}");
    sq_req_send_json(req, 200, buf, (size_t)(p - buf));
}

void sq_req_send_empty(sq_req_t *req, int status)
{
    if (gone(req, status, NULL, NULL, 0))
        return;
    respond(req, status, NULL, NULL, 0);
}

int sq_err_status(sq_code_t code)
{
    switch (code) {
    case SQ_OK:
        return 200;
    case SQ_E_INVALID_JSON:
    case SQ_E_INVALID_PARAMETER:
    case SQ_E_BAD_REQUEST:
        return 400;
    case SQ_E_UNAUTHORIZED:
    case SQ_E_INVALID_TOKEN:
    case SQ_E_INVALID_CREDENTIALS:
        return 401;
    case SQ_E_FORBIDDEN:
        return 403;
    case SQ_E_NOT_FOUND:
        return 404;
    case SQ_E_METHOD_NOT_ALLOWED:
        return 405;
    case SQ_E_NOT_ACCEPTABLE:
        return 406;
    case SQ_E_CONFLICT:
    case SQ_E_ALREADY_EXISTS:
    case SQ_E_INSUFFICIENT_STOCK:
    case SQ_E_IDEMPOTENCY_IN_USE:
    case SQ_E_INVALID_STATE:
        return 409;
    case SQ_E_PAYMENT_DECLINED:
        return 402;
    case SQ_E_PAYMENT_PROVIDER:
    case SQ_E_PLUGIN_FAILED:
        return 502;
    case SQ_E_PLUGIN_TIMEOUT:
        return 504;
    case SQ_E_PRECONDITION_FAILED:
        return 412;
    case SQ_E_PAYLOAD_TOO_LARGE:
        return 413;
    case SQ_E_URI_TOO_LONG:
        return 414;
    case SQ_E_UNSUPPORTED_MEDIA_TYPE:
        return 415;
    case SQ_E_UNKNOWN_FIELD:
    case SQ_E_IDEMPOTENCY_REUSED:
    case SQ_E_VALIDATION:
        return 422;
    case SQ_E_PRECONDITION_REQUIRED:
        return 428;
    case SQ_E_RATE_LIMITED:
        return 429;
    case SQ_E_HEADERS_TOO_LARGE:
        return 431;
    case SQ_E_UNAVAILABLE:
    case SQ_E_BUSY:
    case SQ_E_TIMEOUT:
    case SQ_E_SHUTTING_DOWN:
    case SQ_E_PLUGIN_DEGRADED:
        return 503;
    case SQ_E_INTERNAL:
    case SQ_ERR__COUNT:
        break;
    }
    return 500;
}

char *sq_problem_json(sq_req_t *req, const sq_err_t *err, size_t *len)
{
    int status = sq_err_status(err->code);
    json_t *p = json_object();
    json_object_set_new(p, "type", json_sprintf("%s%s", req->rt->cfg->problem_base_url, sq_err_slug(err->code)));
    json_object_set_new(p, "title", json_string(sq_err_title(err->code)));
    json_object_set_new(p, "status", json_integer(status));
    json_object_set_new(p, "detail", json_string(err->detail[0] ? err->detail : sq_err_title(err->code)));
    if (req->h2o != NULL)
        json_object_set_new(p, "instance", json_stringn(req->h2o->path_normalized.base, req->h2o->path_normalized.len));
    json_object_set_new(p, "request_id", json_string(req->request_id));
    json_t *errors = json_array();
    for (int i = 0; i < err->nfields; i++) {
        const sq_field_err_t *f = &err->fields[i];
        json_t *e = json_object();
        json_object_set_new(e, err->param_errors ? "parameter" : "pointer", json_string(f->pointer));
        json_object_set_new(e, "code", json_string(f->code));
        json_object_set_new(e, "detail", json_string(f->detail));
        json_array_append_new(errors, e);
    }
    json_object_set_new(p, "errors", errors);
    char *s = sq_json_dump(req->arena, p, len);
    json_decref(p);
    return s;
}

void sq_req_fail_with(sq_req_t *req, const sq_err_t *err)
{
    int status = sq_err_status(err->code);
    if (gone(req, status, NULL, NULL, 0))
        return;
    if (status >= 500 || err->internal[0] != '\0')
        sq_log(status >= 500 ? SQ_LOG_ERROR : SQ_LOG_INFO, "api", "request_id=%s status=%d type=%s detail=\"%s\" internal=\"%s\"",
               req->request_id, status, sq_err_slug(err->code), err->detail, err->internal);
    size_t len;
    char *body = sq_problem_json(req, err, &len);
    if (err->retry_after > 0) {
        char *ra = sq_arena_printf(req->arena, "%d", err->retry_after);
        add_header(req, H2O_TOKEN_RETRY_AFTER, ra, strlen(ra));
    }
    if (status == 401)
        add_header(req, H2O_TOKEN_WWW_AUTHENTICATE, err->code == SQ_E_INVALID_TOKEN ? "Bearer error=\"invalid_token\"" : "Bearer",
                   err->code == SQ_E_INVALID_TOKEN ? strlen("Bearer error=\"invalid_token\"") : strlen("Bearer"));
    if (status == 405 && req->match.allow[0])
        add_header(req, H2O_TOKEN_ALLOW, req->match.allow, strlen(req->match.allow));
    respond(req, status, "application/problem+json", body, len);
}

void sq_req_fail(sq_req_t *req)
{
    if (req->err.code == SQ_OK)
        sq_err_set(&req->err, SQ_E_INTERNAL, "An internal error occurred.");
    sq_req_fail_with(req, &req->err);
}

void sq_req_fail_code(sq_req_t *req, sq_code_t code, const char *fmt, ...)
{
    req->err.code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(req->err.detail, sizeof(req->err.detail), fmt, ap);
    va_end(ap);
    sq_req_fail(req);
}

void sq_req_on_json_200(const char *json, const sq_err_t *err, void *data)
{
    sq_req_t *req = data;
    if (err != NULL)
        sq_req_fail_with(req, err);
    else
        sq_req_send_json(req, 200, json, strlen(json));
}

void sq_req_on_json_201(const char *json, const sq_err_t *err, void *data)
{
    sq_req_t *req = data;
    if (err != NULL)
        sq_req_fail_with(req, err);
    else
        sq_req_send_json(req, 201, json, strlen(json));
}

void sq_req_on_list(const sq_list_t *list, const sq_err_t *err, void *data)
{
    sq_req_t *req = data;
    if (err != NULL)
        sq_req_fail_with(req, err);
    else
        sq_req_send_list(req, list);
}

void sq_req_on_done_204(const sq_err_t *err, void *data)
{
    sq_req_t *req = data;
    if (err != NULL)
        sq_req_fail_with(req, err);
    else
        sq_req_send_empty(req, 204);
}

void sq_req_on_done_202(const sq_err_t *err, void *data)
{
    sq_req_t *req = data;
    if (err != NULL)
        sq_req_fail_with(req, err);
    else
        sq_req_send_empty(req, 202);
}

/* ---- the pipeline ------------------------------------------------------------------------------------ */

static void set_request_id(sq_req_t *req)
{
    ssize_t i = h2o_find_header_by_str(&req->h2o->headers, H2O_STRLIT("x-request-id"), -1);
    if (i >= 0) {
        h2o_iovec_t v = req->h2o->headers.entries[i].value;
        bool ok = v.len >= 1 && v.len <= 64;
        for (size_t k = 0; ok && k < v.len; k++)
            ok = isalnum((unsigned char)v.base[k]) || v.base[k] == '-' || v.base[k] == '_' || v.base[k] == '.';
        if (ok) {
            memcpy(req->request_id, v.base, v.len);
            req->request_id[v.len] = '\0';
            return;
        }
    }
    snprintf(req->request_id, sizeof(req->request_id), "req_%s%012llx", req->thr->req_prefix,
             (unsigned long long)++req->thr->req_seq);
}

static void set_ip(sq_req_t *req)
{
    if (strcmp(req->rt->cfg->trust_forwarded_for, "on") == 0) {
        ssize_t i = h2o_find_header_by_str(&req->h2o->headers, H2O_STRLIT("x-forwarded-for"), -1);
        if (i >= 0) {
            h2o_iovec_t v = req->h2o->headers.entries[i].value;
            size_t n = 0;
            while (n < v.len && v.base[n] != ',' && n < sizeof(req->ip) - 1 &&
                   (isxdigit((unsigned char)v.base[n]) || v.base[n] == '.' || v.base[n] == ':'))
                n++;
            if (n > 0) {
                memcpy(req->ip, v.base, n);
                req->ip[n] = '\0';
                return;
            }
        }
    }
    struct sockaddr_storage ss;
    socklen_t len = req->h2o->conn->callbacks->get_peername(req->h2o->conn, (struct sockaddr *)&ss);
    req->ip[0] = '\0';
    if (len == 0)
        return;
    if (ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, req->ip, sizeof(req->ip));
    else if (ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, req->ip, sizeof(req->ip));
}

static bool accept_ok(sq_req_t *req)
{
    ssize_t i = h2o_find_header(&req->h2o->headers, H2O_TOKEN_ACCEPT, -1);
    if (i < 0)
        return true;
    h2o_iovec_t v = req->h2o->headers.entries[i].value;
    const char *ok[] = {"*/*", "application/*", "application/json", "application/problem+json", "text/csv", "text/*"};
    size_t nok = (req->route->flags & SQ_RT_CSV) ? SQ_ARRAY_LEN(ok) : 4;
    for (size_t k = 0; k < nok; k++) {
        size_t n = strlen(ok[k]);
        for (size_t j = 0; j + n <= v.len; j++) {
            if (strncasecmp(v.base + j, ok[k], n) == 0 &&
                (j + n == v.len || v.base[j + n] == ',' || v.base[j + n] == ';' || v.base[j + n] == ' '))
                return true;
        }
    }
    return false;
}

/* The request's media type is `type`, with at most the parameters charset=utf-8 (and header=present for CSV). */
static bool media_type_is(h2o_iovec_t v, const char *type)
{
    size_t n = strlen(type);
    if (v.len < n || strncasecmp(v.base, type, n) != 0)
        return false;
    const char *rest = v.base + n, *end = v.base + v.len;
    for (;;) {
        while (rest < end && *rest == ' ')
            rest++;
        if (rest == end)
            return true;
        if (*rest != ';')
            return false;
        rest++;
        while (rest < end && *rest == ' ')
            rest++;
        if (rest >= end)
            return false;
        const char *semi = memchr(rest, ';', (size_t)(end - rest));
        const char *pe = semi ? semi : end;
        while (pe > rest && pe[-1] == ' ')
            pe--;
        size_t plen = (size_t)(pe - rest);
        if (!(plen == strlen("charset=utf-8") && strncasecmp(rest, "charset=utf-8", plen) == 0) &&
            !(plen == strlen("header=present") && strncasecmp(rest, "header=present", plen) == 0 && strcmp(type, "text/csv") == 0))
            return false;
        rest = semi ? semi : end;
    }
}

/* The media types of files (SQ_RT_UPLOAD routes); every other body is JSON. */
static const char *const upload_types[] = {"text/csv", "application/x-ndjson", "application/ndjson", NULL};

static bool content_type_ok(sq_req_t *req)
{
    ssize_t i = h2o_find_header(&req->h2o->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    return i >= 0 && media_type_is(req->h2o->headers.entries[i].value, "application/json");
}

const char *sq_req_upload_type(sq_req_t *req)
{
    if (req->h2o == NULL)
        return NULL;
    ssize_t i = h2o_find_header(&req->h2o->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    if (i < 0)
        return NULL;
    for (const char *const *t = upload_types; *t; t++)
        if (media_type_is(req->h2o->headers.entries[i].value, *t))
            return *t;
    return NULL;
}

void sq_req_no_deadline(sq_req_t *req)
{
    if (h2o_timeout_is_linked(&req->deadline))
        h2o_timeout_unlink(&req->deadline);
}

void sq_req_add_header(sq_req_t *req, const char *name, const char *value)
{
    if (req->h2o != NULL && !req->responded)
        add_header_str(req, name, sq_arena_strdup(req->arena, value));
}

static void preflight(sq_req_t *req)
{
    h2o_req_t *h = req->h2o;
    char allow[96];
    if (!sq_router_allow(sq_server.router, h->path_normalized.base, h->path_normalized.len, allow, sizeof(allow))) {
        sq_req_fail_code(req, SQ_E_NOT_FOUND, "No resource at this path.");
        return;
    }
    ssize_t o = h2o_find_header_by_str(&h->headers, H2O_STRLIT("origin"), -1);
    bool is_cors = o >= 0 && h2o_find_header_by_str(&h->headers, H2O_STRLIT("access-control-request-method"), -1) >= 0;
    if (is_cors && !sq_config_cors_allowed(req->rt->cfg, h->headers.entries[o].value.base, h->headers.entries[o].value.len)) {
        sq_req_fail_code(req, SQ_E_FORBIDDEN, "This origin is not allowed to call the API from a browser.");
        return;
    }
    add_header(req, H2O_TOKEN_ALLOW, sq_arena_strdup(req->arena, allow), strlen(allow));
    if (is_cors) {
        add_header_strn(req, "access-control-allow-methods", sq_arena_strdup(req->arena, allow), strlen(allow));
        add_header_strn(req, "access-control-allow-headers",
                        H2O_STRLIT("Authorization, Content-Type, X-Publishable-Api-Key, Idempotency-Key, If-Match, If-None-Match, "
                                   "X-Request-Id"));
        add_header_strn(req, "access-control-max-age", H2O_STRLIT("600"));
    }
    sq_req_send_empty(req, 204);
}

static bool has_body_method(h2o_iovec_t m)
{
    return h2o_memis(m.base, m.len, H2O_STRLIT("POST")) || h2o_memis(m.base, m.len, H2O_STRLIT("PATCH")) ||
           h2o_memis(m.base, m.len, H2O_STRLIT("PUT"));
}

static void offload(sq_ctx_t *cx, void (*work)(void *), void (*done)(void *), void *data);
static void after(sq_ctx_t *cx, int ms, void (*cb)(void *), void *data);

int sq_req_handle(h2o_handler_t *self, h2o_req_t *h)
{
    (void)self;
    sq_thread_t *thr = H2O_STRUCT_FROM_MEMBER(sq_thread_t, ctx, h->conn->ctx);
    sq_arena_t *arena = sq_arena_new();
    sq_req_t *req = SQ_NEW(arena, sq_req_t);
    req->h2o = h;
    req->arena = arena;
    req->thr = thr;
    req->rt = thr->rt;
    sq_rt_ref(req->rt);
    req->start_us = sq_mono_us();
    sq_thread_ctx(thr, &req->cx, arena);
    req->cx.cache = thr->store_cache; /* the storefront read cache is for requests only */
    sq_err_clear(&req->err);
    sq_req_t **guard = h2o_mem_alloc_shared(&h->pool, sizeof(*guard), on_h2o_dispose);
    *guard = req;
    thr->inflight++;
    req->deadline.cb = on_deadline;
    h2o_timeout_link(thr->ctx.loop, &thr->deadline_timeout, &req->deadline);
    set_request_id(req);
    set_ip(req);

    size_t header_bytes = 0;
    for (size_t i = 0; i < h->headers.size; i++)
        header_bytes += h->headers.entries[i].name->len + h->headers.entries[i].value.len + 4;
    if (h->path.len > MAX_URL) {
        sq_req_fail_code(req, SQ_E_URI_TOO_LONG, "The URL is longer than %d bytes.", MAX_URL);
        return 0;
    }
    if (header_bytes > MAX_HEADERS) {
        sq_req_fail_code(req, SQ_E_HEADERS_TOO_LARGE, "The request headers are larger than %d bytes.", MAX_HEADERS);
        return 0;
    }
    if (h2o_memis(h->method.base, h->method.len, H2O_STRLIT("OPTIONS"))) {
        preflight(req);
        return 0;
    }
    int rc = sq_router_match(sq_server.router, h->method.base, h->method.len, h->path_normalized.base, h->path_normalized.len,
                             &req->match);
    if (rc == 404) {
        sq_req_fail_code(req, SQ_E_NOT_FOUND, "No resource at this path.");
        return 0;
    }
    if (rc == 405) {
        sq_req_fail_code(req, SQ_E_METHOD_NOT_ALLOWED, "This resource does not support %.*s.", (int)h->method.len, h->method.base);
        return 0;
    }
    req->route = req->match.route;
    if (!accept_ok(req)) {
        sq_req_fail_code(req, SQ_E_NOT_ACCEPTABLE, "This API answers with application/json only.");
        return 0;
    }
    if (h->entity.base != NULL && h->entity.len > 0) {
        if (!has_body_method(h->method)) {
            sq_req_fail_code(req, SQ_E_BAD_REQUEST, "This method takes no request body.");
            return 0;
        }
        /* an upload's type is checked by its handler, after authentication (sq_req_upload_type) */
        if (!(req->route->flags & SQ_RT_UPLOAD) && !content_type_ok(req)) {
            sq_req_fail_code(req, SQ_E_UNSUPPORTED_MEDIA_TYPE, "The request body must be sent as application/json.");
            return 0;
        }
        size_t max = (req->route->flags & SQ_RT_AUTH_BODY) ? (size_t)req->rt->cfg->max_auth_body_bytes
                     : (req->route->flags & SQ_RT_UPLOAD)  ? (size_t)req->rt->cfg->max_import_bytes
                                                           : (size_t)req->rt->cfg->max_body_bytes;
        if (h->entity.len > max) {
            sq_req_fail_code(req, SQ_E_PAYLOAD_TOO_LARGE, "The request body is larger than %zu bytes.", max);
            return 0;
        }
    }
    if (parse_query(req) != 0) {
        sq_req_fail(req);
        return 0;
    }
    sq_authn(req);
    return 0;
}

static void on_released(const char *json, const sq_err_t *err, void *data)
{
    (void)json;
    (void)err; /* if this fails, the claim's lock expires and a retry takes it over */
    (void)data;
}

static void on_claimed(const char *json, const sq_err_t *err, void *data)
{
    sq_req_t *req = data;
    if (err != NULL) {
        sq_req_fail_with(req, err);
        return;
    }
    json_t *j = sq_json_own(req->arena, json_loads(json, 0, NULL));
    const char *state = json_string_value(json_object_get(j, "state"));
    if (req->h2o == NULL || req->responded) { /* the client left before the work began: free the key at once */
        if (state != NULL && strcmp(state, "new") == 0)
            sq_idem_release(&req->cx, &req->idem.scope, on_released, NULL);
        return;
    }
    if (state != NULL && strcmp(state, "new") == 0) {
        req->idem.claimed = true;
        req->route->handler(req);
    } else if (state != NULL && strcmp(state, "in_flight") == 0) {
        sq_err_set(&req->err, SQ_E_IDEMPOTENCY_IN_USE, "A request with this Idempotency-Key is still being processed; retry shortly.");
        req->err.retry_after = 1;
        sq_req_fail(req);
    } else if (state != NULL && strcmp(state, "mismatch") == 0) {
        sq_req_fail_code(req, SQ_E_IDEMPOTENCY_REUSED,
                         "This Idempotency-Key was used with a different request body or path; use a new key for a new request.");
    } else if (state != NULL && strcmp(state, "done") == 0) {
        const char *ctype = json_string_value(json_object_get(j, "content_type"));
        const char *body = json_string_value(json_object_get(j, "body"));
        const char *location = json_string_value(json_object_get(j, "location"));
        if (location != NULL)
            add_header(req, H2O_TOKEN_LOCATION, sq_arena_strdup(req->arena, location), strlen(location));
        add_header_strn(req, "idempotent-replayed", H2O_STRLIT("true"));
        size_t len = body != NULL ? strlen(body) : 0;
        respond(req, (int)json_integer_value(json_object_get(j, "status")), ctype != NULL ? sq_arena_strdup(req->arena, ctype) : NULL,
                body != NULL ? sq_arena_strdup(req->arena, body) : NULL, len);
    } else {
        sq_req_fail_code(req, SQ_E_INTERNAL, "The request could not be processed.");
    }
}

/* The scope and fingerprint of an Idempotency-Key, then the claim; the handler runs once it is ours. */
static void idem_begin(sq_req_t *req, const char *key)
{
    size_t n = strlen(key);
    bool ok = n >= 1 && n <= 255;
    for (size_t i = 0; ok && i < n; i++)
        ok = key[i] > 0x20 && key[i] < 0x7f;
    if (!ok) {
        sq_req_fail_code(req, SQ_E_INVALID_PARAMETER, "Idempotency-Key must be 1 to 255 visible ASCII characters.");
        return;
    }
    const sq_principal_t *p = &req->principal;
    const char *who = p->kind == SQ_PRINCIPAL_CUSTOMER ? "cus"
                      : p->kind == SQ_PRINCIPAL_STAFF  ? "staff"
                      : p->kind == SQ_PRINCIPAL_API_KEY ? "key"
                                                        : "pk";
    const char *id = p->kind != SQ_PRINCIPAL_NONE ? p->id : p->publishable_key_id;
    req->idem.scope = (sq_idem_scope_t){sq_arena_printf(req->arena, "%s:%s", who, id != NULL ? id : "-"), req->route->method,
                                        req->route->path, sq_arena_strdup(req->arena, key)};
    /* fingerprint: SHA-256 of the concrete path and the body (JSON in canonical form: keys sorted, no blanks) */
    h2o_req_t *h = req->h2o;
    const char *body = h->entity.base != NULL ? h->entity.base : "";
    size_t blen = h->entity.base != NULL ? h->entity.len : 0;
    json_t *j = blen > 0 && !(req->route->flags & SQ_RT_UPLOAD) ? json_loadb(body, blen, JSON_REJECT_DUPLICATES, NULL) : NULL;
    char *canon = j != NULL ? json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    if (canon != NULL) {
        body = sq_arena_strdup(req->arena, canon);
        blen = strlen(body);
        free(canon);
    }
    sq_buf_t b;
    sq_buf_init(&b, req->arena, h->path_normalized.len + blen + 2);
    sq_buf_add(&b, h->path_normalized.base, h->path_normalized.len);
    sq_buf_add(&b, "\n", 1);
    sq_buf_add(&b, body, blen);
    unsigned char md[32];
    char hex[65];
    sq_sha256(b.p, b.len, md);
    sq_hex(md, 32, hex);
    sq_idem_claim(&req->cx, &req->idem.scope, sq_arena_strdup(req->arena, hex), req->rt->cfg->request_timeout_ms + 5000,
                  on_claimed, req);
}

void sq_req_idem_recorded(sq_req_t *req)
{
    req->idem.claimed = false;
}

void sq_req_dispatch(sq_req_t *req)
{
    if (req->h2o == NULL || req->responded)
        return;
    const char *key = (req->route->flags & SQ_RT_IDEMPOTENT) ? sq_req_header(req, "idempotency-key") : NULL;
    if (key != NULL) {
        idem_begin(req, key);
        return;
    }
    req->route->handler(req);
}

void sq_thread_ctx(sq_thread_t *thr, sq_ctx_t *cx, sq_arena_t *arena)
{
    *cx = (sq_ctx_t){0};
    cx->db = thr->db;
    cx->commit_dbs = thr->commit_dbs;
    cx->ncommit = thr->ncommit;
    cx->arena = arena;
    cx->offload = offload;
    cx->offload_ctx = thr;
    cx->after = after;
    cx->http = sq_api_http;
}

/* ---- waiting a little (retries with backoff) ----------------------------------------------------------------- */

typedef struct {
    h2o_timeout_entry_t entry;
    sq_thread_t *thr;
    int steps; /* still to wait */
    void (*cb)(void *);
    void *data;
    sq_arena_t *arena;
} after_t;

static void on_step(h2o_timeout_entry_t *e)
{
    after_t *w = H2O_STRUCT_FROM_MEMBER(after_t, entry, e);
    if (--w->steps > 0) {
        h2o_timeout_link(w->thr->loop, &w->thr->step_timeout, &w->entry);
        return;
    }
    w->cb(w->data);
    sq_arena_unref(w->arena);
}

static void after(sq_ctx_t *cx, int ms, void (*cb)(void *), void *data)
{
    sq_thread_t *thr = cx->offload_ctx;
    after_t *w = SQ_NEW(cx->arena, after_t);
    w->entry = (h2o_timeout_entry_t){0};
    w->entry.cb = on_step;
    w->thr = thr;
    w->steps = ms <= SQ_AFTER_STEP_MS ? 1 : (ms + SQ_AFTER_STEP_MS - 1) / SQ_AFTER_STEP_MS;
    w->cb = cb;
    w->data = data;
    w->arena = cx->arena;
    sq_arena_ref(cx->arena);
    h2o_timeout_link(thr->loop, &thr->step_timeout, &w->entry);
}

/* ---- offloading CPU-heavy work ------------------------------------------------------------------------- */

typedef struct {
    sq_msg_t msg; /* first: the inbox hands us this pointer */
    sq_job_t job;
    void (*work)(void *);
    void (*done)(void *);
    void *data;
    sq_arena_t *arena;
    sq_thread_t *thr;
} offload_t;

static void job_work(sq_job_t *job)
{
    offload_t *o = job->data;
    o->work(o->data);
}

static void job_post(void *ctx, sq_job_t *job)
{
    sq_thread_t *thr = ctx;
    offload_t *o = job->data;
    h2o_multithread_send_message(&thr->inbox, &o->msg.super);
}

void sq_req_offload_done(sq_msg_t *msg)
{
    offload_t *o = (offload_t *)msg;
    o->done(o->data);
    sq_arena_unref(o->arena);
}

static void offload(sq_ctx_t *cx, void (*work)(void *), void (*done)(void *), void *data)
{
    sq_thread_t *thr = cx->offload_ctx;
    offload_t *o = SQ_NEW(cx->arena, offload_t);
    o->msg.kind = SQ_MSG_OFFLOAD;
    o->work = work;
    o->done = done;
    o->data = data;
    o->arena = cx->arena;
    o->thr = thr;
    o->job.work = job_work;
    o->job.post = job_post;
    o->job.post_ctx = thr;
    o->job.data = o;
    sq_arena_ref(cx->arena);
    sq_pool_submit(sq_server.pool, &o->job);
}
