/* inventory.c: stock changes of an inventory item (adjustments, counts, transfers). Items and the ledger are
 * plain resources (routes.c); reservations have no route: checkout calls them (core/inventory.h). */
#include "api/handlers/handlers.h"
#include "core/base/id.h"
#include "core/inventory.h"

static void change(sq_req_t *req, sq_stock_change_t kind)
{
    const char *id = sq_req_param(req, "id");
    if (!sq_id_valid("iitem", id)) {
        sq_req_fail_code(req, SQ_E_NOT_FOUND, "The inventory item does not exist.");
        return;
    }
    json_t *b = sq_req_body(req);
    char *scratch = sq_arena_zalloc(req->arena, 256);
    if (b == NULL || sq_json_decode(req->arena, b, sq_stock_change_fields[kind], scratch, NULL, &req->err) != 0 ||
        sq_stock_change_check(kind, b, &req->err) != 0) {
        sq_req_fail(req);
        return;
    }
    size_t len;
    sq_stock_change(&req->cx, id, kind, sq_json_dump(req->arena, b, &len), req->principal.id, sq_req_on_json_200, req);
}

void sq_h_stock_adjust(sq_req_t *req)
{
    change(req, SQ_STOCK_ADJUSTMENT);
}

void sq_h_stock_count(sq_req_t *req)
{
    change(req, SQ_STOCK_COUNT);
}

void sq_h_stock_transfer(sq_req_t *req)
{
    change(req, SQ_STOCK_TRANSFER);
}
