/* upkeep_db.c: SQL of the payment-failure monitor and the purge (functions in migrations/0033_reorder_purchasing.sql;
 * the purge's notifications and price_changes kinds in 0044). */
#include "core/upkeep.h"

SQ_STMT(monitor_run, "SELECT souq_payment_monitor_run($1::int, $2::int, $3::int, $4::int)");
SQ_STMT_RO(health_read, "SELECT souq_payment_health_json()");
SQ_STMT(purge_batch, "SELECT souq_purge_batch($1, $2::int, $3::int)");

void sq_upkeep_monitor_run(sq_ctx_t *cx, const sq_jobs_settings_t *s, sq_json_cb cb, void *data)
{
    sq_arena_t *a = cx->arena;
    sq_db_json(cx->db, a, &monitor_run, 4,
               sq_db_params(a, 4, sq_db_int(a, s->payment_failure_window_s), sq_db_int(a, s->payment_failure_min_attempts),
                            sq_db_int(a, s->payment_failure_alert_bp), sq_db_int(a, s->payment_failure_recover_bp)),
               cb, data);
}

void sq_payment_health_read(sq_ctx_t *cx, sq_json_cb cb, void *data)
{
    sq_db_json(cx->db, cx->arena, &health_read, 0, NULL, cb, data);
}

typedef struct {
    sq_upkeep_count_cb cb;
    void *data;
} count_t;

static void on_count(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    count_t *c = data;
    c->cb(err == NULL && sq_rows_count(rows) > 0 ? (long)sq_rows_int64(rows, 0, 0) : 0, err, c->data);
}

void sq_upkeep_purge_batch(sq_ctx_t *cx, const char *kind, int age_s, int limit, sq_upkeep_count_cb cb, void *data)
{
    sq_arena_t *a = cx->arena;
    count_t *c = SQ_NEW(a, count_t);
    c->cb = cb;
    c->data = data;
    sq_db_query(cx->db, a, &purge_batch, 3, sq_db_params(a, 3, kind, sq_db_int(a, age_s), sq_db_int(a, limit)), on_count, c);
}
