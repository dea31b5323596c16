/* idempotency_db.c: the SQL of core/idempotency.h. */
#include "core/idempotency.h"

SQ_STMT(idem_claim, "SELECT souq_idem_claim($1, $2, $3, $4, $5, $6::int)");
SQ_STMT(idem_finish, "SELECT souq_idem_finish($1, $2, $3, $4, $5::int, $6, $7, $8)");
SQ_STMT(idem_release, "SELECT souq_idem_release($1, $2, $3, $4)");

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
