/* jobs.c: the rules of durable jobs (backoff, schedule specs), the handler table and the built-in handlers. */
#include "core/jobs.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/log.h"
#include "core/base/util.h"
#include "core/upkeep.h"

int64_t sq_job_backoff_ms(int failed_attempts, int64_t base_ms, int64_t cap_ms, uint32_t rnd)
{
    if (failed_attempts < 1)
        failed_attempts = 1;
    if (base_ms < 1)
        base_ms = 1;
    int64_t d = base_ms;
    for (int i = 1; i < failed_attempts && d < cap_ms; i++)
        d *= 2;
    if (d > cap_ms)
        d = cap_ms;
    /* +-10 %: rnd spread over [-d/10, +d/10] */
    int64_t span = d / 5;
    int64_t jitter = span > 0 ? (int64_t)(rnd % (uint32_t)(span + 1)) - span / 2 : 0;
    d += jitter;
    return d < 1 ? 1 : d;
}

int sq_schedule_parse(const char *spec, sq_schedule_spec_t *out, const char **why)
{
    out->every_s = -1;
    out->daily_min = -1;
    if (spec == NULL || strlen(spec) > 64) {
        *why = "must be at most 64 characters";
        return -1;
    }
    int hh, mm, n, used = 0;
    char unit[16];
    if (sscanf(spec, "daily at %2d:%2d%n", &hh, &mm, &used) == 2 && spec[used] == '\0' && used == 14) {
        if (hh < 0 || hh > 23 || mm < 0 || mm > 59) {
            *why = "daily at HH:MM needs 00:00 to 23:59";
            return -1;
        }
        out->daily_min = hh * 60 + mm;
        return 0;
    }
    if (sscanf(spec, "every %9d %15[a-z]%n", &n, unit, &used) == 2 && spec[used] == '\0' && isdigit((unsigned char)spec[6])) {
        int64_t mul = 0;
        if (strcmp(unit, "second") == 0 || strcmp(unit, "seconds") == 0)
            mul = 1;
        else if (strcmp(unit, "minute") == 0 || strcmp(unit, "minutes") == 0)
            mul = 60;
        else if (strcmp(unit, "hour") == 0 || strcmp(unit, "hours") == 0)
            mul = 3600;
        if (mul == 0) {
            *why = "the unit is seconds, minutes or hours";
            return -1;
        }
        if (n < 1 || (int64_t)n * mul > 366LL * 86400) {
            *why = "the period is 1 second to 366 days";
            return -1;
        }
        out->every_s = (int)(n * mul);
        return 0;
    }
    *why = "use \"every N seconds|minutes|hours\" or \"daily at HH:MM\" (UTC)";
    return -1;
}

/* ---- the handler table ------------------------------------------------------------------------------------------ */

#define MAX_KINDS 64
static sq_job_handler_t handlers[MAX_KINDS];
static const char *kinds[MAX_KINDS + 1];
static int nhandlers;

void sq_jobs_register(const char *kind, sq_job_fn run)
{
    for (int i = 0; i < nhandlers; i++)
        if (strcmp(handlers[i].kind, kind) == 0) {
            handlers[i].run = run;
            return;
        }
    if (SQ_NEVER(nhandlers >= MAX_KINDS))
        return;
    handlers[nhandlers] = (sq_job_handler_t){sq_xstrdup(kind), run};
    kinds[nhandlers] = handlers[nhandlers].kind;
    nhandlers++;
    kinds[nhandlers] = NULL;
}

sq_job_fn sq_jobs_handler(const char *kind)
{
    for (int i = 0; i < nhandlers; i++)
        if (strcmp(handlers[i].kind, kind) == 0)
            return handlers[i].run;
    return NULL;
}

const char *const *sq_jobs_kinds(void)
{
    return kinds;
}

/* ---- built-in handlers ------------------------------------------------------------------------------------------ */

#define ABANDONED_BATCH 1000

typedef struct {
    sq_job_done_cb done;
    void *data;
} wrap_t;

static void on_abandoned(long n, const sq_err_t *err, void *data)
{
    wrap_t *w = data;
    if (err == NULL && n > 0)
        sq_log(SQ_LOG_INFO, "jobs", "abandoned carts: %ld reminder(s) sent", n);
    w->done(err, false, w->data);
}

static void abandoned_scan(sq_ctx_t *cx, const sq_job_row_t *job, sq_job_done_cb done, void *data)
{
    wrap_t *w = SQ_NEW(cx->arena, wrap_t);
    w->done = done;
    w->data = data;
    sq_abandoned_carts_run(cx, job->settings, ABANDONED_BATCH, on_abandoned, w);
}

/* test.probe: fails its first fail_attempts attempts; sleeps sleep_ms on its first sleep_attempts attempts */
typedef struct {
    sq_job_done_cb done;
    void *data;
    bool fail;
    int attempt;
} probe_t;

static void probe_end(void *data)
{
    probe_t *p = data;
    if (p->fail) {
        sq_err_t e = {0};
        sq_err_set(&e, SQ_E_INTERNAL, "probe failure on attempt %d", p->attempt);
        p->done(&e, false, p->data);
        return;
    }
    p->done(NULL, false, p->data);
}

static int payload_int(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (int)json_integer_value(v) : 0;
}

static void probe(sq_ctx_t *cx, const sq_job_row_t *job, sq_job_done_cb done, void *data)
{
    probe_t *p = SQ_NEW(cx->arena, probe_t);
    p->done = done;
    p->data = data;
    p->attempt = job->attempt;
    p->fail = job->attempt <= payload_int(job->payload, "fail_attempts");
    int sleep_ms = payload_int(job->payload, "sleep_ms");
    if (sleep_ms > 0 && job->attempt <= payload_int(job->payload, "sleep_attempts") && cx->after != NULL) {
        cx->after(cx, sleep_ms, probe_end, p);
        return;
    }
    probe_end(p);
}

void sq_jobs_register_builtins(bool test_kinds)
{
    sq_jobs_register("abandoned_carts.scan", abandoned_scan);
    sq_upkeep_register_jobs();
    if (test_kinds)
        sq_jobs_register("test.probe", probe);
}
