/* http_client.c: core/http.h over H2O 2.2.5's h2o_http1client: resolve (H2O's getaddr thread pool), apply the
 * egress policy to every address, connect to the checked address (a one-socket h2o_socketpool built from it, so
 * H2O does not resolve again and TLS still verifies the certificate against the URL's host name), send one
 * request with Connection: close, collect the answer up to its size cap. One total timer bounds the whole call;
 * H2O's I/O timeout (the context's) is the connect timeout and also bounds each later read. */
#include "api/http_client.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/buf.h"
#include "core/base/log.h"
#include "core/base/util.h"

#define MAX_TIMEOUTS 8

/* The per-thread state: H2O timeouts have one fixed duration each, so one per duration in use. */
typedef struct {
    int ms;
    h2o_timeout_t timeout;
    h2o_http1client_ctx_t client_ctx; /* io_timeout = timeout */
} timeout_slot_t;

struct sq_http_thread {
    timeout_slot_t slots[MAX_TIMEOUTS];
    int nslots;
    h2o_timeout_t zero; /* next loop iteration: deferred completions and frees */
};

typedef struct call {
    sq_thread_t *thr;
    sq_arena_t *arena;
    sq_http_request_t rq;
    sq_url_t url;
    sq_http_cb cb;
    void *data;
    int64_t start_us;
    h2o_hostinfo_getaddr_req_t *getaddr;
    h2o_http1client_t *client;
    h2o_socketpool_t pool;
    bool pool_inited, done;
    h2o_timeout_entry_t total, later;
    h2o_iovec_t reqbuf[2];
    char *body;
    size_t body_len, body_cap;
    sq_http_response_t res;
    sq_http_header_t *headers;
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
    } addr; /* a literal address of the URL */
    socklen_t addrlen;
} call_t;

static SSL_CTX *ssl_ctx;
static pthread_once_t ssl_once = PTHREAD_ONCE_INIT;

static void ssl_init(void)
{
    ssl_ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_default_verify_paths(ssl_ctx);
    SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_min_proto_version(ssl_ctx, TLS1_2_VERSION);
}

static struct sq_http_thread *thread_state(sq_thread_t *thr)
{
    if (thr->http == NULL) {
        thr->http = sq_xcalloc(1, sizeof(*thr->http));
        h2o_timeout_init(thr->loop, &thr->http->zero, 0);
    }
    return thr->http;
}

static timeout_slot_t *slot(sq_thread_t *thr, int ms)
{
    struct sq_http_thread *h = thread_state(thr);
    for (int i = 0; i < h->nslots; i++)
        if (h->slots[i].ms == ms)
            return &h->slots[i];
    timeout_slot_t *s = &h->slots[h->nslots < MAX_TIMEOUTS ? h->nslots++ : MAX_TIMEOUTS - 1];
    if (s->ms != 0) /* full: a rare duration shares the last slot's (callers use a handful of durations) */
        return s;
    s->ms = ms;
    h2o_timeout_init(thr->loop, &s->timeout, (uint64_t)ms);
    s->client_ctx.loop = thr->loop;
    s->client_ctx.getaddr_receiver = &thr->ctx.receivers.hostinfo_getaddr;
    s->client_ctx.io_timeout = &s->timeout;
    pthread_once(&ssl_once, ssl_init);
    s->client_ctx.ssl_ctx = ssl_ctx;
    return s;
}

/* ---- completion -------------------------------------------------------------------------------------------- */

static void on_reap(h2o_timeout_entry_t *e)
{
    call_t *c = H2O_STRUCT_FROM_MEMBER(call_t, later, e);
    if (c->pool_inited)
        h2o_socketpool_dispose(&c->pool);
    free(c->body);
    free(c);
}

/* Answers the caller once; the call's memory goes at the next loop iteration, after H2O has returned the socket to
 * our pool (which close_client does after our callback returns). */
