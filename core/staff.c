/* staff.c: rules of staff-user changes and the hashing flow of creation. */
#include "core/staff.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/staff_db.h"

const sq_field_t sq_staff_create_fields[] = {
    {"email", SQ_FT_STR, SQ_F_REQUIRED | SQ_F_LOWER, offsetof(sq_staff_create_t, email), 0, 254, NULL, sq_check_email, NULL},
    {"password", SQ_FT_STR, SQ_F_REQUIRED, offsetof(sq_staff_create_t, password), 0, 256, NULL, sq_check_password, NULL},
    {"role", SQ_FT_STR, SQ_F_REQUIRED, offsetof(sq_staff_create_t, role), 0, 32, sq_role_names, NULL, NULL},
    {"first_name", SQ_FT_STR, SQ_F_NULLABLE, offsetof(sq_staff_create_t, first_name), 0, 100, NULL, NULL, NULL},
    {"last_name", SQ_FT_STR, SQ_F_NULLABLE, offsetof(sq_staff_create_t, last_name), 0, 100, NULL, NULL, NULL},
    {NULL},
};

const sq_field_t sq_staff_update_fields[] = {
    {"role", SQ_FT_STR, 0, offsetof(sq_staff_update_t, role), 0, 32, sq_role_names, NULL, NULL},
    {"first_name", SQ_FT_STR, SQ_F_NULLABLE, offsetof(sq_staff_update_t, first_name), 0, 100, NULL, NULL, NULL},
    {"last_name", SQ_FT_STR, SQ_F_NULLABLE, offsetof(sq_staff_update_t, last_name), 0, 100, NULL, NULL, NULL},
    {"disabled", SQ_FT_BOOL, 0, offsetof(sq_staff_update_t, disabled), 0, 0, NULL, NULL, NULL},
    {NULL},
};

static void fail(sq_json_cb cb, void *data, sq_code_t code, const char *detail)
{
    sq_err_t e;
    sq_err_clear(&e);
    sq_err_set(&e, code, "%s", detail);
    cb(NULL, &e, data);
}

typedef struct {
    sq_ctx_t *cx;
    sq_staff_create_t in;
    char *hash;
    sq_json_cb cb;
    void *data;
} create_t;

static void hash_work(void *data)
{
    create_t *c = data;
    c->hash = sq_password_hash(c->in.password);
}

static void free_hash(void *p)
{
    free(p);
}

static void hashed(void *data)
{
    create_t *c = data;
    if (c->hash == NULL) {
        fail(c->cb, c->data, SQ_E_INTERNAL, "An internal error occurred.");
        return;
    }
    sq_arena_defer(c->cx->arena, free_hash, c->hash);
    sq_staff_db_insert(c->cx, &c->in, c->hash, c->cb, c->data);
}

void sq_staff_create(sq_ctx_t *cx, sq_role_t actor_role, const sq_staff_create_t *in, sq_json_cb cb, void *data)
{
    int role = sq_role_parse(in->role);
    if (role < 0 || !sq_role_may_grant(actor_role, (sq_role_t)role)) {
        fail(cb, data, SQ_E_FORBIDDEN, "You may not grant this role.");
        return;
    }
    create_t *c = SQ_NEW(cx->arena, create_t);
    c->cx = cx;
    c->in = *in;
    c->cb = cb;
    c->data = data;
    cx->offload(cx, hash_work, hashed, c);
}

void sq_staff_update(sq_ctx_t *cx, const char *actor_id, sq_role_t actor_role, const char *id, const sq_staff_update_t *in,
                     uint64_t present, sq_json_cb cb, void *data)
{
    bool role_set = present & 1, disabled_set = (present >> 3) & 1;
    if (strcmp(actor_id, id) == 0 && (role_set || disabled_set)) {
        fail(cb, data, SQ_E_CONFLICT, "You cannot change your own role or status; ask another owner or admin.");
        return;
    }
    if (role_set && !sq_role_may_grant(actor_role, (sq_role_t)sq_role_parse(in->role))) {
        fail(cb, data, SQ_E_FORBIDDEN, "You may not grant this role.");
        return;
    }
    sq_staff_db_update(cx, actor_role == SQ_ROLE_OWNER, id, in, present, cb, data);
}
