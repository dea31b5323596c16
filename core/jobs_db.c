/* jobs_db.c: SQL of durable jobs, their admin API and the abandoned-cart automation (the logic is in SQL functions of
 * migrations/0028_jobs.sql). */
#include <stdlib.h>
#include <string.h>

#include "core/base/buf.h"
#include "core/jobs.h"

SQ_STMT(jobs_step, "SELECT id, kind, payload, attempt, max_attempts FROM souq_jobs_step($1, $2::text[], $3::int, $4::int)");
SQ_STMT(jobs_renew, "SELECT souq_jobs_renew($1, $2::text[], $3::int)");
SQ_STMT(job_finish, "SELECT souq_job_finish($1, $2, $3::int, $4, $5::bigint, $6::boolean)");
SQ_STMT(schedule_upsert, "SELECT souq_schedule_upsert($1, $2, $3, $4::int, $5::int, $6::boolean, $7::int)");
SQ_STMT_RO(jobs_stats,
           "SELECT (SELECT coalesce(jsonb_object_agg(state, n), '{}')::text FROM (SELECT state, count(*) AS n FROM jobs "
           "GROUP BY state) x), coalesce(extract(epoch FROM now() - (SELECT min(run_at) FROM jobs "
           "WHERE state IN ('scheduled', 'retryable') AND run_at <= now())), 0)::float8");
SQ_STMT_RO(jobs_list, "SELECT souq_job_json(j), j.id FROM jobs j WHERE ($1::text IS NULL OR j.id < $1) "
                      "AND ($3::text IS NULL OR j.state = $3) AND ($4::text IS NULL OR j.kind = $4) ORDER BY j.id DESC LIMIT $2");
SQ_STMT_RO(job_get, "SELECT souq_job_json(j) FROM jobs j WHERE j.id = $1");
SQ_STMT(job_move, "SELECT souq_job_move($1, $2)");
SQ_STMT_RO(abandoned_report, "SELECT souq_abandoned_carts_report(NULL)");
SQ_STMT(abandoned_run, "SELECT souq_abandoned_carts_run($1::int, $2::int, $3::int, $4::int, $5::int, $6::int, $7::int)");

const char *const sq_job_states[] = {"scheduled", "running", "retryable", "completed", "discarded", "canceled", NULL};

typedef struct {
    sq_arena_t *arena;
    void (*cb)();
    void *data;
    const sq_jobs_settings_t *settings;
} op_t;

static op_t *op(sq_ctx_t *cx, void (*cb)(), void *data)
{
    op_t *o = SQ_NEW(cx->arena, op_t);
    o->arena = cx->arena;
    o->cb = cb;
    o->data = data;
    return o;
}

/* ---- the runner ------------------------------------------------------------------------------------------------ */

/* A text[] literal of items[0..n): kinds ([a-z0-9_.], the table's CHECK) and job ids, nothing to escape, quoted all
 * the same. */
static const char *text_array(sq_arena_t *a, const char *const *items, int n)
{
    sq_buf_t b;
    sq_buf_init(&b, a, 64);
    sq_buf_add(&b, "{", 1);
    for (int i = 0; i < n; i++) {
        if (i > 0)
            sq_buf_add(&b, ",", 1);
        sq_buf_add(&b, "\"", 1);
        sq_buf_add(&b, items[i], strlen(items[i]));
        sq_buf_add(&b, "\"", 1);
    }
    sq_buf_add(&b, "}", 1);
    return sq_arena_strndup(a, b.p, b.len);
}

static void on_step(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    op_t *o = data;
    sq_jobs_claim_cb cb = (sq_jobs_claim_cb)o->cb;
    if (err != NULL) {
        cb(NULL, 0, err, o->data);
        return;
    }
    int n = sq_rows_count(rows);
    sq_job_row_t *list = sq_arena_zalloc(o->arena, sizeof(sq_job_row_t) * (size_t)(n + 1));
    for (int i = 0; i < n; i++) {
        sq_job_row_t *j = &list[i];
        j->id = sq_rows_text(rows, i, 0);
        j->kind = sq_rows_text(rows, i, 1);
        const char *p = sq_rows_text(rows, i, 2);
        sq_err_t perr = {0};
        j->payload = p != NULL ? sq_json_parse(o->arena, p, strlen(p), &perr) : NULL;
        if (j->payload == NULL)
            j->payload = sq_json_own(o->arena, json_object());
        j->attempt = (int)sq_rows_int64(rows, i, 3);
        j->max_attempts = (int)sq_rows_int64(rows, i, 4);
    }
    cb(list, n, NULL, o->data);
}

void sq_jobs_step(sq_ctx_t *cx, const char *node, const char *const *kinds, int limit, int lease_ms, sq_jobs_claim_cb cb,
                  void *data)
{
    sq_arena_t *a = cx->arena;
    int n = 0;
    while (kinds[n] != NULL)
        n++;
    const char **p = sq_db_params(a, 4, node, text_array(a, kinds, n), sq_db_int(a, limit), sq_db_int(a, lease_ms));
    sq_db_query(cx->db, a, &jobs_step, 4, p, on_step, op(cx, (void (*)())cb, data));
}

static void on_done(sq_rows_t *rows, const sq_err_t *err, void *data);

