/* jobs_runner.c: the job runner. Thread 0 of every node materializes due schedules and claims due jobs of the kinds it
 * has handlers for under a lease (core/jobs.h), at most MAX_INFLIGHT at a time, runs each through its handler and
 * records the outcome: completed, retryable after an exponential backoff with jitter, or discarded after
 * max_attempts. Like the dispatcher, it steps again at once while steps find work, is woken by NOTIFY souq 'jobs'
 * (new due jobs, manual retries) and polls every jobs_poll_ms (schedules, retries coming due, expired leases of a
 * dead node). While jobs run, their leases are renewed every third of jobs_lease_ms, so a step that waits long (a
 * plugin's background call may take minutes) never loses its job to another runner; a dead node's leases still run
 * out. Nothing here blocks the loop; any number of nodes share the work through SKIP LOCKED. */
#include "api/jobs_runner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/req.h"
#include "api/server.h"
#include "core/base/crypto.h"
#include "core/base/log.h"
#include "core/base/util.h"
#include "core/jobs.h"
#include "core/upkeep.h"

#define MAX_INFLIGHT 16
#define STATS_EVERY_US 5000000

struct sq_jobs_runner {
    sq_thread_t *t;
    char node[96];
    bool stepping, again, more_due;
    bool registered, registering; /* the built-in schedules */
    bool register_failed;
    int registering_n; /* upserts in flight */
    int inflight;
    struct run *running[MAX_INFLIGHT]; /* the jobs being run, whose leases the runner renews */
    int nrunning;
    bool renewing;
    int64_t next_step, next_stats, next_register, next_renew;
    bool stats_running;
    sq_jobs_settings_t settings;
};

/* process-wide figures for /metrics (written by thread 0, read by any thread) */
static struct {
    int64_t by_state[6], oldest_due_ms;
    uint64_t completed, failed, discarded, lost;
} g;

typedef struct {
    struct sq_jobs_runner *r;
    sq_ctx_t cx;
    int room;
} step_t;

typedef struct run {
    struct sq_jobs_runner *r;
    sq_ctx_t cx;
    sq_job_row_t *job;
} run_t;

static void step(struct sq_jobs_runner *r);

/* ---- one job -------------------------------------------------------------------------------------------------- */

static void on_recorded(const char *state, const sq_err_t *err, void *data)
{
    run_t *j = data;
    struct sq_jobs_runner *r = j->r;
    if (err != NULL)
        sq_log(SQ_LOG_WARN, "jobs", "recording job %s failed: %s (%s); its lease will expire and it runs again", j->job->id,
               err->detail, err->internal);
    else if (state == NULL)
        __atomic_add_fetch(&g.lost, 1, __ATOMIC_RELAXED);
    else if (strcmp(state, "discarded") == 0)
        __atomic_add_fetch(&g.discarded, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < r->nrunning; i++)
        if (r->running[i] == j) {
            r->running[i] = r->running[--r->nrunning];
            break;
        }
    r->inflight--;
    sq_arena_unref(j->cx.arena);
    if ((r->again || (r->more_due && r->inflight <= MAX_INFLIGHT / 2)) && !r->t->draining)
        step(r);
}

static void on_job_done(const sq_err_t *err, bool discard, void *data)
{
    run_t *j = data;
    struct sq_jobs_runner *r = j->r;
    const sq_config_t *cfg = r->t->rt->cfg;
    int64_t retry_ms = 0;
    const char *error = NULL;
    if (err == NULL) {
        __atomic_add_fetch(&g.completed, 1, __ATOMIC_RELAXED);
    } else {
        __atomic_add_fetch(&g.failed, 1, __ATOMIC_RELAXED);
        /* a copy: err may live on the handler's stack, and the statement is sent after this returns */
        error = sq_arena_strdup(j->cx.arena, err->detail[0] != '\0' ? err->detail : sq_err_slug(err->code));
        uint32_t rnd;
        sq_random_bytes(&rnd, sizeof(rnd));
        retry_ms = sq_job_backoff_ms(j->job->attempt, cfg->job_retry_base_ms, cfg->job_retry_max_ms, rnd);
        sq_log(SQ_LOG_INFO, "jobs", "job %s (%s) attempt %d/%d failed: %s (%s)", j->job->id, j->job->kind, j->job->attempt,
               j->job->max_attempts, error, err->internal);
        int64_t due = sq_mono_us() + retry_ms * 1000;
        if (due < r->next_step)
            r->next_step = due;
    }
    sq_job_finish(&j->cx, j->job, r->node, error, retry_ms, discard, on_recorded, j);
}

