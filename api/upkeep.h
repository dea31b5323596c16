/* upkeep.h: the payment-failure figures and purge counters in /metrics (api/upkeep.c). */
#ifndef SQ_API_UPKEEP_H
#define SQ_API_UPKEEP_H

#include "api/runtime.h"

/** Installs the hook through which the monitor job on this node publishes its figures (before the threads start). */
void sq_upkeep_init(void);
/** Called by thread 0's tick: every 5 s reads the providers' figures (any node's last monitor run) for /metrics. */
void sq_upkeep_tick(sq_thread_t *t, int64_t now_mono_us);
/** True while that read is in flight (the thread waits for it when draining). */
bool sq_upkeep_busy(sq_thread_t *t);
/** Prometheus lines: souq_payment_failure_rate, souq_payment_attempts, souq_payment_failure_alert per provider, and
 * souq_purged_rows_total per kind. In the arena. */
char *sq_upkeep_metrics(sq_arena_t *a);

#endif
