/* upkeep.h: two recurring jobs of issue 6. The payment-failure monitor ("payments.failure_monitor") computes each
 * payment provider's failure rate (declined or failed authorizations among finished ones) over a window and writes
 * payment.failure_rate_high once per spike (then nothing until payment.failure_rate_recovered); the purge
 * ("maintenance.purge") deletes fanned-out events, delivery attempts, finished jobs, finished order notifications
 * (0029), price ledger entries (0035) and carts never completed (0047) past their retention in small
 * batches, each its own short transaction with SKIP LOCKED, so it never holds long locks. Settings come from the
 * node's configuration through sq_jobs_settings_t; the SQL is in upkeep_db.c and migrations/0033. */
#ifndef SQ_UPKEEP_H
#define SQ_UPKEEP_H

#include "core/jobs.h"

#define SQ_UPKEEP_MONITOR_KIND "payments.failure_monitor"
#define SQ_UPKEEP_PURGE_KIND "maintenance.purge"

/** Registers both job kinds (from sq_jobs_register_builtins, before the threads start). */
void sq_upkeep_register_jobs(void);

/** One provider's figures as the monitor last computed them. */
typedef struct {
    char provider[64];
    int attempts, failures;
    bool alerting;
} sq_payment_health_t;

#define SQ_UPKEEP_MAX_PROVIDERS 32

/** Parses the monitor's JSON ([{provider, alerting, attempts, failures}, ...]) into out (at most max); returns how
 * many, or -1 when json is not such an array. Provider names with characters other than letters, digits, '_', '-',
 * '.', ':' are skipped (they become Prometheus label values). */
int sq_payment_health_parse(const char *json, sq_payment_health_t *out, int max);

/** The providers' figures as the table holds them now (any node's last run); cb gets the JSON array. */
void sq_payment_health_read(sq_ctx_t *cx, sq_json_cb cb, void *data);

/** Hook the monitor job calls with each run's figures (the metrics of the node that ran it update at once); set by
 * api/ before the threads start, may be NULL. */
extern void (*sq_payment_health_published)(const char *json);

/** One monitor run (souq_payment_monitor_run) with the node's settings; cb gets the providers' figures as JSON. */
void sq_upkeep_monitor_run(sq_ctx_t *cx, const sq_jobs_settings_t *s, sq_json_cb cb, void *data);
/** One purge batch of kind ("events", "attempts", "jobs", "notifications", "price_changes"): at most limit rows older
 * than age_s, one statement. */
typedef void (*sq_upkeep_count_cb)(long n, const sq_err_t *err, void *data);
void sq_upkeep_purge_batch(sq_ctx_t *cx, const char *kind, int age_s, int limit, sq_upkeep_count_cb cb, void *data);

/** Rows this process's purge runs deleted, by kind (index into sq_upkeep_purge_kinds), for /metrics. */
uint64_t sq_upkeep_purged(int kind);
extern const char *const sq_upkeep_purge_kinds[]; /* "events", "attempts", "jobs", "notifications", "price_changes", NULL */

#endif
