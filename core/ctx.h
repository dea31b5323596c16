/* ctx.h: what every core operation runs with: the thread's database connection, the arena of the
 * request (or job) it serves, and a way to push CPU-heavy work off the loop. */
#ifndef SQ_CTX_H
#define SQ_CTX_H

#include "core/base/arena.h"
#include "core/base/cache.h"
#include "core/db/db.h"
#include "core/http.h"

typedef struct sq_ctx sq_ctx_t;

/** Completion of an operation that returns nothing but success or an error. */
typedef void (*sq_done_cb)(const sq_err_t *err, void *data);

struct sq_ctx {
    sq_db_t *db;
    sq_arena_t *arena;
    /* runs work(data) off the loop, then done(data) back on it; the arena is kept alive meanwhile */
    void (*offload)(sq_ctx_t *cx, void (*work)(void *), void (*done)(void *), void *data);
    void *offload_ctx;
    /* calls cb(data) on the loop after about ms milliseconds (rounded up to 2 ms steps); the arena is kept alive
     * meanwhile. NULL outside a server thread (tools, tests): callers then go on at once */
    void (*after)(sq_ctx_t *cx, int ms, void (*cb)(void *), void *data);
    /* an outbound HTTP request (core/http.h: egress policy, timeouts, size cap); cb runs once on the loop with the
     * answer in cx->arena, which is kept alive meanwhile. NULL outside a server thread: callers then fail with
     * SQ_HTTP_E_UNAVAILABLE (sq_ctx_http does) */
    void (*http)(sq_ctx_t *cx, const sq_http_request_t *rq, sq_http_cb cb, void *data);
    sq_cache_t *cache; /* the thread's storefront read cache, or NULL (tools, tests) */
    /* connections for durable commits (may be none): see sq_ctx_commit_db */
    sq_db_t *const *commit_dbs;
    int ncommit;
};

/** The connection for a transaction that must wait for its WAL flush (synchronous_commit on) and is not
 * latency-critical to pipeline with reads: the least busy ready commit connection, else db. A connection runs
 * its statements one after another, so commits on one connection flush one at a time; spread over several,
 * PostgreSQL flushes them together (group commit). */
static inline sq_db_t *sq_ctx_commit_db(const sq_ctx_t *cx)
{
    sq_db_t *best = NULL;
    for (int i = 0; i < cx->ncommit; i++)
        if (sq_db_state(cx->commit_dbs[i]) == SQ_DB_READY && (best == NULL || sq_db_inflight(cx->commit_dbs[i]) < sq_db_inflight(best)))
            best = cx->commit_dbs[i];
    return best != NULL ? best : cx->db;
}

/** Issues rq through cx->http, or answers SQ_HTTP_E_UNAVAILABLE at once when the context has no client. */
static inline void sq_ctx_http(sq_ctx_t *cx, const sq_http_request_t *rq, sq_http_cb cb, void *data)
{
    if (cx->http != NULL) {
        cx->http(cx, rq, cb, data);
        return;
    }
    sq_http_response_t res = {SQ_HTTP_E_UNAVAILABLE, "no outbound HTTP client in this context", 0, NULL, 0, NULL, 0, 0, NULL};
    cb(&res, data);
}

#endif
