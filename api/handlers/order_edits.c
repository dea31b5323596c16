/* order_edits.c: staff edits of orders and the completion of draft orders (draft CRUD goes through the resource
 * handlers: routes.c). Rules: core/order_edit.h. */
#include "api/handlers/handlers.h"
#include "core/base/id.h"
#include "core/order_edit.h"

/* The validated body as compact JSON text ("{}" for an empty optional body), or NULL after answering. */
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

void sq_h_admin_order_edit(sq_req_t *req)
{
    const char *id = sq_req_param(req, "id"), *json;
    if (!sq_id_valid("order", id)) {
        sq_req_fail_code(req, SQ_E_NOT_FOUND, "The order does not exist.");
        return;
    }
    if ((json = body(req, sq_order_edit_fields, true)) != NULL)
        sq_order_edit(&req->cx, id, json, req->principal.id, sq_req_on_json_200, req);
}

void sq_h_admin_draft_complete(sq_req_t *req)
{
    const char *id = sq_req_param(req, "id"), *json;
    if (!sq_id_valid("draft", id)) {
        sq_req_fail_code(req, SQ_E_NOT_FOUND, "The draft order does not exist.");
        return;
    }
    if ((json = body(req, sq_draft_complete_fields, false)) != NULL)
        sq_draft_order_complete(&req->cx, id, json, req->principal.id, sq_req_on_json_201, req);
}