static void finish(call_t *c)
{
    if (c->done)
        return;
    c->done = true;
    if (h2o_timeout_is_linked(&c->total))
        h2o_timeout_unlink(&c->total);
    if (c->getaddr != NULL) {
        h2o_hostinfo_getaddr_cancel(c->getaddr);
        c->getaddr = NULL;
    }
    c->res.duration_us = sq_mono_us() - c->start_us;
    if (c->res.error == SQ_HTTP_OK && !c->rq.check_only) {
        char *b = sq_arena_alloc(c->arena, c->body_len + 1);
        if (c->body_len > 0)
            memcpy(b, c->body, c->body_len);
        b[c->body_len] = '\0';
        c->res.body = b;
        c->res.body_len = c->body_len;
    } else {
        c->res.status = 0;
    }
    if (c->res.error_detail == NULL)
        c->res.error_detail = c->res.error == SQ_HTTP_OK ? "" : sq_http_error_name(c->res.error);
    c->cb(&c->res, c->data);
    sq_arena_unref(c->arena);
    c->later.cb = on_reap;
    h2o_timeout_link(c->thr->loop, &thread_state(c->thr)->zero, &c->later);
}

static void fail(call_t *c, sq_http_error_t e, const char *detail)
{
    c->res.error = e;
    c->res.error_detail = detail != NULL ? sq_arena_strdup(c->arena, detail) : NULL;
    finish(c);
}

static void on_fail_later(h2o_timeout_entry_t *e)
{
    call_t *c = H2O_STRUCT_FROM_MEMBER(call_t, later, e); /* H2O unlinked it; finish links it again to reap */
    finish(c);
}

/* Errors found before any I/O are answered at the next iteration: callers never see their callback run inside the
 * call that issued the request. */
static void fail_later(call_t *c, sq_http_error_t e, const char *detail)
{
    c->res.error = e;
    c->res.error_detail = detail;
    c->later.cb = on_fail_later;
    h2o_timeout_link(c->thr->loop, &thread_state(c->thr)->zero, &c->later);
}

static sq_http_error_t classify(const char *err)
{
    if (strstr(err, "timeout") != NULL)
        return SQ_HTTP_E_TIMEOUT;
    if (strstr(err, "ssl") != NULL || strstr(err, "SSL") != NULL || strstr(err, "certificate") != NULL)
        return SQ_HTTP_E_TLS;
    if (strstr(err, "parse") != NULL || strstr(err, "content-length") != NULL || strstr(err, "transfer-encoding") != NULL)
        return SQ_HTTP_E_PROTOCOL;
    return SQ_HTTP_E_REFUSED;
}

static void on_total_timeout(h2o_timeout_entry_t *e)
{
    call_t *c = H2O_STRUCT_FROM_MEMBER(call_t, total, e);
    if (c->client != NULL) {
        h2o_http1client_cancel(c->client);
        c->client = NULL;
    }
    fail(c, SQ_HTTP_E_TIMEOUT, "timeout (total)");
}

/* ---- the exchange ------------------------------------------------------------------------------------------ */

static int on_body(h2o_http1client_t *client, const char *errstr)
{
    call_t *c = client->data;
    if (c->done)
        return -1;
    h2o_buffer_t *in = client->sock != NULL ? client->sock->input : NULL;
    if (in != NULL && in->size > 0) {
        if (c->body_len + in->size > c->rq.max_response_bytes) {
            c->client = NULL; /* H2O closes it when we return -1 (or after an end-of-stream callback) */
            fail(c, SQ_HTTP_E_TOO_LARGE, "response larger than the limit");
            return -1;
        }
        if (c->body_len + in->size > c->body_cap) {
            c->body_cap = (c->body_len + in->size) * 2;
            c->body = sq_xrealloc(c->body, c->body_cap);
        }
        memcpy(c->body + c->body_len, in->bytes, in->size);
        c->body_len += in->size;
        h2o_buffer_consume(&client->sock->input, in->size);
    }
    if (errstr == NULL)
        return 0;
    c->client = NULL;
    if (errstr == h2o_http1client_error_is_eos)
        finish(c);
    else
        fail(c, classify(errstr), errstr);
    return 0;
}

