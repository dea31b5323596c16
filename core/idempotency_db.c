/* idempotency_db.c: the SQL of core/idempotency.h. */
#include <jansson.h>

#include "core/base/json.h"
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

/* Claims of many requests at once (migrations/0045, core/db/db.h coalesced calls): a key seen for the first time is
 * claimed by the group; any other call is claimed alone, which answers it exactly (replay, in flight, mismatch). */
SQ_STMT(idem_claim_many, "SELECT ord FROM souq_idem_claim_many($1::jsonb)");
static sq_stmt_t *const claim_stmts[] = {&idem_claim_many};
static const sq_coalesce_t claim_group = {"idem_claim", claim_stmts, 1, 32};

typedef struct {
    sq_ctx_t *cx;
    sq_idem_scope_t scope;
    const char *fingerprint;
    int lock_ms;
    sq_json_cb cb;
    void *data;
} claim_t;

static void claim_alone(claim_t *c)
{
    const sq_idem_scope_t *s = &c->scope;
    sq_arena_t *a = c->cx->arena;
    sq_db_json(c->cx->db, a, &idem_claim, 6,
               sq_db_params(a, 6, s->principal, s->method, s->route, s->key, c->fingerprint, sq_db_int(a, c->lock_ms)), c->cb,
               c->data);
}

static void on_claimed_many(sq_rows_t *const *rows, const sq_err_t *err, void *data)
{
    claim_t *c = data;
    if (err == NULL && sq_rows_count(rows[0]) > 0)
        c->cb("{\"state\":\"new\"}", NULL, c->data);
    else
        claim_alone(c);
}

void sq_idem_claim(sq_ctx_t *cx, const sq_idem_scope_t *s, const char *fingerprint, int lock_ms, sq_json_cb cb, void *data)
{
    claim_t *c = SQ_NEW(cx->arena, claim_t);
    *c = (claim_t){cx, *s, fingerprint, lock_ms, cb, data};
    json_t *in = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i}", "principal", s->principal, "method", s->method, "route", s->route,
                           "key", s->key, "fingerprint", fingerprint, "lock_ms", lock_ms);
    if (in == NULL) {
        claim_alone(c);
        return;
    }
    size_t len;
    sq_db_coalesce(cx->db, cx->arena, &claim_group, sq_json_dump(cx->arena, sq_json_own(cx->arena, in), &len), on_claimed_many, c);
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
