/* gift_sale.c: gift cards sold as a product (core/gift_sale.h): the one-time reveal of a sold card's code, the
 * cards an order issued, staff balance adjustments; and DELETE of a cart's shipping method (core/cart.h). */
#include <string.h>

#include "api/handlers/handlers.h"
#include "core/base/id.h"
#include "core/cart.h"
#include "core/gift_sale.h"

/* An optional empty body: malformed JSON is 400 and an unknown field 422, as on every POST. */
static int no_body(sq_req_t *req)
{
    static const sq_field_t none[] = {{NULL}};
    if (req->h2o->entity.base != NULL && req->h2o->entity.len > 0 && sq_req_json(req, none, NULL, NULL) != 0) {
        sq_req_fail(req);
        return -1;
    }
    return 0;
}

static const char *card_id(sq_req_t *req)
{
    const char *id = sq_req_param(req, "id");
    if (!sq_id_valid("gcard", id)) {
        sq_req_fail_code(req, SQ_E_NOT_FOUND, "The gift card does not exist.");
        return NULL;
    }
    return id;
}

/* POST /v1/admin/gift-cards/{id}/reveal */
void sq_h_gift_card_reveal(sq_req_t *req)
{
    const char *id = card_id(req);
    if (id != NULL && no_body(req) == 0)
        sq_gift_card_reveal(&req->cx, id, req->principal.id, sq_req_on_json_200, req);
}

/* POST /v1/admin/gift-cards/{id}/adjustments {amount, reason, note} */
void sq_h_gift_card_adjust(sq_req_t *req)
{
    sq_gift_card_adjust_in_t in = {0};
    const char *id = card_id(req);
    if (id == NULL)
        return;
    if (sq_req_json(req, sq_gift_card_adjust_fields, &in, NULL) != 0) {
        sq_req_fail(req);
        return;
    }
    if (in.amount == 0) {
        sq_err_set(&req->err, SQ_E_VALIDATION, "amount must not be 0.");
        sq_err_field(&req->err, "/amount", "out_of_range",
                     "A positive amount credits the card, a negative one debits it; 0 is neither.");
        sq_req_fail(req);
        return;
    }
    sq_gift_card_adjust(&req->cx, id, &in, req->principal.id, sq_req_on_json_200, req);
}

/* GET /v1/admin/orders/{id}/gift-cards */
void sq_h_order_gift_cards(sq_req_t *req)
{
    const char *id = sq_req_param(req, "id");
    if (!sq_id_valid("order", id)) {
        sq_req_fail_code(req, SQ_E_NOT_FOUND, "The order does not exist.");
        return;
    }
    sq_order_gift_cards(&req->cx, id, sq_req_on_json_200, req);
}

/* POST /v1/admin/orders/{id}/gift-card-refunds {amount, gift_card_id} */
void sq_h_order_gift_card_refund(sq_req_t *req)
{
    sq_gift_card_refund_in_t in = {0};
    const char *id = sq_req_param(req, "id");
    if (!sq_id_valid("order", id)) {
        sq_req_fail_code(req, SQ_E_NOT_FOUND, "The order does not exist.");
        return;
    }
    if (sq_req_json(req, sq_gift_card_refund_fields, &in, NULL) != 0) {
        sq_req_fail(req);
        return;
    }
    sq_order_gift_card_refund(&req->cx, id, &in, req->principal.id, sq_req_on_json_201, req);
}

static void on_cart(const char *json, const sq_err_t *err, void *data)
{
    sq_req_t *req = data;
    if (err != NULL)
        sq_req_fail_with(req, err);
    else
        sq_req_send_tagged(req, 200, json, strlen(json));
}

/* DELETE /v1/store/carts/{id}/shipping-method (If-Match like every cart change) */
void sq_h_store_cart_shipping_method_remove(sq_req_t *req)
{
    sq_cart_caller_t who = {req->principal.channel_id, req->principal.kind == SQ_PRINCIPAL_CUSTOMER ? req->principal.id : NULL,
                            req->rt->cfg->cart_ttl, NULL};
    const char *id = sq_req_param(req, "id");
    if (sq_req_if_match(req, &who.if_match) != 0) {
        sq_req_fail(req);
        return;
    }
    if (!sq_cart_id_valid(id)) {
        sq_req_fail_code(req, SQ_E_NOT_FOUND, "The cart does not exist.");
        return;
    }
    sq_cart_shipping_method_remove(&req->cx, &who, id, on_cart, req);
}
