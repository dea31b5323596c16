/* dispatcher.c: the event dispatcher. Thread 0 of every node fans due outbox events out into deliveries and
 * performs deliveries it claimed under a lease (core/events.h), at most MAX_INFLIGHT at a time. It steps again at once
 * while steps find work, so a steady stream of events needs no notification (only the first after a quiet spell
 * sends one: NOTIFY serializes commits in PostgreSQL). A step (fan-out and claim) is one transaction and one round
 * trip; an idle node costs one per events_poll_ms. It is woken by NOTIFY souq 'events' (new events and
 * deliveries), and polls every events_poll_ms as the fallback (a missed
 * notification, retries coming due, expired leases of a dead node). Nothing here blocks the loop: SQL through
 * the thread's pipelined connection, HTTP through sq_ctx_t.http. Any number of nodes share the work through
 * SKIP LOCKED; a delivery is performed at least once (a node that dies mid-delivery loses its lease). The attempts'
 * results are recorded in batches (record(): one statement for all that finished while the previous batch was being
 * recorded). */
#include "api/dispatcher.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/req.h"
#include "api/server.h"
#include "core/base/crypto.h"
#include "core/base/log.h"
#include "core/base/util.h"
#include "core/events.h"
#include "core/notify.h"
#include "plugins/host/notify.h"

#define FANOUT_BATCH 200
#define MAX_INFLIGHT 128
#define STATS_EVERY_US 5000000
#define MAX_RESPONSE_BYTES (256 * 1024)
#define FINISH_BATCH 256 /* attempts recorded per statement at most */
#define LINGER_MS 20     /* during a busy spell an idle dispatcher steps again this soon */

typedef struct job job_t;

struct sq_dispatcher {
    sq_thread_t *t;
    char node[96];
    bool stepping, again;
    bool more_due; /* the last claim was full: more deliveries may be due */
    int inflight;
    int64_t next_step; /* monotonic us */
    int64_t last_work; /* monotonic us: when a step last found work */
    bool lingering;    /* a step after LINGER_MS is scheduled */
    int64_t next_stats;
    bool stats_running;
    uint64_t synced_gen; /* the plugin registry generation whose subscriptions this node published */
    /* attempts done but not yet recorded: while one batch is being recorded, the next gathers (migration 0041) */
    job_t *done_head, **done_tail;
    int ndone;
    bool recording;
};

/* process-wide figures for /metrics (written by thread 0, read by any thread) */
static struct {
    int64_t events_pending, deliveries_pending, oldest_event_ms, oldest_due_ms;
    uint64_t fanned_out, ok, retried, failed, discarded, canceled, lost;
} g;

typedef struct {
    struct sq_dispatcher *d;
    sq_ctx_t cx;
    int room;     /* deliveries the step may claim */
    uint64_t gen; /* the registry generation being published */
} step_t;

struct job {
    struct sq_dispatcher *dp;
    sq_ctx_t cx;
    sq_delivery_t *d;
    int64_t started_unix_us, started_mono_us;
    sq_delivery_result_t result; /* the attempt, once done, waiting in the dispatcher's queue of results */
    job_t *next;
};

static void step(struct sq_dispatcher *d);

/* ---- one delivery ----------------------------------------------------------------------------------------- */

static void record(struct sq_dispatcher *d);

/* one attempt recorded (state NULL: the lease had passed to another node) */
static void finished(job_t *j, const char *state, const sq_err_t *err)
{
    if (err != NULL)
        sq_log(SQ_LOG_WARN, "events", "recording delivery %s failed: %s (%s); its lease will expire and it is retried", j->d->id,
               err->detail, err->internal);
    else if (state == NULL)
        __atomic_add_fetch(&g.lost, 1, __ATOMIC_RELAXED);
    else if (strcmp(state, "discarded") == 0)
        __atomic_add_fetch(&g.discarded, 1, __ATOMIC_RELAXED);
    else if (strcmp(state, "canceled") == 0)
        __atomic_add_fetch(&g.canceled, 1, __ATOMIC_RELAXED);
    j->dp->inflight--;
    sq_arena_unref(j->cx.arena);
}

typedef struct {
    struct sq_dispatcher *d;
    job_t **jobs;
} batch_t;

