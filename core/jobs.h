/* jobs.h: durable jobs. A job is a row (kind, payload, run_at) claimed under a lease by thread 0 of some node and run
 * by the handler registered for its kind; failures retry with exponential backoff and jitter until max_attempts,
 * then the job is discarded (the dead letter). Recurring work is a schedule materialized into one job per period.
 * The rules (backoff, schedule specs, the handler table) are here and unit-tested; the SQL is in jobs_db.c and
 * migrations/0028_jobs.sql; the runner is api/jobs_runner.c. */
#ifndef SQ_JOBS_H
#define SQ_JOBS_H

#include "core/base/json.h"
#include "core/ctx.h"
#include "core/resource.h"

/* ---- rules --------------------------------------------------------------------------------------------------- */

/** The delay before retrying a job after its failed_attempts-th failure (>= 1): base_ms * 2^(failed_attempts-1),
 * at most cap_ms, with +-10 % jitter from rnd (any 32-bit random value). */
int64_t sq_job_backoff_ms(int failed_attempts, int64_t base_ms, int64_t cap_ms, uint32_t rnd);

/** A parsed schedule spec: exactly one of every_s (> 0) and daily_min (0..1439, minutes after midnight UTC) is set;
 * the other is -1. */
typedef struct {
    int every_s;
    int daily_min;
} sq_schedule_spec_t;

/** Parses "every N seconds|minutes|hours" (N >= 1, singular units too, at most 366 days) or "daily at HH:MM" (UTC).
 * 0, or -1 with why (a static string) set. */
int sq_schedule_parse(const char *spec, sq_schedule_spec_t *out, const char **why);

/* ---- handlers ------------------------------------------------------------------------------------------------ */

/** Settings handlers read (filled by the runner from the node's configuration). */
typedef struct {
    int abandoned_cart_after_s;       /* a cart unchanged this long is abandoned */
    int abandoned_cart_max_reminders; /* reminders per cart */
    int abandoned_cart_spacing_s;     /* at least this long between two reminders of a cart */
    int abandoned_cart_discount_bp;   /* a one-time discount code, basis points off the order (0: none) */
    int abandoned_cart_discount_from; /* in reminders from this number on */
    int abandoned_cart_discount_ttl_s; /* how long the code works */
    /* the payment-failure monitor and the purge (core/upkeep.h) */
    int payment_failure_window_s, payment_failure_min_attempts;
    int payment_failure_alert_bp, payment_failure_recover_bp; /* basis points of attempts */
    int event_retention_s, delivery_attempt_retention_s, job_retention_s;
    int notification_retention_s, price_change_retention_s, cart_retention_s;
    int purge_batch_size, purge_max_batches;
    /* outbound HTTP of job steps (automation's call_webhook): the webhook delivery timeouts, so the configuration can
     * check them against jobs_lease_ms (api/config.c); 0: 2000 and 10000 */
    int http_connect_timeout_ms, http_timeout_ms;
} sq_jobs_settings_t;

/** A job claimed for this node (strings in the job's arena). */
typedef struct {
    const char *id, *kind;
    json_t *payload; /* an object, owned by the arena */
    int attempt, max_attempts;
    const sq_jobs_settings_t *settings;
} sq_job_row_t;

/** How a handler ends: err NULL completes the job; an error retries it (or discards it when attempts are used
 * up); discard true gives up at once (a permanent error). err->detail becomes last_error. */
typedef void (*sq_job_done_cb)(const sq_err_t *err, bool discard, void *data);

/** A handler runs the job on the loop (asynchronously: SQL through cx->db, waits through cx->after) and calls
 * done exactly once. It must be idempotent (a job runs at least once) and finish well within the lease. */
typedef void (*sq_job_fn)(sq_ctx_t *cx, const sq_job_row_t *job, sq_job_done_cb done, void *data);

typedef struct {
    const char *kind;
    sq_job_fn run;
} sq_job_handler_t;

/** Registers a handler for kind (before the server starts its threads; plugins and automation add kinds here).
 * A later registration of the same kind replaces the earlier. */