static void run(run_t *j)
{
    sq_job_fn fn = sq_jobs_handler(j->job->kind);
    if (SQ_NEVER(fn == NULL)) { /* claimed only for the kinds we have */
        sq_err_t e = {0};
        sq_err_set(&e, SQ_E_INTERNAL, "no handler for this kind");
        on_job_done(&e, false, j);
        return;
    }
    fn(&j->cx, j->job, on_job_done, j);
}

/* ---- the step ---------------------------------------------------------------------------------------------------- */

static void step_done(step_t *s, bool more)
{
    struct sq_jobs_runner *r = s->r;
    r->stepping = false;
    sq_arena_unref(s->cx.arena);
    int64_t now = sq_mono_us(), poll = (int64_t)r->t->rt->cfg->jobs_poll_ms * 1000;
    if (more || r->again) {
        r->again = false;
        r->next_step = now;
        if (r->inflight < MAX_INFLIGHT && !r->t->draining)
            step(r);
        return;
    }
    if (r->next_step <= now || r->next_step > now + poll)
        r->next_step = now + poll;
}

static void on_step(sq_job_row_t *list, int n, const sq_err_t *err, void *data)
{
    step_t *s = data;
    struct sq_jobs_runner *r = s->r;
    if (err != NULL) {
        sq_log(SQ_LOG_WARN, "jobs", "job step failed: %s (%s)", err->detail, err->internal);
        step_done(s, false);
        return;
    }
    r->more_due = n > 0 && n == s->room;
    for (int i = 0; i < n; i++) {
        /* each job gets its own arena: a handler's memory goes when it ends */
        sq_arena_t *a = sq_arena_new();
        run_t *j = SQ_NEW(a, run_t);
        j->r = r;
        sq_thread_ctx(r->t, &j->cx, a);
        sq_job_row_t *job = SQ_NEW(a, sq_job_row_t);
        job->id = sq_arena_strdup(a, list[i].id);
        job->kind = sq_arena_strdup(a, list[i].kind);
        job->payload = sq_json_own(a, json_deep_copy(list[i].payload));
        job->attempt = list[i].attempt;
        job->max_attempts = list[i].max_attempts;
        job->settings = &r->settings;
        j->job = job;
        r->inflight++;
        if (r->nrunning == 0)
            r->next_renew = sq_mono_us() + (int64_t)r->t->rt->cfg->jobs_lease_ms * 1000 / 3;
        if (!SQ_NEVER(r->nrunning >= MAX_INFLIGHT)) /* (a step claims at most the room left) */
            r->running[r->nrunning++] = j;
        run(j);
    }
    step_done(s, n > 0 && r->inflight < MAX_INFLIGHT);
}

static void step(struct sq_jobs_runner *r)
{
    if (r->stepping) {
        r->again = true;
        return;
    }
    if (sq_db_state(r->t->db) != SQ_DB_READY)
        return;
    const sq_config_t *cfg = r->t->rt->cfg;
    r->settings.abandoned_cart_after_s = cfg->abandoned_cart_after_s;
    r->settings.abandoned_cart_max_reminders = cfg->abandoned_cart_max_reminders;
    r->settings.abandoned_cart_spacing_s = cfg->abandoned_cart_spacing_s;
    r->settings.abandoned_cart_discount_bp = cfg->abandoned_cart_discount_bp;
    r->settings.abandoned_cart_discount_from = cfg->abandoned_cart_discount_from;
    r->settings.abandoned_cart_discount_ttl_s = cfg->abandoned_cart_discount_ttl_s;
    r->settings.payment_failure_window_s = cfg->payment_failure_window_s;
    r->settings.payment_failure_min_attempts = cfg->payment_failure_min_attempts;
    r->settings.payment_failure_alert_bp = cfg->payment_failure_threshold_pct * 100;
    r->settings.payment_failure_recover_bp = cfg->payment_failure_recover_pct * 100;
    r->settings.event_retention_s = cfg->event_retention_s;
    r->settings.delivery_attempt_retention_s = cfg->delivery_attempt_retention_s;
    r->settings.job_retention_s = cfg->job_retention_s;
    r->settings.notification_retention_s = cfg->notification_retention_s;
    r->settings.price_change_retention_s = cfg->price_change_retention_s;
    r->settings.cart_retention_s = cfg->cart_retention_s;
    r->settings.purge_batch_size = cfg->purge_batch_size;
    r->settings.purge_max_batches = cfg->purge_max_batches;
    r->settings.http_connect_timeout_ms = cfg->webhook_connect_timeout_ms;
    r->settings.http_timeout_ms = cfg->webhook_timeout_ms;
    r->stepping = true;
    r->again = false;
    sq_arena_t *a = sq_arena_new();
    step_t *s = SQ_NEW(a, step_t);
    s->r = r;
    sq_thread_ctx(r->t, &s->cx, a);
    s->room = MAX_INFLIGHT - r->inflight;
    sq_jobs_step(&s->cx, r->node, sq_jobs_kinds(), s->room, cfg->jobs_lease_ms, on_step, s);
}

