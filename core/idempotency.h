/* idempotency.h: Idempotency-Key records (migrations/0017_idempotency.sql): claim a key before the work, then
 * store the answer (2xx) or release the key (an error: nothing was written). The HTTP side is in api/req.c. */
#ifndef SQ_IDEMPOTENCY_H
#define SQ_IDEMPOTENCY_H

#include "core/ctx.h"

typedef struct {
    const char *principal, *method, *route, *key;
} sq_idem_scope_t;

/** cb gets {"state": "new" | "in_flight" | "mismatch" | "done", ...the stored answer for done}. */
void sq_idem_claim(sq_ctx_t *cx, const sq_idem_scope_t *s, const char *fingerprint, int lock_ms, sq_json_cb cb, void *data);
/** Stores the answer of a claimed key. */
void sq_idem_finish(sq_ctx_t *cx, const sq_idem_scope_t *s, int status, const char *content_type, const char *location,
                    const char *body, sq_json_cb cb, void *data);
/** Deletes up to limit keys older than 24 hours; cb gets how many (a full batch means more are waiting). */
void sq_idem_purge(sq_ctx_t *cx, int limit, void (*cb)(long n, const sq_err_t *err, void *data), void *data);

/** Frees a claimed key whose request failed. */
void sq_idem_release(sq_ctx_t *cx, const sq_idem_scope_t *s, sq_json_cb cb, void *data);

#endif
