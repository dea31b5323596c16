/* customer.c: input rules of customer requests and the flows that hash passwords off the loop. */
#include "core/customer.h"

#include <stddef.h>
#include <stdlib.h>

#include "core/auth_db.h"
#include "core/base/crypto.h"
#include "core/customer_db.h"

#define STR(struct_, f, flags_, max_)                                                                                              \
    {                                                                                                                              \
#f, SQ_FT_STR, (flags_), offsetof(struct_, f), 0, (max_), NULL, NULL, NULL                                                 \
    }
#define CHECKED(struct_, f, flags_, max_, check_)                                                                                  \
    {                                                                                                                              \
#f, SQ_FT_STR, (flags_), offsetof(struct_, f), 0, (max_), NULL, check_, NULL                                               \
    }
#define META(struct_)                                                                                                              \
    {                                                                                                                              \
        "metadata", SQ_FT_JSON, SQ_F_NULLABLE, offsetof(struct_, metadata), 0, 0, NULL, sq_check_metadata, NULL                    \
    }
#define BOOL(struct_, f)                                                                                                           \
    {                                                                                                                              \
#f, SQ_FT_BOOL, 0, offsetof(struct_, f), 0, 0, NULL, NULL, NULL                                                            \
    }
#define NAME_MAX 100

const sq_field_t sq_customer_create_fields[] = {
    CHECKED(sq_customer_create_t, email, SQ_F_REQUIRED | SQ_F_LOWER, 254, sq_check_email),
    CHECKED(sq_customer_create_t, password, SQ_F_REQUIRED, 256, sq_check_password),
    STR(sq_customer_create_t, first_name, SQ_F_NULLABLE, NAME_MAX),
    STR(sq_customer_create_t, last_name, SQ_F_NULLABLE, NAME_MAX),
    CHECKED(sq_customer_create_t, phone, SQ_F_NULLABLE, 32, sq_check_phone),
    META(sq_customer_create_t),
    {NULL},
};

/* the order is the bit order of `present` in sq_customer_update */
const sq_field_t sq_customer_update_fields[] = {
    CHECKED(sq_customer_update_t, email, SQ_F_LOWER, 254, sq_check_email),
    STR(sq_customer_update_t, first_name, SQ_F_NULLABLE, NAME_MAX),
    STR(sq_customer_update_t, last_name, SQ_F_NULLABLE, NAME_MAX),
    CHECKED(sq_customer_update_t, phone, SQ_F_NULLABLE, 32, sq_check_phone),
    META(sq_customer_update_t),
    {NULL},
};

const sq_field_t sq_password_change_fields[] = {
    STR(sq_password_change_t, current_password, SQ_F_REQUIRED, 256),
    CHECKED(sq_password_change_t, new_password, SQ_F_REQUIRED, 256, sq_check_password),
    {NULL},
};

const sq_field_t sq_reset_request_fields[] = {
    CHECKED(sq_reset_request_t, email, SQ_F_REQUIRED | SQ_F_LOWER, 254, sq_check_email),
    {NULL},
};

const sq_field_t sq_reset_confirm_fields[] = {
    STR(sq_reset_confirm_t, token, SQ_F_REQUIRED, 128),
    CHECKED(sq_reset_confirm_t, password, SQ_F_REQUIRED, 256, sq_check_password),
    {NULL},
};

/* The postal fields of an address; the address book and carts (core/cart.c) share these rules. */
#define POSTAL_FIELDS(line_flags, country_flags)                                                                                   \
    STR(sq_address_t, first_name, SQ_F_NULLABLE, NAME_MAX), STR(sq_address_t, last_name, SQ_F_NULLABLE, NAME_MAX),                 \
        STR(sq_address_t, company, SQ_F_NULLABLE, 200), STR(sq_address_t, address_1, (line_flags), 200),                           \
        STR(sq_address_t, address_2, SQ_F_NULLABLE, 200), STR(sq_address_t, city, (line_flags), 100),                              \
        STR(sq_address_t, province, SQ_F_NULLABLE, 100), STR(sq_address_t, postal_code, SQ_F_NULLABLE, 20),                        \
        CHECKED(sq_address_t, country_code, (country_flags) | SQ_F_LOWER, 2, sq_check_country),                                    \
        CHECKED(sq_address_t, phone, SQ_F_NULLABLE, 32, sq_check_phone)
#define ADDRESS_FIELDS(req)                                                                                                        \
    POSTAL_FIELDS(req, req), BOOL(sq_address_t, is_default_shipping), BOOL(sq_address_t, is_default_billing), META(sq_address_t)

const sq_field_t sq_address_create_fields[] = {ADDRESS_FIELDS(SQ_F_REQUIRED), {NULL}};
const sq_field_t sq_address_update_fields[] = {ADDRESS_FIELDS(0), {NULL}};
const sq_field_t sq_address_postal_fields[] = {POSTAL_FIELDS(SQ_F_NULLABLE, SQ_F_REQUIRED), {NULL}};

/* ---- registration -------------------------------------------------------------------------------- */

typedef struct {
    sq_ctx_t *cx;
    sq_customer_create_t in;
    char *hash;
    sq_json_cb cb;
    sq_done_cb done_cb;
    void *data;
    const char *id, *keep_session, *new_password, *token;
} flow_t;

static void free_hash(void *p)
{
    free(p);
}

static void hash_work(void *data)
{
    flow_t *f = data;
    f->hash = sq_password_hash(f->new_password);
}