static h2o_http1client_body_cb on_head(h2o_http1client_t *client, const char *errstr, int minor, int status, h2o_iovec_t msg,
                                       h2o_header_t *headers, size_t nheaders, int rlen)
{
    (void)minor, (void)msg, (void)rlen;
    call_t *c = client->data;
    if (c->done)
        return NULL;
    if (errstr != NULL && errstr != h2o_http1client_error_is_eos) {
        c->client = NULL;
        fail(c, classify(errstr), errstr);
        return NULL;
    }
    c->res.status = status;
    c->headers = sq_arena_alloc(c->arena, sizeof(sq_http_header_t) * (nheaders + 1));
    for (size_t i = 0; i < nheaders; i++) {
        c->headers[i].name = sq_arena_strndup(c->arena, headers[i].name->base, headers[i].name->len);
        c->headers[i].value = sq_arena_strndup(c->arena, headers[i].value.base, headers[i].value.len);
    }
    c->res.headers = c->headers;
    c->res.nheaders = (int)nheaders;
    if (errstr == h2o_http1client_error_is_eos) {
        c->client = NULL;
        finish(c);
        return NULL;
    }
    return on_body;
}

static h2o_http1client_head_cb on_connect(h2o_http1client_t *client, const char *errstr, h2o_iovec_t **reqbufs, size_t *reqbufcnt,
                                          int *method_is_head)
{
    call_t *c = client->data;
    if (c->done)
        return NULL;
    if (errstr != NULL) {
        c->client = NULL;
        fail(c, classify(errstr), errstr);
        return NULL;
    }
    *reqbufs = c->reqbuf;
    *reqbufcnt = c->rq.body_len > 0 ? 2 : 1;
    *method_is_head = strcmp(c->rq.method, "HEAD") == 0;
    return on_head;
}

static void build_request(call_t *c)
{
    sq_buf_t b;
    sq_buf_init(&b, c->arena, 512);
    sq_buf_printf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nUser-Agent: souq\r\n", c->rq.method, c->url.path,
                  c->url.host_header);
    if (c->rq.body_len > 0 || strcmp(c->rq.method, "POST") == 0 || strcmp(c->rq.method, "PUT") == 0 ||
        strcmp(c->rq.method, "PATCH") == 0)
        sq_buf_printf(&b, "Content-Length: %zu\r\n", c->rq.body_len);
    for (int i = 0; i < c->rq.nheaders; i++)
        sq_buf_printf(&b, "%s: %s\r\n", c->rq.headers[i].name, c->rq.headers[i].value);
    sq_buf_str(&b, "\r\n");
    c->reqbuf[0] = h2o_iovec_init(b.p, b.len);
    c->reqbuf[1] = h2o_iovec_init(c->rq.body, c->rq.body_len);
}

/* The address passed the policy: connect to exactly it. */
static void connect_to(call_t *c, struct sockaddr *sa, socklen_t len)
{
    char host[NI_MAXHOST];
    if (getnameinfo(sa, len, host, sizeof(host), NULL, 0, NI_NUMERICHOST) == 0)
        c->res.address = sq_arena_strdup(c->arena, host);
    if (sq_http_addr_blocked(sa, c->thr->rt->cfg->allow_cidrs, c->thr->rt->cfg->nallow_cidrs)) {
        fail(c, SQ_HTTP_E_SSRF_BLOCKED, "the address is private, loopback, link-local or reserved");
        return;
    }
    if (c->rq.check_only) {
        finish(c);
        return;
    }
    h2o_socketpool_init_by_address(&c->pool, sa, len, c->url.https, 1);
    c->pool_inited = true;
    if (c->url.https) { /* SNI and certificate name: the URL's host, not the address */
        free(c->pool.peer.host.base);
        c->pool.peer.host = h2o_strdup(NULL, c->url.host, strlen(c->url.host));
    }
    h2o_socketpool_set_timeout(&c->pool, c->thr->loop, 1000);
    build_request(c);
    timeout_slot_t *s = slot(c->thr, c->rq.connect_timeout_ms);
    h2o_http1client_connect_with_pool(&c->client, c, &s->client_ctx, &c->pool, on_connect);
}