static void on_recorded(const char *const *states, int n, const sq_err_t *err, void *data)
{
    batch_t *b = data;
    struct sq_dispatcher *d = b->d;
    sq_arena_t *a = NULL;
    for (int i = 0; i < n; i++) {
        if (a == NULL) /* the batch lives in the arena of its first job, released last */
            a = b->jobs[0]->cx.arena, sq_arena_ref(a);
        finished(b->jobs[i], states != NULL ? states[i] : NULL, err);
    }
    if (a != NULL)
        sq_arena_unref(a);
    d->recording = false;
    record(d); /* draining too: what was performed is recorded */
    /* refill when half the slots are free and the last claim was full (or a notification came meanwhile) */
    if ((d->again || (d->more_due && d->inflight <= MAX_INFLIGHT / 2)) && !d->t->draining)
        step(d);
}

/* Records the attempts waiting in the queue, up to FINISH_BATCH, in one statement; at most one such statement is in
 * flight, so under load attempts that finish meanwhile are recorded together, and alone they are recorded at once. */
static void record(struct sq_dispatcher *d)
{
    if (d->recording || d->ndone == 0)
        return;
    d->recording = true;
    int n = d->ndone < FINISH_BATCH ? d->ndone : FINISH_BATCH;
    job_t *first = d->done_head;
    sq_arena_t *a = first->cx.arena;
    batch_t *b = SQ_NEW(a, batch_t);
    b->d = d;
    b->jobs = sq_arena_alloc(a, sizeof(job_t *) * (size_t)n);
    sq_delivery_result_t *res = sq_arena_alloc(a, sizeof(sq_delivery_result_t) * (size_t)n);
    for (int i = 0; i < n; i++) {
        job_t *j = d->done_head;
        d->done_head = j->next;
        b->jobs[i] = j;
        res[i] = j->result;
    }
    d->ndone -= n;
    if (d->done_head == NULL)
        d->done_tail = &d->done_head;
    sq_ctx_t cx;
    sq_thread_ctx(d->t, &cx, a);
    cx.db = sq_ctx_commit_db(&cx);
    sq_deliveries_finish(&cx, d->node, res, n, on_recorded, b);
}

static void finish(job_t *j, sq_delivery_outcome_t outcome, int status, const char *error, const char *response)
{
    struct sq_dispatcher *d = j->dp;
    const sq_config_t *cfg = d->t->rt->cfg;
    int64_t retry_ms = 0;
    if (outcome == SQ_DELIVERY_RETRY) {
        uint32_t rnd;
        sq_random_bytes(&rnd, sizeof(rnd));
        retry_ms = sq_webhook_retry_delay_ms(j->d->attempt, cfg->webhook_retry_base_ms, rnd);
        /* wake up for it when it comes due before the next poll */
        int64_t due = sq_mono_us() + retry_ms * 1000;
        if (due < d->next_step)
            d->next_step = due;
    }
    switch (outcome) {
    case SQ_DELIVERY_OK:
        __atomic_add_fetch(&g.ok, 1, __ATOMIC_RELAXED);
        break;
    case SQ_DELIVERY_RETRY:
        __atomic_add_fetch(&g.retried, 1, __ATOMIC_RELAXED);
        break;
    case SQ_DELIVERY_FAIL:
        __atomic_add_fetch(&g.failed, 1, __ATOMIC_RELAXED);
        break;
    case SQ_DELIVERY_CANCEL:
        break;
    }
    j->result = (sq_delivery_result_t){.d = j->d,
                                       .outcome = outcome,
                                       .status = status,
                                       .error = error,
                                       .started_unix_us = j->started_unix_us,
                                       .duration_ms = (int)((sq_mono_us() - j->started_mono_us) / 1000),
                                       .response = response,
                                       .retry_ms = retry_ms};
    j->next = NULL;
    *d->done_tail = j;
    d->done_tail = &j->next;
    d->ndone++;
    record(d);
}

static void on_http(const sq_http_response_t *res, void *data)
{
    job_t *j = data;
    sq_delivery_outcome_t o = sq_webhook_outcome(res);
    const char *error = NULL;
    if (res->error != SQ_HTTP_OK)
        error = sq_http_error_name(res->error);
    else if (o != SQ_DELIVERY_OK)
        error = sq_arena_printf(j->cx.arena, "http_%d", res->status);
    if (o != SQ_DELIVERY_OK)
        sq_log(SQ_LOG_INFO, "events", "delivery %s of %s to %s attempt %d: %s (%s)", j->d->id, j->d->event_id, j->d->target_id,
               j->d->attempt, error, res->error_detail);
    finish(j, o, res->error == SQ_HTTP_OK ? res->status : 0, error, res->error == SQ_HTTP_OK ? res->body : NULL);
}

