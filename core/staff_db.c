/* staff_db.c: staff users in SQL. */
#include "core/staff_db.h"

#include <string.h>

#define STAFF_JSON(u)                                                                                                              \
    "json_build_object('id'," u ".id,'object','user','email'," u ".email,'role'," u ".role,'first_name'," u                        \
    ".first_name,'last_name'," u ".last_name,'disabled'," u ".disabled_at IS NOT NULL,'created_at'," u                             \
    ".created_at,'updated_at'," u ".updated_at)"

SQ_STMT(staff_insert, "INSERT INTO staff_users AS u (email, password_hash, role, first_name, last_name) "
                      "VALUES ($1, $2, $3, $4, $5) RETURNING " STAFF_JSON("u"));
SQ_STMT_RO(staff_get, "SELECT " STAFF_JSON("u") " FROM staff_users u WHERE u.id = $1");
SQ_STMT_RO(staff_list, "SELECT " STAFF_JSON("u") ", u.id FROM staff_users u WHERE ($1::text IS NULL OR u.id < $1) "
                                                 "ORDER BY u.id DESC LIMIT $2");
/* owner changes are serialised by locking the owners' rows, so the last-owner check below is exact */
SQ_STMT(staff_lock_owners, "SELECT id FROM staff_users WHERE role = 'owner' OR id = $1 ORDER BY id FOR UPDATE");
SQ_STMT(staff_update, "WITH u AS (UPDATE staff_users s SET "
                      "  role = CASE WHEN $3::bool THEN $4 ELSE s.role END, "
                      "  first_name = CASE WHEN $5::bool THEN $6 ELSE s.first_name END, "
                      "  last_name = CASE WHEN $7::bool THEN $8 ELSE s.last_name END, "
                      "  disabled_at = CASE WHEN $9::bool THEN CASE WHEN $10::bool THEN coalesce(s.disabled_at, now()) END "
                      "                ELSE s.disabled_at END, "
                      "  version = s.version + 1 "
                      "  WHERE s.id = $1 AND ($2::bool OR s.role <> 'owner') RETURNING s.*) "
                      "SELECT " STAFF_JSON("u") " FROM u");
SQ_STMT(staff_owner_guard, "SELECT souq_raise('SQ409', 'The last active owner cannot be demoted or disabled.') "
                           "WHERE NOT EXISTS (SELECT 1 FROM staff_users WHERE role = 'owner' AND disabled_at IS NULL)");
SQ_STMT(staff_end_sessions, "UPDATE auth_sessions SET revoked_at = now(), revoke_reason = 'disabled' "
                            "WHERE subject_type = 'staff' AND subject_id = $1 AND revoked_at IS NULL "
                            "AND EXISTS (SELECT 1 FROM staff_users WHERE id = $1 AND disabled_at IS NOT NULL)");
SQ_STMT_RO(staff_exists, "SELECT EXISTS (SELECT 1 FROM staff_users WHERE id = $1)");

typedef struct {
    sq_json_cb cb;
    void *data;
    sq_arena_t *arena;
} jctx_t;

static void on_inserted(const char *json, const sq_err_t *err, void *data)
{
    jctx_t *j = data;
    if (err != NULL && err->code == SQ_E_ALREADY_EXISTS) {
        sq_err_t *e = SQ_NEW(j->arena, sq_err_t);
        sq_err_copy(e, err);
        sq_err_set(e, SQ_E_ALREADY_EXISTS, "A staff user with this email already exists.");
        sq_err_field(e, "/email", "taken", "email is already used by another staff user");
        err = e;
    }
    j->cb(json, err, j->data);
}

void sq_staff_db_insert(sq_ctx_t *cx, const sq_staff_create_t *in, const char *hash, sq_json_cb cb, void *data)
{
    jctx_t *j = SQ_NEW(cx->arena, jctx_t);
    j->cb = cb;
    j->data = data;
    j->arena = cx->arena;
    const char **p = sq_db_params(cx->arena, 5, in->email, hash, in->role, in->first_name, in->last_name);
    sq_db_json(cx->db, cx->arena, &staff_insert, 5, p, on_inserted, j);
}

void sq_staff_get(sq_ctx_t *cx, const char *id, sq_json_cb cb, void *data)
{
    sq_db_json(cx->db, cx->arena, &staff_get, 1, sq_db_params(cx->arena, 1, id), cb, data);
}

void sq_staff_list(sq_ctx_t *cx, const sq_page_t *page, sq_list_cb cb, void *data)
{
    const char **p = sq_db_params(cx->arena, 2, page->after, sq_db_int(cx->arena, page->limit + 1));
    sq_db_list(cx->db, cx->arena, &staff_list, 2, p, page->limit, cb, data);
}

typedef struct {
    sq_json_cb cb;
    void *data;
} uctx_t;

/* An update that matched no row: the user is missing (404) or an owner the actor may not touch (403). */
static void on_updated(sq_batch_t *b, const sq_err_t *err, void *data)
{
    uctx_t *u = data;
    if (err != NULL) {
        u->cb(NULL, err, u->data);
        return;
    }
    sq_rows_t *r = sq_batch_rows(b, 1);
    if (sq_rows_count(r) > 0) {
        u->cb(sq_rows_text(r, 0, 0), NULL, u->data);
        return;
    }
    sq_err_t e;
    sq_err_clear(&e);
    if (sq_rows_bool(sq_batch_rows(b, 4), 0, 0))
        sq_err_set(&e, SQ_E_FORBIDDEN, "Only an owner can change an owner.");
    else
        sq_err_set(&e, SQ_E_NOT_FOUND, "The user does not exist.");
    u->cb(NULL, &e, u->data);
}

#define BIT(i) sq_db_bool((present >> (i)) & 1)

void sq_staff_db_update(sq_ctx_t *cx, bool may_touch_owner, const char *id, const sq_staff_update_t *in, uint64_t present,
                        sq_json_cb cb, void *data)
{
    sq_arena_t *a = cx->arena;
    uctx_t *u = SQ_NEW(a, uctx_t);
    u->cb = cb;
    u->data = data;
    sq_batch_t *b = sq_db_batch(cx->db, a);
    sq_batch_add(b, &staff_lock_owners, 1, sq_db_params(a, 1, id));
    sq_batch_add(b, &staff_update, 10,
                 sq_db_params(a, 10, id, sq_db_bool(may_touch_owner), BIT(0), in->role, BIT(1), in->first_name, BIT(2),
                              in->last_name, BIT(3), sq_db_bool(in->disabled)));
    sq_batch_add(b, &staff_owner_guard, 0, NULL);
    sq_batch_add(b, &staff_end_sessions, 1, sq_db_params(a, 1, id));
    sq_batch_add(b, &staff_exists, 1, sq_db_params(a, 1, id));
    sq_batch_send(b, on_updated, u);
}
