/* store_browse.c: the storefront's category tree and collections (core/browse.h), in the caller's locale. */
#include <string.h>

#include "api/handlers/handlers.h"
#include "core/base/id.h"
#include "core/browse.h"

static void on_list(const char *json, const char *locale, const sq_err_t *err, void *data)
{
    sq_req_t *req = data;
    if (err != NULL) {
        sq_req_fail_with(req, err);
        return;
    }
    sq_store_content_language(req, locale);
    sq_req_send_json(req, 200, json, strlen(json));
}

static const char *what(const sq_req_t *req)
{
    return strstr(req->route->path, "/categories/") != NULL ? "category" : "collection";
}

static void on_one(const char *json, const char *locale, const sq_err_t *err, void *data)
{
    sq_req_t *req = data;
    if (err == NULL && json == NULL) {
        sq_req_fail_code(req, SQ_E_NOT_FOUND, "The %s does not exist.", what(req));
        return;
    }
    on_list(json, locale, err, data);
}

/* an id with the prefix or a handle; anything else cannot exist */
static const char *key(sq_req_t *req, const char *prefix)
{
    const char *k = sq_req_param(req, "id");
    json_t *as_json = sq_json_own(req->arena, json_string(k));
    const char *code;
    if (!sq_id_valid(prefix, k) && (as_json == NULL || sq_check_handle(as_json, &code) != NULL)) {
        sq_req_fail_code(req, SQ_E_NOT_FOUND, "The %s does not exist.", what(req));
        return NULL;
    }
    return k;
}

void sq_h_store_categories(sq_req_t *req)
{
    const char *parent = sq_req_query(req, "parent_id");
    if (parent != NULL && !sq_id_valid("pcat", parent)) {
        sq_err_set(&req->err, SQ_E_INVALID_PARAMETER, "A query parameter is invalid.");
        req->err.param_errors = true;
        sq_err_field(&req->err, "parent_id", "invalid_format", "parent_id must be a category id");
        sq_req_fail(req);
        return;
    }
    sq_browse_categories(&req->cx, sq_store_locales(req), parent, on_list, req);
}

void sq_h_store_category(sq_req_t *req)
{
    const char *k = key(req, "pcat");
    if (k != NULL)
        sq_browse_category(&req->cx, sq_store_locales(req), k, on_one, req);
}

void sq_h_store_collections(sq_req_t *req)
{
    sq_browse_collections(&req->cx, sq_store_locales(req), on_list, req);
}

void sq_h_store_collection(sq_req_t *req)
{
    const char *k = key(req, "pcol");
    if (k != NULL)
        sq_browse_collection(&req->cx, sq_store_locales(req), k, on_one, req);
}