/* Plugin subscribers and order notifications (migration 0029) end here. */
static void on_target_done(sq_delivery_outcome_t outcome, const char *error, void *data)
{
    job_t *j = data;
    if (outcome != SQ_DELIVERY_OK)
        sq_log(SQ_LOG_INFO, "events", "delivery %s of %s to %s %s attempt %d: %s (%s)", j->d->id, j->d->event_id, j->d->target_kind,
               j->d->target_id, j->d->attempt, sq_delivery_outcome_name(outcome), error ? error : "");
    finish(j, outcome, 0, error, NULL);
}

/* Webhook targets: POST the event body, signed. Plugin subscribers call the plugin's on_event; notification targets
 * send an order notification (core/notify.h); automation rules will be a further kind here, ending in finish(). */
static void perform(job_t *j)
{
    sq_delivery_t *dl = j->d;
    const sq_config_t *cfg = j->dp->t->rt->cfg;
    j->started_unix_us = sq_now_us();
    j->started_mono_us = sq_mono_us();
    if (strcmp(dl->target_kind, "plugin") == 0) {
        sq_plugin_deliver_event(&j->cx, dl->target_id, dl->body, on_target_done, j);
        return;
    }
    if (strcmp(dl->target_kind, "notification") == 0) {
        sq_notify_settings_t ns = {cfg->notification_max_per_hour, cfg->password_reset_url};
        sq_notification_deliver(&j->cx, dl->event_id, dl->target_id, dl->attempt >= dl->max_attempts, &ns, on_target_done, j);
        return;
    }
    bool explicit = strcmp(dl->trigger, "event") != 0; /* replays and tests reach a disabled endpoint too */
    if (strcmp(dl->target_kind, "webhook") != 0 || dl->url == NULL || (!dl->enabled && !explicit)) {
        finish(j, SQ_DELIVERY_CANCEL, 0, dl->url == NULL ? "endpoint deleted" : "endpoint disabled", NULL);
        return;
    }
    sq_arena_t *a = j->cx.arena;
    size_t len = strlen(dl->body);
    sq_http_header_t *h = sq_arena_alloc(a, sizeof(sq_http_header_t) * 6);
    h[0] = (sq_http_header_t){"Content-Type", "application/json"};
    h[1] = (sq_http_header_t){"Souq-Event-Id", dl->event_id};
    h[2] = (sq_http_header_t){"Souq-Event-Type", dl->event_type};
    h[3] = (sq_http_header_t){"Souq-Delivery-Id", dl->id};
    h[4] = (sq_http_header_t){"Souq-Delivery-Attempt", sq_arena_printf(a, "%d", dl->attempt)};
    h[5] = (sq_http_header_t){
        "Souq-Signature", sq_webhook_signature(a, j->started_unix_us / 1000000, dl->body, len, dl->secret, dl->previous_secret)};
    sq_http_request_t rq = {.method = "POST",
                            .url = dl->url,
                            .headers = h,
                            .nheaders = 6,
                            .body = dl->body,
                            .body_len = len,
                            .connect_timeout_ms = cfg->webhook_connect_timeout_ms,
                            .total_timeout_ms = cfg->webhook_timeout_ms,
                            .max_response_bytes = MAX_RESPONSE_BYTES};
    sq_ctx_http(&j->cx, &rq, on_http, j);
}

/* ---- the step: fan out, then claim, in one batch ------------------------------------------------------------------------ */

static void on_linger(void *data)
{
    struct sq_dispatcher *d = data;
    d->lingering = false;
    if (!d->t->draining && d->inflight < MAX_INFLIGHT)
        step(d);
}

static void step_done(step_t *s, bool more)
{
    struct sq_dispatcher *d = s->d;
    d->stepping = false;
    int64_t now = sq_mono_us(), poll = (int64_t)d->t->rt->cfg->events_poll_ms * 1000;
    if (more || d->again) {
        sq_arena_unref(s->cx.arena);
        d->again = false;
        d->next_step = now; /* at the next tick, or sooner when a delivery finishes */
        if (d->inflight < MAX_INFLIGHT && !d->t->draining)
            step(d);
        return;
    }
    /* During a busy spell (work found within the last poll interval) look again after LINGER_MS: an event whose
     * transaction inserted it while an older one was waiting sent no NOTIFY (0023), and when it commits after the
     * step that took the older one, no step may be coming before the poll (it was the p99 of 1 s of the webhook
     * bench). An empty step costs one round trip. */
    if (now - d->last_work < poll && !d->lingering && !d->t->draining && s->cx.after != NULL) {
        d->lingering = true;
        s->cx.after(&s->cx, LINGER_MS, on_linger, d);
    }
    sq_arena_unref(s->cx.arena);
    if (d->next_step <= now || d->next_step > now + poll)
        d->next_step = now + poll;
}

