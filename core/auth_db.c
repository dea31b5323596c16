/* auth_db.c: SQL of sessions, refresh-token rotation, throttling, staff principals and API keys. */
#include "core/auth_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/crypto.h"
#include "core/base/util.h"

SQ_STMT_RO(auth_rate_check, "SELECT souq_rate_check($1::text[], $2::int[], 60)");
SQ_STMT_RO(auth_staff_by_email, "SELECT id, password_hash, disabled_at IS NULL FROM staff_users WHERE lower(email) = lower($1)");
SQ_STMT_RO(auth_customer_by_email, "SELECT id, password_hash, true FROM customers WHERE lower(email) = lower($1) AND has_account");
SQ_STMT(auth_rate_hit, "SELECT souq_rate_hit($1::text[], $2::int)");
SQ_STMT(auth_rate_take, "WITH c AS (SELECT souq_rate_check($1::text[], $2::int[], $3::int) AS retry), "
                        "h AS (SELECT souq_rate_hit($1::text[], $3::int) FROM c WHERE c.retry = 0) "
                        "SELECT c.retry, (SELECT count(*) FROM h) FROM c");
SQ_STMT(auth_session_create, "WITH s AS (INSERT INTO auth_sessions (subject_type, subject_id, expires_at, ip, user_agent) "
                             "  VALUES ($1, $2, now() + make_interval(secs => $6::int), $4, $5) RETURNING id, expires_at), "
                             "t AS (INSERT INTO refresh_tokens (token_hash, session_id, expires_at) "
                             "  SELECT $3, s.id, least(s.expires_at, now() + make_interval(secs => $7::int)) FROM s) "
                             "SELECT id FROM s");
SQ_STMT(auth_rate_clear, "DELETE FROM rate_limits WHERE key = $1");
SQ_STMT(auth_refresh, "SELECT session_id, subject_id FROM souq_refresh_session($1, $2, $3, $4::int)");
SQ_STMT(auth_logout, "UPDATE auth_sessions SET revoked_at = now(), revoke_reason = 'logout' "
                     "WHERE id = (SELECT session_id FROM refresh_tokens WHERE token_hash = $1) AND subject_type = $2 "
                     "AND revoked_at IS NULL");
SQ_STMT_RO(auth_staff_principal, "SELECT u.id, u.email, u.role FROM auth_sessions s JOIN staff_users u ON u.id = s.subject_id "
                                 "WHERE s.id = $2 AND s.subject_type = 'staff' AND s.subject_id = $1 AND s.revoked_at IS NULL "
                                 "AND s.expires_at > now() AND u.disabled_at IS NULL");
SQ_STMT(auth_api_key,
        "WITH k AS (SELECT id, type, sales_channel_id, array_to_string(scopes, ' ') AS scopes, last_used_at "
        "  FROM api_keys WHERE token_hash = $1 AND revoked_at IS NULL), "
        "u AS (UPDATE api_keys a SET last_used_at = now() FROM k WHERE a.id = k.id "
        "  AND (k.last_used_at IS NULL OR k.last_used_at < now() - interval '60 seconds')) "
        "SELECT id, type, sales_channel_id, scopes, "
        "  EXISTS (SELECT 1 FROM sales_channels c WHERE c.id = k.sales_channel_id AND c.disabled_at IS NOT NULL) FROM k");

const char *sq_subject_name(sq_subject_t t)
{
    return t == SQ_SUBJECT_STAFF ? "staff" : "customer";
}

static const char *int_array(sq_arena_t *a, const int *v, int n)
{
    char buf[64];
    size_t len = 0;
    buf[len++] = '{';
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%d", i ? "," : "", v[i]);
    snprintf(buf + len, sizeof(buf) - len, "}");
    return sq_arena_strdup(a, buf);
}

/* Text-array literal of keys; keys are built by core (prefix:email or prefix:ip) and quoted here. */
static const char *text_array(sq_arena_t *a, const char *const *v, int n)
{
    size_t cap = 4;
    for (int i = 0; i < n; i++)
        cap += 2 * strlen(v[i]) + 4;
    char *buf = sq_arena_alloc(a, cap), *p = buf;
    *p++ = '{';
    for (int i = 0; i < n; i++) {
        if (i)
            *p++ = ',';
        *p++ = '"';
        for (const char *s = v[i]; *s; s++) {
            if (*s == '"' || *s == '\\')
                *p++ = '\\';
            *p++ = *s;
        }
        *p++ = '"';
    }
    *p++ = '}';
    *p = '\0';
    return buf;
}

typedef struct {
    sq_login_lookup_cb cb;
    void *data;
} lookup_t;

