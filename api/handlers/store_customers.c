/* store_customers.c: registration, the customer's own profile, password flows and addresses. Every query
 * is scoped to the customer of the token: another customer's address is a 404. */
#include <string.h>

#include "api/handlers/handlers.h"
#include "core/base/id.h"
#include "core/customer.h"

void sq_h_store_register(sq_req_t *req)
{
    sq_customer_create_t in = {0};
    if (sq_req_json(req, sq_customer_create_fields, &in, NULL) != 0) {
        sq_req_fail(req);
        return;
    }
    sq_customer_register(&req->cx, &in, sq_req_on_json_201, req);
}

void sq_h_store_me_get(sq_req_t *req)
{
    sq_customer_get(&req->cx, req->principal.id, sq_req_on_json_200, req);
}

void sq_h_store_me_update(sq_req_t *req)
{
    sq_customer_update_t in = {0};
    uint64_t present;
    const char *etag;
    if (sq_req_if_match(req, &etag) != 0 || sq_req_json(req, sq_customer_update_fields, &in, &present) != 0) {
        sq_req_fail(req);
        return;
    }
    sq_customer_update(&req->cx, req->principal.id, &in, present, etag, sq_req_on_json_200, req);
}

void sq_h_store_password_change(sq_req_t *req)
{
    sq_password_change_t in = {0};
    if (sq_req_json(req, sq_password_change_fields, &in, NULL) != 0) {
        sq_req_fail(req);
        return;
    }
    sq_customer_change_password(&req->cx, req->principal.id, req->principal.session_id, &in, sq_req_on_done_204, req);
}

void sq_h_store_reset_request(sq_req_t *req)
{
    sq_reset_request_t in = {0};
    if (sq_req_json(req, sq_reset_request_fields, &in, NULL) != 0) {
        sq_req_fail(req);
        return;
    }
    const sq_config_t *c = req->rt->cfg;
    sq_customer_reset_request(&req->cx, in.email, req->ip, c->reset_rate_account, c->reset_rate_ip, sq_req_on_done_202, req);
}

void sq_h_store_reset_confirm(sq_req_t *req)
{
    sq_reset_confirm_t in = {0};
    if (sq_req_json(req, sq_reset_confirm_fields, &in, NULL) != 0) {
        sq_req_fail(req);
        return;
    }
    sq_customer_reset_confirm(&req->cx, &in, sq_req_on_done_204, req);
}

void sq_h_store_address_list(sq_req_t *req)
{
    sq_page_t page;
    if (sq_req_page(req, &page) != 0) {
        sq_req_fail(req);
        return;
    }
    sq_address_list(&req->cx, req->principal.id, &page, sq_req_on_list, req);
}

void sq_h_store_address_create(sq_req_t *req)
{
    sq_address_t in = {0};
    if (sq_req_json(req, sq_address_create_fields, &in, NULL) != 0) {
        sq_req_fail(req);
        return;
    }
    sq_address_create(&req->cx, req->principal.id, &in, sq_req_on_json_201, req);
}

/* The address id from the path; malformed ids are answered 404 without a query. */
static const char *address_id(sq_req_t *req)
{
    const char *id = sq_req_param(req, "id");
    if (!sq_id_valid("addr", id)) {
        sq_req_fail_code(req, SQ_E_NOT_FOUND, "The address does not exist.");
        return NULL;
    }
    return id;
}

void sq_h_store_address_get(sq_req_t *req)
{
    const char *id = address_id(req);
    if (id != NULL)
        sq_address_get(&req->cx, req->principal.id, id, sq_req_on_json_200, req);
}

void sq_h_store_address_update(sq_req_t *req)
{
    sq_address_t in = {0};
    uint64_t present;
    const char *id = address_id(req);
    if (id == NULL)
        return;
    if (sq_req_json(req, sq_address_update_fields, &in, &present) != 0) {
        sq_req_fail(req);
        return;
    }
    sq_address_update(&req->cx, req->principal.id, id, &in, present, sq_req_on_json_200, req);
}

void sq_h_store_address_delete(sq_req_t *req)
{
    const char *id = address_id(req);
    if (id != NULL)
        sq_address_delete(&req->cx, req->principal.id, id, sq_req_on_done_204, req);
}