static void on_step(long fanned, sq_delivery_t *list, int n, const sq_err_t *err, void *data)
{
    step_t *s = data;
    struct sq_dispatcher *d = s->d;
    if (err != NULL) {
        sq_log(SQ_LOG_WARN, "events", "dispatch step failed: %s (%s)", err->detail, err->internal);
        step_done(s, false);
        return;
    }
    __atomic_add_fetch(&g.fanned_out, (uint64_t)fanned, __ATOMIC_RELAXED);
    d->more_due = n > 0 && n == s->room;
    if (fanned > 0 || n > 0)
        d->last_work = sq_mono_us();
    for (int i = 0; i < n; i++) {
        job_t *j = SQ_NEW(s->cx.arena, job_t);
        j->dp = d;
        j->d = &list[i];
        sq_thread_ctx(d->t, &j->cx, s->cx.arena);
        j->cx.db = sq_ctx_commit_db(&j->cx);
        sq_arena_ref(s->cx.arena);
        d->inflight++;
        perform(j);
    }
    /* while steps find work, step again at once: events that keep coming do not NOTIFY (migration 0023) */
    step_done(s, fanned > 0 || (n > 0 && d->inflight < MAX_INFLIGHT));
}

/* The plugin subscriptions of this node's registry are published (once per registry generation) before a step fans
 * events out, so a plugin loaded or enabled here receives the events that follow. */
static void on_synced(const sq_err_t *err, void *data)
{
    step_t *s = data;
    struct sq_dispatcher *d = s->d;
    if (err != NULL)
        sq_log(SQ_LOG_WARN, "events", "publishing plugin subscriptions failed: %s (%s); retried at the next step", err->detail,
               err->internal);
    else
        d->synced_gen = s->gen;
    const sq_config_t *cfg = d->t->rt->cfg;
    sq_events_step(&s->cx, FANOUT_BATCH, cfg->webhook_max_attempts, d->node, s->room, cfg->events_lease_ms, on_step, s);
}

static void step(struct sq_dispatcher *d)
{
    if (d->stepping) {
        d->again = true;
        return;
    }
    if (sq_db_state(d->t->db) != SQ_DB_READY)
        return;
    d->stepping = true;
    d->again = false;
    sq_arena_t *a = sq_arena_new();
    step_t *s = SQ_NEW(a, step_t);
    s->d = d;
    sq_thread_ctx(d->t, &s->cx, a);
    s->cx.db = sq_ctx_commit_db(&s->cx);
    const sq_config_t *cfg = d->t->rt->cfg;
    s->room = MAX_INFLIGHT - d->inflight;
    if (sq_plugin_registry_generation() != d->synced_gen) {
        const char *subs = sq_plugin_subscriptions_json(a, &s->gen);
        sq_plugin_subscriptions_sync(&s->cx, subs, d->node, on_synced, s);
        return;
    }
    sq_events_step(&s->cx, FANOUT_BATCH, cfg->webhook_max_attempts, d->node, s->room, cfg->events_lease_ms, on_step, s);
}

/* ---- stats ------------------------------------------------------------------------------------------------- */

static void on_stats(const sq_events_stats_t *st, const sq_err_t *err, void *data)
{
    step_t *s = data;
    s->d->stats_running = false;
    if (err == NULL) {
        __atomic_store_n(&g.events_pending, st->events_pending, __ATOMIC_RELAXED);
        __atomic_store_n(&g.deliveries_pending, st->deliveries_pending, __ATOMIC_RELAXED);
        __atomic_store_n(&g.oldest_event_ms, (int64_t)(st->oldest_event_age_s * 1000), __ATOMIC_RELAXED);
        __atomic_store_n(&g.oldest_due_ms, (int64_t)(st->oldest_due_age_s * 1000), __ATOMIC_RELAXED);
    }
    sq_arena_unref(s->cx.arena);
}

