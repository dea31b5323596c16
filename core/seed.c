/* seed.c: seeds a fresh store; SQL in seed_db.c. */
#include "core/seed.h"

#include <stdlib.h>
#include <string.h>

#include "core/auth.h"
#include "core/base/crypto.h"
#include "core/base/iso.h"
#include "core/seed_db.h"

typedef struct {
    sq_ctx_t *cx;
    sq_seed_input_t in;
    sq_seed_result_t res;
    char *hash;
    sq_seed_cb cb;
    void *data;
} seed_t;

static void free_hash(void *p)
{
    free(p);
}

static void on_owner(const sq_err_t *err, void *data)
{
    seed_t *s = data;
    s->cb(err ? NULL : &s->res, err, s->data);
}

static void hash_work(void *data)
{
    seed_t *s = data;
    s->hash = sq_password_hash(s->res.owner_password ? s->res.owner_password : s->in.owner_password);
}

static void hashed(void *data)
{
    seed_t *s = data;
    sq_arena_defer(s->cx->arena, free_hash, s->hash);
    sq_seed_db_owner(s->cx, s->in.owner_email, s->hash, on_owner, s);
}

static void on_base(const char *channel_id, const char *pk, bool has_owner, const sq_err_t *err, void *data)
{
    seed_t *s = data;
    if (err != NULL) {
        s->cb(NULL, err, s->data);
        return;
    }
    s->res.channel_id = channel_id;
    s->res.publishable_key = pk;
    if (has_owner) {
        s->cb(&s->res, NULL, s->data);
        return;
    }
    s->res.owner_created = true;
    s->res.owner_email = s->in.owner_email;
    if (s->in.owner_password == NULL) {
        unsigned char raw[12];
        char *pw = sq_arena_alloc(s->cx->arena, 20);
        sq_random_bytes(raw, sizeof(raw));
        sq_b64url_encode(raw, sizeof(raw), pw);
        s->res.owner_password = pw;
    }
    s->cx->offload(s->cx, hash_work, hashed, s);
}

void sq_seed(sq_ctx_t *cx, const sq_seed_input_t *in, sq_seed_cb cb, void *data)
{
    seed_t *s = SQ_NEW(cx->arena, seed_t);
    s->cx = cx;
    s->in = *in;
    s->cb = cb;
    s->data = data;
    const char *token = sq_token_new(cx->arena, "pk_");
    size_t len = strlen(token);
    sq_seed_db_base(cx, token, sq_token_hash(cx->arena, token, len),
                    sq_arena_printf(cx->arena, "%.3s...%s", token, token + len - 4), on_base, s);
}
