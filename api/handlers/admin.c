/* admin.c: staff users, API keys and the customer directory of the admin API. */
#include <string.h>

#include "api/handlers/handlers.h"
#include "core/apikey.h"
#include "core/base/id.h"
#include "core/customer.h"
#include "core/staff.h"

/* An id from the path with the expected prefix, or a 404 answered here. */
static const char *path_id(sq_req_t *req, const char *prefix, const char *what)
{
    const char *id = sq_req_param(req, "id");
    if (!sq_id_valid(prefix, id)) {
        sq_req_fail_code(req, SQ_E_NOT_FOUND, "The %s does not exist.", what);
        return NULL;
    }
    return id;
}

static bool page(sq_req_t *req, sq_page_t *p)
{
    if (sq_req_page(req, p) != 0) {
        sq_req_fail(req);
        return false;
    }
    return true;
}

/* Who did it, for created_by / revoked_by columns. */
static const char *actor(sq_req_t *req)
{
    return req->principal.id;
}

void sq_h_admin_me(sq_req_t *req)
{
    if (req->principal.kind != SQ_PRINCIPAL_STAFF) {
        sq_req_fail_code(req, SQ_E_FORBIDDEN, "Only staff users have a profile; this is an API key.");
        return;
    }
    sq_staff_get(&req->cx, req->principal.id, sq_req_on_json_200, req);
}

void sq_h_admin_user_list(sq_req_t *req)
{
    sq_page_t p;
    if (page(req, &p))
        sq_staff_list(&req->cx, &p, sq_req_on_list, req);
}

/* API keys act with the rights of an admin when their scopes allow staff changes. */
static sq_role_t actor_role(sq_req_t *req)
{
    return req->principal.kind == SQ_PRINCIPAL_STAFF ? req->principal.role : SQ_ROLE_ADMIN;
}

void sq_h_admin_user_create(sq_req_t *req)
{
    sq_staff_create_t in = {0};
    if (sq_req_json(req, sq_staff_create_fields, &in, NULL) != 0) {
        sq_req_fail(req);
        return;
    }
    sq_staff_create(&req->cx, actor_role(req), &in, sq_req_on_json_201, req);
}

void sq_h_admin_user_get(sq_req_t *req)
{
    const char *id = path_id(req, "usr", "user");
    if (id != NULL)
        sq_staff_get(&req->cx, id, sq_req_on_json_200, req);
}

void sq_h_admin_user_update(sq_req_t *req)
{
    sq_staff_update_t in = {0};
    uint64_t present;
    const char *id = path_id(req, "usr", "user");
    if (id == NULL)
        return;
    if (sq_req_json(req, sq_staff_update_fields, &in, &present) != 0) {
        sq_req_fail(req);
        return;
    }
    sq_staff_update(&req->cx, actor(req), actor_role(req), id, &in, present, sq_req_on_json_200, req);
}

void sq_h_admin_key_list(sq_req_t *req)
{
    sq_page_t p;
    const char *type = sq_req_query(req, "type");
    if (type != NULL && strcmp(type, "publishable") != 0 && strcmp(type, "secret") != 0) {
        req->err.param_errors = true;
        sq_err_field(&req->err, "type", "invalid_value", "type must be publishable or secret");
        sq_req_fail_code(req, SQ_E_INVALID_PARAMETER, "A query parameter is invalid.");
        return;
    }
    if (page(req, &p))
        sq_api_key_list(&req->cx, type, &p, sq_req_on_list, req);
}

void sq_h_admin_key_create(sq_req_t *req)
{
    sq_api_key_create_t in = {0};
    if (sq_req_json(req, sq_api_key_create_fields, &in, NULL) != 0 || sq_api_key_check(&in, &req->err) != 0) {
        sq_req_fail(req);
        return;
    }
    sq_api_key_create(&req->cx, &in, actor(req), sq_req_on_json_201, req);
}

void sq_h_admin_key_get(sq_req_t *req)
{
    const char *id = path_id(req, "key", "API key");
    if (id != NULL)
        sq_api_key_get(&req->cx, id, sq_req_on_json_200, req);
}

void sq_h_admin_key_revoke(sq_req_t *req)
{
    const char *id = path_id(req, "key", "API key");
    if (id != NULL)
        sq_api_key_revoke(&req->cx, id, actor(req), sq_req_on_json_200, req);
}

void sq_h_admin_customer_list(sq_req_t *req)
{
    sq_page_t p;
    const char *q = sq_req_query(req, "q"), *tag = sq_req_query(req, "tag");
    if (q != NULL && (strlen(q) == 0 || strlen(q) > 254)) {
        req->err.param_errors = true;
        sq_err_field(&req->err, "q", "invalid_length", "q must be 1 to 254 characters");
        sq_req_fail_code(req, SQ_E_INVALID_PARAMETER, "A query parameter is invalid.");
        return;
    }
    if (tag != NULL && (strlen(tag) == 0 || strlen(tag) > 64)) {
        req->err.param_errors = true;
        sq_err_field(&req->err, "tag", "invalid_length", "tag must be 1 to 64 characters");
        sq_req_fail_code(req, SQ_E_INVALID_PARAMETER, "A query parameter is invalid.");
        return;
    }
    if (page(req, &p))
        sq_customer_admin_list(&req->cx, q, tag, &p, sq_req_on_list, req);
}

void sq_h_admin_customer_get(sq_req_t *req)
{
    const char *id = path_id(req, "cus", "customer");
    if (id != NULL)
        sq_customer_admin_get(&req->cx, id, sq_req_on_json_200, req);
}
