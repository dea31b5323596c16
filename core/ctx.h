/* ctx.h: what every core operation runs with: the thread's database connection, the arena of the
 * request (or job) it serves, and a way to push CPU-heavy work off the loop. */
#ifndef SQ_CTX_H
#define SQ_CTX_H

#include "core/base/arena.h"
#include "core/base/cache.h"
#include "core/db/db.h"

typedef struct sq_ctx sq_ctx_t;

/** Completion of an operation that returns nothing but success or an error. */
typedef void (*sq_done_cb)(const sq_err_t *err, void *data);

struct sq_ctx {
    sq_db_t *db;
    sq_arena_t *arena;
    /* runs work(data) off the loop, then done(data) back on it; the arena is kept alive meanwhile */
    void (*offload)(sq_ctx_t *cx, void (*work)(void *), void (*done)(void *), void *data);
    void *offload_ctx;
    sq_cache_t *cache; /* the thread's storefront read cache, or NULL (tools, tests) */
};

#endif
