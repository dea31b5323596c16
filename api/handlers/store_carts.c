/* store_carts.c: /v1/store/carts: guest and customer carts and their line items. The caller (channel of the
 * publishable key, customer of the token) scopes every query; answers carry an ETag for If-Match. */
#include <stddef.h>
#include <string.h>

#include "api/handlers/handlers.h"
#include "core/base/id.h"
#include "core/cart.h"
#include "core/promotion.h"

static void on_cart(const char *json, const sq_err_t *err, void *data, int status)
{
    sq_req_t *req = data;
    if (err != NULL)
        sq_req_fail_with(req, err);
    else
        sq_req_send_tagged(req, status, json, strlen(json));
}

static void on_200(const char *json, const sq_err_t *err, void *data)
{
    on_cart(json, err, data, 200);
}

static void on_201(const char *json, const sq_err_t *err, void *data)
{
    on_cart(json, err, data, 201);
}

/* The caller, with If-Match; -1 (answered) on a malformed If-Match. */
static int caller(sq_req_t *req, sq_cart_caller_t *who)
{
    memset(who, 0, sizeof(*who));
    who->channel_id = req->principal.channel_id;
    who->customer_id = req->principal.kind == SQ_PRINCIPAL_CUSTOMER ? req->principal.id : NULL;
    who->ttl_s = req->rt->cfg->cart_ttl;
    if (sq_req_if_match(req, &who->if_match) != 0) {
        sq_req_fail(req);
        return -1;
    }
    return 0;
}

/* The cart id of the path; a malformed one is a 404 without a query. */
static const char *cart_id(sq_req_t *req)
{
    const char *id = sq_req_param(req, "id");
    if (!sq_cart_id_valid(id)) {
        sq_req_fail_code(req, SQ_E_NOT_FOUND, "The cart does not exist.");
        return NULL;
    }
    return id;
}

/* The validated body as compact JSON, or NULL after answering 400/422. */
static const char *valid_body(sq_req_t *req, const sq_field_t *fields)
{
    json_t *b = sq_req_body(req);
    char *scratch = sq_arena_zalloc(req->arena, 256);
    if (b == NULL || sq_json_decode(req->arena, b, fields, scratch, NULL, &req->err) != 0) {
        sq_req_fail(req);
        return NULL;
    }
    size_t len;
    return sq_json_dump(req->arena, b, &len);
}

void sq_h_store_cart_create(sq_req_t *req)
{
    sq_cart_caller_t who;
    const char *body;
    if (caller(req, &who) != 0 || (body = valid_body(req, sq_cart_create_fields)) == NULL)
        return;
    sq_cart_create(&req->cx, &who, body, on_201, req);
}

void sq_h_store_cart_get(sq_req_t *req)
{
    sq_cart_caller_t who;
    const char *id;
    if (caller(req, &who) != 0 || (id = cart_id(req)) == NULL)
        return;
    sq_cart_get(&req->cx, &who, id, on_200, req);
}

void sq_h_store_cart_update(sq_req_t *req)
{
    sq_cart_caller_t who;
    const char *id, *body;
    if (caller(req, &who) != 0 || (id = cart_id(req)) == NULL || (body = valid_body(req, sq_cart_update_fields)) == NULL)
        return;
    sq_cart_update(&req->cx, &who, id, body, on_200, req);
}

/* POST /v1/store/carts/{id}/customer (a customer token is required by the route). No body, or an empty object:
 * like every POST, a malformed body is 400 and any field is 422 unknown-field. */
void sq_h_store_cart_attach(sq_req_t *req)
{
    static const sq_field_t none[] = {{NULL}};
    sq_cart_caller_t who;
    const char *id;
    if (caller(req, &who) != 0 || (id = cart_id(req)) == NULL)
        return;
    if (req->h2o->entity.base != NULL && req->h2o->entity.len > 0 && sq_req_json(req, none, NULL, NULL) != 0) {
        sq_req_fail(req);
        return;
    }
    sq_cart_attach(&req->cx, &who, id, on_200, req);
}

void sq_h_store_cart_line_add(sq_req_t *req)
{
    sq_cart_caller_t who;
    sq_cart_line_in_t in = {0};
    const char *id;
    if (caller(req, &who) != 0 || (id = cart_id(req)) == NULL)
        return;
    if (sq_req_json(req, sq_cart_line_add_fields, &in, NULL) != 0) {
        sq_req_fail(req);
        return;
    }
    sq_cart_line_add(&req->cx, &who, id, &in, on_200, req);
}

/* The line id of the path; a malformed one is a 404 without a query. */
static const char *line_id(sq_req_t *req)
{
    const char *id = sq_req_param(req, "line_id");
    if (!sq_id_valid("cali", id)) {
        sq_req_fail_code(req, SQ_E_NOT_FOUND, "The line item does not exist.");
        return NULL;
    }
    return id;
}