void sq_jobs_renew(sq_ctx_t *cx, const char *node, const char *const *ids, int n, int lease_ms, sq_done_cb cb, void *data)
{
    sq_arena_t *a = cx->arena;
    const char **p = sq_db_params(a, 3, node, text_array(a, ids, n), sq_db_int(a, lease_ms));
    sq_db_query(cx->db, a, &jobs_renew, 3, p, on_done, op(cx, (void (*)())cb, data));
}

static void on_finish(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    op_t *o = data;
    ((sq_job_state_cb)o->cb)(err == NULL && sq_rows_count(rows) > 0 ? sq_rows_text(rows, 0, 0) : NULL, err, o->data);
}

void sq_job_finish(sq_ctx_t *cx, const sq_job_row_t *job, const char *node, const char *error, int64_t retry_ms, bool discard,
                   sq_job_state_cb cb, void *data)
{
    sq_arena_t *a = cx->arena;
    const char **p =
        sq_db_params(a, 6, job->id, node, sq_db_int(a, job->attempt), error, sq_db_int(a, retry_ms), discard ? "true" : "false");
    sq_db_query(cx->db, a, &job_finish, 6, p, on_finish, op(cx, (void (*)())cb, data));
}

static void on_done(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    op_t *o = data;
    (void)rows;
    ((sq_done_cb)o->cb)(err, o->data);
}

void sq_job_schedule_upsert(sq_ctx_t *cx, const char *id, const char *kind, const char *spec, const sq_schedule_spec_t *ps,
                            bool enabled, int max_attempts, sq_done_cb cb, void *data)
{
    sq_arena_t *a = cx->arena;
    const char **p = sq_db_params(a, 7, id, kind, spec, ps->every_s > 0 ? sq_db_int(a, ps->every_s) : NULL,
                                  ps->daily_min >= 0 ? sq_db_int(a, ps->daily_min) : NULL, enabled ? "true" : "false",
                                  sq_db_int(a, max_attempts));
    sq_db_query(cx->db, a, &schedule_upsert, 7, p, on_done, op(cx, (void (*)())cb, data));
}

static void on_stats(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    op_t *o = data;
    sq_jobs_stats_t s = {0};
    if (err == NULL && sq_rows_count(rows) > 0) {
        const char *by = sq_rows_text(rows, 0, 0);
        sq_err_t perr = {0};
        json_t *j = by != NULL ? sq_json_parse(o->arena, by, strlen(by), &perr) : NULL;
        for (int i = 0; j != NULL && sq_job_states[i] != NULL; i++)
            s.by_state[i] = json_integer_value(json_object_get(j, sq_job_states[i]));
        s.oldest_due_age_s = atof(sq_rows_text(rows, 0, 1));
    }
    ((sq_jobs_stats_cb)o->cb)(&s, err, o->data);
}

void sq_jobs_stats(sq_ctx_t *cx, sq_jobs_stats_cb cb, void *data)
{
    sq_db_query(cx->db, cx->arena, &jobs_stats, 0, NULL, on_stats, op(cx, (void (*)())cb, data));
}

/* ---- admin ------------------------------------------------------------------------------------------------------ */

void sq_jobs_list(sq_ctx_t *cx, const sq_page_t *page, const char *state, const char *kind, sq_list_cb cb, void *data)
{
    sq_arena_t *a = cx->arena;
    sq_db_list(cx->db, a, &jobs_list, 4, sq_db_params(a, 4, page->after, sq_db_int(a, page->limit + 1), state, kind), page->limit,
               cb, data);
}

void sq_job_get(sq_ctx_t *cx, const char *id, sq_json_cb cb, void *data)
{
    sq_db_json(cx->db, cx->arena, &job_get, 1, sq_db_params(cx->arena, 1, id), cb, data);
}

void sq_job_move(sq_ctx_t *cx, const char *id, const char *move, sq_json_cb cb, void *data)
{
    sq_db_json(cx->db, cx->arena, &job_move, 2, sq_db_params(cx->arena, 2, id, move), cb, data);
}

void sq_abandoned_carts_report(sq_ctx_t *cx, sq_json_cb cb, void *data)
{
    sq_db_json(cx->db, cx->arena, &abandoned_report, 0, NULL, cb, data);
}

static void on_run(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    op_t *o = data;
    ((sq_count_cb)o->cb)(err == NULL && sq_rows_count(rows) > 0 ? (long)sq_rows_int64(rows, 0, 0) : 0, err, o->data);
}

void sq_abandoned_carts_run(sq_ctx_t *cx, const sq_jobs_settings_t *s, int limit, sq_count_cb cb, void *data)
{
    sq_arena_t *a = cx->arena;
    const char **p = sq_db_params(a, 7, sq_db_int(a, s->abandoned_cart_after_s), sq_db_int(a, s->abandoned_cart_max_reminders),
                                  sq_db_int(a, s->abandoned_cart_spacing_s), sq_db_int(a, limit), sq_db_int(a, s->abandoned_cart_discount_bp),
                                  sq_db_int(a, s->abandoned_cart_discount_from), sq_db_int(a, s->abandoned_cart_discount_ttl_s));
    sq_db_query(cx->db, a, &abandoned_run, 7, p, on_run, op(cx, (void (*)())cb, data));
}
