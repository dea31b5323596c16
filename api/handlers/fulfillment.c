/* fulfillment.c: fulfilments, shipments and deliveries of orders, returns (the customer's request and the staff
 * moves), and the orders CSV export. Rules: core/fulfillment.h. */
#include <string.h>

#include "api/handlers/handlers.h"
#include "core/base/id.h"
#include "core/fulfillment.h"
#include "core/order.h"

/* The {param} of the path when it is an id with this prefix; otherwise 404 is sent and NULL returned. */
static const char *path_id(sq_req_t *req, const char *param, const char *prefix, const char *what)
{
    const char *id = sq_req_param(req, param);
    if (!sq_id_valid(prefix, id)) {
        sq_req_fail_code(req, SQ_E_NOT_FOUND, "The %s does not exist.", what);
        return NULL;
    }
    return id;
}

/* The body validated against fields, as compact JSON text; NULL after answering 400/422. An optional body
 * (required false) may be empty: "{}" then. */
static const char *body(sq_req_t *req, const sq_field_t *fields, bool required, json_t **parsed)
{
    if (!required && (req->h2o->entity.base == NULL || req->h2o->entity.len == 0)) {
        if (parsed != NULL)
            *parsed = NULL;
        return "{}";
    }
    json_t *b = sq_req_body(req);
    char *scratch = sq_arena_zalloc(req->arena, 256);
    if (b == NULL || sq_json_decode(req->arena, b, fields, scratch, NULL, &req->err) != 0) {
        sq_req_fail(req);
        return NULL;
    }
    if (parsed != NULL)
        *parsed = b;
    size_t len;
    return sq_json_dump(req->arena, b, &len);
}

static const char *order_id(sq_req_t *req)
{
    return path_id(req, "id", "order", "order");
}

/* ---- fulfilments ----------------------------------------------------------------------------------------- */

void sq_h_admin_fulfillment_create(sq_req_t *req)
{
    json_t *b;
    const char *id = order_id(req), *json;
    if (id == NULL || (json = body(req, sq_fulfillment_fields, true, &b)) == NULL)
        return;
    sq_fulfillment_create(&req->cx, id, json, json_is_true(json_object_get(b, "capture")), req->principal.id, sq_req_on_json_201,
                          req);
}

void sq_h_admin_fulfillment_ship(sq_req_t *req)
{
    const char *id = order_id(req), *fid, *json;
    if (id == NULL || (fid = path_id(req, "fulfillment_id", "ful", "fulfilment")) == NULL ||
        (json = body(req, sq_shipment_fields, true, NULL)) == NULL)
        return;
    sq_fulfillment_ship(&req->cx, id, fid, json, req->principal.id, sq_req_on_json_201, req);
}

void sq_h_admin_fulfillment_deliver(sq_req_t *req)
{
    static const sq_field_t none[] = {{NULL}};
    const char *id = order_id(req), *fid;
    if (id == NULL || (fid = path_id(req, "fulfillment_id", "ful", "fulfilment")) == NULL || body(req, none, false, NULL) == NULL)
        return;
    sq_fulfillment_deliver(&req->cx, id, fid, req->principal.id, sq_req_on_json_200, req);
}

/* ---- returns --------------------------------------------------------------------------------------------- */

void sq_h_store_return_create(sq_req_t *req)
{
    const char *id = order_id(req), *json;
    if (id == NULL || (json = body(req, sq_return_fields, true, NULL)) == NULL)
        return;
    sq_return_create(&req->cx, id, req->principal.id, json, req->principal.id, sq_req_on_json_201, req);
}

void sq_h_admin_return_create(sq_req_t *req)
{
    const char *id = order_id(req), *json;
    if (id == NULL || (json = body(req, sq_return_fields, true, NULL)) == NULL)
        return;
    sq_return_create(&req->cx, id, NULL, json, req->principal.id, sq_req_on_json_201, req);
}

void sq_h_admin_return_list(sq_req_t *req)
{
    sq_page_t page;
    const char *id = order_id(req);
    if (id == NULL)
        return;
    if (sq_req_page(req, &page) != 0) {
        sq_req_fail(req);
        return;
    }
    sq_return_list(&req->cx, id, &page, sq_req_on_list, req);
}

static void decide(sq_req_t *req, bool approve)
{
    const char *id = order_id(req), *rid, *json;
    if (id == NULL || (rid = path_id(req, "return_id", "ret", "return")) == NULL ||
        (json = body(req, sq_return_decide_fields, false, NULL)) == NULL)
        return;
    sq_return_decide(&req->cx, id, rid, approve, json, req->principal.id, sq_req_on_json_200, req);
}

void sq_h_admin_return_approve(sq_req_t *req)
{
    decide(req, true);
}

void sq_h_admin_return_reject(sq_req_t *req)
{
    decide(req, false);
}

void sq_h_admin_return_receive(sq_req_t *req)
{
    const char *id = order_id(req), *rid, *json;
    if (id == NULL || (rid = path_id(req, "return_id", "ret", "return")) == NULL ||
        (json = body(req, sq_return_receive_fields, false, NULL)) == NULL)
        return;
    sq_return_receive(&req->cx, id, rid, json, req->principal.id, sq_req_on_json_200, req);
}

/* ---- the orders export ----------------------------------------------------------------------------------- */

static void on_csv(const char *text, size_t len, const sq_err_t *err, void *data)
{
    sq_req_t *req = data;
    if (err != NULL) {
        sq_req_fail_with(req, err);
        return;
    }
    sq_req_add_header(req, "content-disposition", "attachment; filename=\"orders.csv\"");
    sq_req_send_text(req, 200, "text/csv; charset=utf-8", text, len);
}

void sq_h_export_orders(sq_req_t *req)
{
    const sq_resource_t *r = &sq_res_order;
    const char *filters[SQ_RES_MAX_FILTERS] = {0};
    for (int i = 0; r->filters[i] != NULL && i < SQ_RES_MAX_FILTERS; i++)
        filters[i] = sq_req_query(req, r->filters[i]);
    if (sq_resource_check_filters(r, filters, &req->err) != 0) {
        sq_req_fail(req);
        return;
    }
    sq_export_orders_csv(&req->cx, filters, on_csv, req);
}
