/* resource.c: the generic handlers of plain admin resources (core/resource.h): list, get, create, update,
 * delete, plus the sub-operations of some resources. The route's `res` says which resource. */
#include <string.h>

#include "api/handlers/handlers.h"
#include "core/base/id.h"
#include "core/catalog.h"
#include "core/product.h"

/* The {param} of the path when it is an id with the given prefix; otherwise a 404 is sent and NULL returned. */
static const char *path_id(sq_req_t *req, const char *param, const char *prefix, const char *what)
{
    const char *id = sq_req_param(req, param);
    if (!sq_id_valid(prefix, id)) {
        sq_req_fail_code(req, SQ_E_NOT_FOUND, "The %s does not exist.", what);
        return NULL;
    }
    return id;
}

/* The validated body, compact, or NULL after answering 400/422. */
static const char *valid_body(sq_req_t *req, const sq_field_t *fields)
{
    json_t *b = sq_req_body(req);
    if (b == NULL) {
        sq_req_fail(req);
        return NULL;
    }
    char *scratch = sq_arena_zalloc(req->arena, 256);
    if (sq_json_decode(req->arena, b, fields, scratch, NULL, &req->err) != 0) {
        sq_req_fail(req);
        return NULL;
    }
    size_t len;
    return sq_json_dump(req->arena, b, &len);
}

void sq_h_res_list(sq_req_t *req)
{
    const sq_resource_t *r = req->route->res;
    sq_page_t page;
    if (sq_req_page(req, &page) != 0) {
        sq_req_fail(req);
        return;
    }
    const char *filters[SQ_RES_MAX_FILTERS] = {0};
    for (int i = 0; r->filters != NULL && r->filters[i] != NULL && i < SQ_RES_MAX_FILTERS; i++)
        filters[i] = sq_req_query(req, r->filters[i]);
    if (sq_resource_check_filters(r, filters, &req->err) != 0) {
        sq_req_fail(req);
        return;
    }
    sq_resource_list(&req->cx, r, &page, filters, sq_req_on_list, req);
}

void sq_h_res_get(sq_req_t *req)
{
    const sq_resource_t *r = req->route->res;
    const char *id = path_id(req, "id", r->prefix, r->name);
    if (id != NULL)
        sq_resource_get(&req->cx, r, id, sq_req_on_json_200, req);
}

static const char *validated(sq_req_t *req, bool create)
{
    const sq_resource_t *r = req->route->res;
    json_t *b = sq_req_body(req);
    if (b == NULL || sq_resource_validate(req->arena, r, b, create, &req->err) != 0) {
        sq_req_fail(req);
        return NULL;
    }
    size_t len;
    return sq_json_dump(req->arena, b, &len);
}

void sq_h_res_create(sq_req_t *req)
{
    const char *body = validated(req, true);
    if (body != NULL)
        sq_resource_create(&req->cx, req->route->res, body, req->principal.id, sq_req_on_json_201, req);
}

void sq_h_res_update(sq_req_t *req)
{
    const sq_resource_t *r = req->route->res;
    const char *etag;
    const char *id = path_id(req, "id", r->prefix, r->name);
    if (id == NULL)
        return;
    if (sq_req_if_match(req, &etag) != 0) {
        sq_req_fail(req);
        return;
    }
    const char *body = validated(req, false); /* a broken body is a 400/422 whatever the headers say */
    if (body == NULL)
        return;
    if (etag == NULL && r->if_match_required) {
        sq_req_fail_code(req, SQ_E_PRECONDITION_REQUIRED, "Send the ETag of the %s you read in If-Match.", r->name);
        return;
    }
    if (r->update_takes_actor)
        sq_resource_update_as(&req->cx, r, id, body, etag, req->principal.id, sq_req_on_json_200, req);
    else
        sq_resource_update(&req->cx, r, id, body, etag, sq_req_on_json_200, req);
}

void sq_h_res_delete(sq_req_t *req)
{
    const sq_resource_t *r = req->route->res;
    const char *id = path_id(req, "id", r->prefix, r->name);
    if (id != NULL && r->remove_takes_actor)
        sq_resource_remove_as(&req->cx, r, id, req->principal.id, sq_req_on_done_204, req);
    else if (id != NULL)
        sq_resource_remove(&req->cx, r, id, sq_req_on_done_204, req);
}

/* ---- sub-operations ------------------------------------------------------------------------------------------ */

void sq_h_channel_location_set(sq_req_t *req)
{
    const char *id = path_id(req, "id", "sc", "sales channel");
    const char *body = id ? valid_body(req, sq_channel_location_fields) : NULL;
    if (body != NULL)
        sq_channel_location_set(&req->cx, id, body, sq_req_on_json_200, req);
}

void sq_h_channel_location_remove(sq_req_t *req)
{
    const char *id = path_id(req, "id", "sc", "sales channel");
    const char *loc = id ? path_id(req, "location_id", "sloc", "stock location") : NULL;
    if (loc != NULL)
        sq_channel_location_remove(&req->cx, id, loc, sq_req_on_json_200, req);
}

