/* req.h: one HTTP request as handlers see it: route params, query, body decoding, the caller, the core
 * context, and the only ways to answer (JSON or problem+json). A request may outlive its client; every
 * send is then a no-op, and the arena lives until the last async step has finished. */
#ifndef SQ_REQ_H
#define SQ_REQ_H

#include "api/runtime.h"
#include "core/auth.h"
#include "core/base/json.h"
#include "core/ctx.h"
#include "core/idempotency.h"

typedef enum { SQ_PRINCIPAL_NONE, SQ_PRINCIPAL_CUSTOMER, SQ_PRINCIPAL_STAFF, SQ_PRINCIPAL_API_KEY } sq_principal_kind_t;

typedef struct {
    sq_principal_kind_t kind;
    const char *id;         /* customer, staff user or API key id */
    const char *session_id; /* customer and staff tokens */
    sq_role_t role;         /* staff */
    const char **scopes;    /* secret API keys */
    const char *channel_id; /* storefront requests: from the publishable key */
    const char *publishable_key_id;
} sq_principal_t;

#define SQ_MAX_QUERY 16

struct sq_req {
    h2o_req_t *h2o; /* NULL once the client is gone */
    sq_arena_t *arena;
    sq_thread_t *thr;
    sq_rt_t *rt;
    sq_ctx_t cx;
    const sq_route_t *route;
    sq_match_t match;
    sq_principal_t principal;
    sq_err_t err;
    char request_id[72];
    char ip[64];
    const char *user_agent;
    int64_t start_us;
    bool responded;
    int status;
    size_t bytes;
    h2o_timeout_entry_t deadline;
    const char *list_sort; /* the sort a list handler actually uses, when it is not the sort parameter (cursors sign it) */
    struct {
        sq_idem_scope_t scope;
        bool claimed; /* this request holds its Idempotency-Key: its answer is stored (2xx) or the key released */
    } idem;
    int nquery;
    struct {
        const char *name, *value;
    } query[SQ_MAX_QUERY];
};

/** Entry point from the H2O handler. */
int sq_req_handle(h2o_handler_t *self, h2o_req_t *h2o);
/** The context of work a loop thread does, in a request or in the background (sweeps, imports, the dispatcher,
 * jobs): the thread's connection and commit connections, the worker pool, the loop timer, the outbound HTTP
 * client, and arena. Requests add the storefront read cache. */
void sq_thread_ctx(sq_thread_t *thr, sq_ctx_t *cx, sq_arena_t *arena);

/** A path parameter, NUL-terminated in the arena ("" if absent). */
const char *sq_req_param(sq_req_t *req, const char *name);
/** A query parameter (decoded), or NULL. */
const char *sq_req_query(sq_req_t *req, const char *name);
/** limit (default 20, 1..100) and cursor; -1 with req->err set on bad values. */
int sq_req_page(sq_req_t *req, sq_page_t *page);
/** A request header value, NUL-terminated in the arena, or NULL. */
const char *sq_req_header(sq_req_t *req, const char *name);
/** The parsed JSON body (owned by the request), or NULL with req->err set (400). */
json_t *sq_req_body(sq_req_t *req);
/** Parses and decodes the JSON body; -1 with req->err set (400 invalid JSON, 422 fields). */
int sq_req_json(sq_req_t *req, const sq_field_t *fields, void *out, uint64_t *present);
/** The media type of an upload route's body ("text/csv", "application/x-ndjson", "application/ndjson"), or NULL. */
const char *sq_req_upload_type(sq_req_t *req);
/** Lifts the request deadline (request_timeout_ms): for uploads whose reading takes seconds on the worker pool;
 * the database statements that follow keep their statement_timeout. */
void sq_req_no_deadline(sq_req_t *req);
/** Adds a response header (before the answer is sent). */
void sq_req_add_header(sq_req_t *req, const char *name, const char *value);
/** If-Match as the bare ETag value (quotes removed) or NULL; a weak or malformed one fails with 412. */
int sq_req_if_match(sq_req_t *req, const char **etag);

/** Sends JSON text as is; GET answers get a strong ETag (MD5 of the body) and honour If-None-Match. */
void sq_req_send_json(sq_req_t *req, int status, const char *json, size_t len);
/** Like sq_req_send_json, with the ETag on every answer (mutations too: the next If-Match). */
void sq_req_send_tagged(sq_req_t *req, int status, const char *json, size_t len);
void sq_req_send_jansson(sq_req_t *req, int status, json_t *body);
/** Sends a non-JSON body (metrics) with the given content type. */
void sq_req_send_text(sq_req_t *req, int status, const char *ctype, const char *body, size_t len);
/** {"object":"list","data":[...],"has_more":..,"next_cursor":..}. */
void sq_req_send_list(sq_req_t *req, const sq_list_t *list);
/** 202/204 without a body. */
void sq_req_send_empty(sq_req_t *req, int status);
/** Sends req->err as problem+json. */
void sq_req_fail(sq_req_t *req);
void sq_req_fail_with(sq_req_t *req, const sq_err_t *err);
void sq_req_fail_code(sq_req_t *req, sq_code_t code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Ready-made completion callbacks (data = the request). */
void sq_req_on_json_200(const char *json, const sq_err_t *err, void *data);
void sq_req_on_json_201(const char *json, const sq_err_t *err, void *data);
void sq_req_on_list(const sq_list_t *list, const sq_err_t *err, void *data);
void sq_req_on_done_204(const sq_err_t *err, void *data);
void sq_req_on_done_202(const sq_err_t *err, void *data);

/** HTTP status of an error code (the one table). */
int sq_err_status(sq_code_t code);

/* Internal to api/: continue after authentication; build problem bodies. */
void sq_req_dispatch(sq_req_t *req);
/** The handler's core operation stored the answer of the request's Idempotency-Key in its own transaction (checkout):
 * the answer about to be sent needs no second record. */
void sq_req_idem_recorded(sq_req_t *req);
char *sq_problem_json(sq_req_t *req, const sq_err_t *err, size_t *len);

#endif