static void fail_internal(flow_t *f, const char *why)
{
    sq_err_t e;
    sq_err_clear(&e);
    sq_err_set(&e, SQ_E_INTERNAL, "An internal error occurred.");
    sq_err_internal(&e, "%s", why);
    if (f->cb != NULL)
        f->cb(NULL, &e, f->data);
    else
        f->done_cb(&e, f->data);
}

static void register_hashed(void *data)
{
    flow_t *f = data;
    if (f->hash == NULL) {
        fail_internal(f, "password hashing failed");
        return;
    }
    sq_arena_defer(f->cx->arena, free_hash, f->hash);
    sq_customer_db_insert(f->cx, &f->in, f->hash, f->cb, f->data);
}

void sq_customer_register(sq_ctx_t *cx, const sq_customer_create_t *in, sq_json_cb cb, void *data)
{
    flow_t *f = SQ_NEW(cx->arena, flow_t);
    f->cx = cx;
    f->in = *in;
    f->new_password = in->password;
    f->cb = cb;
    f->data = data;
    cx->offload(cx, hash_work, register_hashed, f);
}

/* ---- password change ------------------------------------------------------------------------------- */

typedef struct {
    flow_t f;
    const char *current, *stored;
    bool ok;
} change_t;

static void change_stored(void *data)
{
    flow_t *f = data;
    if (f->hash == NULL) {
        fail_internal(f, "password hashing failed");
        return;
    }
    sq_arena_defer(f->cx->arena, free_hash, f->hash);
    sq_customer_db_password_set(f->cx, f->id, f->hash, f->keep_session, f->done_cb, f->data);
}

static void change_verify_work(void *data)
{
    change_t *c = data;
    c->ok = sq_password_verify(c->stored, c->current);
    if (c->ok)
        c->f.hash = sq_password_hash(c->f.new_password);
}

static void change_verified(void *data)
{
    change_t *c = data;
    if (!c->ok) {
        sq_err_t e;
        sq_err_clear(&e);
        sq_err_set(&e, SQ_E_VALIDATION, "The current password is wrong.");
        sq_err_field(&e, "/current_password", "incorrect", "current_password is wrong");
        c->f.done_cb(&e, c->f.data);
        return;
    }
    change_stored(&c->f);
}

static void on_stored_hash(const char *hash, const sq_err_t *err, void *data)
{
    change_t *c = data;
    if (err != NULL) {
        c->f.done_cb(err, c->f.data);
        return;
    }
    c->stored = hash;
    c->f.cx->offload(c->f.cx, change_verify_work, change_verified, c);
}

void sq_customer_change_password(sq_ctx_t *cx, const char *id, const char *keep_session_id, const sq_password_change_t *in,
                                 sq_done_cb cb, void *data)
{
    change_t *c = SQ_NEW(cx->arena, change_t);
    c->f.cx = cx;
    c->f.id = id;
    c->f.keep_session = keep_session_id;
    c->f.new_password = in->new_password;
    c->f.done_cb = cb;
    c->f.data = data;
    c->current = in->current_password;
    sq_customer_db_password_hash(cx, id, on_stored_hash, c);
}

/* ---- password reset -------------------------------------------------------------------------------- */

static void on_reset_throttled(int retry_after, const sq_err_t *err, void *data)
{
    flow_t *f = data;
    if (err != NULL) {
        f->done_cb(err, f->data);
        return;
    }
    if (retry_after > 0) {
        sq_err_t e;
        sq_err_clear(&e);
        sq_err_set(&e, SQ_E_RATE_LIMITED, "Too many password-reset requests; wait before trying again.");
        e.retry_after = retry_after;
        f->done_cb(&e, f->data);
        return;
    }
    f->token = sq_token_new(f->cx->arena, "prt_");
    sq_customer_db_reset_create(f->cx, f->in.email, f->token, f->done_cb, f->data);
}

void sq_customer_reset_request(sq_ctx_t *cx, const char *email, const char *ip, int limit_account, int limit_ip, sq_done_cb cb,
                               void *data)
{
    flow_t *f = SQ_NEW(cx->arena, flow_t);
    f->cx = cx;
    f->in.email = email;
    f->done_cb = cb;
    f->data = data;
    const char *keys[2] = {sq_arena_printf(cx->arena, "reset:%s", email), sq_arena_printf(cx->arena, "reset:ip:%s", ip)};
    int limits[2] = {limit_account, limit_ip};
    sq_auth_db_rate_take(cx, keys, limits, 3600, on_reset_throttled, f);
}

static void on_reset_used(bool ok, const sq_err_t *err, void *data)
{
    flow_t *f = data;
    if (err == NULL && !ok) {
        sq_err_t e;
        sq_err_clear(&e);
        sq_err_set(&e, SQ_E_VALIDATION, "The reset token is invalid, expired or already used.");
        sq_err_field(&e, "/token", "invalid_token", "token is invalid, expired or already used");
        f->done_cb(&e, f->data);
        return;
    }
    f->done_cb(err, f->data);
}

static void reset_hashed(void *data)
{
    flow_t *f = data;
    if (f->hash == NULL) {
        fail_internal(f, "password hashing failed");
        return;
    }
    sq_arena_defer(f->cx->arena, free_hash, f->hash);
    sq_customer_db_reset_use(f->cx, f->token, f->hash, on_reset_used, f);
}

void sq_customer_reset_confirm(sq_ctx_t *cx, const sq_reset_confirm_t *in, sq_done_cb cb, void *data)
{
    flow_t *f = SQ_NEW(cx->arena, flow_t);
    f->cx = cx;
    f->token = in->token;
    f->new_password = in->password;
    f->done_cb = cb;
    f->data = data;
    cx->offload(cx, hash_work, reset_hashed, f);
}