/* ---- built-in schedules ------------------------------------------------------------------------------------------ */

static void on_registered(const sq_err_t *err, void *data)
{
    step_t *s = data;
    struct sq_jobs_runner *r = s->r;
    if (err != NULL) {
        sq_log(SQ_LOG_WARN, "jobs", "registering the built-in schedules failed: %s (%s); trying again", err->detail, err->internal);
        r->register_failed = true;
    }
    if (--r->registering_n > 0)
        return;
    r->registering = false;
    r->registered = !r->register_failed;
    sq_arena_unref(s->cx.arena);
}

static void register_schedules(struct sq_jobs_runner *r)
{
    const sq_config_t *cfg = r->t->rt->cfg;
    struct {
        const char *id, *kind, *spec;
        bool enabled;
    } builtins[] = {
        {"abandoned_carts", "abandoned_carts.scan", cfg->abandoned_cart_schedule,
         cfg->abandoned_carts && cfg->abandoned_cart_max_reminders > 0},
        {"payment_monitor", SQ_UPKEEP_MONITOR_KIND, cfg->payment_monitor_schedule, cfg->payment_monitor},
        {"purge", SQ_UPKEEP_PURGE_KIND, cfg->purge_schedule, cfg->purge},
    };
    sq_arena_t *a = sq_arena_new();
    step_t *s = SQ_NEW(a, step_t);
    s->r = r;
    sq_thread_ctx(r->t, &s->cx, a);
    enum { N = sizeof(builtins) / sizeof(builtins[0]) };
    sq_schedule_spec_t ps[N];
    bool ok[N];
    r->registering = true;
    r->register_failed = false;
    r->registering_n = 0;
    for (size_t i = 0; i < N; i++) {
        const char *why;
        ok[i] = !SQ_NEVER(sq_schedule_parse(builtins[i].spec, &ps[i], &why) != 0); /* checked at load */
        r->registering_n += ok[i];
    }
    /* counted before any is sent: a callback that comes at once must not see the count reach 0 early */
    int pending = r->registering_n;
    for (size_t i = 0; i < N; i++)
        if (ok[i])
            sq_job_schedule_upsert(&s->cx, builtins[i].id, builtins[i].kind, builtins[i].spec, &ps[i], builtins[i].enabled, 1,
                                   on_registered, s);
    if (pending == 0) {
        r->registering = false;
        r->registered = true;
        sq_arena_unref(a);
    }
}

/* ---- stats -------------------------------------------------------------------------------------------------------- */

static void on_stats(const sq_jobs_stats_t *st, const sq_err_t *err, void *data)
{
    step_t *s = data;
    s->r->stats_running = false;
    if (err == NULL) {
        for (int i = 0; i < 6; i++)
            __atomic_store_n(&g.by_state[i], st->by_state[i], __ATOMIC_RELAXED);
        __atomic_store_n(&g.oldest_due_ms, (int64_t)(st->oldest_due_age_s * 1000), __ATOMIC_RELAXED);
    }
    sq_arena_unref(s->cx.arena);
}

static void stats(struct sq_jobs_runner *r)
{
    sq_arena_t *a = sq_arena_new();
    step_t *s = SQ_NEW(a, step_t);
    s->r = r;
    sq_thread_ctx(r->t, &s->cx, a);
    r->stats_running = true;
    sq_jobs_stats(&s->cx, on_stats, s);
}

/* ---- lease renewal ------------------------------------------------------------------------------------------------ */

typedef struct {
    struct sq_jobs_runner *r;
    sq_ctx_t cx;
    int n; /* jobs renewed */
} renew_t;

static void on_renewed(const sq_err_t *err, void *data)
{
    renew_t *s = data;
    if (err != NULL) /* the next renewal tries again, a third of a lease later */
        sq_log(SQ_LOG_WARN, "jobs", "renewing the leases of %d running job(s) failed: %s (%s)", s->n, err->detail,
               err->internal);
    s->r->renewing = false;
    sq_arena_unref(s->cx.arena);
}