void sq_h_store_cart_line_update(sq_req_t *req)
{
    sq_cart_caller_t who;
    sq_cart_line_in_t in = {0};
    const char *id, *line;
    if (caller(req, &who) != 0 || (id = cart_id(req)) == NULL || (line = line_id(req)) == NULL)
        return;
    if (sq_req_json(req, sq_cart_line_set_fields, &in, NULL) != 0) {
        sq_req_fail(req);
        return;
    }
    sq_cart_line_set(&req->cx, &who, id, line, (int)in.quantity, on_200, req);
}

void sq_h_store_cart_line_delete(sq_req_t *req)
{
    sq_cart_caller_t who;
    const char *id, *line;
    if (caller(req, &who) != 0 || (id = cart_id(req)) == NULL || (line = line_id(req)) == NULL)
        return;
    sq_cart_line_set(&req->cx, &who, id, line, -1, on_200, req);
}

/* GET /v1/store/carts/{id}/shipping-options */
void sq_h_store_cart_shipping_options(sq_req_t *req)
{
    sq_cart_caller_t who;
    const char *id;
    if (caller(req, &who) != 0 || (id = cart_id(req)) == NULL)
        return;
    sq_cart_shipping_options(&req->cx, &who, id, on_200, req);
}

/* POST /v1/store/carts/{id}/shipping-methods {option_id} */
void sq_h_store_cart_shipping_method(sq_req_t *req)
{
    typedef struct {
        const char *option_id;
    } in_t;
    static const sq_field_t fields[] = {
        {"option_id", SQ_FT_STR, SQ_F_REQUIRED, offsetof(in_t, option_id), 1, 40, NULL, sq_check_id, NULL},
        {NULL},
    };
    sq_cart_caller_t who;
    in_t in = {0};
    const char *id;
    if (caller(req, &who) != 0 || (id = cart_id(req)) == NULL)
        return;
    if (sq_req_json(req, fields, &in, NULL) != 0) {
        sq_req_fail(req);
        return;
    }
    sq_cart_shipping_method_set(&req->cx, &who, id, in.option_id, on_200, req);
}

/* ---- promotion codes and gift cards (core/promotion.h) ------------------------------------------------------ */

typedef struct {
    const char *code;
} code_in_t;

static const sq_field_t promo_code_fields[] = {
    {"code", SQ_FT_STR, SQ_F_REQUIRED, offsetof(code_in_t, code), 1, 64, NULL, NULL, NULL},
    {NULL},
};
static const sq_field_t gift_code_fields[] = {
    {"code", SQ_FT_STR, SQ_F_REQUIRED, offsetof(code_in_t, code), 1, 64, NULL, NULL, NULL},
    {NULL},
};

void sq_h_store_cart_promotion_add(sq_req_t *req)
{
    sq_cart_caller_t who;
    code_in_t in = {0};
    const char *id;
    if (caller(req, &who) != 0 || (id = cart_id(req)) == NULL)
        return;
    if (sq_req_json(req, promo_code_fields, &in, NULL) != 0) {
        sq_req_fail(req);
        return;
    }
    sq_cart_promotion_add(&req->cx, &who, id, in.code, on_200, req);
}

void sq_h_store_cart_promotion_remove(sq_req_t *req)
{
    sq_cart_caller_t who;
    const char *id, *code = sq_req_param(req, "code");
    if (caller(req, &who) != 0 || (id = cart_id(req)) == NULL)
        return;
    const char *why;
    json_t *v = json_string(code);
    bool ok = v != NULL && sq_check_promo_code(v, &why) == NULL;
    json_decref(v);
    if (!ok) {
        sq_req_fail_code(req, SQ_E_NOT_FOUND, "The code is not on the cart.");
        return;
    }
    sq_cart_promotion_remove(&req->cx, &who, id, code, on_200, req);
}

void sq_h_store_cart_gift_card_add(sq_req_t *req)
{
    sq_cart_caller_t who;
    code_in_t in = {0};
    const char *id;
    if (caller(req, &who) != 0 || (id = cart_id(req)) == NULL)
        return;
    if (sq_req_json(req, gift_code_fields, &in, NULL) != 0) {
        sq_req_fail(req);
        return;
    }
    /* guessing codes: every attempt counts per client address and per cart */
    const char *keys[2] = {sq_arena_printf(req->arena, "giftcard:ip:%s", req->ip),
                           sq_arena_printf(req->arena, "giftcard:cart:%s", id)};
    int limits[2] = {req->rt->cfg->gift_card_rate_ip, req->rt->cfg->gift_card_rate_cart};
    sq_cart_gift_card_add(&req->cx, &who, id, in.code, keys, limits, on_200, req);
}

void sq_h_store_cart_gift_card_remove(sq_req_t *req)
{
    sq_cart_caller_t who;
    const char *id, *card = sq_req_param(req, "gift_card_id");
    if (caller(req, &who) != 0 || (id = cart_id(req)) == NULL)
        return;
    if (!sq_id_valid("gcard", card)) {
        sq_req_fail_code(req, SQ_E_NOT_FOUND, "The gift card is not on the cart.");
        return;
    }
    sq_cart_gift_card_remove(&req->cx, &who, id, card, on_200, req);
}