void sq_jobs_register(const char *kind, sq_job_fn run);
/** The handler of kind, or NULL. */
sq_job_fn sq_jobs_handler(const char *kind);
/** The registered kinds, NULL-terminated (static storage). */
const char *const *sq_jobs_kinds(void);
/** Registers the built-in kinds: "abandoned_carts.scan", and with test_kinds the "test.probe" kind the API tests
 * drive (payload {"fail_attempts": n, "sleep_ms": ms, "sleep_attempts": n}: fails its first n attempts, sleeps ms on
 * its first sleep_attempts attempts). */
void sq_jobs_register_builtins(bool test_kinds);

/* ---- the runner's operations --------------------------------------------------------------------------------- */

typedef void (*sq_jobs_claim_cb)(sq_job_row_t *list, int n, const sq_err_t *err, void *data);
/** One step, one transaction: materializes due schedules, then claims up to limit due jobs of kinds for node,
 * leased for lease_ms. */
void sq_jobs_step(sq_ctx_t *cx, const char *node, const char *const *kinds, int limit, int lease_ms, sq_jobs_claim_cb cb,
                  void *data);
typedef void (*sq_job_state_cb)(const char *state, const sq_err_t *err, void *data);
/** Records an attempt's outcome (error NULL: completed); cb gets the new state, or NULL when the lease was lost
 * or the job was canceled meanwhile. */
void sq_job_finish(sq_ctx_t *cx, const sq_job_row_t *job, const char *node, const char *error, int64_t retry_ms, bool discard,
                   sq_job_state_cb cb, void *data);
/** Renews the leases of this node's running jobs ids[0..n): lease_ms from now (a job whose lease passed to another
 * node, or that was canceled, keeps its state: its attempt's outcome is then not recorded, as before). */
void sq_jobs_renew(sq_ctx_t *cx, const char *node, const char *const *ids, int n, int lease_ms, sq_done_cb cb, void *data);
/** Creates or updates a built-in schedule (id, kind, spec already parsed). */
void sq_job_schedule_upsert(sq_ctx_t *cx, const char *id, const char *kind, const char *spec, const sq_schedule_spec_t *ps,
                            bool enabled, int max_attempts, sq_done_cb cb, void *data);

/** Queue figures for /metrics. */
typedef struct {
    int64_t by_state[6];     /* scheduled, running, retryable, completed, discarded, canceled */
    double oldest_due_age_s; /* how late the most overdue scheduled or retryable job is (0 when none) */
} sq_jobs_stats_t;
extern const char *const sq_job_states[]; /* the six states, NULL-terminated, in by_state's order */
typedef void (*sq_jobs_stats_cb)(const sq_jobs_stats_t *stats, const sq_err_t *err, void *data);
void sq_jobs_stats(sq_ctx_t *cx, sq_jobs_stats_cb cb, void *data);

/* ---- admin ----------------------------------------------------------------------------------------------------- */

/** Jobs, newest first; state and kind filter (NULL: all). */
void sq_jobs_list(sq_ctx_t *cx, const sq_page_t *page, const char *state, const char *kind, sq_list_cb cb, void *data);
/** One job; SQ_E_NOT_FOUND when it does not exist. */
void sq_job_get(sq_ctx_t *cx, const char *id, sq_json_cb cb, void *data);
/** move "retry" or "cancel"; SQ_E_NOT_FOUND, or SQ_E_INVALID_STATE when the job's state does not allow it. */
void sq_job_move(sq_ctx_t *cx, const char *id, const char *move, sq_json_cb cb, void *data);
/** The abandoned-cart recovery report (reminded carts, of which completed after their first reminder, rate). */
void sq_abandoned_carts_report(sq_ctx_t *cx, sq_json_cb cb, void *data);

/** The abandoned-cart scan (the "abandoned_carts.scan" job): sends due reminders, at most limit; cb gets how many. */
typedef void (*sq_count_cb)(long n, const sq_err_t *err, void *data);
void sq_abandoned_carts_run(sq_ctx_t *cx, const sq_jobs_settings_t *s, int limit, sq_count_cb cb, void *data);

#endif
