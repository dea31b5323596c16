/* apikey_db.c: API keys in SQL. */
#include "core/apikey_db.h"

#include <string.h>

#define KEY_JSON(k)                                                                                                                \
    "json_build_object('id'," k ".id,'object','api_key','type'," k ".type,'title'," k ".title,'redacted'," k                       \
    ".redacted,'token'," k ".token,'scopes',to_json(" k ".scopes),'sales_channel_id'," k ".sales_channel_id,'created_by'," k       \
    ".created_by,'created_at'," k ".created_at,'last_used_at'," k ".last_used_at,'revoked_at'," k ".revoked_at)"

/* the secret token ($8) is echoed once in the response and never stored */
SQ_STMT(api_key_insert,
        "INSERT INTO api_keys AS k (type, title, token, token_hash, redacted, scopes, sales_channel_id, created_by) "
        "SELECT $1, $2, CASE WHEN $1 = 'publishable' THEN $8 END, $3, $4, $5::text[], "
        "  CASE WHEN $1 = 'publishable' THEN coalesce($6, (SELECT id FROM sales_channels WHERE is_default)) END, $7 "
        "RETURNING (" KEY_JSON("k") "::jsonb || jsonb_build_object('token', $8::text))::json");
SQ_STMT_RO(api_key_get, "SELECT " KEY_JSON("k") " FROM api_keys k WHERE k.id = $1");
SQ_STMT_RO(api_key_list, "SELECT " KEY_JSON("k") ", k.id FROM api_keys k WHERE ($1::text IS NULL OR k.type = $1) "
                                                 "AND ($2::text IS NULL OR k.id < $2) ORDER BY k.id DESC LIMIT $3");
SQ_STMT(api_key_revoke, "UPDATE api_keys k SET revoked_at = coalesce(k.revoked_at, now()), "
                        "revoked_by = coalesce(k.revoked_by, $2) WHERE k.id = $1 RETURNING " KEY_JSON("k"));
SQ_STMT(api_key_notify, "SELECT pg_notify('souq', 'api_keys')");

static const char *text_array(sq_arena_t *a, const sq_strs_t *s)
{
    /* scopes are validated permission names ([a-z_:]), so no quoting is needed */
    size_t cap = 3;
    for (int i = 0; i < s->n; i++)
        cap += strlen(s->v[i]) + 1;
    char *buf = sq_arena_alloc(a, cap), *p = buf;
    *p++ = '{';
    for (int i = 0; i < s->n; i++) {
        if (i)
            *p++ = ',';
        size_t n = strlen(s->v[i]);
        memcpy(p, s->v[i], n);
        p += n;
    }
    *p++ = '}';
    *p = '\0';
    return buf;
}

typedef struct {
    sq_json_cb cb;
    void *data;
    sq_arena_t *arena;
} jctx_t;

static void on_inserted(const char *json, const sq_err_t *err, void *data)
{
    jctx_t *j = data;
    if (err != NULL && err->code == SQ_E_CONFLICT && strstr(err->constraint, "sales_channel") != NULL) {
        sq_err_t *e = SQ_NEW(j->arena, sq_err_t);
        sq_err_clear(e);
        sq_err_set(e, SQ_E_VALIDATION, "The sales channel does not exist.");
        sq_err_field(e, "/sales_channel_id", "not_found", "sales_channel_id does not exist");
        err = e;
    } else if (err != NULL && err->code == SQ_E_CONFLICT) {
        sq_err_t *e = SQ_NEW(j->arena, sq_err_t);
        sq_err_copy(e, err);
        sq_err_set(e, SQ_E_CONFLICT, "There is no default sales channel; pass sales_channel_id.");
        err = e;
    }
    j->cb(json, err, j->data);
}

void sq_api_key_db_insert(sq_ctx_t *cx, const sq_api_key_create_t *in, const char *token, const char *hash, const char *redacted,
                          const char *created_by, sq_json_cb cb, void *data)
{
    jctx_t *j = SQ_NEW(cx->arena, jctx_t);
    j->cb = cb;
    j->data = data;
    j->arena = cx->arena;
    const char **p = sq_db_params(cx->arena, 8, in->type, in->title, hash, redacted, text_array(cx->arena, &in->scopes),
                                  in->sales_channel_id, created_by, token);
    sq_db_json(cx->db, cx->arena, &api_key_insert, 8, p, on_inserted, j);
}

void sq_api_key_get(sq_ctx_t *cx, const char *id, sq_json_cb cb, void *data)
{
    sq_db_json(cx->db, cx->arena, &api_key_get, 1, sq_db_params(cx->arena, 1, id), cb, data);
}

void sq_api_key_list(sq_ctx_t *cx, const char *type, const sq_page_t *page, sq_list_cb cb, void *data)
{
    const char **p = sq_db_params(cx->arena, 3, type, page->after, sq_db_int(cx->arena, page->limit + 1));
    sq_db_list(cx->db, cx->arena, &api_key_list, 3, p, page->limit, cb, data);
}

void sq_api_key_revoke(sq_ctx_t *cx, const char *id, const char *revoked_by, sq_json_cb cb, void *data)
{
    sq_batch_t *b = sq_db_batch(cx->db, cx->arena);
    sq_batch_add(b, &api_key_notify, 0, NULL);
    sq_batch_add(b, &api_key_revoke, 2, sq_db_params(cx->arena, 2, id, revoked_by));
    sq_batch_send_json(b, cb, data);
}
