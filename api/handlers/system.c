/* system.c: /healthz, /readyz, /metrics and /openapi.json. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "api/dispatcher.h"
#include "api/jobs_runner.h"
#include "api/handlers/handlers.h"
#include "api/routes.h"
#include "core/automation.h"
#include "api/upkeep.h"
#include "core/base/crypto.h"
#include "core/base/embed.h"
#include "plugins/host/host.h"

SQ_STMT_RO(readyz_migrations, "SELECT count(*) FROM schema_migrations");

void sq_h_healthz(sq_req_t *req)
{
    static const char body[] = "{\"status\":\"ok\"}";
    sq_req_send_json(req, 200, body, sizeof(body) - 1);
}

static void on_ready(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    sq_req_t *req = data;
    req->err.retry_after = 5;
    if (err != NULL) {
        sq_req_fail_code(req, SQ_E_UNAVAILABLE, "The database is not reachable or not migrated.");
        return;
    }
    int64_t applied = sq_rows_int64(rows, 0, 0), expected = (int64_t)sq_migrations_count;
    if (applied < expected) {
        sq_req_fail_code(req, SQ_E_UNAVAILABLE, "The database schema is behind: %lld of %lld migrations applied.",
                         (long long)applied, (long long)expected);
        return;
    }
    json_t *body = json_pack("{s:s, s:s, s:{s:I, s:I}}", "status", "ready", "database", "ok", "migrations", "applied",
                             (json_int_t)applied, "expected", (json_int_t)expected);
    sq_req_send_jansson(req, 200, body);
}

void sq_h_readyz(sq_req_t *req)
{
    sq_db_query(req->cx.db, req->arena, &readyz_migrations, 0, NULL, on_ready, req);
}

void sq_h_openapi(sq_req_t *req)
{
    sq_req_send_json(req, 200, sq_openapi_json.data, sq_openapi_json.len);
}

/* Appends to a growing arena buffer. */
typedef struct {
    sq_arena_t *a;
    char *buf;
    size_t len, cap;
} out_t;

static void put(out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(out_t *o, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        size_t cap = o->cap * 2 + (size_t)n;
        char *nb = sq_arena_alloc(o->a, cap);
        memcpy(nb, o->buf, o->len);
        o->buf = nb;
        o->cap = cap;
    }
}

static const char *route_label(int slot)
{
    return slot == 0 ? "unmatched" : sq_routes[slot - 1].path;
}

static const char *route_method(int slot)
{
    return slot == 0 ? "" : sq_routes[slot - 1].method;
}

