/* dispatcher.h: the event dispatcher of a node (thread 0): fan-out of outbox events and deliveries (dispatcher.c). */
#ifndef SQ_DISPATCHER_H
#define SQ_DISPATCHER_H

#include "api/runtime.h"

/** Called by thread 0's tick: polls for due work every events_poll_ms, refreshes the queue figures every 5 s. */
void sq_dispatcher_tick(sq_thread_t *t, int64_t now_mono_us);
/** NOTIFY souq 'events': look for work now. */
void sq_dispatcher_wake(sq_thread_t *t);
/** True while a step, a delivery or a stats query is in flight (the thread waits for them when draining). */
bool sq_dispatcher_busy(sq_thread_t *t);
/** The dispatcher's Prometheus lines (process-wide figures), in the arena. */
char *sq_dispatcher_metrics(sq_arena_t *a);

#endif
