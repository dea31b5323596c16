/* auto_capture_db.c: the order.auto_capture job (core/auto_capture.h): captures the order's payment with the same
 * prepare -> provider -> done steps as POST /v1/admin/orders/{id}/capture. An order that is no longer capturable
 * (paid already: a retry after a capture that committed, or staff were faster; canceled; voided) completes the job.
 * A failure goes on the order's timeline and the job retries with backoff until its attempts are used up; the
 * fulfilment that enqueued it stays as it is. */
#include <string.h>

#include "core/auto_capture.h"
#include "core/base/log.h"
#include "core/base/util.h"
#include "core/jobs.h"
#include "core/order.h"

SQ_STMT(auto_capture_failed, "SELECT souq_order_auto_capture_failed($1, $2::int, $3::int, $4)");

typedef struct {
    sq_ctx_t *cx;
    const char *order_id;
    int attempt, max_attempts;
    sq_err_t err;
    sq_job_done_cb done;
    void *data;
} run_t;

static void on_recorded(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    run_t *r = data;
    (void)rows;
    if (err != NULL)
        sq_log(SQ_LOG_WARN, "auto_capture", "order=%s: the failure could not be put on the timeline: %s", r->order_id, err->detail);
    r->done(&r->err, false, r->data); /* retried with backoff (discarded after the last attempt) */
}

static void on_captured(const char *json, const sq_err_t *err, void *data)
{
    run_t *r = data;
    (void)json;
    if (err == NULL || err->code == SQ_E_INVALID_STATE || err->code == SQ_E_NOT_FOUND) {
        if (err != NULL)
            sq_log(SQ_LOG_INFO, "auto_capture", "order=%s: nothing to capture (%s)", r->order_id, err->detail);
        r->done(NULL, false, r->data);
        return;
    }
    sq_err_clear(&r->err);
    sq_err_copy(&r->err, err);
    sq_log(SQ_LOG_WARN, "auto_capture", "order=%s attempt=%d/%d: capture failed: %s", r->order_id, r->attempt, r->max_attempts,
           err->detail);
    sq_arena_t *a = r->cx->arena;
    sq_db_query(r->cx->db, a, &auto_capture_failed, 4,
                sq_db_params(a, 4, r->order_id, sq_db_int(a, r->attempt), sq_db_int(a, r->max_attempts), err->detail), on_recorded,
                r);
}

static void auto_capture(sq_ctx_t *cx, const sq_job_row_t *job, sq_job_done_cb done, void *data)
{
    const char *order_id = json_string_value(json_object_get(job->payload, "order_id"));
    if (order_id == NULL) {
        sq_err_t e;
        sq_err_clear(&e);
        sq_err_set(&e, SQ_E_VALIDATION, "The job has no order_id.");
        done(&e, true, data);
        return;
    }
    run_t *r = SQ_NEW(cx->arena, run_t);
    *r = (run_t){
        .cx = cx, .order_id = order_id, .attempt = job->attempt, .max_attempts = job->max_attempts, .done = done, .data = data};
    sq_order_capture(cx, order_id, "system:auto_capture", on_captured, r);
}

void sq_auto_capture_register(void)
{
    sq_jobs_register("order.auto_capture", auto_capture);
}
