/* authn.c: publishable keys (cached per thread), customer and staff JWTs, secret API keys, permissions. */
#include "api/authn.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/base/util.h"

#define PK_TTL_US (60 * 1000000LL)

static void unauthorized(sq_req_t *req, sq_code_t code, const char *detail)
{
    sq_req_fail_code(req, code, "%s", detail);
}

/* "Bearer <token>" -> token (arena), NULL if absent; *bad set when present but malformed. */
static const char *bearer(sq_req_t *req, bool *bad)
{
    *bad = false;
    ssize_t i = h2o_find_header(&req->h2o->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i < 0)
        return NULL;
    h2o_iovec_t v = req->h2o->headers.entries[i].value;
    if (v.len < 8 || strncasecmp(v.base, "Bearer ", 7) != 0 || v.len - 7 > SQ_JWT_MAX_LEN) {
        *bad = true;
        return NULL;
    }
    for (size_t k = 7; k < v.len; k++) {
        char c = v.base[k];
        if (!(isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.')) {
            *bad = true;
            return NULL;
        }
    }
    return sq_arena_strndup(req->arena, v.base + 7, v.len - 7);
}

bool sq_authn_can(const sq_principal_t *p, const char *perm)
{
    if (perm == NULL)
        return true;
    if (p->kind == SQ_PRINCIPAL_STAFF)
        return sq_role_can(p->role, perm);
    if (p->kind == SQ_PRINCIPAL_API_KEY)
        for (const char **s = p->scopes; s != NULL && *s != NULL; s++)
            if (strcmp(*s, perm) == 0)
                return true;
    return false;
}

/* Verifies an access token, remembering verified ones per thread (as Envoy's jwt_authn cache does): a
 * hit needs the exact token bytes under the same key generation, and expiry is re-checked every time. */
static int verify_token(sq_req_t *req, const char *tok, sq_claims_t *out)
{
    size_t len = strlen(tok);
    int64_t now = sq_now_us() / 1000000;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = len > 32 ? len - 32 : 0; i < len; i++) /* the signature is random: hash its tail */
        h = (h ^ (unsigned char)tok[i]) * 1099511628211ull;
    sq_jwt_entry_t *e = &req->thr->jwt_cache[h % SQ_JWT_CACHE];
    if (e->generation == req->rt->generation && e->len == len && memcmp(e->token, tok, len) == 0) {
        if (now >= e->claims.exp + SQ_JWT_LEEWAY)
            return -1;
        *out = e->claims;
        return 0;
    }
    const char *why;
    if (sq_jwt_verify(&req->rt->jwt, tok, len, now, out, &why) != 0)
        return -1;
    if (len < SQ_JWT_CACHE_MAX_LEN) {
        e->generation = req->rt->generation;
        e->len = len;
        e->claims = *out;
        memcpy(e->token, tok, len);
    }
    return 0;
}

static void authorize_and_dispatch(sq_req_t *req)
{
    if (req->route->auth == SQ_AUTH_ADMIN && !sq_authn_can(&req->principal, req->route->perm)) {
        sq_req_fail_code(req, SQ_E_FORBIDDEN, "You need the %s permission for this action.", req->route->perm);
        return;
    }
    sq_req_dispatch(req);
}

/* ---- publishable keys ---------------------------------------------------------------------------------- */