static void on_lookup(sq_batch_t *b, const sq_err_t *err, void *data)
{
    lookup_t *l = data;
    if (err != NULL) {
        l->cb(0, NULL, NULL, false, err, l->data);
        return;
    }
    sq_rows_t *rate = sq_batch_rows(b, 0), *acct = sq_batch_rows(b, 1);
    int retry = (int)sq_rows_int64(rate, 0, 0);
    if (sq_rows_count(acct) == 0) {
        l->cb(retry, NULL, NULL, false, NULL, l->data);
        return;
    }
    l->cb(retry, sq_rows_text(acct, 0, 0), sq_rows_text(acct, 0, 1), sq_rows_bool(acct, 0, 2), NULL, l->data);
}

void sq_auth_db_login_lookup(sq_ctx_t *cx, sq_subject_t type, const char *email, const char *const keys[2], const int limits[2],
                             sq_login_lookup_cb cb, void *data)
{
    lookup_t *l = SQ_NEW(cx->arena, lookup_t);
    l->cb = cb;
    l->data = data;
    const char **p1 = sq_arena_alloc(cx->arena, sizeof(char *) * 2);
    p1[0] = text_array(cx->arena, keys, 2);
    p1[1] = int_array(cx->arena, limits, 2);
    const char **p2 = sq_arena_alloc(cx->arena, sizeof(char *));
    p2[0] = email;
    sq_batch_t *b = sq_db_batch(cx->db, cx->arena);
    sq_batch_add(b, &auth_rate_check, 2, p1);
    sq_batch_add(b, type == SQ_SUBJECT_STAFF ? &auth_staff_by_email : &auth_customer_by_email, 1, p2);
    sq_batch_send(b, on_lookup, l);
}

typedef struct {
    sq_done_cb cb;
    void *data;
} done_t;

static void on_done_rows(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    (void)rows;
    done_t *d = data;
    d->cb(err, d->data);
}

void sq_auth_db_rate_hit(sq_ctx_t *cx, const char *const *keys, int nkeys, int window_s, sq_done_cb cb, void *data)
{
    done_t *d = SQ_NEW(cx->arena, done_t);
    d->cb = cb;
    d->data = data;
    const char **p = sq_arena_alloc(cx->arena, sizeof(char *) * 2);
    p[0] = text_array(cx->arena, keys, nkeys);
    p[1] = sq_arena_printf(cx->arena, "%d", window_s);
    sq_db_query(cx->db, cx->arena, &auth_rate_hit, 2, p, on_done_rows, d);
}

typedef struct {
    sq_rate_cb cb;
    void *data;
} take_t;

static void on_take(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    take_t *t = data;
    t->cb(err ? 0 : (int)sq_rows_int64(rows, 0, 0), err, t->data);
}

void sq_auth_db_rate_take(sq_ctx_t *cx, const char *const keys[2], const int limits[2], int window_s, sq_rate_cb cb, void *data)
{
    take_t *t = SQ_NEW(cx->arena, take_t);
    t->cb = cb;
    t->data = data;
    const char **p = sq_arena_alloc(cx->arena, sizeof(char *) * 3);
    p[0] = text_array(cx->arena, keys, 2);
    p[1] = int_array(cx->arena, limits, 2);
    p[2] = sq_arena_printf(cx->arena, "%d", window_s);
    sq_db_query(cx->db, cx->arena, &auth_rate_take, 3, p, on_take, t);
}

typedef struct {
    sq_session_row_cb cb;
    void *data;
    const char *subject_id;
} srow_t;

static void on_session_created(sq_batch_t *b, const sq_err_t *err, void *data)
{
    srow_t *s = data;
    if (err != NULL) {
        s->cb(NULL, NULL, err, s->data);
        return;
    }
    s->cb(s->subject_id, sq_rows_text(sq_batch_rows(b, 0), 0, 0), NULL, s->data);
}

void sq_auth_db_session_create(sq_ctx_t *cx, sq_subject_t type, const char *subject_id, const char *token_hash, const char *ip,
                               const char *user_agent, const sq_session_policy_t *pol, const char *clear_key, sq_session_row_cb cb,
                               void *data)
{
    srow_t *s = SQ_NEW(cx->arena, srow_t);
    s->cb = cb;
    s->data = data;
    s->subject_id = subject_id;
    const char **p = sq_arena_alloc(cx->arena, sizeof(char *) * 7);
    p[0] = sq_subject_name(type);
    p[1] = subject_id;
    p[2] = token_hash;
    p[3] = ip;
    p[4] = user_agent;
    p[5] = sq_arena_printf(cx->arena, "%d", pol->session_ttl);
    p[6] = sq_arena_printf(cx->arena, "%d", pol->refresh_ttl);
    sq_batch_t *b = sq_db_batch(cx->db, cx->arena);
    sq_batch_add(b, &auth_session_create, 7, p);
    if (clear_key != NULL) {
        const char **k = sq_arena_alloc(cx->arena, sizeof(char *));
        k[0] = clear_key;
        sq_batch_add(b, &auth_rate_clear, 1, k);
    }
    sq_batch_send(b, on_session_created, s);
}

