/* auth.c: roles and permissions, argon2id password hashing, and the session flows. */
#include "core/auth.h"

#include <argon2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/auth_db.h"
#include "core/base/crypto.h"
#include "core/base/util.h"

const char *const sq_role_names[] = {"owner", "admin", "catalog_manager", "order_manager", "support", "read_only", NULL};

/* Which roles hold which permission: a bit per role, in sq_role_t order. */
#define R(r) (1u << SQ_ROLE_##r)
#define ALL (R(OWNER) | R(ADMIN) | R(CATALOG_MANAGER) | R(ORDER_MANAGER) | R(SUPPORT) | R(READ_ONLY))
#define ADMINS (R(OWNER) | R(ADMIN))
static const struct {
    const char *perm;
    unsigned roles;
} grants[] = {
    {"staff:read", ADMINS},
    {"staff:write", ADMINS},
    {"api_keys:read", ADMINS},
    {"api_keys:write", ADMINS},
    {"customers:read", ADMINS | R(ORDER_MANAGER) | R(SUPPORT) | R(READ_ONLY)},
    {"customers:write", ADMINS | R(SUPPORT)},
    {"sales_channels:read", ALL},
    {"sales_channels:write", ADMINS},
    {"catalog:read", ALL},
    {"catalog:write", ADMINS | R(CATALOG_MANAGER)},
    {"inventory:read", ALL},
    {"inventory:write", ADMINS | R(CATALOG_MANAGER) | R(ORDER_MANAGER)},
    {"orders:read", ADMINS | R(ORDER_MANAGER) | R(SUPPORT) | R(READ_ONLY)},
    {"orders:write", ADMINS | R(ORDER_MANAGER)},
    {"promotions:read", ALL},
    {"promotions:write", ADMINS | R(CATALOG_MANAGER)},
    {"settings:read", ALL},
    {"settings:write", ADMINS},
    {"plugins:read", ADMINS},
    {"plugins:write", ADMINS},
    {"webhooks:read", ADMINS},
    {"webhooks:write", ADMINS},
    {"events:read", ADMINS},
    {"automation:read", ADMINS},
    {"automation:write", ADMINS},
};
#undef R

const char *const sq_permissions[] = {
    "staff:read",          "staff:write",          "api_keys:read",   "api_keys:write",   "customers:read", "customers:write",
    "sales_channels:read", "sales_channels:write", "catalog:read",    "catalog:write",    "inventory:read", "inventory:write",
    "orders:read",         "orders:write",         "promotions:read", "promotions:write", "settings:read",  "settings:write",
    "plugins:read",        "plugins:write",        "webhooks:read",   "webhooks:write",   "events:read",    "automation:read", "automation:write", NULL};

int sq_role_parse(const char *name)
{
    for (int i = 0; name != NULL && sq_role_names[i] != NULL; i++)
        if (strcmp(sq_role_names[i], name) == 0)
            return i;
    return -1;
}

bool sq_role_can(sq_role_t role, const char *perm)
{
    for (size_t i = 0; i < SQ_ARRAY_LEN(grants); i++)
        if (strcmp(grants[i].perm, perm) == 0)
            return (grants[i].roles >> role) & 1u;
    return false;
}

bool sq_perm_known(const char *perm)
{
    for (size_t i = 0; sq_permissions[i] != NULL; i++)
        if (strcmp(sq_permissions[i], perm) == 0)
            return true;
    return false;
}

bool sq_role_may_grant(sq_role_t granter, sq_role_t target)
{
    if (granter == SQ_ROLE_OWNER)
        return true;
    return granter == SQ_ROLE_ADMIN && target != SQ_ROLE_OWNER;
}

static uint32_t hash_mem_kib = 19456, hash_iters = 2;

void sq_password_set_cost(uint32_t memory_kib, uint32_t iterations)
{
    hash_mem_kib = memory_kib;
    hash_iters = iterations;
}

char *sq_password_hash(const char *pw)
{
    unsigned char salt[16];
    sq_random_bytes(salt, sizeof(salt));
    size_t len = argon2_encodedlen(hash_iters, hash_mem_kib, 1, sizeof(salt), 32, Argon2_id);
    char *enc = sq_xmalloc(len);
    if (argon2id_hash_encoded(hash_iters, hash_mem_kib, 1, pw, strlen(pw), salt, sizeof(salt), 32, enc, len) != ARGON2_OK) {
        free(enc);
        return NULL;
    }
    return enc;
}

static char *dummy_hash;
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void make_dummy(void)
{
    dummy_hash = sq_password_hash("souq-dummy-password-for-timing");
}

bool sq_password_verify(const char *encoded, const char *pw)
{
    if (encoded == NULL) {
        pthread_once(&dummy_once, make_dummy);
        if (dummy_hash != NULL)
            argon2id_verify(dummy_hash, pw, strlen(pw));
        return false;
    }
    return argon2id_verify(encoded, pw, strlen(pw)) == ARGON2_OK;
}

