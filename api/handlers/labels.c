/* labels.c: shipping labels bought from a carrier provider for a fulfilment, and asking the carrier where a
 * shipment is. Rules: core/label.h. */
#include <string.h>

#include "api/handlers/handlers.h"
#include "core/base/id.h"
#include "core/label.h"

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

/* POST /v1/admin/orders/{id}/fulfillments/{fulfillment_id}/labels {provider, service}: an empty body is {} */
void sq_h_admin_label_buy(sq_req_t *req)
{
    const char *id = path_id(req, "id", "order", "order"), *fid, *json = "{}";
    if (id == NULL || (fid = path_id(req, "fulfillment_id", "ful", "fulfilment")) == NULL)
        return;
    if (req->h2o->entity.base != NULL && req->h2o->entity.len > 0) {
        json_t *b = sq_req_body(req);
        char *scratch = sq_arena_zalloc(req->arena, 256);
        if (b == NULL || sq_json_decode(req->arena, b, sq_label_fields, scratch, NULL, &req->err) != 0) {
            sq_req_fail(req);
            return;
        }
        size_t len;
        json = sq_json_dump(req->arena, b, &len);
    }
    sq_label_buy(&req->cx, id, fid, json, req->principal.id, sq_req_on_json_201, req);
}

/* POST /v1/admin/orders/{id}/fulfillments/{fulfillment_id}/shipments/{shipment_id}/track */
void sq_h_admin_shipment_track(sq_req_t *req)
{
    const char *id = path_id(req, "id", "order", "order"), *fid, *sid;
    if (id == NULL || (fid = path_id(req, "fulfillment_id", "ful", "fulfilment")) == NULL ||
        (sid = path_id(req, "shipment_id", "shp", "shipment")) == NULL)
        return;
    if (req->h2o->entity.base != NULL && req->h2o->entity.len > 0) {
        static const sq_field_t none[] = {{NULL}};
        json_t *b = sq_req_body(req);
        char scratch[16];
        if (b == NULL || sq_json_decode(req->arena, b, none, scratch, NULL, &req->err) != 0) {
            sq_req_fail(req);
            return;
        }
    }
    sq_shipment_track(&req->cx, id, fid, sid, req->principal.id, sq_req_on_json_200, req);
}
