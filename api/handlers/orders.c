/* orders.c: checkout (POST /v1/store/carts/{id}/complete), the customer's orders, the admin order moves
 * (capture, cancel, refunds) and the test gateway's 3-D Secure page. Reads of admin orders go through the
 * resource handlers (sq_res_order). */
#include <string.h>

#include "api/handlers/handlers.h"
#include "core/base/id.h"
#include "core/cart.h"
#include "core/checkout.h"
#include "core/order.h"

static void on_checkout(int status, const char *json, const sq_err_t *err, void *data)
{
    sq_req_t *req = data;
    if (err != NULL) {
        sq_req_fail_with(req, err);
        return;
    }
    if (status == 201) /* the order's transaction stored this answer for the Idempotency-Key */
        sq_req_idem_recorded(req);
    sq_req_send_json(req, status, json, strlen(json));
}

void sq_h_store_cart_complete(sq_req_t *req)
{
    const char *id = sq_req_param(req, "id");
    if (!sq_cart_id_valid(id)) {
        sq_req_fail_code(req, SQ_E_NOT_FOUND, "The cart does not exist.");
        return;
    }
    json_t *b = sq_req_body(req);
    char *scratch = sq_arena_zalloc(req->arena, 256);
    if (b == NULL || sq_json_decode(req->arena, b, sq_checkout_fields, scratch, NULL, &req->err) != 0) {
        sq_req_fail(req);
        return;
    }
    if (!req->idem.claimed) { /* the router claims the key before this runs; no key, no claim */
        sq_err_set(&req->err, SQ_E_INVALID_PARAMETER, "Checkout requires an Idempotency-Key header.");
        sq_err_field(&req->err, "Idempotency-Key", "required", "Send a unique key per checkout attempt (a UUID).");
        req->err.param_errors = true;
        sq_req_fail(req);
        return;
    }
    json_t *pay = json_object_get(b, "payment"), *pdata = json_object_get(pay, "data");
    sq_checkout_in_t in = {
        .who = {req->principal.channel_id, req->principal.kind == SQ_PRINCIPAL_CUSTOMER ? req->principal.id : NULL, req->rt->cfg->cart_ttl,
                NULL},
        .cart_id = id,
        .provider = json_string_value(json_object_get(pay, "provider")),
        .idem_key = req->idem.scope.key,
        .idem_scope = {req->idem.scope.principal, req->idem.scope.method, req->idem.scope.route, req->idem.scope.key},
        .reserve_ttl_s = req->rt->cfg->checkout_reservation_ttl,
        .expected_total = json_is_integer(json_object_get(b, "expected_total")) ? json_integer_value(json_object_get(b, "expected_total")) : -1,
    };
    if (pdata != NULL && !json_is_null(pdata)) {
        size_t len;
        in.payment_data = sq_json_dump(req->arena, pdata, &len);
    }
    sq_checkout_complete(&req->cx, &in, on_checkout, req);
}

/* ---- the customer's orders ------------------------------------------------------------------------------- */

void sq_h_store_my_orders(sq_req_t *req)
{
    sq_page_t page;
    if (sq_req_page(req, &page) != 0) {
        sq_req_fail(req);
        return;
    }
    sq_order_list_mine(&req->cx, req->principal.id, &page, sq_req_on_list, req);
}

void sq_h_store_my_order(sq_req_t *req)
{
    const char *id = sq_req_param(req, "id");
    if (!sq_id_valid("order", id)) {
        sq_req_fail_code(req, SQ_E_NOT_FOUND, "The order does not exist.");
        return;
    }
    sq_order_get_mine(&req->cx, req->principal.id, id, sq_req_on_json_200, req);
}

/* ---- admin moves ----------------------------------------------------------------------------------------- */

static const char *order_id(sq_req_t *req)
{
    const char *id = sq_req_param(req, "id");
    if (!sq_id_valid("order", id)) {
        sq_req_fail_code(req, SQ_E_NOT_FOUND, "The order does not exist.");
        return NULL;
    }
    return id;
}

/* An optional empty body: like every POST, malformed JSON is 400 and an unknown field 422. */
static int no_body(sq_req_t *req)
{
    static const sq_field_t none[] = {{NULL}};
    if (req->h2o->entity.base != NULL && req->h2o->entity.len > 0 && sq_req_json(req, none, NULL, NULL) != 0) {
        sq_req_fail(req);
        return -1;
    }
    return 0;
}

void sq_h_admin_order_capture(sq_req_t *req)
{
    const char *id = order_id(req);
    if (id != NULL && no_body(req) == 0)
        sq_order_capture(&req->cx, id, req->principal.id, sq_req_on_json_200, req);
}

void sq_h_admin_order_cancel(sq_req_t *req)
{
    const char *id = order_id(req);
    if (id == NULL)
        return;
    struct {
        const char *reason;
    } in = {NULL};
    if (req->h2o->entity.base != NULL && req->h2o->entity.len > 0 && sq_req_json(req, sq_order_cancel_fields, &in, NULL) != 0) {
        sq_req_fail(req);
        return;
    }
    sq_order_cancel(&req->cx, id, in.reason, req->principal.id, sq_req_on_json_200, req);
}

void sq_h_admin_order_refund(sq_req_t *req)
{
    const char *id = order_id(req);
    sq_refund_in_t in = {0};
    if (id == NULL)
        return;
    if (sq_req_json(req, sq_refund_fields, &in, NULL) != 0) {
        sq_req_fail(req);
        return;
    }
    sq_order_refund(&req->cx, id, &in, req->principal.id, sq_req_on_json_201, req);
}

/* ---- the test gateway's 3-D Secure page ----------------------------------------------------------------------- */

void sq_h_hook_test_authenticate(sq_req_t *req)
{
    static const char *const results[] = {"succeed", "fail", NULL};
    static const sq_field_t fields[] = {{"result", SQ_FT_STR, SQ_F_REQUIRED, 0, 1, 16, results, NULL, NULL}, {NULL}};
    const char *result = NULL;
    const char *id = sq_req_param(req, "id");
    if (!sq_id_valid("ch", id)) {
        sq_req_fail_code(req, SQ_E_NOT_FOUND, "No charge is waiting for authentication.");
        return;
    }
    if (sq_req_json(req, fields, &result, NULL) != 0) {
        sq_req_fail(req);
        return;
    }
    sq_payment_test_authenticate(&req->cx, id, strcmp(result, "succeed") == 0, sq_req_on_json_200, req);
}
