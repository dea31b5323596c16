/* purchasing.c: purchase order moves (send, cancel), receipts and the CSV export; suppliers, reorder rules and purchase
 * order CRUD go through the resource handlers (routes.c). Rules: core/purchasing.h. */
#include "api/handlers/purchasing.h"

#include "api/handlers/handlers.h"
#include "core/base/id.h"
#include <string.h>

#include "core/purchasing.h"

/* The {id} of a purchase order, or NULL after a 404. */
static const char *po_id(sq_req_t *req)
{
    const char *id = sq_req_param(req, "id");
    if (!sq_id_valid("po", id)) {
        sq_req_fail_code(req, SQ_E_NOT_FOUND, "The purchase order does not exist.");
        return NULL;
    }
    return id;
}

/* The validated body as compact JSON ("{}" for an empty optional body), or NULL after answering. */
static const char *body(sq_req_t *req, const sq_field_t *fields, bool required)
{
    if (!required && (req->h2o->entity.base == NULL || req->h2o->entity.len == 0))
        return "{}";
    json_t *b = sq_req_body(req);
    char *scratch = sq_arena_zalloc(req->arena, 256);
    if (b == NULL || sq_json_decode(req->arena, b, fields, scratch, NULL, &req->err) != 0) {
        sq_req_fail(req);
        return NULL;
    }
    size_t len;
    return sq_json_dump(req->arena, b, &len);
}

void sq_h_po_send(sq_req_t *req)
{
    const char *id = po_id(req);
    if (id != NULL && body(req, sq_po_no_fields, false) != NULL)
        sq_purchase_order_send(&req->cx, id, req->principal.id, sq_req_on_json_200, req);
}

void sq_h_po_cancel(sq_req_t *req)
{
    const char *id = po_id(req);
    if (id != NULL && body(req, sq_po_no_fields, false) != NULL)
        sq_purchase_order_cancel(&req->cx, id, req->principal.id, sq_req_on_json_200, req);
}

void sq_h_po_receive(sq_req_t *req)
{
    const char *id = po_id(req), *json;
    if (id == NULL || (json = body(req, sq_po_receipt_fields, true)) == NULL)
        return;
    if (sq_po_receipt_check(sq_req_body(req), &req->err) != 0) {
        sq_req_fail(req);
        return;
    }
    if (!req->idem.claimed) { /* the router claims the key before this runs; no key, no claim */
        sq_err_set(&req->err, SQ_E_INVALID_PARAMETER, "Receiving goods requires an Idempotency-Key header.");
        sq_err_field(&req->err, "Idempotency-Key", "required",
                     "Send a unique key per receipt (a UUID): a retry is then applied once.");
        req->err.param_errors = true;
        sq_req_fail(req);
        return;
    }
    sq_purchase_order_receive(&req->cx, id, json, req->idem.scope.key, req->principal.id, sq_req_on_json_200, req);
}

static void on_csv(const char *text, const sq_err_t *err, void *data)
{
    sq_req_t *req = data;
    if (err != NULL) {
        sq_req_fail_with(req, err);
        return;
    }
    sq_req_add_header(req, "content-disposition", "attachment; filename=\"purchase-orders.csv\"");
    sq_req_send_text(req, 200, "text/csv; charset=utf-8", text, text ? strlen(text) : 0);
}

void sq_h_export_purchase_orders(sq_req_t *req)
{
    const sq_resource_t *r = &sq_res_purchase_order;
    const char *filters[SQ_RES_MAX_FILTERS] = {0};
    for (int i = 0; r->filters[i] != NULL && i < SQ_RES_MAX_FILTERS; i++)
        filters[i] = sq_req_query(req, r->filters[i]);
    if (sq_resource_check_filters(r, filters, &req->err) != 0) {
        sq_req_fail(req);
        return;
    }
    sq_purchase_orders_csv(&req->cx, filters, on_csv, req);
}