/* ---- login ---------------------------------------------------------------------------------------- */

typedef struct {
    sq_ctx_t *cx;
    sq_subject_t type;
    const char *password, *ip, *user_agent;
    const sq_session_policy_t *pol;
    const char *keys[2];
    const char *id, *hash;
    bool active, ok;
    sq_session_cb cb;
    void *data;
    const char *token;
} login_t;

static void fail(sq_session_cb cb, void *data, sq_code_t code, const char *detail, int retry_after)
{
    sq_err_t err;
    sq_err_clear(&err);
    sq_err_set(&err, code, "%s", detail);
    err.retry_after = retry_after;
    cb(NULL, &err, data);
}

static void on_session_row(const char *subject_id, const char *session_id, const sq_err_t *err, void *data)
{
    login_t *l = data;
    if (err != NULL) {
        l->cb(NULL, err, l->data);
        return;
    }
    sq_session_t s = {subject_id, session_id, l->token};
    l->cb(&s, NULL, l->data);
}

static void start_session(login_t *l, const char *clear_key)
{
    l->token = sq_token_new(l->cx->arena, "rt_");
    sq_auth_db_session_create(l->cx, l->type, l->id, sq_token_hash(l->cx->arena, l->token, strlen(l->token)), l->ip, l->user_agent,
                              l->pol, clear_key, on_session_row, l);
}

static void on_failure_counted(const sq_err_t *err, void *data)
{
    login_t *l = data;
    if (err != NULL) {
        l->cb(NULL, err, l->data);
        return;
    }
    fail(l->cb, l->data, SQ_E_INVALID_CREDENTIALS, "The email or password is wrong.", 0);
}

static void verify_work(void *data)
{
    login_t *l = data;
    l->ok = sq_password_verify(l->hash, l->password) && l->active;
}

static void verify_done(void *data)
{
    login_t *l = data;
    if (!l->ok) {
        sq_auth_db_rate_hit(l->cx, l->keys, 2, 60, on_failure_counted, l);
        return;
    }
    start_session(l, l->keys[0]);
}

static void on_login_lookup(int retry_after, const char *id, const char *hash, bool active, const sq_err_t *err, void *data)
{
    login_t *l = data;
    if (err != NULL) {
        l->cb(NULL, err, l->data);
        return;
    }
    if (retry_after > 0) {
        fail(l->cb, l->data, SQ_E_RATE_LIMITED, "Too many failed logins; wait before trying again.", retry_after);
        return;
    }
    l->id = id;
    l->hash = hash;
    l->active = active;
    l->cx->offload(l->cx, verify_work, verify_done, l);
}

void sq_auth_login(sq_ctx_t *cx, sq_subject_t type, const char *email, const char *password, const char *ip, const char *user_agent,
                   const sq_session_policy_t *pol, sq_session_cb cb, void *data)
{
    login_t *l = SQ_NEW(cx->arena, login_t);
    l->cx = cx;
    l->type = type;
    l->password = password;
    l->ip = ip;
    l->user_agent = user_agent;
    l->pol = pol;
    l->cb = cb;
    l->data = data;
    l->keys[0] = sq_arena_printf(cx->arena, "login:%s:%s", sq_subject_name(type), email);
    l->keys[1] = sq_arena_printf(cx->arena, "login:ip:%s", ip);
    int limits[2] = {pol->limit_account, pol->limit_ip};
    sq_auth_db_login_lookup(cx, type, email, l->keys, limits, on_login_lookup, l);
}

static void on_refresh_row(const char *subject_id, const char *session_id, const sq_err_t *err, void *data)
{
    login_t *l = data;
    if (err != NULL) {
        l->cb(NULL, err, l->data);
        return;
    }
    if (subject_id == NULL) {
        fail(l->cb, l->data, SQ_E_INVALID_TOKEN, "The refresh token is invalid, expired or already used.", 0);
        return;
    }
    sq_session_t s = {subject_id, session_id, l->token};
    l->cb(&s, NULL, l->data);
}

void sq_auth_refresh(sq_ctx_t *cx, sq_subject_t type, const char *refresh_token, const sq_session_policy_t *pol, sq_session_cb cb,
                     void *data)
{
    login_t *l = SQ_NEW(cx->arena, login_t);
    l->cx = cx;
    l->cb = cb;
    l->data = data;
    l->token = sq_token_new(cx->arena, "rt_");
    sq_auth_db_refresh(cx, type, sq_token_hash(cx->arena, refresh_token, strlen(refresh_token)),
                       sq_token_hash(cx->arena, l->token, strlen(l->token)), pol->refresh_ttl, on_refresh_row, l);
}

void sq_auth_logout(sq_ctx_t *cx, sq_subject_t type, const char *refresh_token, sq_done_cb cb, void *data)
{
    sq_auth_db_logout(cx, type, sq_token_hash(cx->arena, refresh_token, strlen(refresh_token)), cb, data);
}