static uint32_t fnv(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

void sq_authn_flush_keys(sq_thread_t *thr)
{
    memset(thr->pk_cache, 0, sizeof(thr->pk_cache));
}

static void on_publishable(const sq_key_principal_t *k, const sq_err_t *err, void *data)
{
    sq_req_t *req = data;
    if (err != NULL) {
        sq_req_fail_with(req, err);
        return;
    }
    if (k == NULL || k->secret || k->sales_channel_id == NULL) {
        unauthorized(req, SQ_E_INVALID_TOKEN, "The publishable API key is invalid or revoked.");
        return;
    }
    /* the key is good, its storefront is closed: 403, and not cached (re-enabling takes effect at once) */
    if (k->channel_disabled) {
        sq_req_fail_code(req, SQ_E_FORBIDDEN, "The sales channel of this publishable API key is disabled.");
        return;
    }
    const char *token = sq_req_header(req, "x-publishable-api-key");
    sq_pk_entry_t *e = &req->thr->pk_cache[fnv(token) % SQ_PK_CACHE];
    snprintf(e->token, sizeof(e->token), "%s", token);
    snprintf(e->key_id, sizeof(e->key_id), "%s", k->id);
    snprintf(e->channel_id, sizeof(e->channel_id), "%s", k->sales_channel_id);
    e->expires_us = sq_mono_us() + PK_TTL_US;
    req->principal.channel_id = sq_arena_strdup(req->arena, k->sales_channel_id);
    req->principal.publishable_key_id = sq_arena_strdup(req->arena, k->id);
    authorize_and_dispatch(req);
}

static void store(sq_req_t *req)
{
    const char *pk = sq_req_header(req, "x-publishable-api-key");
    if (pk == NULL) {
        unauthorized(req, SQ_E_UNAUTHORIZED, "A publishable API key is required in the x-publishable-api-key header.");
        return;
    }
    if (strncmp(pk, "pk_", 3) != 0 || strlen(pk) >= sizeof(((sq_pk_entry_t *)0)->token)) {
        unauthorized(req, SQ_E_INVALID_TOKEN, "The publishable API key is invalid or revoked.");
        return;
    }
    bool bad;
    const char *tok = bearer(req, &bad);
    if (bad) {
        unauthorized(req, SQ_E_INVALID_TOKEN, "The Authorization header must be \"Bearer <token>\".");
        return;
    }
    if (tok != NULL) {
        sq_claims_t cl;
        if (verify_token(req, tok, &cl) != 0 || strcmp(cl.aud, SQ_AUD_STORE) != 0) {
            unauthorized(req, SQ_E_INVALID_TOKEN, "The access token is invalid or expired.");
            return;
        }
        req->principal.kind = SQ_PRINCIPAL_CUSTOMER;
        req->principal.id = sq_arena_strdup(req->arena, cl.sub);
        req->principal.session_id = sq_arena_strdup(req->arena, cl.sid);
    } else if (req->route->auth == SQ_AUTH_STORE_CUSTOMER) {
        unauthorized(req, SQ_E_UNAUTHORIZED, "Log in first: this endpoint needs a customer access token.");
        return;
    }
    sq_pk_entry_t *e = &req->thr->pk_cache[fnv(pk) % SQ_PK_CACHE];
    if (e->expires_us > sq_mono_us() && strcmp(e->token, pk) == 0) {
        /* copies: the slot may be refilled by another request while this one waits on the database */
        req->principal.channel_id = sq_arena_strdup(req->arena, e->channel_id);
        req->principal.publishable_key_id = sq_arena_strdup(req->arena, e->key_id);
        authorize_and_dispatch(req);
        return;
    }
    sq_auth_api_key(&req->cx, pk, on_publishable, req);
}

/* ---- admin: staff tokens and secret keys ---------------------------------------------------------------- */

static void on_secret_key(const sq_key_principal_t *k, const sq_err_t *err, void *data)
{
    sq_req_t *req = data;
    if (err != NULL) {
        sq_req_fail_with(req, err);
        return;
    }
    if (k == NULL || !k->secret) {
        unauthorized(req, SQ_E_INVALID_TOKEN, "The API key is invalid or revoked.");
        return;
    }
    req->principal.kind = SQ_PRINCIPAL_API_KEY;
    req->principal.id = k->id;
    req->principal.scopes = k->scopes;
    authorize_and_dispatch(req);
}

static void on_staff(const sq_staff_principal_t *p, const sq_err_t *err, void *data)
{
    sq_req_t *req = data;
    if (err != NULL) {
        sq_req_fail_with(req, err);
        return;
    }
    if (p == NULL) {
        unauthorized(req, SQ_E_INVALID_TOKEN, "The session has ended or the user is disabled; log in again.");
        return;
    }
    req->principal.kind = SQ_PRINCIPAL_STAFF;
    req->principal.role = p->role;
    authorize_and_dispatch(req);
}

static void admin(sq_req_t *req)
{
    bool bad;
    const char *tok = bearer(req, &bad);
    if (bad) {
        unauthorized(req, SQ_E_INVALID_TOKEN, "The Authorization header must be \"Bearer <token>\".");
        return;
    }
    if (tok == NULL) {
        unauthorized(req, SQ_E_UNAUTHORIZED, "A staff access token or a secret API key is required.");
        return;
    }
    if (strncmp(tok, "sk_", 3) == 0) {
        sq_auth_api_key(&req->cx, tok, on_secret_key, req);
        return;
    }
    if (strncmp(tok, "pk_", 3) == 0) {
        unauthorized(req, SQ_E_INVALID_TOKEN, "Publishable keys cannot call the admin API.");
        return;
    }
    sq_claims_t cl;
    if (verify_token(req, tok, &cl) != 0) {
        unauthorized(req, SQ_E_INVALID_TOKEN, "The access token is invalid or expired.");
        return;
    }
    if (strcmp(cl.aud, SQ_AUD_ADMIN) != 0) {
        /* a genuine customer token: authenticated, but not allowed here */
        sq_req_fail_code(req, SQ_E_FORBIDDEN, "Customer accounts cannot call the admin API.");
        return;
    }
    req->principal.id = sq_arena_strdup(req->arena, cl.sub);
    req->principal.session_id = sq_arena_strdup(req->arena, cl.sid);
    sq_auth_staff_principal(&req->cx, req->principal.id, req->principal.session_id, on_staff, req);
}

void sq_authn(sq_req_t *req)
{
    switch (req->route->auth) {
    case SQ_AUTH_NONE:
        sq_req_dispatch(req);
        return;
    case SQ_AUTH_STORE:
    case SQ_AUTH_STORE_CUSTOMER:
        store(req);
        return;
    case SQ_AUTH_ADMIN:
        admin(req);
        return;
    }
}