static void on_refreshed(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    srow_t *s = data;
    if (err != NULL) {
        s->cb(NULL, NULL, err, s->data);
        return;
    }
    if (sq_rows_count(rows) == 0) {
        s->cb(NULL, NULL, NULL, s->data);
        return;
    }
    s->cb(sq_rows_text(rows, 0, 1), sq_rows_text(rows, 0, 0), NULL, s->data);
}

void sq_auth_db_refresh(sq_ctx_t *cx, sq_subject_t type, const char *hash, const char *new_hash, int ttl, sq_session_row_cb cb,
                        void *data)
{
    srow_t *s = SQ_NEW(cx->arena, srow_t);
    s->cb = cb;
    s->data = data;
    const char **p = sq_arena_alloc(cx->arena, sizeof(char *) * 4);
    p[0] = hash;
    p[1] = new_hash;
    p[2] = sq_subject_name(type);
    p[3] = sq_arena_printf(cx->arena, "%d", ttl);
    sq_db_query(cx->db, cx->arena, &auth_refresh, 4, p, on_refreshed, s);
}

void sq_auth_db_logout(sq_ctx_t *cx, sq_subject_t type, const char *hash, sq_done_cb cb, void *data)
{
    done_t *d = SQ_NEW(cx->arena, done_t);
    d->cb = cb;
    d->data = data;
    const char **p = sq_arena_alloc(cx->arena, sizeof(char *) * 2);
    p[0] = hash;
    p[1] = sq_subject_name(type);
    sq_db_query(cx->db, cx->arena, &auth_logout, 2, p, on_done_rows, d);
}

typedef struct {
    sq_staff_principal_cb cb;
    void *data;
} sp_t;

static void on_staff_principal(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    sp_t *s = data;
    if (err != NULL) {
        s->cb(NULL, err, s->data);
        return;
    }
    if (sq_rows_count(rows) == 0) {
        s->cb(NULL, NULL, s->data);
        return;
    }
    sq_staff_principal_t p = {sq_rows_text(rows, 0, 0), sq_rows_text(rows, 0, 1), SQ_ROLE_READ_ONLY};
    int role = sq_role_parse(sq_rows_text(rows, 0, 2));
    if (SQ_ALWAYS(role >= 0))
        p.role = (sq_role_t)role;
    s->cb(&p, NULL, s->data);
}

void sq_auth_staff_principal(sq_ctx_t *cx, const char *user_id, const char *session_id, sq_staff_principal_cb cb, void *data)
{
    sp_t *s = SQ_NEW(cx->arena, sp_t);
    s->cb = cb;
    s->data = data;
    const char **p = sq_arena_alloc(cx->arena, sizeof(char *) * 2);
    p[0] = user_id;
    p[1] = session_id;
    sq_db_query(cx->db, cx->arena, &auth_staff_principal, 2, p, on_staff_principal, s);
}

typedef struct {
    sq_key_principal_cb cb;
    void *data;
    sq_arena_t *arena;
} kp_t;

static void on_api_key(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    kp_t *k = data;
    if (err != NULL) {
        k->cb(NULL, err, k->data);
        return;
    }
    if (sq_rows_count(rows) == 0) {
        k->cb(NULL, NULL, k->data);
        return;
    }
    sq_key_principal_t p = {0};
    p.id = sq_rows_text(rows, 0, 0);
    p.secret = strcmp(sq_rows_text(rows, 0, 1), "secret") == 0;
    p.sales_channel_id = sq_rows_text(rows, 0, 2);
    p.channel_disabled = sq_rows_bool(rows, 0, 4);
    char *scopes = sq_arena_strdup(k->arena, sq_rows_text(rows, 0, 3));
    int n = 1;
    for (char *c = scopes; *c; c++)
        n += *c == ' ';
    p.scopes = sq_arena_alloc(k->arena, sizeof(char *) * (size_t)(n + 1));
    int i = 0;
    char *save = NULL;
    for (char *t = strtok_r(scopes, " ", &save); t != NULL; t = strtok_r(NULL, " ", &save))
        p.scopes[i++] = t;
    p.scopes[i] = NULL;
    k->cb(&p, NULL, k->data);
}

void sq_auth_api_key(sq_ctx_t *cx, const char *token, sq_key_principal_cb cb, void *data)
{
    kp_t *k = SQ_NEW(cx->arena, kp_t);
    k->cb = cb;
    k->data = data;
    k->arena = cx->arena;
    const char **p = sq_arena_alloc(cx->arena, sizeof(char *));
    p[0] = sq_token_hash(cx->arena, token, strlen(token));
    sq_db_query(cx->db, cx->arena, &auth_api_key, 1, p, on_api_key, k);
}