static void stats(struct sq_dispatcher *d)
{
    sq_arena_t *a = sq_arena_new();
    step_t *s = SQ_NEW(a, step_t);
    s->d = d;
    sq_thread_ctx(d->t, &s->cx, a);
    d->stats_running = true;
    sq_events_stats(&s->cx, on_stats, s);
}

/* ---- entry points ------------------------------------------------------------------------------------------ */

static struct sq_dispatcher *get(sq_thread_t *t)
{
    if (t->dispatcher == NULL) {
        struct sq_dispatcher *d = sq_xcalloc(1, sizeof(*d));
        d->t = t;
        d->done_tail = &d->done_head;
        snprintf(d->node, sizeof(d->node), "%s", sq_node_id());
        t->dispatcher = d;
    }
    return t->dispatcher;
}

void sq_dispatcher_tick(sq_thread_t *t, int64_t now)
{
    if (!t->rt->cfg->events_dispatch || t->draining)
        return;
    struct sq_dispatcher *d = get(t);
    if (sq_db_state(t->db) != SQ_DB_READY)
        return;
    if (!d->stats_running && now >= d->next_stats) {
        d->next_stats = now + STATS_EVERY_US;
        stats(d);
    }
    if (now >= d->next_step && d->inflight < MAX_INFLIGHT)
        step(d);
}

void sq_dispatcher_wake(sq_thread_t *t)
{
    if (!t->rt->cfg->events_dispatch || t->draining)
        return;
    struct sq_dispatcher *d = get(t);
    if (d->inflight < MAX_INFLIGHT)
        step(d);
    else
        d->again = true;
}

bool sq_dispatcher_busy(sq_thread_t *t)
{
    struct sq_dispatcher *d = t->dispatcher;
    return d != NULL && (d->stepping || d->inflight > 0 || d->stats_running || d->recording || d->lingering);
}

char *sq_dispatcher_metrics(sq_arena_t *a)
{
#define L(x) (long long)__atomic_load_n(&g.x, __ATOMIC_RELAXED)
#define U(x) (unsigned long long)__atomic_load_n(&g.x, __ATOMIC_RELAXED)
    return sq_arena_printf(
        a,
        "# HELP souq_events_queue_depth Outbox events not yet fanned out, and deliveries waiting, retrying or running.\n"
        "# TYPE souq_events_queue_depth gauge\n"
        "souq_events_queue_depth{queue=\"events\"} %lld\nsouq_events_queue_depth{queue=\"deliveries\"} %lld\n"
        "# HELP souq_events_lag_seconds Age of the oldest event not yet fanned out, and how late the most overdue delivery is.\n"
        "# TYPE souq_events_lag_seconds gauge\n"
        "souq_events_lag_seconds{queue=\"events\"} %.3f\nsouq_events_lag_seconds{queue=\"deliveries\"} %.3f\n"
        "# HELP souq_events_fanned_out_total Events this node fanned out into deliveries.\n"
        "# TYPE souq_events_fanned_out_total counter\nsouq_events_fanned_out_total %llu\n"
        "# HELP souq_event_delivery_attempts_total Delivery attempts this node made, by outcome.\n"
        "# TYPE souq_event_delivery_attempts_total counter\n"
        "souq_event_delivery_attempts_total{outcome=\"ok\"} %llu\nsouq_event_delivery_attempts_total{outcome=\"retry\"} %llu\n"
        "souq_event_delivery_attempts_total{outcome=\"fail\"} %llu\n"
        "# HELP souq_event_deliveries_discarded_total Deliveries given up (dead letters) and canceled (target gone or disabled).\n"
        "# TYPE souq_event_deliveries_discarded_total counter\n"
        "souq_event_deliveries_discarded_total{reason=\"failed\"} %llu\nsouq_event_deliveries_discarded_total{reason=\"canceled\"} "
        "%llu\n"
        "# HELP souq_event_delivery_leases_lost_total Attempts whose lease had passed to another node before they were recorded.\n"
        "# TYPE souq_event_delivery_leases_lost_total counter\nsouq_event_delivery_leases_lost_total %llu\n",
        L(events_pending), L(deliveries_pending), (double)L(oldest_event_ms) / 1000.0, (double)L(oldest_due_ms) / 1000.0,
        U(fanned_out), U(ok), U(retried), U(failed), U(discarded), U(canceled), U(lost));
#undef L
#undef U
}