void sq_h_group_members(sq_req_t *req)
{
    const char *id = path_id(req, "id", "cgrp", "customer group");
    const char *body = id ? valid_body(req, sq_members_fields) : NULL;
    if (body != NULL)
        sq_group_members(&req->cx, id, body, sq_req_on_json_200, req);
}

void sq_h_collection_products(sq_req_t *req)
{
    const char *id = path_id(req, "id", "pcol", "collection");
    const char *body = id ? valid_body(req, sq_members_fields) : NULL;
    if (body != NULL)
        sq_collection_products(&req->cx, id, body, sq_req_on_json_200, req);
}

void sq_h_price_list_prices(sq_req_t *req)
{
    const char *id = path_id(req, "id", "plist", "price list");
    const char *body = id ? valid_body(req, sq_list_prices_fields) : NULL;
    if (body != NULL)
        sq_price_list_prices_as(&req->cx, id, body, req->principal.id, sq_req_on_json_200, req);
}

/* ---- product variants -------------------------------------------------------------------------------------- */

static const char *variant_body(sq_req_t *req, const sq_field_t *fields)
{
    json_t *b = sq_req_body(req);
    char *scratch = sq_arena_zalloc(req->arena, 256);
    if (b == NULL || sq_json_decode(req->arena, b, fields, scratch, NULL, &req->err) != 0 ||
        sq_variant_check(b, "", &req->err) != 0) {
        if (req->err.code == SQ_OK)
            sq_err_set(&req->err, SQ_E_VALIDATION, "Some fields are invalid; see errors.");
        sq_req_fail(req);
        return NULL;
    }
    size_t len;
    return sq_json_dump(req->arena, b, &len);
}

void sq_h_variant_create(sq_req_t *req)
{
    const char *pid = path_id(req, "id", "prod", "product");
    const char *body = pid ? variant_body(req, sq_variant_create_fields) : NULL;
    if (body != NULL)
        sq_variant_save(&req->cx, pid, NULL, body, req->principal.id, sq_req_on_json_201, req);
}

void sq_h_variant_update(sq_req_t *req)
{
    const char *pid = path_id(req, "id", "prod", "product");
    const char *vid = pid ? path_id(req, "variant_id", "var", "variant") : NULL;
    const char *body = vid ? variant_body(req, sq_variant_update_fields) : NULL;
    if (body != NULL)
        sq_variant_save(&req->cx, pid, vid, body, req->principal.id, sq_req_on_json_200, req);
}

void sq_h_variant_delete(sq_req_t *req)
{
    const char *pid = path_id(req, "id", "prod", "product");
    const char *vid = pid ? path_id(req, "variant_id", "var", "variant") : NULL;
    if (vid != NULL)
        sq_variant_delete_as(&req->cx, pid, vid, req->principal.id, sq_req_on_done_204, req);
}

/* ---- store settings and product translations ------------------------------------------------------------- */

void sq_h_store_get(sq_req_t *req)
{
    sq_store_get(&req->cx, sq_req_on_json_200, req);
}

void sq_h_store_update(sq_req_t *req)
{
    const char *etag;
    if (sq_req_if_match(req, &etag) != 0) {
        sq_req_fail(req);
        return;
    }
    const char *body = valid_body(req, sq_store_fields);
    if (body != NULL)
        sq_store_update(&req->cx, body, etag, sq_req_on_json_200, req);
}

/* The {locale} of the path; a malformed one is a 404 like any path that names nothing. */
static const char *path_locale(sq_req_t *req)
{
    const char *loc = sq_req_param(req, "locale");
    if (!sq_locale_valid(loc)) {
        sq_req_fail_code(req, SQ_E_NOT_FOUND, "The store does not offer that locale.");
        return NULL;
    }
    return loc;
}

/* translations of the route's resource (its translation_* statements) */
void sq_h_res_translation_get(sq_req_t *req)
{
    const sq_resource_t *r = req->route->res;
    const char *id = path_id(req, "id", r->prefix, r->name);
    const char *loc = id ? path_locale(req) : NULL;
    if (loc != NULL)
        sq_resource_translation_get(&req->cx, r, id, loc, sq_req_on_json_200, req);
}

void sq_h_res_translation_put(sq_req_t *req)
{
    const sq_resource_t *r = req->route->res;
    const char *id = path_id(req, "id", r->prefix, r->name);
    const char *loc = id ? path_locale(req) : NULL;
    const char *body = loc ? valid_body(req, r->translation_fields) : NULL;
    if (body != NULL)
        sq_resource_translation_save(&req->cx, r, id, loc, body, sq_req_on_json_200, req);
}

void sq_h_res_translation_delete(sq_req_t *req)
{
    const sq_resource_t *r = req->route->res;
    const char *id = path_id(req, "id", r->prefix, r->name);
    const char *loc = id ? path_locale(req) : NULL;
    if (loc != NULL)
        sq_resource_translation_remove(&req->cx, r, id, loc, sq_req_on_done_204, req);
}