void sq_h_metrics(sq_req_t *req)
{
    const char *token = req->rt->cfg->metrics_token;
    if (token[0] != '\0') {
        const char *auth = sq_req_header(req, "authorization");
        if (auth == NULL || strncmp(auth, "Bearer ", 7) != 0 || !sq_ct_equal(auth + 7, strlen(auth + 7), token, strlen(token))) {
            sq_req_fail_code(req, SQ_E_UNAUTHORIZED, "The metrics token is required.");
            return;
        }
    }
    out_t o = {req->arena, sq_arena_alloc(req->arena, 16384), 0, 16384};
    int nroutes = (int)sq_routes_count + 1;
    put(&o, "# HELP souq_http_requests_total HTTP requests by route and status.\n# TYPE souq_http_requests_total counter\n");
    for (int r = 0; r < nroutes && r < SQ_METRICS_ROUTES; r++)
        for (int s = 0; s < SQ_METRICS_STATUSES; s++) {
            uint64_t n = 0;
            for (int t = 0; t < sq_server.nthreads; t++)
                n += __atomic_load_n(&sq_server.threads[t].metrics.count[r][s], __ATOMIC_RELAXED);
            if (n > 0) {
                int st = sq_metrics_status_at(s);
                put(&o, "souq_http_requests_total{method=\"%s\",route=\"%s\",status=\"%s%d\"} %llu\n", route_method(r),
                    route_label(r), st ? "" : "other", st, (unsigned long long)n);
            }
        }
    put(&o, "# HELP souq_http_request_duration_seconds Request latency by route.\n"
            "# TYPE souq_http_request_duration_seconds histogram\n");
    for (int r = 0; r < nroutes && r < SQ_METRICS_ROUTES; r++) {
        uint64_t b[SQ_METRICS_BUCKETS + 1] = {0}, sum = 0, total = 0;
        for (int t = 0; t < sq_server.nthreads; t++) {
            for (int i = 0; i <= SQ_METRICS_BUCKETS; i++)
                b[i] += __atomic_load_n(&sq_server.threads[t].metrics.hist[r][i], __ATOMIC_RELAXED);
            sum += __atomic_load_n(&sq_server.threads[t].metrics.sum_us[r], __ATOMIC_RELAXED);
        }
        for (int i = 0; i <= SQ_METRICS_BUCKETS; i++)
            total += b[i];
        if (total == 0)
            continue;
        uint64_t cum = 0;
        for (int i = 0; i < SQ_METRICS_BUCKETS; i++) {
            cum += b[i];
            put(&o, "souq_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\",le=\"%g\"} %llu\n", route_method(r),
                route_label(r), (double)sq_metrics_bounds[i] / 1e6, (unsigned long long)cum);
        }
        put(&o, "souq_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\",le=\"+Inf\"} %llu\n", route_method(r),
            route_label(r), (unsigned long long)total);
        put(&o, "souq_http_request_duration_seconds_sum{method=\"%s\",route=\"%s\"} %g\n", route_method(r), route_label(r),
            (double)sum / 1e6);
        put(&o, "souq_http_request_duration_seconds_count{method=\"%s\",route=\"%s\"} %llu\n", route_method(r), route_label(r),
            (unsigned long long)total);
    }
    put(&o, "# HELP souq_db_connection_up 1 when the thread's PostgreSQL connection is ready.\n"
            "# TYPE souq_db_connection_up gauge\n");
    for (int t = 0; t < sq_server.nthreads; t++)
        put(&o, "souq_db_connection_up{thread=\"%d\"} %d\n", t, sq_db_state(sq_server.threads[t].db) == SQ_DB_READY);
    put(&o, "# HELP souq_db_reconnects_total Reconnections of the thread's PostgreSQL connection.\n"
            "# TYPE souq_db_reconnects_total counter\n");
    for (int t = 0; t < sq_server.nthreads; t++)
        put(&o, "souq_db_reconnects_total{thread=\"%d\"} %llu\n", t, (unsigned long long)sq_db_reconnects(sq_server.threads[t].db));
    put(&o, "# HELP souq_db_round_trips_total Syncs sent to PostgreSQL (reads issued together share one).\n"
            "# TYPE souq_db_round_trips_total counter\n");
    for (int t = 0; t < sq_server.nthreads; t++)
        put(&o, "souq_db_round_trips_total{thread=\"%d\"} %llu\n", t,
            (unsigned long long)sq_db_round_trips(sq_server.threads[t].db));
    put(&o, "# HELP souq_db_batches_total Batches (transactions) sent to PostgreSQL.\n# TYPE souq_db_batches_total counter\n");
    for (int t = 0; t < sq_server.nthreads; t++)
        put(&o, "souq_db_batches_total{thread=\"%d\"} %llu\n", t, (unsigned long long)sq_db_batches(sq_server.threads[t].db));
    put(&o, "# HELP souq_db_coalesced_calls_total Requests' calls sent coalesced (many calls, one set-based statement).\n"
            "# TYPE souq_db_coalesced_calls_total counter\n");
    for (int t = 0; t < sq_server.nthreads; t++)
        put(&o, "souq_db_coalesced_calls_total{thread=\"%d\"} %llu\n", t,
            (unsigned long long)sq_db_coalesced_calls(sq_server.threads[t].db));
    put(&o, "# HELP souq_db_coalesced_batches_total Batches that carried coalesced calls (calls / batches: calls per statement).\n"
            "# TYPE souq_db_coalesced_batches_total counter\n");
    for (int t = 0; t < sq_server.nthreads; t++)
        put(&o, "souq_db_coalesced_batches_total{thread=\"%d\"} %llu\n", t,
            (unsigned long long)sq_db_coalesced_batches(sq_server.threads[t].db));
    put(&o, "# HELP souq_db_inflight Batches waiting for PostgreSQL on the thread's connection.\n# TYPE souq_db_inflight gauge\n");
    for (int t = 0; t < sq_server.nthreads; t++)
        put(&o, "souq_db_inflight{thread=\"%d\"} %d\n", t, sq_db_inflight(sq_server.threads[t].db));
    put(&o, "# HELP souq_store_cache_hits_total Storefront reads answered from the thread's read cache.\n"
            "# TYPE souq_store_cache_hits_total counter\n");
    for (int t = 0; t < sq_server.nthreads; t++)
        put(&o, "souq_store_cache_hits_total{thread=\"%d\"} %llu\n", t,
            (unsigned long long)sq_cache_hits(sq_server.threads[t].store_cache));
    put(&o, "# HELP souq_store_cache_misses_total Storefront reads the cache could not answer.\n"
            "# TYPE souq_store_cache_misses_total counter\n");
    for (int t = 0; t < sq_server.nthreads; t++)
        put(&o, "souq_store_cache_misses_total{thread=\"%d\"} %llu\n", t,
            (unsigned long long)sq_cache_misses(sq_server.threads[t].store_cache));
    put(&o, "# HELP souq_store_cache_bytes Bytes the thread's read cache holds.\n# TYPE souq_store_cache_bytes gauge\n");
    for (int t = 0; t < sq_server.nthreads; t++)
        put(&o, "souq_store_cache_bytes{thread=\"%d\"} %zu\n", t, sq_cache_bytes(sq_server.threads[t].store_cache));
    put(&o, "# HELP souq_worker_pool_depth Jobs queued or running on the blocking pool.\n# TYPE souq_worker_pool_depth gauge\n");
    put(&o, "souq_worker_pool_depth %d\n", sq_pool_depth(sq_server.pool));
    put(&o, "%s", sq_plugins_metrics(req->arena));
    put(&o, "%s", sq_dispatcher_metrics(req->arena));
    put(&o, "%s", sq_jobs_runner_metrics(req->arena));
    put(&o, "%s", sq_automation_metrics(req->arena));
    put(&o, "%s", sq_upkeep_metrics(req->arena));
    put(&o, "# HELP souq_start_time_seconds Start time of the process.\n# TYPE souq_start_time_seconds gauge\n");
    put(&o, "souq_start_time_seconds %lld\n", (long long)(sq_server.started_us / 1000000));
    /* text/plain: sent as is, not through the JSON path */
    sq_req_send_text(req, 200, "text/plain; version=0.0.4", o.buf, o.len);
}
