/* auth.c: token endpoints of both APIs: login, refresh (rotation), logout. Same shapes for customers
 * (aud souq:store) and staff (aud souq:admin). */
#include <stddef.h>
#include <string.h>

#include "api/handlers/handlers.h"
#include "core/base/util.h"

typedef struct {
    const char *email, *password;
} login_in_t;

static const sq_field_t login_fields[] = {
    {"email", SQ_FT_STR, SQ_F_REQUIRED | SQ_F_LOWER, offsetof(login_in_t, email), 1, 254, NULL, NULL, NULL},
    {"password", SQ_FT_STR, SQ_F_REQUIRED, offsetof(login_in_t, password), 1, 256, NULL, NULL, NULL},
    {NULL},
};

typedef struct {
    const char *refresh_token;
} refresh_in_t;

static const sq_field_t refresh_fields[] = {
    {"refresh_token", SQ_FT_STR, SQ_F_REQUIRED, offsetof(refresh_in_t, refresh_token), 1, 128, NULL, NULL, NULL},
    {NULL},
};

static sq_session_policy_t *policy(sq_req_t *req)
{
    const sq_config_t *c = req->rt->cfg;
    sq_session_policy_t *p = SQ_NEW(req->arena, sq_session_policy_t);
    p->refresh_ttl = c->refresh_token_ttl;
    p->session_ttl = c->session_ttl;
    p->limit_account = c->login_rate_account;
    p->limit_ip = c->login_rate_ip;
    return p;
}

/* {"token_type","access_token","expires_in","refresh_token"} as in RFC 6749 5.1 */
static void send_tokens(sq_req_t *req, const char *aud, const sq_session_t *s, const sq_err_t *err)
{
    if (err != NULL) {
        sq_req_fail_with(req, err);
        return;
    }
    int ttl = req->rt->cfg->access_token_ttl;
    char *at = sq_jwt_mint(&req->rt->jwt, aud, s->subject_id, s->session_id, ttl, sq_now_us() / 1000000, req->arena);
    if (at == NULL) {
        sq_req_fail_code(req, SQ_E_INTERNAL, "An internal error occurred.");
        return;
    }
    json_t *body = json_pack("{s:s, s:s, s:i, s:s}", "token_type", "Bearer", "access_token", at, "expires_in", ttl, "refresh_token",
                             s->refresh_token);
    sq_req_send_jansson(req, 200, body);
}

static void on_customer_session(const sq_session_t *s, const sq_err_t *err, void *data)
{
    send_tokens(data, SQ_AUD_STORE, s, err);
}

static void on_staff_session(const sq_session_t *s, const sq_err_t *err, void *data)
{
    send_tokens(data, SQ_AUD_ADMIN, s, err);
}

static sq_session_cb on_session(sq_subject_t who)
{
    return who == SQ_SUBJECT_STAFF ? on_staff_session : on_customer_session;
}

static void token(sq_req_t *req, sq_subject_t who)
{
    login_in_t in = {0};
    if (sq_req_json(req, login_fields, &in, NULL) != 0) {
        sq_req_fail(req);
        return;
    }
    sq_auth_login(&req->cx, who, in.email, in.password, req->ip, sq_req_header(req, "user-agent"), policy(req), on_session(who),
                  req);
}

static void refresh(sq_req_t *req, sq_subject_t who)
{
    refresh_in_t in = {0};
    if (sq_req_json(req, refresh_fields, &in, NULL) != 0) {
        sq_req_fail(req);
        return;
    }
    sq_auth_refresh(&req->cx, who, in.refresh_token, policy(req), on_session(who), req);
}

static void logout(sq_req_t *req, sq_subject_t who)
{
    refresh_in_t in = {0};
    if (sq_req_json(req, refresh_fields, &in, NULL) != 0) {
        sq_req_fail(req);
        return;
    }
    sq_auth_logout(&req->cx, who, in.refresh_token, sq_req_on_done_204, req);
}

void sq_h_store_token(sq_req_t *req)
{
    token(req, SQ_SUBJECT_CUSTOMER);
}

void sq_h_store_refresh(sq_req_t *req)
{
    refresh(req, SQ_SUBJECT_CUSTOMER);
}

void sq_h_store_logout(sq_req_t *req)
{
    logout(req, SQ_SUBJECT_CUSTOMER);
}

void sq_h_admin_token(sq_req_t *req)
{
    token(req, SQ_SUBJECT_STAFF);
}

void sq_h_admin_refresh(sq_req_t *req)
{
    refresh(req, SQ_SUBJECT_STAFF);
}

void sq_h_admin_logout(sq_req_t *req)
{
    logout(req, SQ_SUBJECT_STAFF);
}
