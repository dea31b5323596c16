/* upkeep.c: /metrics of the payment-failure monitor and the purge (core/upkeep.h). The figures live in
 * payment_provider_health, written by whichever node ran the monitor; thread 0 of every node reads them every 5 s,
 * and the node that ran the monitor publishes them at once, so every node's /metrics shows the same rates. */
#include "api/upkeep.h"

#include <pthread.h>
#include <string.h>

#include "api/req.h"
#include "api/server.h"
#include "core/upkeep.h"

#define REFRESH_US 5000000

static struct {
    pthread_mutex_t lock;
    sq_payment_health_t p[SQ_UPKEEP_MAX_PROVIDERS];
    int n;
} g = {.lock = PTHREAD_MUTEX_INITIALIZER};

static struct {
    bool running;
    int64_t next;
} refresh; /* thread 0 only */

static void publish(const char *json)
{
    sq_payment_health_t tmp[SQ_UPKEEP_MAX_PROVIDERS];
    int n = sq_payment_health_parse(json, tmp, SQ_UPKEEP_MAX_PROVIDERS);
    if (n < 0)
        return;
    pthread_mutex_lock(&g.lock);
    memcpy(g.p, tmp, sizeof(tmp[0]) * (size_t)n);
    g.n = n;
    pthread_mutex_unlock(&g.lock);
}

void sq_upkeep_init(void)
{
    sq_payment_health_published = publish;
}

typedef struct {
    sq_ctx_t cx;
} read_t;

static void on_read(const char *json, const sq_err_t *err, void *data)
{
    read_t *r = data;
    refresh.running = false;
    if (err == NULL)
        publish(json);
    sq_arena_unref(r->cx.arena);
}

void sq_upkeep_tick(sq_thread_t *t, int64_t now)
{
    if (t->draining || refresh.running || now < refresh.next || sq_db_state(t->db) != SQ_DB_READY)
        return;
    refresh.next = now + REFRESH_US;
    refresh.running = true;
    sq_arena_t *a = sq_arena_new();
    read_t *r = SQ_NEW(a, read_t);
    sq_thread_ctx(t, &r->cx, a);
    sq_payment_health_read(&r->cx, on_read, r);
}

bool sq_upkeep_busy(sq_thread_t *t)
{
    (void)t;
    return refresh.running;
}

char *sq_upkeep_metrics(sq_arena_t *a)
{
    sq_payment_health_t p[SQ_UPKEEP_MAX_PROVIDERS];
    pthread_mutex_lock(&g.lock);
    int n = g.n;
    memcpy(p, g.p, sizeof(p[0]) * (size_t)n);
    pthread_mutex_unlock(&g.lock);
    char *out =
        sq_arena_printf(a, "# HELP souq_payment_failure_rate Declined or failed authorizations among finished ones per payment "
                           "provider over payment_failure_window_s, as the monitor last computed it (0 without attempts).\n"
                           "# TYPE souq_payment_failure_rate gauge\n");
    for (int i = 0; i < n; i++)
        out = sq_arena_printf(a, "%ssouq_payment_failure_rate{provider=\"%s\"} %.4f\n", out, p[i].provider,
                              p[i].attempts > 0 ? (double)p[i].failures / p[i].attempts : 0.0);
    out = sq_arena_printf(a,
                          "%s# HELP souq_payment_attempts Finished authorizations per provider in the monitor's window.\n"
                          "# TYPE souq_payment_attempts gauge\n",
                          out);
    for (int i = 0; i < n; i++)
        out = sq_arena_printf(a, "%ssouq_payment_attempts{provider=\"%s\"} %d\n", out, p[i].provider, p[i].attempts);
    out =
        sq_arena_printf(a,
                        "%s# HELP souq_payment_failure_alert 1 while a payment.failure_rate_high alert is open for the provider.\n"
                        "# TYPE souq_payment_failure_alert gauge\n",
                        out);
    for (int i = 0; i < n; i++)
        out = sq_arena_printf(a, "%ssouq_payment_failure_alert{provider=\"%s\"} %d\n", out, p[i].provider, p[i].alerting ? 1 : 0);
    out = sq_arena_printf(a,
                          "%s# HELP souq_purged_rows_total Rows the purge deleted on this node, by kind.\n"
                          "# TYPE souq_purged_rows_total counter\n",
                          out);
    for (int k = 0; sq_upkeep_purge_kinds[k] != NULL; k++)
        out = sq_arena_printf(a, "%ssouq_purged_rows_total{kind=\"%s\"} %llu\n", out, sq_upkeep_purge_kinds[k],
                              (unsigned long long)sq_upkeep_purged(k));
    return out;
}
