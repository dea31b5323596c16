/* idempotency_db.c: the SQL of core/idempotency.h. */
#include "core/idempotency.h"

SQ_STMT(idem_claim, "SELECT souq_idem_claim($1, $2, $3, $4, $5, $6::int)");
SQ_STMT(idem_finish, "SELECT souq_idem_finish($1, $2, $3, $4, $5::int, $6, $7, $8)");
SQ_STMT(idem_release, "SELECT souq_idem_release($1, $2, $3, $4)");
SQ_STMT(idem_purge, "SELECT souq_idem_purge($1::int)");

typedef struct {
    void (*cb)(long n, const sq_err_t *err, void *data);
    void *data;
} purge_t;

static void on_purged(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    purge_t *p = data;
    p->cb(err == NULL && sq_rows_count(rows) == 1 ? (long)sq_rows_int64(rows, 0, 0) : 0, err, p->data);
}

void sq_idem_purge(sq_ctx_t *cx, int limit, void (*cb)(long n, const sq_err_t *err, void *data), void *data)
{
    purge_t *p = SQ_NEW(cx->arena, purge_t);
    p->cb = cb;
    p->data = data;
    sq_db_query(cx->db, cx->arena, &idem_purge, 1, sq_db_params(cx->arena, 1, sq_db_int(cx->arena, limit)), on_purged, p);
}

void sq_idem_claim(sq_ctx_t *cx, const sq_idem_scope_t *s, const char *fingerprint, int lock_ms, sq_json_cb cb, void *data)
{
    sq_db_json(cx->db, cx->arena, &idem_claim, 6,
               sq_db_params(cx->arena, 6, s->principal, s->method, s->route, s->key, fingerprint, sq_db_int(cx->arena, lock_ms)),
               cb, data);
}

void sq_idem_finish(sq_ctx_t *cx, const sq_idem_scope_t *s, int status, const char *content_type, const char *location,
                    const char *body, sq_json_cb cb, void *data)
{
    sq_db_json(cx->db, cx->arena, &idem_finish, 8,
               sq_db_params(cx->arena, 8, s->principal, s->method, s->route, s->key, sq_db_int(cx->arena, status), content_type,
                            location, body),
               cb, data);
}

void sq_idem_release(sq_ctx_t *cx, const sq_idem_scope_t *s, sq_json_cb cb, void *data)
{
    sq_db_json(cx->db, cx->arena, &idem_release, 4, sq_db_params(cx->arena, 4, s->principal, s->method, s->route, s->key), cb,
               data);
}