static void renew(struct sq_jobs_runner *r, int64_t now)
{
    const sq_config_t *cfg = r->t->rt->cfg;
    r->next_renew = now + (int64_t)cfg->jobs_lease_ms * 1000 / 3;
    r->renewing = true;
    sq_arena_t *a = sq_arena_new();
    renew_t *s = SQ_NEW(a, renew_t);
    s->r = r;
    s->n = r->nrunning;
    sq_thread_ctx(r->t, &s->cx, a);
    const char **ids = sq_arena_alloc(a, sizeof(char *) * (size_t)r->nrunning);
    for (int i = 0; i < r->nrunning; i++)
        ids[i] = sq_arena_strdup(a, r->running[i]->job->id);
    sq_jobs_renew(&s->cx, r->node, ids, r->nrunning, cfg->jobs_lease_ms, on_renewed, s);
}

/* ---- entry points ------------------------------------------------------------------------------------------------ */

static struct sq_jobs_runner *get(sq_thread_t *t)
{
    if (t->jobs == NULL) {
        struct sq_jobs_runner *r = sq_xcalloc(1, sizeof(*r));
        r->t = t;
        snprintf(r->node, sizeof(r->node), "%s", sq_node_id());
        t->jobs = r;
    }
    return t->jobs;
}

void sq_jobs_runner_tick(sq_thread_t *t, int64_t now)
{
    if (!t->rt->cfg->jobs_run)
        return;
    struct sq_jobs_runner *r = get(t);
    if (sq_db_state(t->db) != SQ_DB_READY)
        return;
    if (r->nrunning > 0 && !r->renewing && now >= r->next_renew) /* (draining too: the jobs still running keep theirs) */
        renew(r, now);
    if (t->draining)
        return;
    if (!r->registered) {
        if (!r->registering && now >= r->next_register) {
            r->next_register = now + 1000000;
            register_schedules(r);
        }
        return; /* the first step comes after the schedules are in place */
    }
    if (!r->stats_running && now >= r->next_stats) {
        r->next_stats = now + STATS_EVERY_US;
        stats(r);
    }
    if (now >= r->next_step && r->inflight < MAX_INFLIGHT)
        step(r);
}

void sq_jobs_runner_wake(sq_thread_t *t)
{
    if (!t->rt->cfg->jobs_run || t->draining)
        return;
    struct sq_jobs_runner *r = get(t);
    if (!r->registered)
        return;
    if (r->inflight < MAX_INFLIGHT)
        step(r);
    else
        r->again = true;
}

bool sq_jobs_runner_busy(sq_thread_t *t)
{
    struct sq_jobs_runner *r = t->jobs;
    return r != NULL && (r->stepping || r->inflight > 0 || r->stats_running || r->registering);
}

char *sq_jobs_runner_metrics(sq_arena_t *a)
{
#define L(x) (long long)__atomic_load_n(&g.x, __ATOMIC_RELAXED)
#define U(x) (unsigned long long)__atomic_load_n(&g.x, __ATOMIC_RELAXED)
    return sq_arena_printf(
        a,
        "# HELP souq_jobs Jobs by state (the whole database, refreshed every 5 s).\n"
        "# TYPE souq_jobs gauge\n"
        "souq_jobs{state=\"scheduled\"} %lld\nsouq_jobs{state=\"running\"} %lld\nsouq_jobs{state=\"retryable\"} %lld\n"
        "souq_jobs{state=\"completed\"} %lld\nsouq_jobs{state=\"discarded\"} %lld\nsouq_jobs{state=\"canceled\"} %lld\n"
        "# HELP souq_jobs_lag_seconds How late the most overdue scheduled or retryable job is.\n"
        "# TYPE souq_jobs_lag_seconds gauge\nsouq_jobs_lag_seconds %.3f\n"
        "# HELP souq_job_attempts_total Job attempts this node ran, by outcome.\n"
        "# TYPE souq_job_attempts_total counter\n"
        "souq_job_attempts_total{outcome=\"completed\"} %llu\nsouq_job_attempts_total{outcome=\"failed\"} %llu\n"
        "# HELP souq_jobs_discarded_total Jobs this node gave up after their last attempt (dead letters).\n"
        "# TYPE souq_jobs_discarded_total counter\nsouq_jobs_discarded_total %llu\n"
        "# HELP souq_job_leases_lost_total Attempts whose lease had passed to another node (or whose job was canceled) "
        "before they were recorded.\n"
        "# TYPE souq_job_leases_lost_total counter\nsouq_job_leases_lost_total %llu\n",
        L(by_state[0]), L(by_state[1]), L(by_state[2]), L(by_state[3]), L(by_state[4]), L(by_state[5]),
        (double)L(oldest_due_ms) / 1000.0, U(completed), U(failed), U(discarded), U(lost));
#undef L
#undef U
}
