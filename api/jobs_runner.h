/* jobs_runner.h: the job runner of a node (thread 0): schedules materialized, due jobs claimed and run (jobs_runner.c). */
#ifndef SQ_JOBS_RUNNER_H
#define SQ_JOBS_RUNNER_H

#include "api/runtime.h"

/** Called by thread 0's tick: registers the built-in schedules once, steps every jobs_poll_ms, refreshes the queue
 * figures every 5 s. */
void sq_jobs_runner_tick(sq_thread_t *t, int64_t now_mono_us);
/** NOTIFY souq 'jobs': look for work now. */
void sq_jobs_runner_wake(sq_thread_t *t);
/** True while a step, a job or a stats query is in flight (the thread waits for them when draining). */
bool sq_jobs_runner_busy(sq_thread_t *t);
/** The runner's Prometheus lines (process-wide figures), in the arena. */
char *sq_jobs_runner_metrics(sq_arena_t *a);

#endif