static void on_getaddr(h2o_hostinfo_getaddr_req_t *req, const char *errstr, struct addrinfo *res, void *data)
{
    (void)req;
    call_t *c = data;
    c->getaddr = NULL;
    if (errstr != NULL || res == NULL) {
        fail(c, SQ_HTTP_E_DNS, "the host name does not resolve");
        return;
    }
    /* every address the name has must pass: a name that mixes public and private addresses is refused */
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next)
        if (sq_http_addr_blocked(ai->ai_addr, c->thr->rt->cfg->allow_cidrs, c->thr->rt->cfg->nallow_cidrs)) {
            connect_to(c, ai->ai_addr, ai->ai_addrlen); /* records the address and refuses */
            return;
        }
    connect_to(c, res->ai_addr, res->ai_addrlen);
}

static void on_literal(h2o_timeout_entry_t *e)
{
    call_t *c = H2O_STRUCT_FROM_MEMBER(call_t, later, e);
    connect_to(c, &c->addr.sa, c->addrlen);
}

static bool header_ok(const char *s, bool name)
{
    for (; *s; s++)
        if (*s == '\r' || *s == '\n' || (name && (*s == ':' || *s == ' ')))
            return false;
    return true;
}

void sq_api_http(sq_ctx_t *cx, const sq_http_request_t *rq, sq_http_cb cb, void *data)
{
    sq_thread_t *thr = cx->offload_ctx;
    call_t *c = sq_xcalloc(1, sizeof(*c));
    c->thr = thr;
    c->arena = cx->arena;
    sq_arena_ref(c->arena);
    c->rq = *rq;
    if (c->rq.method == NULL)
        c->rq.method = "GET";
    if (c->rq.connect_timeout_ms <= 0)
        c->rq.connect_timeout_ms = 2000;
    if (c->rq.total_timeout_ms <= 0)
        c->rq.total_timeout_ms = 10000;
    if (c->rq.max_response_bytes == 0)
        c->rq.max_response_bytes = 1 << 20;
    c->cb = cb;
    c->data = data;
    c->start_us = sq_mono_us();
    sq_http_error_t e = sq_url_parse(c->arena, rq->url, &c->url);
    if (e != SQ_HTTP_OK) {
        fail_later(c, e, e == SQ_HTTP_E_SCHEME ? "only http and https URLs" : "not an absolute http(s) URL");
        return;
    }
    for (int i = 0; i < rq->nheaders; i++)
        if (!header_ok(rq->headers[i].name, true) || !header_ok(rq->headers[i].value, false)) {
            fail_later(c, SQ_HTTP_E_INVALID_URL, "a header contains a line break");
            return;
        }
    for (const char *m = c->rq.method; *m; m++)
        if (*m < 'A' || *m > 'Z') {
            fail_later(c, SQ_HTTP_E_INVALID_URL, "bad method");
            return;
        }
    c->total.cb = on_total_timeout;
    h2o_timeout_link(thr->loop, &slot(thr, c->rq.total_timeout_ms)->timeout, &c->total);

    /* a literal address is checked as is (at the next iteration); a name is resolved on H2O's getaddr threads */
    if (inet_pton(AF_INET, c->url.host, &c->addr.in4.sin_addr) == 1) {
        c->addr.in4.sin_family = AF_INET;
        c->addr.in4.sin_port = htons((uint16_t)c->url.port);
        c->addrlen = sizeof(c->addr.in4);
    } else if (inet_pton(AF_INET6, c->url.host, &c->addr.in6.sin6_addr) == 1) {
        c->addr.in6.sin6_family = AF_INET6;
        c->addr.in6.sin6_port = htons((uint16_t)c->url.port);
        c->addrlen = sizeof(c->addr.in6);
    } else if (strchr(c->url.host, ':') != NULL) {
        fail_later(c, SQ_HTTP_E_INVALID_URL, "not an absolute http(s) URL");
        return;
    }
    if (c->addrlen > 0) {
        c->later.cb = on_literal;
        h2o_timeout_link(thr->loop, &thread_state(thr)->zero, &c->later);
        return;
    }
    char *serv = sq_arena_printf(c->arena, "%d", c->url.port);
    c->getaddr = h2o_hostinfo_getaddr(&thr->ctx.receivers.hostinfo_getaddr, h2o_iovec_init(c->url.host, strlen(c->url.host)),
                                      h2o_iovec_init(serv, strlen(serv)), AF_UNSPEC, SOCK_STREAM, IPPROTO_TCP, AI_NUMERICSERV,
                                      on_getaddr, c);
}
