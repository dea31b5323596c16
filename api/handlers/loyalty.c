/* loyalty.c: loyalty points (program, accounts, adjustments, redeeming on carts) and customer segments (refresh, CSV
 * export). Tiers and segments themselves are plain resources (resource.c). */
#include <string.h>

#include "api/handlers/handlers.h"
#include "core/base/id.h"
#include "core/cart.h"
#include "core/loyalty.h"

/* The {id} of the path when it is an id with the prefix; otherwise a 404 is sent and NULL returned. */
static const char *path_id(sq_req_t *req, const char *prefix, const char *what)
{
    const char *id = sq_req_param(req, "id");
    if (!sq_id_valid(prefix, id)) {
        sq_req_fail_code(req, SQ_E_NOT_FOUND, "The %s does not exist.", what);
        return NULL;
    }
    return id;
}

void sq_h_loyalty_program_get(sq_req_t *req)
{
    sq_loyalty_program_get(&req->cx, sq_req_on_json_200, req);
}

void sq_h_loyalty_program_update(sq_req_t *req)
{
    json_t *b = sq_req_body(req);
    char *scratch = sq_arena_zalloc(req->arena, 256);
    if (b == NULL || sq_json_decode(req->arena, b, sq_loyalty_program_fields, scratch, NULL, &req->err) != 0) {
        sq_req_fail(req);
        return;
    }
    size_t len;
    sq_loyalty_program_update(&req->cx, sq_json_dump(req->arena, b, &len), sq_req_on_json_200, req);
}

void sq_h_admin_loyalty_get(sq_req_t *req)
{
    const char *id = path_id(req, "cus", "customer");
    if (id != NULL)
        sq_loyalty_account_get(&req->cx, id, sq_req_on_json_200, req);
}

void sq_h_admin_loyalty_adjust(sq_req_t *req)
{
    const char *id = path_id(req, "cus", "customer");
    sq_loyalty_adjust_in_t in = {0};
    if (id == NULL)
        return;
    if (sq_req_json(req, sq_loyalty_adjust_fields, &in, NULL) != 0) {
        sq_req_fail(req);
        return;
    }
    if (in.points == 0) {
        sq_err_set(&req->err, SQ_E_VALIDATION, "Some fields are invalid; see errors.");
        sq_err_field(&req->err, "/points", "out_of_range", "points must not be 0");
        sq_req_fail(req);
        return;
    }
    sq_loyalty_adjust(&req->cx, id, &in, req->principal.id, sq_req_on_json_201, req);
}

void sq_h_store_my_loyalty(sq_req_t *req)
{
    sq_loyalty_account_get(&req->cx, req->principal.id, sq_req_on_json_200, req);
}

/* ---- carts ----------------------------------------------------------------------------------------------------- */

static void on_cart(const char *json, const sq_err_t *err, void *data)
{
    sq_req_t *req = data;
    if (err != NULL)
        sq_req_fail_with(req, err);
    else
        sq_req_send_tagged(req, 200, json, strlen(json));
}

static const char *cart_caller(sq_req_t *req, sq_cart_caller_t *who)
{
    memset(who, 0, sizeof(*who));
    who->channel_id = req->principal.channel_id;
    who->customer_id = req->principal.kind == SQ_PRINCIPAL_CUSTOMER ? req->principal.id : NULL;
    who->ttl_s = req->rt->cfg->cart_ttl;
    const char *id = sq_req_param(req, "id");
    if (!sq_cart_id_valid(id)) {
        sq_req_fail_code(req, SQ_E_NOT_FOUND, "The cart does not exist.");
        return NULL;
    }
    return id;
}

void sq_h_store_cart_loyalty_set(sq_req_t *req)
{
    sq_cart_caller_t who;
    int64_t points = 0;
    const char *id = cart_caller(req, &who);
    if (id == NULL)
        return;
    if (sq_req_json(req, sq_loyalty_cart_fields, &points, NULL) != 0) {
        sq_req_fail(req);
        return;
    }
    sq_cart_loyalty_set(&req->cx, &who, id, points, on_cart, req);
}

void sq_h_store_cart_loyalty_remove(sq_req_t *req)
{
    sq_cart_caller_t who;
    const char *id = cart_caller(req, &who);
    if (id != NULL)
        sq_cart_loyalty_remove(&req->cx, &who, id, on_cart, req);
}

/* ---- segments ----------------------------------------------------------------------------------------------------- */

void sq_h_segment_refresh(sq_req_t *req)
{
    /* no body, or an empty object: checked first (as every body route), so a malformed one is 400 whatever the id */
    if (req->h2o->entity.base != NULL && req->h2o->entity.len > 0) {
        static const sq_field_t none[] = {{NULL}};
        json_t *b = sq_req_body(req);
        if (b == NULL || sq_json_decode(req->arena, b, none, NULL, NULL, &req->err) != 0) {
            sq_req_fail(req);
            return;
        }
    }
    const char *id = path_id(req, "seg", "segment");
    if (id != NULL)
        sq_segment_refresh(&req->cx, id, sq_req_on_json_200, req);
}

static void on_csv(const char *text, size_t len, const sq_err_t *err, void *data)
{
    sq_req_t *req = data;
    if (err != NULL) {
        sq_req_fail_with(req, err);
        return;
    }
    sq_req_add_header(req, "content-disposition", "attachment; filename=\"segment.csv\"");
    sq_req_send_text(req, 200, "text/csv; charset=utf-8", text, len);
}

void sq_h_segment_export(sq_req_t *req)
{
    const char *id = path_id(req, "seg", "segment");
    if (id != NULL)
        sq_segment_export(&req->cx, id, on_csv, req);
}
