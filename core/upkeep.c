/* upkeep.c: the payment-failure monitor and purge jobs (core/upkeep.h): handlers, the batching of the purge, and the
 * parsing of the monitor's figures. SQL in upkeep_db.c. */
#include "core/upkeep.h"

#include <string.h>

#include "core/base/log.h"

const char *const sq_upkeep_purge_kinds[] = {"events", "attempts", "jobs", "notifications", "price_changes", "carts", NULL};
#define KINDS 6
static uint64_t purged[KINDS];
void (*sq_payment_health_published)(const char *json);

uint64_t sq_upkeep_purged(int kind)
{
    return kind >= 0 && kind < KINDS ? __atomic_load_n(&purged[kind], __ATOMIC_RELAXED) : 0;
}

static bool label_ok(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || strchr("_-.:", *s)))
            return false;
    return true;
}

int sq_payment_health_parse(const char *json, sq_payment_health_t *out, int max)
{
    json_t *a = json ? json_loads(json, 0, NULL) : NULL;
    if (!json_is_array(a)) {
        json_decref(a);
        return -1;
    }
    int n = 0;
    for (size_t i = 0; i < json_array_size(a) && n < max; i++) {
        json_t *e = json_array_get(a, i);
        const char *p = json_string_value(json_object_get(e, "provider"));
        if (p == NULL || strlen(p) >= sizeof(out[n].provider) || !label_ok(p))
            continue;
        snprintf(out[n].provider, sizeof(out[n].provider), "%s", p);
        out[n].attempts = (int)json_integer_value(json_object_get(e, "attempts"));
        out[n].failures = (int)json_integer_value(json_object_get(e, "failures"));
        out[n].alerting = json_is_true(json_object_get(e, "alerting"));
        n++;
    }
    json_decref(a);
    return n;
}

/* ---- the payment-failure monitor ---------------------------------------------------------------------------------- */

typedef struct {
    sq_job_done_cb done;
    void *data;
} monitor_t;

static void on_monitored(const char *json, const sq_err_t *err, void *data)
{
    monitor_t *m = data;
    if (err == NULL && sq_payment_health_published != NULL)
        sq_payment_health_published(json);
    m->done(err, false, m->data);
}

static void monitor(sq_ctx_t *cx, const sq_job_row_t *job, sq_job_done_cb done, void *data)
{
    monitor_t *m = SQ_NEW(cx->arena, monitor_t);
    m->done = done;
    m->data = data;
    sq_upkeep_monitor_run(cx, job->settings, on_monitored, m);
}

/* ---- the purge: kinds in turn, batches until one comes back short or max_batches ------------------------------------ */

typedef struct {
    sq_ctx_t *cx;
    const sq_jobs_settings_t *s;
    sq_job_done_cb done;
    void *data;
    int kind, batches;
    long total;
} purge_t;

static void purge_next(purge_t *p);

static void on_batch(long n, const sq_err_t *err, void *data)
{
    purge_t *p = data;
    if (err != NULL) {
        p->done(err, false, p->data);
        return;
    }
    __atomic_add_fetch(&purged[p->kind], (uint64_t)n, __ATOMIC_RELAXED);
    p->total += n;
    p->batches++;
    if (n < p->s->purge_batch_size || p->batches >= p->s->purge_max_batches) {
        p->kind++;
        p->batches = 0;
    }
    purge_next(p);
}

static void purge_next(purge_t *p)
{
    if (sq_upkeep_purge_kinds[p->kind] == NULL) {
        if (p->total > 0)
            sq_log(SQ_LOG_INFO, "jobs", "purge: %ld row(s) deleted", p->total);
        p->done(NULL, false, p->data);
        return;
    }
    const int ages[KINDS] = {p->s->event_retention_s, p->s->delivery_attempt_retention_s, p->s->job_retention_s,
                             p->s->notification_retention_s, p->s->price_change_retention_s, p->s->cart_retention_s};
    /* each batch is its own statement, so its own short transaction: locks last one batch */
    sq_upkeep_purge_batch(p->cx, sq_upkeep_purge_kinds[p->kind], ages[p->kind], p->s->purge_batch_size, on_batch, p);
}

static void purge(sq_ctx_t *cx, const sq_job_row_t *job, sq_job_done_cb done, void *data)
{
    purge_t *p = SQ_NEW(cx->arena, purge_t);
    *p = (purge_t){.cx = cx, .s = job->settings, .done = done, .data = data};
    purge_next(p);
}

void sq_upkeep_register_jobs(void)
{
    sq_jobs_register(SQ_UPKEEP_MONITOR_KIND, monitor);
    sq_jobs_register(SQ_UPKEEP_PURGE_KIND, purge);
}
