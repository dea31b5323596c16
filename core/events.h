/* events.h: consuming the outbox. Events fan out into deliveries, one per subscribed target (webhooks now; plugin
 * subscribers and automation rules are further target kinds); deliveries are claimed under a lease, performed,
 * and their attempts recorded, with retries on a schedule. The rules (signature, schedule, what an answer means)
 * are here and unit-tested; the SQL is in events_db.c and migrations/0023_events_webhooks.sql. */
#ifndef SQ_EVENTS_H
#define SQ_EVENTS_H

#include "core/base/json.h"
#include "core/ctx.h"
#include "core/http.h"
#include "core/resource.h"

/* ---- rules --------------------------------------------------------------------------------------------------- */

/** The webhook retry schedule, in multiples of base_ms (60 000 by default): after the 1st failed attempt 1 base,
 * then 5, 30, 120, 360, 720, 1440, 1440 (1m 5m 30m 2h 6h 12h 24h 24h: 8 retries over about 70 hours), each with
 * +-10 % jitter from rnd (any 32-bit random value). failed_attempts >= 1. */
int64_t sq_webhook_retry_delay_ms(int failed_attempts, int64_t base_ms, uint32_t rnd);

typedef enum { SQ_DELIVERY_OK, SQ_DELIVERY_RETRY, SQ_DELIVERY_FAIL, SQ_DELIVERY_CANCEL } sq_delivery_outcome_t;
/** The name souq_delivery_finish takes ("ok", "retry", "fail", "cancel"). */
const char *sq_delivery_outcome_name(sq_delivery_outcome_t o);
/** What an attempt's result means: 2xx ok; network errors (refused, timeout, TLS, malformed or too large answers,
 * DNS), 408, 429 and 5xx are retried; other statuses (and redirects, which are not followed) fail for good. A
 * destination the egress policy refuses now fails for good too. */
sq_delivery_outcome_t sq_webhook_outcome(const sq_http_response_t *res);

/** The Souq-Signature header: "t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>" with secret>" and a second v1 with
 * previous (NULL: none) during a rotation. In the arena. */
char *sq_webhook_signature(sq_arena_t *a, int64_t unix_s, const char *body, size_t len, const char *secret, const char *previous);

/** A delivery claimed for this node (strings in the claiming arena). */
typedef struct {
    const char *id, *event_id, *event_type, *target_kind, *target_id, *trigger;
    int attempt, max_attempts;
    /* webhook targets */
    const char *url, *secret, *previous_secret;
    bool enabled; /* false: the target is disabled or gone */
    const char *body;
} sq_delivery_t;

/** Queue figures for /metrics. */
typedef struct {
    int64_t events_pending;     /* not yet fanned out */
    int64_t deliveries_pending; /* waiting, retrying or running */
    double oldest_event_age_s;  /* the oldest not-yet-fanned-out event (0 when none) */
    double oldest_due_age_s;    /* how late the most overdue delivery is (0 when none) */
} sq_events_stats_t;

/* ---- the dispatcher's operations ----------------------------------------------------------------------------- */

typedef void (*sq_state_cb)(const char *state, const sq_err_t *err, void *data);
typedef void (*sq_stats_cb)(const sq_events_stats_t *stats, const sq_err_t *err, void *data);

typedef void (*sq_step_cb)(long fanned_out, sq_delivery_t *list, int n, const sq_err_t *err, void *data);
/** One step of the dispatcher, one transaction and one round trip: fans out up to fanout_limit due events, then
 * claims up to claim_limit due deliveries (those just created included, and expired leases) for node, leased for
 * lease_ms (claim_limit 0: none). */
void sq_events_step(sq_ctx_t *cx, int fanout_limit, int max_attempts, const char *node, int claim_limit, int lease_ms,
                    sq_step_cb cb, void *data);
/** The result of one attempt, as sq_deliveries_finish records it. */
typedef struct {
    const sq_delivery_t *d;
    sq_delivery_outcome_t outcome;
    int status;        /* the HTTP status, 0: none */
    const char *error; /* the kind of failure, or NULL */
    int64_t started_unix_us;
    int duration_ms;
    const char *response; /* the answer (may be NULL): its first 1 KiB is kept */
    int64_t retry_ms;     /* when a retry comes due */
} sq_delivery_result_t;

/** states[i]: the new state of results[i]'s delivery, or NULL when its lease had passed to another node (arena). */
typedef void (*sq_states_cb)(const char *const *states, int n, const sq_err_t *err, void *data);
/** Records the attempts of n deliveries this node holds in one statement and one transaction (migration 0041,
 * souq_deliveries_finish; its commit does not wait for the WAL flush: a record lost in a crash means the delivery is
 * performed again once its lease expires). On an error nothing is recorded. */
void sq_deliveries_finish(sq_ctx_t *cx, const char *node, const sq_delivery_result_t *results, int n, sq_states_cb cb,
                          void *data);
void sq_events_stats(sq_ctx_t *cx, sq_stats_cb cb, void *data);

/* ---- admin ----------------------------------------------------------------------------------------------------- */

extern const sq_resource_t sq_res_webhook;
/** Body rules of POST /v1/admin/events/{id}/replay. */
extern const sq_field_t sq_replay_fields[];

/** A new signing secret ("whsec_" + 43 base64url characters) in the arena. */
char *sq_webhook_secret_new(sq_arena_t *a);
/** Rotates the secret of webhook id (the old one signs too for overlap_s seconds); JSON with the new secret. */
void sq_webhook_rotate(sq_ctx_t *cx, const char *id, const char *secret, int overlap_s, sq_json_cb cb, void *data);
/** Deliveries of a webhook, newest first; state filters (NULL: all). 404 when the webhook does not exist. */
void sq_webhook_deliveries(sq_ctx_t *cx, const char *id, const sq_page_t *page, const char *state, sq_list_cb cb, void *data);
/** Events, newest first; type filters (NULL: all). */
void sq_events_list(sq_ctx_t *cx, const sq_page_t *page, const char *type, sq_list_cb cb, void *data);
/** One event with its deliveries. */
void sq_event_get(sq_ctx_t *cx, const char *id, sq_json_cb cb, void *data);
/** A delivery of an event to one webhook: trigger "replay" (event_id, webhook_id) or "test" (webhook_id; a new
 * webhook_endpoint.test event). 404 when the event (replay) or webhook (test) does not exist. */
void sq_delivery_create(sq_ctx_t *cx, const char *event_id, const char *webhook_id, const char *trigger, int max_attempts,
                        sq_json_cb cb, void *data);

#endif
