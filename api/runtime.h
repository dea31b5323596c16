/* runtime.h: what every thread shares read-only and what each loop thread owns. */
#ifndef SQ_RUNTIME_H
#define SQ_RUNTIME_H

#define H2O_USE_LIBUV 0
#include <h2o.h>
#include <stdbool.h>

#include "api/config.h"
#include "api/jwt.h"
#include "api/metrics.h"
#include "api/router.h"
#include "core/base/cache.h"
#include "core/base/pool.h"
#include "core/db/db.h"

/** Config plus what is derived from it (keys). Swapped whole on SIGHUP; requests hold a reference. */
typedef struct sq_rt {
    int refs;
    uint64_t generation; /* unique per load: caches keyed by it die with a reload */
    sq_config_t *cfg;
    sq_jwt_t jwt;
} sq_rt_t;

sq_rt_t *sq_rt_new(sq_config_t *cfg, char *errbuf, size_t errlen);
void sq_rt_ref(sq_rt_t *rt);
void sq_rt_unref(sq_rt_t *rt);

/** Messages to a loop thread (from the pool or the main thread) through its h2o_multithread inbox. */
typedef enum { SQ_MSG_OFFLOAD, SQ_MSG_RT_SWAP, SQ_MSG_SHUTDOWN } sq_msg_kind_t;
typedef struct {
    h2o_multithread_message_t super;
    sq_msg_kind_t kind;
    sq_rt_t *rt; /* SQ_MSG_RT_SWAP: a reference for the thread */
} sq_msg_t;

/** Runs the done step of offloaded work on its loop thread (req.c). */
void sq_req_offload_done(sq_msg_t *msg);

#define SQ_PK_CACHE 64
#define SQ_JWT_CACHE 256
#define SQ_JWT_CACHE_MAX_LEN 1024

/** A verified access token. Signature and claims were checked once; time claims are checked on each use. */
typedef struct {
    uint64_t generation;
    size_t len;
    sq_claims_t claims;
    char token[SQ_JWT_CACHE_MAX_LEN];
} sq_jwt_entry_t;

/** A cached publishable key (they are public and checked on every storefront request). */
typedef struct {
    char token[64];
    char key_id[40];
    char channel_id[40];
    int64_t expires_us;
} sq_pk_entry_t;

#define SQ_AFTER_STEP_MS 2

/** A database connection on a thread's loop: the socket watched for it and its timer. */
typedef struct sq_dblink {
    struct sq_thread *t;
    sq_db_t *db;
    h2o_socket_t *sock;
    bool write_wanted; /* a write notification of sock is pending */
    int fd;
    int64_t timer_due; /* monotonic us, 0 = none */
} sq_dblink_t;

typedef struct sq_thread {
    int index;
    pthread_t tid;
    h2o_evloop_t *loop;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    h2o_socket_t *listener;
    h2o_multithread_queue_t *queue;
    h2o_multithread_receiver_t inbox;
    h2o_timeout_t tick_timeout;
    h2o_timeout_entry_t tick;
    h2o_timeout_t deadline_timeout;
    h2o_timeout_t step_timeout; /* 2 ms steps of sq_ctx_t.after */
    sq_db_t *db;          /* the thread's connection: every read and most writes, pipelined */
    sq_dblink_t link;     /* its place on the loop */
    /* connections for durable commits (checkout's order): a commit waits for the WAL flush, and the flushes of
     * concurrent commits are shared only across connections (group commit) */
    sq_dblink_t *commit_links;
    sq_db_t **commit_dbs;
    int ncommit;
    int64_t last_db_tick;
    int64_t next_sweep; /* monotonic us of the next reservation sweep (thread 0 only) */
    int64_t next_purge; /* monotonic us of the next purge of old Idempotency-Keys (thread 0 only) */
    int64_t next_cache_age; /* monotonic us of the next storefront cache generation by age (thread 0 only) */
    bool sweeping;
    int64_t next_import; /* monotonic us of the next look for pending imports (thread 0 only) */
    bool importing;
    sq_rt_t *rt; /* this thread's reference */
    int inflight;
    bool draining, stop;
    uint64_t req_seq;
    char req_prefix[12];
    sq_pk_entry_t pk_cache[SQ_PK_CACHE];
    sq_jwt_entry_t *jwt_cache; /* SQ_JWT_CACHE entries */
    sq_metrics_t metrics;
    sq_cache_t *store_cache; /* storefront reads (core/storefront.h) */
    uint64_t db_reconnects;  /* seen by thread 0: notifications may have been missed across a reconnect */
    struct sq_http_thread *http;        /* outbound HTTP client state (http_client.c), created on first use */
    struct sq_dispatcher *dispatcher;   /* the event dispatcher (thread 0; dispatcher.c) */
    struct sq_jobs_runner *jobs;        /* the job runner (thread 0; jobs_runner.c) */
} sq_thread_t;

/** Process-wide state. */
typedef struct {
    h2o_globalconf_t h2o;
    sq_router_t *router;
    sq_pool_t *pool;
    sq_thread_t *threads;
    int nthreads;
    sq_rt_t *rt; /* the current one (main thread swaps it) */
    pthread_mutex_t rt_lock;
    int64_t started_us;
} sq_server_t;

extern sq_server_t sq_server;

#endif
