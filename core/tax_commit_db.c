/* tax_commit_db.c: the tax.commit, tax.void, tax.refund and tax.adjust jobs (core/tax_commit.h). A job reads the order's
 * tax document (souq_order_tax_doc), calls the plugin's tax_commit(conf, order) / tax_void(conf, order) /
 * tax_refund(conf, order, refund) / tax_adjust(conf, order) (an edited order, 0050) and records the outcome on the
 * order's timeline. Failures retry with the job
 * runner's backoff; the last one is also an outbox event (tax.*_failed) and the discarded job stays listed for staff.
 * A void, refund or adjust waits (retries) while the order's commit is still to run: the provider must know the
 * transaction first. Handlers are idempotent: the plugin gets the order id as the transaction's code. */
#include <string.h>

#include "core/base/log.h"
#include "core/base/util.h"
#include "core/hooks.h"
#include "core/jobs.h"
#include "core/tax_commit.h"

SQ_STMT(tax_doc, "SELECT d::text FROM souq_order_tax_doc($1, $2) d WHERE d IS NOT NULL");
SQ_STMT(tax_recorded, "SELECT souq_order_tax_recorded($1, $2, $3, $4, $5)");
SQ_STMT(tax_failed, "SELECT souq_order_tax_failed($1, $2, $3, $4, $5::int, $6::int, $7)");

typedef struct {
    sq_ctx_t *cx;
    const char *op, *fn; /* "commit", "tax_commit" */
    const char *order_id, *provider, *plugin, *refund_id;
    int attempt, max_attempts;
    sq_err_t err;
    sq_job_done_cb done;
    void *data;
} run_t;

static void give_up(run_t *r, const char *why)
{
    sq_err_t e;
    sq_err_clear(&e);
    sq_err_set(&e, SQ_E_VALIDATION, "%s", why);
    sq_log(SQ_LOG_WARN, "tax", "order=%s %s: %s", r->order_id ? r->order_id : "-", r->op, why);
    r->done(&e, true, r->data);
}

static void retry(run_t *r, const char *why)
{
    sq_err_t e;
    sq_err_clear(&e);
    sq_err_set(&e, SQ_E_INVALID_STATE, "%s", why);
    r->done(&e, false, r->data);
}

static void on_timeline(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    run_t *r = data;
    (void)rows;
    if (err != NULL)
        sq_log(SQ_LOG_WARN, "tax", "order=%s %s: the outcome could not be put on the timeline: %s", r->order_id, r->op,
               err->detail);
    r->done(r->err.code == SQ_OK ? NULL : &r->err, false, r->data); /* a failure retries (discarded after the last) */
}

static void on_answer(json_t *out, const sq_err_t *err, void *data)
{
    run_t *r = data;
    sq_arena_t *a = r->cx->arena;
    if (err != NULL) {
        sq_err_copy(&r->err, err);
        sq_log(SQ_LOG_WARN, "tax", "order=%s %s via %s attempt=%d/%d failed: %s", r->order_id, r->op, r->plugin, r->attempt,
               r->max_attempts, err->detail);
        sq_db_query(r->cx->db, a, &tax_failed, 7,
                    sq_db_params(a, 7, r->order_id, r->op, r->provider, r->refund_id, sq_db_int(a, r->attempt),
                                 sq_db_int(a, r->max_attempts), err->detail),
                    on_timeline, r);
        return;
    }
    /* the answer: nil, or a table whose reference (the provider's id of the transaction) goes on the timeline */
    json_t *ref = json_is_object(out) ? json_object_get(out, "reference") : NULL;
    const char *reference = NULL;
    if (json_is_string(ref) && json_string_length(ref) >= 1 && json_string_length(ref) <= 200)
        reference = sq_arena_strdup(a, json_string_value(ref));
    sq_db_query(r->cx->db, a, &tax_recorded, 5, sq_db_params(a, 5, r->order_id, r->op, r->provider, reference, r->refund_id),
                on_timeline, r);
}

