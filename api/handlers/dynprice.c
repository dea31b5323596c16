/* dynprice.c: the dynamic-pricing routes that are not plain resource CRUD (core/dynprice.h): canceling a scheduled
 * price change and previewing a pricing rule. Both take no options: an empty body or {}. */
#include "api/handlers/handlers.h"
#include "core/base/id.h"
#include "core/dynprice.h"

/* the body first (as every body route): a malformed one is 400 whatever the id; then the id (404) */
static const char *action_id(sq_req_t *req, const char *prefix, const char *what)
{
    if (req->h2o->entity.base != NULL && req->h2o->entity.len > 0) {
        static const sq_field_t none[] = {{NULL}};
        json_t *b = sq_req_body(req);
        if (b == NULL || sq_json_decode(req->arena, b, none, NULL, NULL, &req->err) != 0) {
            sq_req_fail(req);
            return NULL;
        }
    }
    const char *id = sq_req_param(req, "id");
    if (!sq_id_valid(prefix, id)) {
        sq_req_fail_code(req, SQ_E_NOT_FOUND, "The %s does not exist.", what);
        return NULL;
    }
    return id;
}

void sq_h_price_schedule_cancel(sq_req_t *req)
{
    const char *id = action_id(req, "psch", "price schedule");
    if (id != NULL)
        sq_price_schedule_cancel(&req->cx, id, sq_req_on_json_200, req);
}

void sq_h_pricing_rule_preview(sq_req_t *req)
{
    const char *id = action_id(req, "prule", "pricing rule");
    if (id != NULL)
        sq_pricing_rule_preview(&req->cx, id, sq_req_on_json_200, req);
}