static void on_doc(const char *json, const sq_err_t *err, void *data)
{
    run_t *r = data;
    if (err != NULL && err->code == SQ_E_NOT_FOUND) { /* the order was deleted: nothing to record */
        sq_log(SQ_LOG_INFO, "tax", "order=%s %s: the order is gone; nothing to record", r->order_id, r->op);
        r->done(NULL, false, r->data);
        return;
    }
    if (err != NULL) {
        r->done(err, false, r->data);
        return;
    }
    json_t *doc = sq_json_own(r->cx->arena, json_loads(json, 0, NULL));
    if (strcmp(r->op, "commit") != 0) {
        const char *state = json_string_value(json_object_get(doc, "commit_state"));
        if (state == NULL || strcmp(state, "canceled") == 0) { /* never committed: nothing to take back */
            r->done(NULL, false, r->data);
            return;
        }
        if (strcmp(state, "scheduled") == 0 || strcmp(state, "retryable") == 0 || strcmp(state, "running") == 0) {
            retry(r, "The order's tax commit has not run yet.");
            return;
        }
        if (strcmp(r->op, "refund") == 0 && json_is_null(json_object_get(doc, "refund"))) {
            give_up(r, "The refund does not exist.");
            return;
        }
    }
    if (sq_tax_plugins == NULL || sq_tax_plugins->record == NULL) {
        retry(r, "No plugin host.");
        return;
    }
    int has = sq_tax_plugins->defines(r->plugin, r->fn);
    if (has < 0) { /* removed (or refused at a reload): it may come back; after the last attempt staff see it */
        sq_err_t e;
        sq_err_clear(&e);
        sq_err_set(&e, SQ_E_PLUGIN_FAILED, "The tax plugin %s is not loaded.", r->plugin);
        on_answer(NULL, &e, r);
        return;
    }
    if (has == 0) { /* a version without the function: nothing this provider wants recorded */
        sq_log(SQ_LOG_INFO, "tax", "order=%s %s: plugin %s has no %s; nothing recorded", r->order_id, r->op, r->plugin, r->fn);
        r->done(NULL, false, r->data);
        return;
    }
    sq_tax_plugins->record(r->cx, r->plugin, r->fn, doc, on_answer, r);
}

static void run(sq_ctx_t *cx, const sq_job_row_t *job, const char *op, sq_job_done_cb done, void *data)
{
    run_t *r = SQ_NEW(cx->arena, run_t);
    *r = (run_t){.cx = cx,
                 .op = op,
                 .fn = sq_arena_printf(cx->arena, "tax_%s", op),
                 .attempt = job->attempt,
                 .max_attempts = job->max_attempts,
                 .done = done,
                 .data = data};
    sq_err_clear(&r->err);
    r->order_id = json_string_value(json_object_get(job->payload, "order_id"));
    r->provider = json_string_value(json_object_get(job->payload, "provider"));
    r->refund_id = json_string_value(json_object_get(job->payload, "refund_id"));
    if (r->order_id == NULL || r->provider == NULL || strncmp(r->provider, "plugin:", 7) != 0 || r->provider[7] == '\0') {
        give_up(r, "The job has no order_id or no plugin provider.");
        return;
    }
    if (strcmp(op, "refund") == 0 && r->refund_id == NULL) {
        give_up(r, "The job has no refund_id.");
        return;
    }
    r->plugin = r->provider + 7;
    sq_arena_t *a = cx->arena;
    sq_db_json(cx->db, a, &tax_doc, 2, sq_db_params(a, 2, r->order_id, r->refund_id), on_doc, r);
}

static void commit(sq_ctx_t *cx, const sq_job_row_t *job, sq_job_done_cb done, void *data)
{
    run(cx, job, "commit", done, data);
}

static void void_(sq_ctx_t *cx, const sq_job_row_t *job, sq_job_done_cb done, void *data)
{
    run(cx, job, "void", done, data);
}

static void refund(sq_ctx_t *cx, const sq_job_row_t *job, sq_job_done_cb done, void *data)
{
    run(cx, job, "refund", done, data);
}

static void adjust(sq_ctx_t *cx, const sq_job_row_t *job, sq_job_done_cb done, void *data)
{
    run(cx, job, "adjust", done, data);
}

void sq_tax_commit_register(void)
{
    sq_jobs_register("tax.commit", commit);
    sq_jobs_register("tax.void", void_);
    sq_jobs_register("tax.refund", refund);
    sq_jobs_register("tax.adjust", adjust);
}
